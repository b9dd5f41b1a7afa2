/**
 * Writes the example model repository (`examples/models/`) and the generated test fixtures
 * (`test/fixtures/models/`). Deterministic: the same bytes on every run and machine.
 *
 *   node scripts/make-example-models.ts           write what is missing or out of date
 *   node scripts/make-example-models.ts --check   exit 1 when a committed file is stale
 *   node scripts/make-example-models.ts --quiet   print only what changed (for npm pre-scripts)
 *
 * Files are only rewritten when their bytes change, so running it before every test or
 * start (npm pretest/prestart) costs about a second and leaves mtimes alone.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { copiedFiles, generatedFiles } from './example-models.ts';

const ROOT = resolve(import.meta.dirname, '..');

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/** Writes `bytes` to `rel` unless it already holds them; returns what happened. */
function writeIfChanged(rel: string, bytes: Uint8Array): 'wrote' | 'up to date' {
  const abs = join(ROOT, rel);
  if (existsSync(abs) && sameBytes(readFileSync(abs), bytes)) return 'up to date';
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, bytes);
  return 'wrote';
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const quiet = argv.includes('--quiet');
  const say = (line: string, changed: boolean) => { if (changed || !quiet) console.log(line); };
  const started = performance.now();
  let stale = 0;
  say(check ? 'checking generated models against the generator' : `writing example models under ${ROOT}`, false);

  for (const f of generatedFiles()) {
    if (f.requires && !existsSync(join(ROOT, f.requires))) {
      say(`  skipped    ${f.path} (needs ${f.requires}; run npm install)`, true);
      continue;
    }
    if (check && f.gitIgnored) continue;
    const t0 = performance.now();
    const bytes = f.contents();
    if (check) {
      const abs = join(ROOT, f.path);
      const ok = existsSync(abs) && sameBytes(readFileSync(abs), bytes);
      if (!ok) stale++;
      say(`  ${ok ? 'ok        ' : 'STALE     '} ${f.path}`, !ok);
      continue;
    }
    const what = writeIfChanged(f.path, bytes);
    const ms = (performance.now() - t0).toFixed(0);
    say(`  ${what.padEnd(10)} ${f.path} (${bytes.byteLength} bytes, ${ms} ms) ${f.description}`, what === 'wrote');
  }

  if (!check) {
    for (const f of copiedFiles()) {
      const src = join(ROOT, f.from);
      if (!existsSync(src)) {
        say(`  skipped    ${f.path} (${f.from} not installed; run npm install)`, true);
        continue;
      }
      const bytes = readFileSync(src);
      const what = writeIfChanged(f.path, bytes);
      say(`  ${what.padEnd(10)} ${f.path} (${bytes.byteLength} bytes) ${f.description}`, what === 'wrote');
    }
  }

  const secs = ((performance.now() - started) / 1000).toFixed(2);
  if (check && stale > 0) {
    console.log(`${stale} committed file(s) differ from the generator: run node scripts/make-example-models.ts`);
    return 1;
  }
  say(check ? 'all committed generated files are up to date' : `example models ready in ${secs} s`, false);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
