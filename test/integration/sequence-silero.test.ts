/**
 * A real stateful model under the sequence batcher: Silero VAD (LSTM, from @ricky0123/vad-web)
 * normally makes its client carry the LSTM state (h/c in, hn/cn out). Configured with implicit
 * `state` pairs, the server carries it instead: each audio stream is a sequence, the client
 * sends only audio chunks. Two interleaved streams must give exactly what onnxruntime-node gives
 * when the state is chained by hand, stream by stream.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const require = createRequire(import.meta.url);
const modelFile = join(dirname(require.resolve('@ricky0123/vad-web/package.json')), 'dist', 'silero_vad_legacy.onnx');

const SAMPLES = 512;
const CHUNKS = 4;

const CONFIG = `name: "silero_vad_stateful"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [
  { name: "input" data_type: TYPE_FP32 dims: [ 1, -1 ] },
  { name: "sr" data_type: TYPE_INT64 dims: [ 1 ] reshape: { shape: [ ] } }
]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 1, 1 ] } ]
sequence_batching {
  state [
    {
      input_name: "h" output_name: "hn" data_type: TYPE_FP32 dims: [ 2, 1, 64 ]
      initial_state { data_type: TYPE_FP32 dims: [ 2, 1, 64 ] zero_data: true name: "h0" }
    },
    {
      input_name: "c" output_name: "cn" data_type: TYPE_FP32 dims: [ 2, 1, 64 ]
      initial_state { data_type: TYPE_FP32 dims: [ 2, 1, 64 ] zero_data: true name: "c0" }
    }
  ]
}
# No batching, so one sequence slot per instance: two instances let two streams run at once.
instance_group [ { count: 2 kind: KIND_CPU } ]
`;

let repo: string;
let s: TestServer;
let direct: ort.InferenceSession;

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), 'infermesh-silero-seq-'));
  mkdirSync(join(repo, 'silero_vad_stateful', '1'), { recursive: true });
  copyFileSync(modelFile, join(repo, 'silero_vad_stateful', '1', 'model.onnx'));
  writeFileSync(join(repo, 'silero_vad_stateful', 'config.pbtxt'), CONFIG);
  s = await startTestServer({ repositories: [repo] });
  direct = await ort.InferenceSession.create(modelFile);
});

afterAll(async () => {
  await s?.stop();
  await direct?.release();
  if (repo) rmSync(repo, { recursive: true, force: true });
});

/** Chunk `k` of audio stream `stream`: distinct tones per stream, speech-like amplitude. */
function chunk(stream: number, k: number): Float32Array {
  return Float32Array.from({ length: SAMPLES }, (_, i) => {
    const t = k * SAMPLES + i;
    return 0.5 * Math.sin(t / (3 + 2 * stream)) + 0.2 * Math.sin(t / (1.3 + stream)) * (stream === 0 ? 1 : (k % 2));
  });
}

/** What onnxruntime-node says for one stream when its state is chained by hand. */
async function expected(stream: number): Promise<number[]> {
  let h: ort.Tensor = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]);
  let c: ort.Tensor = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]);
  const out: number[] = [];
  for (let k = 0; k < CHUNKS; k++) {
    const r = await direct.run({
      input: new ort.Tensor('float32', chunk(stream, k), [1, SAMPLES]),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
      h, c,
    });
    out.push((r.output.data as Float32Array)[0]);
    h = r.hn;
    c = r.cn;
  }
  return out;
}

test('two interleaved audio streams: the server carries each LSTM state; answers equal onnxruntime-node with state chained by hand', async () => {
  const want = [await expected(0), await expected(1)];
  // the state matters: without it the later chunks would differ
  const stateless = await direct.run({
    input: new ort.Tensor('float32', chunk(0, CHUNKS - 1), [1, SAMPLES]),
    sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
    h: new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]),
    c: new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]),
  });
  expect(Math.abs((stateless.output.data as Float32Array)[0] - want[0][CHUNKS - 1])).toBeGreaterThan(1e-4);

  const got: number[][] = [[], []];
  for (let k = 0; k < CHUNKS; k++) {
    const answers = await Promise.all([0, 1].map((stream) => s.client.infer({
      modelName: 'silero_vad_stateful',
      parameters: { sequence_id: stream === 0 ? 'mic-a' : 9001, ...(k === 0 ? { sequence_start: true } : {}), ...(k === CHUNKS - 1 ? { sequence_end: true } : {}) },
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [1, SAMPLES], data: chunk(stream, k) },
        { name: 'sr', datatype: 'INT64', shape: [1], data: BigInt64Array.from([16000n]) },
      ],
    }, { binaryInputs: true, binaryOutputs: true })));
    answers.forEach((r, stream) => {
      expect(r.outputs.map((o) => o.name)).toEqual(['output']);
      got[stream].push((r.outputs[0].data as Float32Array)[0]);
    });
  }
  for (const stream of [0, 1]) {
    for (let k = 0; k < CHUNKS; k++) expect(Math.abs(got[stream][k] - want[stream][k]), `stream ${stream} chunk ${k}`).toBeLessThan(1e-5);
  }
});
