/**
 * What an ensemble costs on top of its steps, in-process (no HTTP, no mesh), on real
 * onnxruntime-node:
 *
 *   node bench/ensemble-overhead.ts [--n 2000]
 *
 * 1. `simple` called directly vs `simple_pass`, a one-step ensemble around it: the difference
 *    is the ensemble scheduler's cost per request (graph walk, renaming, the extra `infer`).
 * 2. The example `ensemble_add_mlp` (five steps, two parallel branches) vs the same five calls
 *    made one after the other by the caller: the branches overlap inside the ensemble.
 *
 * Sequential requests (concurrency 1), so the figures are latencies, not throughput.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InferenceServer } from '../core/inference-server.ts';
import type { InferRequest } from '../protocol/infer.ts';
import type { Tensor } from '../protocol/tensor.ts';
import { createOrtNodeBackends } from '../node-host/backend-ort-node.ts';
import { FsModelSource } from '../node-host/model-source-fs.ts';
import { silentLogger } from '../core/logger.ts';

const { values } = parseArgs({ options: { n: { type: 'string', default: '2000' } } });
const N = Number(values.n);
const EXAMPLES = join(import.meta.dirname, '..', 'examples', 'models');

const SIMPLE_PASS = `name: "simple_pass"
platform: "ensemble"
max_batch_size: 8
input [ { name: "A" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "B" data_type: TYPE_INT32 dims: [ 16 ] } ]
output [ { name: "S" data_type: TYPE_INT32 dims: [ 16 ] } ]
ensemble_scheduling { step [ { model_name: "simple" model_version: -1
  input_map { key: "INPUT0" value: "A" } input_map { key: "INPUT1" value: "B" } output_map { key: "OUTPUT0" value: "S" } } ] }
`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Runs `fn` `n` times after a warm-up; returns p50 and mean in µs. */
async function time(n: number, fn: () => Promise<unknown>): Promise<{ p50: number; mean: number }> {
  for (let i = 0; i < Math.min(200, n); i++) await fn();
  const us: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    us.push((performance.now() - t0) * 1000);
  }
  us.sort((a, b) => a - b);
  return { p50: percentile(us, 0.5), mean: us.reduce((s, x) => s + x, 0) / us.length };
}

const ints = (seed: number) => Int32Array.from({ length: 16 }, (_, i) => ((i * 7 + seed) % 41) - 20);
const t = (name: string, data: Int32Array | Float32Array, datatype: 'INT32' | 'FP32'): Tensor => ({ name, datatype, shape: [1, data.length], data });

async function main(): Promise<void> {
  const repo = mkdtempSync(join(tmpdir(), 'infermesh-ensemble-bench-'));
  try {
    for (const m of ['simple', 'mlp_preprocess', 'dense_mlp', 'ensemble_add_mlp']) cpSync(join(EXAMPLES, m), join(repo, m), { recursive: true });
    mkdirSync(join(repo, 'simple_pass', '1'), { recursive: true });
    writeFileSync(join(repo, 'simple_pass', 'config.pbtxt'), SIMPLE_PASS);
    const core = new InferenceServer({ sources: [new FsModelSource(repo)], backends: createOrtNodeBackends({ logger: silentLogger }), logger: silentLogger });
    await core.start();
    const infer = (req: InferRequest) => core.infer(req);

    const direct = await time(N, () => infer({ modelName: 'simple', parameters: {}, inputs: [t('INPUT0', ints(1), 'INT32'), t('INPUT1', ints(2), 'INT32')] }));
    const wrapped = await time(N, () => infer({ modelName: 'simple_pass', parameters: {}, inputs: [t('A', ints(1), 'INT32'), t('B', ints(2), 'INT32')] }));

    const n2 = Math.max(50, Math.round(N / 10));
    const ensemble = await time(n2, () => infer({ modelName: 'ensemble_add_mlp', parameters: {}, inputs: [t('INPUT0', ints(1), 'INT32'), t('INPUT1', ints(2), 'INT32')] }));
    const byHand = await time(n2, async () => {
      const s = await infer({ modelName: 'simple', parameters: {}, inputs: [t('INPUT0', ints(1), 'INT32'), t('INPUT1', ints(2), 'INT32')] });
      for (const o of s.outputs) {
        const f = await infer({ modelName: 'mlp_preprocess', parameters: {}, inputs: [{ ...o, name: 'INT_VALUES' }] });
        await infer({ modelName: 'dense_mlp', parameters: {}, inputs: [{ ...f.outputs[0], name: 'input' }] });
      }
    });
    await core.stop();

    const row = (label: string, r: { p50: number; mean: number }) => console.log(`${label.padEnd(52)} p50 ${r.p50.toFixed(1).padStart(8)} µs   mean ${r.mean.toFixed(1).padStart(8)} µs`);
    console.log(`ensemble overhead, in-process, concurrency 1 (n=${N}; ensemble_add_mlp n=${n2})`);
    row('simple, direct', direct);
    row('simple_pass (1-step ensemble around simple)', wrapped);
    console.log(`  → ensemble cost per request: p50 ${(wrapped.p50 - direct.p50).toFixed(1)} µs`);
    row('ensemble_add_mlp (5 steps, 2 parallel branches)', ensemble);
    row('the same 5 calls one after the other', byHand);
    console.log(`  → ensemble / by hand: ${(ensemble.p50 / byHand.p50).toFixed(2)}×`);
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}

await main();
