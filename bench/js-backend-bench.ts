/**
 * What the JavaScript backend costs: `node bench/js-backend-bench.ts`.
 *
 * 1. Round trip of a trivial request over HTTP (sequential, p50/p90): `simple` on ORT against
 *    `js_echo` (the same tensors through a JS model's worker), so the JS worker hop shows
 *    next to the ORT worker hop.
 * 2. One BLS call, in-process: a JS model calls `simple` N times in a loop; per-call time
 *    against calling `simple` through `InferenceServer.callModel` directly on the main thread.
 * 3. The event loop while a JS model computes 200 ms: max delay of this process's loop.
 *
 * One in-process server on 127.0.0.1; prints a table. Not a test: numbers depend on the machine.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { serve } from '../node-host/serve.ts';
import { silentLogger } from '../core/logger.ts';
import { writeModel } from '../test/support/js-model-fixtures.ts';
import { MODEL_REPOSITORY } from './bench-models.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 2000);
const BLS_CALLS = Number(process.env.BLS_CALLS ?? 2000);

const IO = `max_batch_size: 8
input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "INPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "OUTPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
`;

const repo = mkdtempSync(join(tmpdir(), 'infermesh-js-bench-'));
cpSync(join(MODEL_REPOSITORY, 'simple'), join(repo, 'simple'), { recursive: true });
writeModel(repo, 'js_echo', `backend: "javascript"\n${IO}`, {
  'model.mjs': `export function execute(requests) {
    return requests.map((r) => ({ outputs: [{ ...r.input('INPUT0'), name: 'OUTPUT0' }, { ...r.input('INPUT1'), name: 'OUTPUT1' }] }));
  }`,
});
writeModel(repo, 'js_bls_loop', `backend: "javascript"\nmax_batch_size: 0
input [ { name: "N" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "MS" data_type: TYPE_FP64 dims: [ 1 ] } ]\n`, {
  'model.mjs': `export async function execute(requests, { infer }) {
    const n = requests[0].input('N').data[0];
    const a = new Int32Array(16).fill(2);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await infer({ model_name: 'simple', inputs: [{ name: 'INPUT0', shape: [1, 16], data: a }, { name: 'INPUT1', shape: [1, 16], data: a }] });
    }
    return [{ outputs: [{ name: 'MS', data: [performance.now() - t0] }] }];
  }`,
});
writeModel(repo, 'js_busy', `backend: "javascript"\nmax_batch_size: 0
input [ { name: "MS" data_type: TYPE_FP64 dims: [ 1 ] } ]
output [ { name: "MS" data_type: TYPE_FP64 dims: [ 1 ] } ]\n`, {
  'model.mjs': `export function execute(requests) {
    const ms = requests[0].input('MS').data[0];
    const end = performance.now() + ms; while (performance.now() < end) {}
    return [{ outputs: [{ name: 'MS', data: [ms] }] }];
  }`,
});

const h = await serve({
  repositories: [repo], host: '127.0.0.1', httpPort: 0, controlMode: 'none', pollSeconds: 15, loadModels: [],
  autoComplete: true, strictReadiness: true, exitTimeoutSecs: 1, maxBodyBytes: 1 << 26, ort: { intraOpNumThreads: 1 },
  logLevel: 'error', logFormat: 'text', handleSignals: false,
}, silentLogger);
const base = `http://127.0.0.1:${h.httpPort}`;

const body = JSON.stringify({ inputs: [
  { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: Array(16).fill(1) },
  { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: Array(16).fill(2) },
] });

async function roundTrips(model: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < ROUNDS + 100; i++) {
    const t0 = performance.now();
    const r = await fetch(`${base}/v2/models/${model}/infer`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${model}: HTTP ${r.status}`);
    if (i >= 100) times.push((performance.now() - t0) * 1000);
  }
  return times.sort((a, b) => a - b);
}

const pct = (t: number[], p: number) => t[Math.min(t.length - 1, Math.floor(t.length * p))];
const rows: string[][] = [];
try {
  for (const m of ['simple', 'js_echo']) {
    const t = await roundTrips(m);
    rows.push([`HTTP round trip, ${m}`, `${pct(t, 0.5).toFixed(0)} µs p50`, `${pct(t, 0.9).toFixed(0)} µs p90`]);
  }

  const a = Int32Array.from({ length: 16 }, () => 2);
  const direct = { modelName: 'simple', parameters: {}, inputs: [
    { name: 'INPUT0', datatype: 'INT32' as const, shape: [1, 16], data: a }, { name: 'INPUT1', datatype: 'INT32' as const, shape: [1, 16], data: a }] };
  for (let i = 0; i < 200; i++) await h.core.callModel(direct);
  let t0 = performance.now();
  for (let i = 0; i < BLS_CALLS; i++) await h.core.callModel(direct);
  const directUs = (performance.now() - t0) * 1000 / BLS_CALLS;
  const bls = async (n: number) => {
    const r = await h.core.infer({ modelName: 'js_bls_loop', parameters: {}, inputs: [{ name: 'N', datatype: 'INT32', shape: [1], data: Int32Array.from([n]) }] });
    return (r.outputs[0].data as Float64Array)[0];
  };
  await bls(200);
  const blsUs = (await bls(BLS_CALLS)) * 1000 / BLS_CALLS;
  rows.push([`simple via callModel on the main thread (×${BLS_CALLS})`, `${directUs.toFixed(0)} µs per call`, '']);
  rows.push([`simple via BLS from a JS model (×${BLS_CALLS})`, `${blsUs.toFixed(0)} µs per call`, `+${(blsUs - directUs).toFixed(0)} µs for the worker hop`]);

  const delay = monitorEventLoopDelay({ resolution: 2 });
  delay.enable();
  t0 = performance.now();
  const busy = h.core.infer({ modelName: 'js_busy', parameters: {}, inputs: [{ name: 'MS', datatype: 'FP64', shape: [1], data: Float64Array.from([200]) }] });
  let ticks = 0;
  while (performance.now() - t0 < 200) { await new Promise((r) => setTimeout(r, 1)); ticks++; }
  await busy;
  delay.disable();
  rows.push(['event loop while a JS model computes 200 ms', `${(delay.max / 1e6).toFixed(1)} ms max delay`, `${ticks} timer ticks meanwhile`]);
} finally {
  await h.stop();
  rmSync(repo, { recursive: true, force: true });
}
const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i])).join('  '));
