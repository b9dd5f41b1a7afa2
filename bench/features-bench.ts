/**
 * `npm run bench:features`: the Triton features of #5, each against a baseline measured in
 * the same run on the same infermesh process (the CLI, a child process, repository in a temp
 * folder — see features-setup.ts):
 *
 *   1. gRPC vs HTTP binary: `simple` and `dense_mlp`, concurrency 1 and 16.
 *   2. Response cache: `dense_mlp_cached` with the same request (hits) and with a fresh
 *      counter in every request (misses) vs `dense_mlp` without cache, concurrency 1 and 8.
 *   3. Sequence batcher: `sequence_accumulate` with 1 and 16 concurrent sequences of
 *      SEQUENCE_LENGTH requests vs `simple_dyn` (dynamic batching, similar cost), JSON.
 *   4. Ensemble: `ensemble_add_mlp` as one request vs its five steps called one after the other
 *      by the client, concurrency 1.
 *
 * Markdown tables on stdout, progress on stderr.
 *
 *   node bench/features-bench.ts [--quick] [--seconds 3] [--warmup 1]   (--quick: 0.7 s windows, ~45 s in all)
 */
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { quietBudget, waitQuietWithinBudget } from './bench-cells.ts';
import { startNode, waitForLine } from './child-processes.ts';
import { FEATURE_MODELS, SEQUENCE_LENGTH, ensembleCalls, grpcBody, httpBody, makeFeatureRepo, sequenceBodies, simpleJsonBody, timeSequential } from './features-setup.ts';
import type { LoadSpec } from './load-driver.ts';
import { runLoad } from './load-runner.ts';
import { describeMachine, machineInfo } from './machine-info.ts';
import { num, renderMarkdown, type Table } from './report-table.ts';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('usage: node bench/features-bench.ts [--quick] [--seconds S (default 3, quick 0.7)] [--warmup S (default 1, quick 0.3)]');
  process.exit(0);
}
const windowMs = Number(args.seconds ?? (args.quick ? 0.7 : 3)) * 1000;
const warmupMs = Number(args.warmup ?? (args.quick ? 0.3 : 1)) * 1000;
if (!(windowMs > 0) || !(warmupMs >= 0)) throw new Error('--seconds must be > 0 and --warmup ≥ 0');
// Waiting for a quiet machine is bounded so the run stays within its few minutes.
quietBudget.leftMs = args.quick ? 5_000 : 20_000;
quietBudget.perWaitMs = 3_000;

const progress = (line: string) => process.stderr.write(`${line}\n`);

interface Measured { throughput: number; p50Us: number; p99Us: number; errors: number }

/** One closed-loop cell through the shared load generator (a worker thread). */
async function cell(label: string, spec: Pick<LoadSpec, 'url' | 'body' | 'headers' | 'client' | 'concurrency' | 'loopBodies' | 'counterOffset' | 'counterBase'>): Promise<Measured> {
  const waited = await waitQuietWithinBudget();
  const { load } = await runLoad({ ...spec, warmupMs, windowMs, slices: 3, maxSamples: 2_000_000, requestTimeoutMs: 30_000 }, { onStart: () => 0, onEnd: () => 0 });
  if (load.completed === 0) throw new Error(`${label}: no request succeeded: ${load.firstError}`);
  const m = { throughput: load.throughput, p50Us: load.latencyUs.p50, p99Us: load.latencyUs.p99, errors: load.errors };
  progress(`  ${label.padEnd(44)} ${num(m.throughput).padStart(7)} infer/s  p50 ${num(m.p50Us).padStart(7)} µs  p99 ${num(m.p99Us).padStart(7)} µs`
    + `${waited > 0.5 ? ` (waited ${num(waited, 1)} s for quiet)` : ''}${load.errors ? `  ${load.errors} errors: ${load.firstError}` : ''}`);
  return m;
}

const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}×`;
const table = (headers: string[], rows: string[][]): Table => ({ headers, align: headers.map((_, i) => (i < 2 ? 'l' : 'r')), rows });
const cols = (m: Measured) => [num(m.throughput), num(m.p50Us), num(m.p99Us)];

async function cacheCounts(baseUrl: string): Promise<{ hits: number; misses: number }> {
  const s = await (await fetch(`${baseUrl}/v2/models/dense_mlp_cached/stats`)).json() as { model_stats: { inference_stats: { cache_hit: { count: number }; cache_miss: { count: number } } }[] };
  const i = s.model_stats[0].inference_stats;
  return { hits: i.cache_hit.count, misses: i.cache_miss.count };
}

async function main(): Promise<void> {
  const started = Date.now();
  const machine = describeMachine(machineInfo());
  progress(`machine: ${machine}`);
  const gen = startNode([join(ROOT, 'scripts', 'make-example-models.ts'), '--quiet'], 'make-example-models');
  if ((await gen.exited) !== 0) throw new Error(`make-example-models failed:\n${gen.stderr()}`);
  const repo = makeFeatureRepo();
  const serveArgs = ['serve', '--model-repository', repo, '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--allow-metrics', 'false',
    '--no-mesh', '--model-control-mode', 'explicit', ...FEATURE_MODELS.flatMap((m) => ['--load-model', m])];
  const server = startNode([join(ROOT, 'node-host', 'bin.js'), ...serveArgs], 'infermesh');
  const out: string[] = [];
  try {
    const baseUrl = await waitForLine(server, /HTTP service listening url=(\S+)\/v2/, 'infermesh');
    const grpcUrl = await waitForLine(server, /gRPC service listening url=(?:grpc:\/\/)?(\S+)/, 'infermesh gRPC');
    progress(`server: node node-host/bin.js ${serveArgs.join(' ').replace(repo, '<temp repo>')}`);
    const infer = (m: string) => `${baseUrl}/v2/models/${m}/infer`;

    progress('1. gRPC vs HTTP binary');
    const t1: string[][] = [];
    for (const model of ['simple', 'dense_mlp']) {
      const h = httpBody(model);
      for (const c of [1, 16]) {
        const http = await cell(`${model} HTTP binary c=${c}`, { url: infer(model), ...h, client: 'http', concurrency: c });
        const grpc = await cell(`${model} gRPC c=${c}`, { url: grpcUrl, body: grpcBody(model), headers: {}, client: 'grpc', concurrency: c });
        t1.push([model, String(c), ...cols(http), ...cols(grpc), ratio(grpc.throughput, http.throughput), ratio(grpc.p50Us, http.p50Us)]);
      }
    }
    out.push('### gRPC vs HTTP binary (same server process)', renderMarkdown(table(
      ['model', 'conc', 'HTTP infer/s', 'HTTP p50 µs', 'HTTP p99 µs', 'gRPC infer/s', 'gRPC p50 µs', 'gRPC p99 µs', 'gRPC/HTTP infer/s', 'gRPC/HTTP p50'], t1)));

    progress('2. response cache (dense_mlp)');
    const t2: string[][] = [];
    const h = httpBody('dense_mlp');
    const counterOffset = Number(h.headers['Inference-Header-Content-Length']);
    for (const c of [1, 8]) {
      const base = await cell(`dense_mlp, no cache c=${c}`, { url: infer('dense_mlp'), ...h, client: 'http', concurrency: c });
      const before = await cacheCounts(baseUrl);
      const hit = await cell(`dense_mlp_cached, same request (hit) c=${c}`, { url: infer('dense_mlp_cached'), ...h, client: 'http', concurrency: c });
      const mid = await cacheCounts(baseUrl);
      const miss = await cell(`dense_mlp_cached, distinct requests (miss) c=${c}`, { url: infer('dense_mlp_cached'), ...h, client: 'http', concurrency: c, counterOffset, counterBase: c * 1_000_000 });
      const after = await cacheCounts(baseUrl);
      const share = (a: { hits: number; misses: number }, b: typeof a) => `${num((100 * (b.hits - a.hits)) / Math.max(1, b.hits - a.hits + b.misses - a.misses))}%`;
      t2.push(['no cache (dense_mlp)', String(c), ...cols(base), '1.00×', '1.00×', '–']);
      t2.push(['cache hit (same request)', String(c), ...cols(hit), ratio(hit.throughput, base.throughput), ratio(hit.p50Us, base.p50Us), share(before, mid)]);
      t2.push(['cache miss (distinct requests)', String(c), ...cols(miss), ratio(miss.throughput, base.throughput), ratio(miss.p50Us, base.p50Us), share(mid, after)]);
    }
    out.push('### Response cache (dense_mlp, HTTP binary)', renderMarkdown(table(
      ['row', 'conc', 'infer/s', 'p50 µs', 'p99 µs', 'infer/s vs no cache', 'p50 vs no cache', 'hits (server stats)'], t2)));

    progress('3. sequence batcher vs dynamic batching');
    const t3: string[][] = [];
    for (const c of [1, 16]) {
      const dyn = await cell(`simple_dyn (dynamic batching) c=${c}`, { url: infer('simple_dyn'), body: simpleJsonBody(), headers: { 'Content-Type': 'application/json' }, client: 'http', concurrency: c });
      const bodies = sequenceBodies(c);
      const seq = await cell(`sequence_accumulate ${c} sequence(s)`, { url: infer('sequence_accumulate'), body: bodies[0][0], loopBodies: bodies, headers: { 'Content-Type': 'application/json' }, client: 'http', concurrency: c });
      t3.push([`${c}`, 'simple_dyn (dynamic batching)', ...cols(dyn), '1.00×', '1.00×']);
      t3.push([`${c}`, `sequence_accumulate (${c} sequence${c > 1 ? 's' : ''} × ${SEQUENCE_LENGTH} requests, 4 slots)`, ...cols(seq), ratio(seq.throughput, dyn.throughput), ratio(seq.p50Us, dyn.p50Us)]);
    }
    out.push('### Sequence batcher (HTTP JSON)', renderMarkdown(table(['conc', 'row', 'req/s', 'p50 µs', 'p99 µs', 'req/s vs dynamic', 'p50 vs dynamic'], t3)));

    progress('4. ensemble vs client-side chain');
    const e = ensembleCalls(baseUrl);
    await waitQuietWithinBudget();
    const ens = await timeSequential(e.ensemble, warmupMs, windowMs);
    progress(`  ensemble_add_mlp, one request            ${num(ens.throughput)} req/s  p50 ${num(ens.p50Us)} µs`);
    await waitQuietWithinBudget();
    const hand = await timeSequential(e.byHand, warmupMs, windowMs);
    progress(`  5 steps one after the other (client)     ${num(hand.throughput)} req/s  p50 ${num(hand.p50Us)} µs`);
    out.push('### Ensemble (HTTP binary, concurrency 1, fetch)', renderMarkdown(table(['row', 'calls', 'req/s', 'p50 µs', 'p99 µs', 'p50 vs chain'], [
      ['ensemble_add_mlp (5 steps, 2 parallel branches)', '1', num(ens.throughput), num(ens.p50Us), num(ens.p99Us), ratio(ens.p50Us, hand.p50Us)],
      ['same 5 steps called one after the other by the client', '5', num(hand.throughput), num(hand.p50Us), num(hand.p99Us), '1.00×'],
    ])));
  } finally {
    await server.stop();
    rmSync(repo, { recursive: true, force: true });
  }
  const window = `${windowMs / 1000} s window after ${warmupMs / 1000} s warm-up per cell`;
  console.log([`Machine: ${machine}; load average at end ${loadavg()[0].toFixed(2)}.`, `${window}; run took ${num((Date.now() - started) / 1000)} s.`, '', out.join('\n\n')].join('\n'));
}

await main();
