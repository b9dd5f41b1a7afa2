import { startTestServer } from '../test/support/test-server.ts';
import { createGrpcClient } from '../test/support/grpc-client.ts';
import type { InferRequest } from '../protocol/infer.ts';
const s = await startTestServer({ ort: { intraOpNumThreads: 1 } });
const g = createGrpcClient(s.grpcUrl);
const req = (model: string): InferRequest => model === 'simple'
  ? { modelName: 'simple', parameters: {}, inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, datatype: 'INT32' as const, shape: [1, 16], data: new Int32Array(16).fill(1) })) }
  : { modelName: 'dense_mlp', parameters: {}, inputs: [{ name: 'input', datatype: 'FP32' as const, shape: [1, 512], data: new Float32Array(512).fill(0.1) }] };
const q = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))];
async function run(label: string, fn: () => Promise<unknown>, n: number, conc: number) {
  for (let i = 0; i < 200; i++) await fn();
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next++ < n) { const a = performance.now(); await fn(); lat.push((performance.now() - a) * 1000); }
  }));
  const secs = (performance.now() - t0) / 1000;
  console.log(`${label.padEnd(34)} c=${String(conc).padStart(2)}  ${(n / secs).toFixed(0).padStart(6)} req/s  p50 ${q(lat, 0.5).toFixed(0).padStart(5)} µs  p99 ${q(lat, 0.99).toFixed(0).padStart(6)} µs`);
}
for (const model of ['simple', 'dense_mlp']) {
  for (const conc of [1, 16]) {
    const n = conc === 1 ? 2000 : 5000;
    await run(`${model} gRPC ModelInfer`, () => g.infer(req(model)), n, conc);
    await run(`${model} HTTP binary`, () => s.client.infer(req(model), { binaryInputs: true, binaryOutputs: true }), n, conc);
  }
}
g.close(); await s.stop();
