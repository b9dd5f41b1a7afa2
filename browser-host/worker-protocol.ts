/**
 * The contract between the page and the onnxruntime-web worker (`ort-web.worker.ts`), which
 * comlink exposes: the API's types, plus the pure conversions both sides run: tensors packed
 * for transfer (each input copied once into a buffer of its own, then moved, never cloned),
 * ORT's element types and metadata mapped to KServe's, and errors flattened so their code
 * survives the boundary.
 *
 * Pure and runtime-free (no onnxruntime-web, no DOM, no comlink), so Node unit tests and the
 * browser tests run the same code.
 *
 * Errors: comlink rebuilds a thrown `Error` as a bare Error (message only), which would turn
 * every INVALID_ARG into INTERNAL. The worker therefore throws a plain {@link WorkerError}
 * object (comlink passes non-Error values through structured clone unchanged), and the page
 * turns it back into an InferError with {@link fromWorkerError}.
 */
import type { ModelSignature, TensorSignature } from '../core/model-config.ts';
import { InferError, isInferError, toWireError, type WireError } from '../protocol/errors.ts';
import { ORT_TO_DATATYPE, toOrtInput, type OrtInput, type OrtTensorType } from '../protocol/ort-tensor-map.ts';
import type { Tensor } from '../protocol/tensor.ts';
import { transferList } from '../protocol/tensor-transfer.ts';

export { fromOrtOutput, type OrtValueLike } from '../protocol/ort-tensor-map.ts';
export { outputTransferList, transferList } from '../protocol/tensor-transfer.ts';

/** The execution providers a tab runs models on. */
export type ExecutionProviderName = 'webgpu' | 'wasm';

/** What the user (or the page config) asks for: `auto` = WebGPU when an adapter works, else WASM. */
export type ProviderRequest = 'auto' | ExecutionProviderName;

/** Options of the worker's `init`. */
export interface WorkerInitOptions {
  /** Where onnxruntime-web's `.wasm`/`.mjs` files are served (`/contribute/ort/`); relative URLs resolve against the worker's. */
  ortBase: string;
  provider: ProviderRequest;
  /** WASM threads; default: up to {@link DEFAULT_MAX_WASM_THREADS} when cross-origin isolated, else 1. */
  numThreads?: number;
}

/** What `init` found: the provider models will run on and why, in words a person can act on. */
export interface WorkerInitResult {
  provider: ExecutionProviderName;
  reason: string;
  /** WASM threads in use (1 when the page is not cross-origin isolated). */
  threads: number;
  /** Whether a WebGPU session could run here, and why not when it could not. */
  webgpu: { ok: boolean; reason: string; adapter?: string };
  /** onnxruntime-web's version. */
  ortVersion: string;
}

/** Options of the worker's `load`. */
export interface SessionLoadOptions {
  /** `model 'x' version 1`, used in error messages. */
  label: string;
  provider: ExecutionProviderName;
}

/** The worker's answer to `load`: a handle for `run`/`dispose`, and the model's inputs and outputs. */
export interface SessionLoadResult {
  handle: number;
  signature: ModelSignature;
}

/** ORT's tensor element type names (onnxruntime-common `Tensor.Type`) that KServe can carry. */
export type OrtWebTensorType = OrtTensorType;

/**
 * An input as the worker needs it for `new ort.Tensor(type, data, dims)`: datatype mapped and
 * checked, BYTES decoded to strings, BOOL normalised to 0/1, typed arrays compact copies on
 * buffers of their own (so they can be transferred).
 */
export type PackedTensor = OrtInput;

/**
 * The worker's API as comlink exposes it. Every method rejects with a {@link WorkerError}.
 * `load` and `run` take their buffers by transfer (the caller's copies move to the worker);
 * `run` answers protocol tensors whose buffers are transferred back.
 */
export interface OrtWebWorkerApi {
  init(options: WorkerInitOptions): Promise<WorkerInitResult>;
  load(model: Uint8Array, options: SessionLoadOptions): Promise<SessionLoadResult>;
  run(handle: number, inputs: PackedTensor[], outputNames: string[]): Promise<Tensor[]>;
  dispose(handle: number): Promise<void>;
}

/**
 * y = Add(x, x) on FP32 [1], 119 bytes: proves a provider can create a session and compute
 * (an Identity could be satisfied without touching the GPU). Built with scripts/onnx-builder.ts;
 * test/unit/browser-worker-protocol.test.ts rebuilds it and checks the bytes agree.
 */
export const WEB_PROBE_MODEL_BASE64 =
  'CAgSKGluZmVybWVzaCBzY3JpcHRzL21ha2UtZXhhbXBsZS1tb2RlbHMudHMaATEyADo+ChMKAXgKAXgSAXkaA2FkZCIDQWRkEgVwcm9iZVoPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEA0=';

/** 4 threads: ORT web's own cap; more threads than that rarely speed up one session and cost memory per thread. */
export const DEFAULT_MAX_WASM_THREADS = 4;

/** An error as it crosses the worker boundary: an InferError's fields on a plain object. */
export interface WorkerError extends WireError {
  name: 'InferError';
}

/** What the worker throws for anything that went wrong (see the file comment). */
export function toWorkerError(e: unknown): WorkerError {
  return { name: 'InferError', ...toWireError(e) };
}

/**
 * Rebuilds an InferError from whatever a worker call rejected with: a {@link WorkerError}, or
 * (worker crashed, comlink failed) anything else, which becomes UNAVAILABLE so the mesh tries
 * another host.
 */
export function fromWorkerError(e: unknown, label: string): InferError {
  if (isInferError(e)) return new InferError(e.code, e.message, e.reason);
  const message = e instanceof Error ? e.message : String((e as { message?: unknown } | null)?.message ?? e);
  return new InferError('UNAVAILABLE', `${label}: the onnxruntime-web worker failed (${message})`, 'BACKEND');
}

/**
 * Packs one input for the worker. BYTES must be UTF-8 text without NUL: ORT string tensors
 * are JS strings that become C strings, so anything else could not round-trip.
 * @throws InferError UNSUPPORTED (a datatype onnxruntime-web has no tensor for), INVALID_ARG (BYTES that are not text).
 */
export function packTensor(t: Tensor): PackedTensor {
  return toOrtInput(t, 'onnxruntime-web');
}

/** Packs every input; `transfer` lists their buffers (each once), for comlink's `transfer`. */
export function packInputs(inputs: readonly Tensor[]): { inputs: PackedTensor[]; transfer: ArrayBuffer[] } {
  const packed = inputs.map(packTensor);
  return { inputs: packed, transfer: transferList(packed.map((p) => p.data)) };
}

/** What the worker reads of ORT's input/output metadata (`InferenceSession.ValueMetadata`). */
export type OrtValueMetadataLike =
  | { readonly name: string; readonly isTensor: false }
  | { readonly name: string; readonly isTensor: true; readonly type: string; readonly shape: readonly (number | string)[] };

/** ORT metadata as infermesh signatures; symbolic dimensions become -1. */
export function toSignature(meta: readonly OrtValueMetadataLike[], what: 'input' | 'output'): TensorSignature[] {
  return meta.map((m) => {
    if (!m.isTensor) throw new InferError('UNSUPPORTED', `${what} '${m.name}' is not a tensor (sequence/map); only tensor inputs and outputs are served`);
    const datatype = ORT_TO_DATATYPE[m.type];
    if (!datatype) throw new InferError('UNSUPPORTED', `${what} '${m.name}' has ORT type '${m.type}', which has no KServe datatype`);
    return { name: m.name, datatype, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
  });
}

/** Both sides of a session's signature. */
export function sessionSignature(inputs: readonly OrtValueMetadataLike[], outputs: readonly OrtValueMetadataLike[]): ModelSignature {
  return { inputs: toSignature(inputs, 'input'), outputs: toSignature(outputs, 'output') };
}
