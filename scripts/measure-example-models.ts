/**
 * Prints how the example models behave on the onnxruntime-node CPU backend: session create
 * time per model, and dense_mlp latency and per-item cost by batch size — the numbers
 * behind dense_mlp's config.pbtxt. Short on purpose (a few seconds); a table, not a test.
 *
 *   node scripts/measure-example-models.ts [--threads N]
 *
 * Run `node scripts/make-example-models.ts` first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { silentLogger } from '../core/logger.ts';
import { createOrtNodeBackends } from '../node-host/backend-ort-node.ts';
import { DENSE_MLP_WIDTHS, EXAMPLES_DIR } from './example-models.ts';
import { mulberry32, uniformFloats } from './seeded-random.ts';

const ROOT = resolve(import.meta.dirname, '..');
const threadsArg = process.argv.indexOf('--threads');
const threads = threadsArg > 0 ? Number(process.argv[threadsArg + 1]) : 0;

const cpu = createOrtNodeBackends({ logger: silentLogger, intraOpNumThreads: threads }).find((b) => b.name === 'onnxruntime-cpu')!;
await cpu.init();

console.log(`session create (CPU EP, intra-op threads ${threads || 'ORT default'}):`);
for (const model of ['simple', 'autocomplete_add', 'dense_mlp', 'silero_vad']) {
  const path = join(ROOT, EXAMPLES_DIR, model, '1', 'model.onnx');
  if (!existsSync(path)) { console.log(`  ${model.padEnd(18)} missing (run make-example-models)`); continue; }
  const bytes = readFileSync(path);
  const t0 = performance.now();
  const inst = await cpu.load({ modelName: model, version: 1, bytes, path, parameters: {}, instanceIndex: 0, logger: silentLogger });
  const ms = performance.now() - t0;
  console.log(`  ${model.padEnd(18)} ${ms.toFixed(1).padStart(7)} ms  (${(bytes.byteLength / 1e6).toFixed(2)} MB)`);
  await inst.dispose();
}

const densePath = join(ROOT, EXAMPLES_DIR, 'dense_mlp', '1', 'model.onnx');
if (existsSync(densePath)) {
  const inst = await cpu.load({ modelName: 'dense_mlp', version: 1, bytes: readFileSync(densePath), path: densePath, parameters: {}, instanceIndex: 0, logger: silentLogger });
  const width = DENSE_MLP_WIDTHS[0];
  const rand = mulberry32(7);
  console.log('\ndense_mlp run latency through the Backend interface:');
  console.log('  batch   ms/run   us/item   items/s   vs batch 1');
  let perItem1 = 0;
  for (const batch of [1, 8, 32, 64]) {
    const x = uniformFloats(rand, batch * width, 1);
    const run = () => inst.run([{ name: 'input', datatype: 'FP32', shape: [batch, width], data: x }], ['output']);
    for (let i = 0; i < 3; i++) await run(); // warm-up: first runs allocate
    const n = Math.max(10, Math.round(256 / batch));
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await run();
    const ms = (performance.now() - t0) / n;
    const us = (ms * 1000) / batch;
    if (batch === 1) perItem1 = us;
    console.log(`  ${String(batch).padStart(5)} ${ms.toFixed(3).padStart(8)} ${us.toFixed(1).padStart(9)} ${(batch / ms * 1000).toFixed(0).padStart(9)} ${(perItem1 / us).toFixed(1).padStart(8)}x`);
  }
  await inst.dispose();
}
