/**
 * `tab_mlp`: a small FP32 model for the browser end-to-end tests, written with onnx-proto in
 * test setup. Small (a few KB, so a tab downloads it in milliseconds and SwiftShader's WebGPU
 * runs it quickly) but not trivial: Gemm → Tanh → Gemm → Sigmoid over seeded weights, with
 * outputs in (0, 1), so a 1e-4 absolute tolerance between onnxruntime-web and onnxruntime-node
 * is meaningful.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildModel } from '../../scripts/onnx-builder.ts';
import { mulberry32, uniformFloats } from '../../scripts/seeded-random.ts';

export const TAB_MODEL = 'tab_mlp';
export const TAB_IN = 16;
export const TAB_HIDDEN = 64;
export const TAB_OUT = 8;
export const TAB_MAX_BATCH = 8;

/** The tolerance the issue asks for between onnxruntime-web and onnxruntime-node. */
export const TAB_TOLERANCE = 1e-4;

export const TAB_CONFIG = `name: "${TAB_MODEL}"
platform: "onnxruntime_onnx"
max_batch_size: ${TAB_MAX_BATCH}
input [ { name: "x" data_type: TYPE_FP32 dims: [ ${TAB_IN} ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ ${TAB_OUT} ] } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
instance_group [ { count: 1 kind: KIND_CPU } ]
`;

/** The model's bytes (deterministic). */
export function tabModelBytes(): Uint8Array {
  const rand = mulberry32(0x7ab);
  const w0 = uniformFloats(rand, TAB_IN * TAB_HIDDEN, Math.sqrt(3 / TAB_IN));
  const b0 = uniformFloats(rand, TAB_HIDDEN, 0.1);
  const w1 = uniformFloats(rand, TAB_HIDDEN * TAB_OUT, Math.sqrt(3 / TAB_HIDDEN));
  const b1 = uniformFloats(rand, TAB_OUT, 0.1);
  const raw = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return buildModel({
    graphName: TAB_MODEL,
    docString: 'browser e2e test model: Gemm-Tanh-Gemm-Sigmoid',
    inputs: [{ name: 'x', elemType: 'FLOAT', shape: ['batch', TAB_IN] }],
    outputs: [{ name: 'y', elemType: 'FLOAT', shape: ['batch', TAB_OUT] }],
    nodes: [
      { opType: 'Gemm', inputs: ['x', 'w0', 'b0'], outputs: ['h0'] },
      { opType: 'Tanh', inputs: ['h0'], outputs: ['t0'] },
      { opType: 'Gemm', inputs: ['t0', 'w1', 'b1'], outputs: ['h1'] },
      { opType: 'Sigmoid', inputs: ['h1'], outputs: ['y'] },
    ],
    initializers: [
      { name: 'w0', elemType: 'FLOAT', dims: [TAB_IN, TAB_HIDDEN], raw: raw(w0) },
      { name: 'b0', elemType: 'FLOAT', dims: [TAB_HIDDEN], raw: raw(b0) },
      { name: 'w1', elemType: 'FLOAT', dims: [TAB_HIDDEN, TAB_OUT], raw: raw(w1) },
      { name: 'b1', elemType: 'FLOAT', dims: [TAB_OUT], raw: raw(b1) },
    ],
  });
}

/** Writes `tab_mlp` (config + version 1) into the repository folder `repo`. */
export function writeTabModel(repo: string): void {
  mkdirSync(join(repo, TAB_MODEL, '1'), { recursive: true });
  writeFileSync(join(repo, TAB_MODEL, 'config.pbtxt'), TAB_CONFIG);
  writeFileSync(join(repo, TAB_MODEL, '1', 'model.onnx'), tabModelBytes());
}

/** `rows` rows of seeded inputs in [-2, 2). */
export function tabInput(rows: number, seed: number): Float32Array {
  return uniformFloats(mulberry32(seed), rows * TAB_IN, 2);
}

/** The reference: onnxruntime-node on the same bytes. */
export class TabReference {
  readonly #session: Promise<ort.InferenceSession>;

  constructor() {
    this.#session = ort.InferenceSession.create(tabModelBytes(), { intraOpNumThreads: 1 });
  }

  async run(x: Float32Array): Promise<Float32Array> {
    const s = await this.#session;
    const out = await s.run({ x: new ort.Tensor('float32', x, [x.length / TAB_IN, TAB_IN]) });
    return out.y.data as Float32Array;
  }

  async release(): Promise<void> {
    await (await this.#session).release();
  }
}

/** Largest |a - b| (Infinity when lengths differ). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
