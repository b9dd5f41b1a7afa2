/**
 * The two example models the server benchmark drives, and the request bodies it sends.
 *
 * Signatures are written out here rather than read from the server because the ceiling
 * (ort-ceiling.ts) and the baseline server must build the same tensors without infermesh
 * running; `server-bench.ts` checks each target's first answer, so a drift from
 * examples/models shows up as a failed check, not as silently wrong numbers.
 */
import { join } from 'node:path';
import { encodeHttpInferRequest, concatChunks } from '../protocol/http-infer.ts';
import type { InferRequest } from '../protocol/infer.ts';
import { mulberry32 } from '../scripts/seeded-random.ts';

/** The repository `npm start` serves (written by scripts/make-example-models.ts). */
export const MODEL_REPOSITORY = join(import.meta.dirname, '..', 'examples', 'models');

/** One input of a benchmark model (batch dimension excluded, as in config.pbtxt `dims`). */
export interface BenchInput {
  name: string;
  datatype: 'INT32' | 'FP32';
  dims: number[];
}

/** A benchmark model: its signature and the batch sizes the in-process ceiling tries. */
export interface BenchModel {
  name: string;
  inputs: BenchInput[];
  outputs: string[];
  /** Batch sizes for the ceiling: 1, 8, 32, capped at the model's max_batch_size. */
  ceilingBatches: number[];
}

export const BENCH_MODELS: Readonly<Record<string, BenchModel>> = {
  dense_mlp: {
    name: 'dense_mlp',
    inputs: [{ name: 'input', datatype: 'FP32', dims: [512] }],
    outputs: ['output'],
    ceilingBatches: [1, 8, 32],
  },
  simple: {
    name: 'simple',
    inputs: [{ name: 'INPUT0', datatype: 'INT32', dims: [16] }, { name: 'INPUT1', datatype: 'INT32', dims: [16] }],
    outputs: ['OUTPUT0', 'OUTPUT1'],
    ceilingBatches: [1, 8],
  },
};

/** Path of version 1's model.onnx. */
export function modelPath(model: string): string {
  return join(MODEL_REPOSITORY, model, '1', 'model.onnx');
}

/**
 * Deterministic pseudo-random numbers: perf_analyzer sends random data generated once; a fixed
 * seed makes every run send the same bytes, so JSON body sizes (which depend on the digits) do
 * not vary between runs.
 */
const prng = mulberry32;

/** Input data for `batch` rows: FP32 uniform in [-1, 1), INT32 in [0, 100). */
export function inputData(model: BenchModel, batch: number, seed = 1): { input: BenchInput; shape: number[]; data: Float32Array | Int32Array }[] {
  const rnd = prng(seed);
  return model.inputs.map((input) => {
    const n = batch * input.dims.reduce((a, b) => a * b, 1);
    const data = input.datatype === 'FP32' ? new Float32Array(n) : new Int32Array(n);
    for (let i = 0; i < n; i++) data[i] = input.datatype === 'FP32' ? rnd() * 2 - 1 : Math.floor(rnd() * 100);
    return { input, shape: [batch, ...input.dims], data };
  });
}

/** The batch-1 request every load-generator cell sends. */
export function benchRequest(model: BenchModel): InferRequest {
  return {
    modelName: model.name,
    parameters: {},
    inputs: inputData(model, 1).map(({ input, shape, data }) => ({ name: input.name, datatype: input.datatype, shape, data })),
  };
}

/** Wire format of a cell: KServe JSON tensors, or Triton's binary tensor extension both ways. */
export type BodyFormat = 'json' | 'binary';

/** A ready-to-send request body with its headers (built once per cell, reused by every request). */
export interface EncodedBody {
  body: Uint8Array;
  headers: Record<string, string>;
}

/**
 * JSON: inputs as `data` arrays, outputs as JSON. Binary: inputs as blobs and
 * `binary_data_output: true`, announced by `Inference-Header-Content-Length` — what
 * perf_analyzer sends by default (COMPAT-NOTES §6.2).
 */
export function encodeBody(model: BenchModel, format: BodyFormat): EncodedBody {
  const binary = format === 'binary';
  const enc = encodeHttpInferRequest(benchRequest(model), { binaryInputs: binary, binaryOutputs: binary });
  const headers: Record<string, string> = { 'Content-Type': binary ? 'application/octet-stream' : 'application/json' };
  if (binary) headers['Inference-Header-Content-Length'] = String(enc.headerLength);
  return { body: concatChunks(enc.chunks), headers };
}
