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
import type { DataType, TypedTensorArray } from '../protocol/datatypes.ts';
import { InferError, isInferError, toWireError, type WireError } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';

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
export type OrtWebTensorType =
  | 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64'
  | 'float16' | 'float32' | 'float64' | 'string';

/**
 * An input as the worker needs it for `new ort.Tensor(type, data, dims)`: datatype mapped and
 * checked, BYTES decoded to strings, BOOL normalised to 0/1, typed arrays compact copies on
 * buffers of their own (so they can be transferred).
 */
export interface PackedTensor {
  name: string;
  type: OrtWebTensorType;
  dims: number[];
  data: TypedTensorArray | string[];
}

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

/** ORT tensor type → KServe datatype. */
export const ORT_TO_DATATYPE: Readonly<Record<string, DataType>> = {
  bool: 'BOOL', uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64',
  int8: 'INT8', int16: 'INT16', int32: 'INT32', int64: 'INT64',
  float16: 'FP16', float32: 'FP32', float64: 'FP64', string: 'BYTES',
};

/** KServe datatype → ORT tensor type (BF16 has no onnxruntime-web tensor type). */
export const DATATYPE_TO_ORT: Readonly<Partial<Record<DataType, OrtWebTensorType>>> = {
  BOOL: 'bool', UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64',
  INT8: 'int8', INT16: 'int16', INT32: 'int32', INT64: 'int64',
  FP16: 'float16', FP32: 'float32', FP64: 'float64', BYTES: 'string',
};

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

const TYPED_ARRAY_CLASSES = [
  Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
] as const;

/**
 * A copy of `a` on an ArrayBuffer of exactly its length. Inputs are often views into a larger
 * buffer (a mesh frame, an HTTP body) that must stay usable by their owner, and a
 * SharedArrayBuffer cannot be transferred at all: the copy is the one thing that moves.
 */
export function ownCopy<T extends TypedTensorArray>(a: T): T {
  const bytes = new Uint8Array(a.byteLength);
  bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  const Ctor = TYPED_ARRAY_CLASSES.find((C) => a instanceof C) ?? (a.constructor as new (b: ArrayBuffer) => T);
  return new (Ctor as new (b: ArrayBuffer) => T)(bytes.buffer);
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * Packs one input for the worker. BYTES must be UTF-8 text without NUL: ORT string tensors
 * are JS strings that become C strings, so anything else could not round-trip.
 * @throws InferError UNSUPPORTED (a datatype onnxruntime-web has no tensor for), INVALID_ARG (BYTES that are not text).
 */
export function packTensor(t: Tensor): PackedTensor {
  const type = DATATYPE_TO_ORT[t.datatype];
  if (!type) throw new InferError('UNSUPPORTED', `input '${t.name}': datatype ${t.datatype} is not supported by onnxruntime-web`);
  const dims = [...t.shape];
  if (t.datatype === 'BYTES') {
    const elems = t.data as Uint8Array[];
    const strings = new Array<string>(elems.length);
    for (let i = 0; i < elems.length; i++) {
      let s: string | undefined;
      if (!elems[i].includes(0)) {
        try { s = utf8Decoder.decode(elems[i]); } catch { s = undefined; }
      }
      if (s === undefined) {
        throw new InferError('INVALID_ARG', `input '${t.name}': BYTES element ${i} is not NUL-free UTF-8 text; onnxruntime string tensors can only carry that`);
      }
      strings[i] = s;
    }
    return { name: t.name, type, dims, data: strings };
  }
  const data = ownCopy(t.data as TypedTensorArray);
  if (t.datatype === 'BOOL') {
    // a C++ bool must be 0 or 1; any other byte is undefined behaviour in ORT kernels
    const b = data as Uint8Array;
    for (let i = 0; i < b.length; i++) if (b[i] > 1) b[i] = 1;
  }
  return { name: t.name, type, dims, data };
}

/** Packs every input; `transfer` lists their buffers (each once), for comlink's `transfer`. */
export function packInputs(inputs: readonly Tensor[]): { inputs: PackedTensor[]; transfer: ArrayBuffer[] } {
  const packed = inputs.map(packTensor);
  return { inputs: packed, transfer: transferList(packed.map((p) => p.data)) };
}

/**
 * The distinct ArrayBuffers behind `parts` that can be transferred: never one twice (a
 * DataCloneError), never a SharedArrayBuffer (those are shared, not moved).
 */
export function transferList(parts: readonly (TypedTensorArray | string[] | Uint8Array[])[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const p of parts) {
    const arrays = Array.isArray(p) ? p.filter((x): x is Uint8Array => typeof x !== 'string') : [p];
    for (const a of arrays) if (a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  }
  return [...out];
}

/** The buffers of the outputs the worker hands back. */
export function outputTransferList(outputs: readonly Tensor[]): ArrayBuffer[] {
  return transferList(outputs.map((t) => t.data));
}

/** What the worker reads of an ORT output (`ort.Tensor` on the CPU). */
export interface OrtValueLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/**
 * An ORT output as a protocol tensor. Typed arrays are reused: ORT web copies outputs out of
 * the WASM heap (or GPU buffer) into arrays of their own, so they can be transferred.
 */
export function fromOrtOutput(name: string, v: OrtValueLike): Tensor {
  const datatype = ORT_TO_DATATYPE[v.type];
  if (!datatype) throw new InferError('UNSUPPORTED', `output '${name}' has ORT type '${v.type}', which has no KServe datatype`);
  const shape = [...v.dims];
  if (datatype === 'BYTES') return { name, datatype, shape, data: (v.data as string[]).map((s) => utf8Encoder.encode(s)) };
  let data = v.data as TypedTensorArray | { buffer: ArrayBufferLike; byteOffset: number; length: number };
  // where Float16Array exists ORT returns one; the protocol carries raw 16-bit patterns
  if (datatype === 'FP16' && !(data instanceof Uint16Array)) data = new Uint16Array(data.buffer, data.byteOffset, data.length);
  return { name, datatype, shape, data: data as TypedTensorArray };
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
