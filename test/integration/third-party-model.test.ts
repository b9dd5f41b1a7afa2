/**
 * A real third-party ONNX model shipped by an npm package (Silero VAD from
 * @ricky0123/vad-web), served from a Triton-style repository and compared with the outputs
 * of onnxruntime-node used directly.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const require = createRequire(import.meta.url);
const modelFile = join(dirname(require.resolve('@ricky0123/vad-web/package.json')), 'dist', 'silero_vad_legacy.onnx');

let s: TestServer;
let direct: ort.InferenceSession;
beforeAll(async () => {
  const repo = mkdtempSync(join(tmpdir(), 'infermesh-silero-'));
  mkdirSync(join(repo, 'silero_vad', '1'), { recursive: true });
  copyFileSync(modelFile, join(repo, 'silero_vad', '1', 'model.onnx'));
  // No config.pbtxt except the one thing auto-complete cannot know: the scalar `sr` input.
  writeFileSync(join(repo, 'silero_vad', 'config.pbtxt'), [
    'max_batch_size: 0',
    'input [ { name: "sr" data_type: TYPE_INT64 dims: [ 1 ] reshape: { shape: [ ] } } ]',
  ].join('\n'));
  s = await startTestServer({ repositories: [repo] });
  direct = await ort.InferenceSession.create(modelFile);
});
afterAll(async () => { await s?.stop(); await direct?.release(); });

test('Silero VAD through infermesh equals onnxruntime-node, over JSON and binary', async () => {
  const samples = 512;
  const audio = Float32Array.from({ length: samples }, (_, i) => Math.sin(i / 5) * 0.6 + Math.sin(i / 1.7) * 0.2);
  const h = Float32Array.from({ length: 128 }, (_, i) => ((i % 7) - 3) / 10);
  const c = Float32Array.from({ length: 128 }, (_, i) => ((i % 5) - 2) / 10);
  const want = await direct.run({
    input: new ort.Tensor('float32', audio, [1, samples]),
    sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
    h: new ort.Tensor('float32', h, [2, 1, 64]),
    c: new ort.Tensor('float32', c, [2, 1, 64]),
  });
  const meta = (await s.client.get('/v2/models/silero_vad')).json as { inputs: { name: string; shape: number[] }[] };
  expect(meta.inputs.find((i) => i.name === 'sr')?.shape).toEqual([1]);
  for (const binary of [false, true]) {
    const resp = await s.client.infer({ modelName: 'silero_vad', parameters: {}, inputs: [
      { name: 'input', datatype: 'FP32', shape: [1, samples], data: audio },
      { name: 'sr', datatype: 'INT64', shape: [1], data: BigInt64Array.from([16000n]) },
      { name: 'h', datatype: 'FP32', shape: [2, 1, 64], data: h },
      { name: 'c', datatype: 'FP32', shape: [2, 1, 64], data: c },
    ] }, { binaryInputs: binary, binaryOutputs: binary });
    const byName = Object.fromEntries(resp.outputs.map((o) => [o.name, o]));
    for (const name of ['output', 'hn', 'cn']) {
      const got = byName[name].data as Float32Array;
      const exp = want[name].data as Float32Array;
      expect(byName[name].shape).toEqual([...want[name].dims]);
      expect(got.length).toBe(exp.length);
      for (let i = 0; i < exp.length; i++) expect(Math.abs(got[i] - exp[i])).toBeLessThan(1e-5);
    }
    const p = (byName.output.data as Float32Array)[0];
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThanOrEqual(1);
  }
});
