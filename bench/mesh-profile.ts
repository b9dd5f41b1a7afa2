/**
 * Summarises a V8 CPU profile (`.cpuprofile`, from `node --cpu-prof` or
 * `mesh-bench.ts --profile DIR`) by where the time goes: self time per package (node_modules
 * name, `node:` internals, infermesh's own directories, GC, idle) and the top functions.
 *
 *   node bench/mesh-profile.ts FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** This checkout, as profile URLs spell it (file:///…/). */
const ROOT_URL = pathToFileURL(join(import.meta.dirname, '..')).href + '/';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });
if (positionals.length !== 1) {
  console.error('usage: node bench/mesh-profile.ts FILE.cpuprofile [--top 25]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8')) as Profile;

/** The package (or area) a frame belongs to. */
function area(f: CallFrame): string {
  if (f.url === '') return f.functionName.startsWith('(') ? f.functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (nm) return nm[1];
  if (f.url.startsWith('node:internal/')) return `node:internal/${f.url.slice(14).split('/')[0].replace(/\.js$/, '')}`;
  if (f.url.startsWith('node:')) return f.url;
  if (f.url.startsWith(ROOT_URL)) return `infermesh ${f.url.slice(ROOT_URL.length).split('/')[0]}/`;
  return f.url;
}

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
/** A frame as one line. */
const frameName = (f: CallFrame) => `${f.functionName || '(anonymous)'}  ${area(f)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
/** The first caller outside node's internals and natives: who asked for the work. */
function caller(id: number): string {
  for (let p = parentOf.get(id); p !== undefined; p = parentOf.get(p)) {
    const f = byId.get(p)!.callFrame;
    if (f.url !== '' && !f.url.startsWith('node:')) return frameName(f);
  }
  return '(root)';
}
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i + 1] ?? 0; // the delta after a sample is the time it stood for
  selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const areas = new Map<string, number>();
const funcs = new Map<string, number>();
const callers = new Map<string, Map<string, number>>();
for (const [id, us] of selfUs) {
  const f = byId.get(id)!.callFrame;
  const a = area(f);
  areas.set(a, (areas.get(a) ?? 0) + us);
  const key = frameName(f);
  funcs.set(key, (funcs.get(key) ?? 0) + us);
  const c = callers.get(key) ?? new Map<string, number>();
  callers.set(key, c);
  const who = caller(id);
  c.set(who, (c.get(who) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms`;
const busy = total - (areas.get('(idle)') ?? 0);
console.log(`${positionals[0]}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle`);
console.log('\nself time by area:');
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1])) if (us / total >= 0.002) console.log(`  ${pct(us)}  ${a}`);
console.log(`\ntop ${values.top} functions by self time:`);
for (const [k, us] of [...funcs].sort((x, y) => y[1] - x[1]).slice(0, Number(values.top))) {
  console.log(`  ${pct(us)}  ${k}`);
  const cs = [...(callers.get(k) ?? [])].sort((x, y) => y[1] - x[1]).filter(([, t]) => t / us >= 0.1).slice(0, 3);
  if (k.startsWith('(')) continue;
  for (const [who, t] of cs) console.log(`  ${' '.repeat(17)}  ← ${who} (${((100 * t) / us).toFixed(0)}%)`);
}
