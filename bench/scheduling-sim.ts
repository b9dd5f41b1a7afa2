/**
 * Scheduling study (`npm run sim`; not part of `npm test`): a seeded discrete-event
 * simulation that drives the real `mesh/router.ts` with 100 and 1,000 simulated peers
 * (20% fast, 80% ten times slower), gossip of queue lengths every T, Poisson load, and
 * compares it with an oracle central scheduler, random placement and uniform power of two.
 * docs/SCHEDULING.md explains the model and reads the table.
 *
 *   node bench/scheduling-sim.ts [--quick] [--seed N] [--peers 100,1000] [--loads 0.5,0.8,0.9]
 *                                [--ages 0,1,10] [--no-study]
 *
 * Progress goes to stderr, the tables (Markdown) to stdout. Same arguments, same tables.
 */
import { parseArgs } from 'node:util';
import type { PolicySpec } from './sim/policies.ts';
import { oracle, p2Uniform, randomUniform, randomWeighted, routerPolicy } from './sim/policies.ts';
import { FAST_SERVICE_MS, runSpec } from './sim/scenarios.ts';
import type { RunResult } from './sim/simulate.ts';
import { simulate } from './sim/simulate.ts';
import { fmt, renderTable } from './sim/sim-table.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
    peers: { type: 'string', default: '100,1000' },
    loads: { type: 'string', default: '0.5,0.8,0.9' },
    ages: { type: 'string', default: '0,1,10' },
    'no-study': { type: 'boolean', default: false },
  },
});
const list = (s: string) => s.split(',').map(Number);
const quick = values.quick;
const seed = Number(values.seed);
const peerCounts = list(values.peers);
const loads = list(values.loads);
const ages = list(values.ages);

/** The router as shipped (mesh/router.ts defaults). */
const ours = routerPolicy('router (ours)');
/** Variants for the design study: each turns one default off or one option on. */
const variants: PolicySpec[] = [
  ours,
  routerPolicy('no redraw', { redraw: false }),
  routerPolicy("own sends: 'since-report'", { inflight: 'since-report' }),
  routerPolicy("staleness: 'drain'", { staleness: 'drain' }),
  routerPolicy('memory on', { memory: true }),
];

/** Loads of the design study (at the first cluster size). */
const STUDY_LOADS = [0.5, 0.8, 0.9];

const started = performance.now();
let done = 0;
const total = peerCounts.length * loads.length * (3 + 2 * ages.length)
  + (values['no-study'] ? 0 : variants.length * STUDY_LOADS.length * ages.length);

function run(policy: PolicySpec, peers: number, load: number, age: number): RunResult {
  const r = simulate(runSpec(peers, load, age, seed, quick), policy);
  done++;
  process.stderr.write(`[${String(done).padStart(3)}/${total}] ${String(peers).padStart(4)} peers, load ${pct(load)}, age ${age}: `
    + `${policy.name.padEnd(26)} mean ${fmt(r.meanLatency, 2).padStart(7)}  p99 ${fmt(r.p99Latency, 1).padStart(7)}`
    + `  util fast ${pct(r.fastUtilization)} slow ${pct(r.slowUtilization)}`
    + `${r.unstable ? '  UNSTABLE' : ''}  (${(r.wallMs / 1000).toFixed(1)} s)\n`);
  return r;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

interface Row {
  policy: string;
  age: string;
  byLoad: RunResult[];
}

const output: string[] = [];
const verdicts: string[] = [];
for (const peers of peerCounts) {
  const rows: Row[] = [];
  const oracleByLoad = loads.map((load) => run(oracle, peers, load, 0));
  rows.push({ policy: oracle.name, age: 'fresh', byLoad: oracleByLoad });
  for (const p of [randomUniform, randomWeighted]) rows.push({ policy: p.name, age: 'n/a', byLoad: loads.map((load) => run(p, peers, load, 0)) });
  for (const p of [p2Uniform, ours]) {
    for (const age of ages) rows.push({ policy: p.name, age: String(age), byLoad: loads.map((load) => run(p, peers, load, age)) });
  }
  output.push(`### ${peers} peers (${peers * 0.2} fast, ${peers * 0.8} at 1/10 speed), 10 routing clients\n`);
  output.push(renderTable({
    headers: ['policy', 'report age', ...loads.flatMap((l) => [`${pct(l)} mean`, `${pct(l)} p99`, `${pct(l)} ×oracle`])],
    align: ['l', 'r', ...loads.flatMap(() => ['r', 'r', 'r'] as const)],
    rows: rows.map((row) => [row.policy, row.age, ...row.byLoad.flatMap((r, i) => cells(r, oracleByLoad[i]))]),
  }));
  output.push('');
  for (const [i, load] of loads.entries()) {
    const unstable = rows.filter((r) => r.byLoad[i].unstable).map((r) => `${r.policy}${r.age === 'n/a' || r.age === 'fresh' ? '' : ` (age ${r.age})`}`);
    if (unstable.length > 0) verdicts.push(`${peers} peers, load ${pct(load)}: unstable: ${unstable.join(', ')}`);
    const oursAt1 = rows.find((r) => r.policy === ours.name && r.age === '1');
    if (load === 0.8 && oursAt1 !== undefined) {
      const ratio = oursAt1.byLoad[i].meanLatency / oracleByLoad[i].meanLatency;
      verdicts.push(`${peers} peers, load 80%, reports 1 service time old: router mean ${fmt(oursAt1.byLoad[i].meanLatency, 2)}`
        + ` vs oracle ${fmt(oracleByLoad[i].meanLatency, 2)} = ${fmt(ratio, 2)}× → goal (≤ 1.2×) ${ratio <= 1.2 && !oursAt1.byLoad[i].unstable ? 'PASS' : 'FAIL'}`);
    }
  }
}

function cells(r: RunResult, o: RunResult): string[] {
  if (r.unstable) return [`${fmt(r.meanLatency, 0)}*`, `${fmt(r.p99Latency, 0)}*`, 'unstable'];
  return [fmt(r.meanLatency, 2), fmt(r.p99Latency, 1), `${fmt(r.meanLatency / o.meanLatency, 2)}×`];
}

if (!values['no-study']) {
  const peers = peerCounts[0];
  const studyLoads = STUDY_LOADS;
  const cols = studyLoads.flatMap((load) => ages.map((age) => ({ load, age })));
  const rows = variants.map((v) => [v.name, ...cols.map(({ load, age }) => {
    const r = run(v, peers, load, age);
    return r.unstable ? 'unstable' : `${fmt(r.meanLatency, 2)} / ${fmt(r.p99Latency, 0)}`;
  })]);
  output.push(`### Design study: router variants, ${peers} peers, mean / p99\n`);
  output.push(renderTable({
    headers: ['variant', ...cols.map(({ load, age }) => `${pct(load)} age ${age}`)],
    align: ['l', ...cols.map(() => 'r' as const)],
    rows,
  }));
  output.push('');
}

const argsText = process.argv.slice(2).join(' ');
console.log(`# Scheduling study${quick ? ' (quick)' : ''}\n`);
console.log(`Command: \`node bench/scheduling-sim.ts${argsText ? ` ${argsText}` : ''}\` (seed ${seed}). `
  + `Latency in fast-peer service times (${FAST_SERVICE_MS} ms); report age in the same unit `
  + '(gossip every T = age, delivered T/2 later: reports are T/2..3T/2 old, T on average); '
  + '* = unstable: a class of peers is offered ≥ 98% of its capacity and the backlog keeps growing, so queues grow without bound (values grow with the run length).\n');
console.log(output.join('\n'));
console.log(verdicts.map((v) => `- ${v}`).join('\n'));
console.log(`\nTotal ${((performance.now() - started) / 1000).toFixed(0)} s of wall time on this machine.`);
