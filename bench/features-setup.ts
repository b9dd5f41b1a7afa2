/**
 * What `features-bench.ts` needs besides the load generator: a temporary model repository
 * with the feature variants, the request bodies of each row (HTTP binary, gRPC, JSON
 * sequences), and the client-side ensemble chain.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concatChunks, decodeHttpInferResponse, encodeHttpInferRequest } from '../protocol/http-infer.ts';
import type { InferRequest, InferResponse } from '../protocol/infer.ts';
import * as pb from '../protocol/inference-pb.ts';
import { inferRequestToProto } from '../protocol/mesh-infer-codec.ts';
import type { Tensor } from '../protocol/tensor.ts';
import { BENCH_MODELS, MODEL_REPOSITORY, benchRequest, encodeBody, type EncodedBody } from './bench-models.ts';

/** Requests per sequence in the sequence rows: START, middle requests, END — then a new sequence on the same id. */
export const SEQUENCE_LENGTH = 8;

/** Every model the server loads for the bench. */
export const FEATURE_MODELS = ['simple', 'dense_mlp', 'dense_mlp_cached', 'simple_dyn', 'sequence_accumulate', 'mlp_preprocess', 'ensemble_add_mlp'];

/**
 * Copies the example models into a temporary repository and adds two variants:
 * `dense_mlp_cached` (dense_mlp plus `response_cache { enable: true }`) and `simple_dyn`
 * (simple plus `dynamic_batching`, the sequence rows' baseline of similar cost).
 */
export function makeFeatureRepo(): string {
  const repo = mkdtempSync(join(tmpdir(), 'infermesh-features-bench-'));
  for (const m of ['simple', 'dense_mlp', 'sequence_accumulate', 'mlp_preprocess', 'ensemble_add_mlp']) cpSync(join(MODEL_REPOSITORY, m), join(repo, m), { recursive: true });
  const variant = (from: string, to: string, extra: string) => {
    mkdirSync(join(repo, to));
    cpSync(join(MODEL_REPOSITORY, from, '1'), join(repo, to, '1'), { recursive: true });
    const config = readFileSync(join(MODEL_REPOSITORY, from, 'config.pbtxt'), 'utf8').replace(`name: "${from}"`, `name: "${to}"`);
    writeFileSync(join(repo, to, 'config.pbtxt'), `${config}\n${extra}\n`);
  };
  variant('dense_mlp', 'dense_mlp_cached', 'response_cache { enable: true }');
  variant('simple', 'simple_dyn', 'dynamic_batching { max_queue_delay_microseconds: 100 }');
  return repo;
}

/** HTTP binary body of a bench model (as `npm run bench` target d; the URL names the model). */
export function httpBody(model: string): EncodedBody {
  return encodeBody(BENCH_MODELS[model], 'binary');
}

/** The same request as an encoded ModelInferRequest (raw_input_contents), for the gRPC rows. */
export function grpcBody(model: string): Uint8Array {
  return pb.ModelInferRequest.encode(inferRequestToProto(benchRequest(BENCH_MODELS[model])));
}

const json = (req: Omit<InferRequest, 'modelName'> & { modelName?: string }) => concatChunks(encodeHttpInferRequest({ modelName: '', ...req }, { binaryInputs: false }).chunks);

/** Loop i's JSON bodies for sequence_accumulate: one sequence of SEQUENCE_LENGTH requests on id 1000 + i. */
export function sequenceBodies(loops: number): Uint8Array[][] {
  return Array.from({ length: loops }, (_, i) => Array.from({ length: SEQUENCE_LENGTH }, (_, k) => json({
    parameters: { sequence_id: 1000 + i, ...(k === 0 ? { sequence_start: true } : {}), ...(k === SEQUENCE_LENGTH - 1 ? { sequence_end: true } : {}) },
    inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 4], data: Float32Array.from([1, 2, 3, k]) }],
  })));
}

/** JSON body of `simple` (for simple_dyn), the same wire format as the sequence rows. */
export function simpleJsonBody(): Uint8Array {
  return json({ parameters: {}, inputs: benchRequest(BENCH_MODELS.simple).inputs });
}

/** One binary HTTP infer call from the client; returns the decoded answer. */
async function call(baseUrl: string, model: string, inputs: Tensor[]): Promise<InferResponse> {
  const enc = encodeHttpInferRequest({ modelName: model, parameters: {}, inputs }, { binaryInputs: true, binaryOutputs: true });
  const res = await fetch(`${baseUrl}/v2/models/${model}/infer`, {
    method: 'POST', body: concatChunks(enc.chunks) as Uint8Array<ArrayBuffer>,
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(enc.headerLength) },
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${model}: HTTP ${res.status}: ${new TextDecoder().decode(bytes).slice(0, 300)}`);
  const hl = res.headers.get('inference-header-content-length');
  return decodeHttpInferResponse(bytes, hl === null ? undefined : Number(hl));
}

const output = (r: InferResponse, name: string) => {
  const o = r.outputs.find((x) => x.name === name);
  if (!o) throw new Error(`answer of ${r.modelName} lacks ${name}`);
  return o;
};

/** ensemble_add_mlp as one request, and its five steps called one after the other by the client. */
export function ensembleCalls(baseUrl: string): { ensemble: () => Promise<unknown>; byHand: () => Promise<unknown> } {
  const inputs = benchRequest(BENCH_MODELS.simple).inputs;
  return {
    ensemble: async () => output(await call(baseUrl, 'ensemble_add_mlp', inputs), 'MLP_DIFF'),
    byHand: async () => {
      const s = await call(baseUrl, 'simple', inputs);
      for (const name of ['OUTPUT0', 'OUTPUT1']) {
        const f = await call(baseUrl, 'mlp_preprocess', [{ ...output(s, name), name: 'INT_VALUES' }]);
        output(await call(baseUrl, 'dense_mlp', [{ ...output(f, 'FEATURES'), name: 'input' }]), 'output');
      }
    },
  };
}

/** Runs `fn` sequentially for `ms` after `warmupMs`; infer/s and p50/p99 in µs. */
export async function timeSequential(fn: () => Promise<unknown>, warmupMs: number, ms: number): Promise<{ throughput: number; p50Us: number; p99Us: number }> {
  for (const end = performance.now() + warmupMs; performance.now() < end;) await fn();
  const us: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const t = performance.now();
    await fn();
    us.push((performance.now() - t) * 1000);
  }
  const elapsed = performance.now() - t0;
  us.sort((a, b) => a - b);
  const pct = (p: number) => us[Math.min(us.length - 1, Math.ceil(p * us.length) - 1)];
  return { throughput: us.length / (elapsed / 1000), p50Us: pct(0.5), p99Us: pct(0.99) };
}
