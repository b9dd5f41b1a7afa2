/**
 * Pure conversions between infermesh's protocol tensors and what onnxruntime-node takes and
 * gives, shared by the main thread (inputs are checked and converted before they are posted)
 * and the session worker (outputs, signatures). Does not import onnxruntime-node: ORT's
 * values are described structurally, by the fields read here.
 */
import type { ModelSignature, TensorSignature } from '../core/model-config.ts';
import type { DataType, TypedTensorArray } from '../protocol/datatypes.ts';
import { InferError } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';
import type { OrtTensorType, WireInput } from './ort-protocol.ts';

/** ORT tensor type → KServe datatype. BF16 has no ORT-node type (its binding rejects it). */
export const ORT_TO_DATATYPE: Readonly<Record<string, DataType>> = {
  bool: 'BOOL', uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64',
  int8: 'INT8', int16: 'INT16', int32: 'INT32', int64: 'INT64',
  float16: 'FP16', float32: 'FP32', float64: 'FP64', string: 'BYTES',
};

/** KServe datatype → ORT tensor type; the inverse of {@link ORT_TO_DATATYPE}. */
export const DATATYPE_TO_ORT: Readonly<Partial<Record<DataType, OrtTensorType>>> = {
  BOOL: 'bool', UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64',
  INT8: 'int8', INT16: 'int16', INT32: 'int32', INT64: 'int64',
  FP16: 'float16', FP32: 'float32', FP64: 'float64', BYTES: 'string',
};

/** The message of anything thrown. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String((e as { message?: unknown } | null)?.message ?? e);
}

/**
 * ORT's native errors start with a source location and the failed check
 * (`/onnxruntime_src/...cc:136 ... was false. Failed to get a WebGPU adapter: ...`); keeps
 * the sentence after the check, which is the part a human can act on.
 */
export function ortReason(e: unknown): string {
  const m = errorMessage(e).trim();
  const i = m.lastIndexOf(' was false. ');
  return m.startsWith('/') && i >= 0 ? m.slice(i + ' was false. '.length) : m;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * A protocol tensor as the worker needs it, checked on the main thread so a bad request
 * fails before it is posted. Typed arrays are copied into a buffer of their own
 * ({@link ownCopy}): the caller's array may be a view into a large shared pooled buffer
 * (structured clone would copy all of it) or into a SharedArrayBuffer (clone would share it
 * with a worker still reading after an abort), and the copy can be transferred, not copied
 * again.
 */
export function toWireInput(t: Tensor): WireInput {
  const type = DATATYPE_TO_ORT[t.datatype];
  if (!type) {
    throw new InferError('UNSUPPORTED', `input '${t.name}': datatype ${t.datatype} is not supported by onnxruntime-node`);
  }
  const dims = [...t.shape];
  if (t.datatype === 'BYTES') {
    // ORT-node string tensors are JS strings that the binding turns into C strings: bytes
    // that are not UTF-8, or hold a NUL (the string ends there), cannot round-trip, so they
    // are refused instead of silently corrupted.
    const elems = t.data as Uint8Array[];
    const strings = new Array<string>(elems.length);
    for (let i = 0; i < elems.length; i++) {
      const e = elems[i];
      let s: string | undefined;
      if (!e.includes(0)) {
        try { s = utf8Decoder.decode(e); } catch { s = undefined; }
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
    // A C++ bool must be 0 or 1; a byte of 2 would be undefined behaviour in ORT kernels.
    const bools = data as Uint8Array;
    for (let i = 0; i < bools.length; i++) if (bools[i] > 1) bools[i] = 1;
  }
  return { name: t.name, type, dims, data };
}

/** The typed-array classes a tensor may use, base classes only (a Buffer is a Uint8Array). */
const TYPED_ARRAY_CLASSES = [
  Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
] as const;

/**
 * A copy of `a` on an ArrayBuffer of its own, of exactly its length, as a plain typed array.
 * Not `a.slice()`: a Node Buffer's slice is a view of the same memory (often Node's shared
 * pool, which cannot be transferred), and transferring that view would detach the caller's
 * buffer.
 */
export function ownCopy<T extends TypedTensorArray>(a: T): T {
  const bytes = new Uint8Array(a.byteLength);
  bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  const Ctor = TYPED_ARRAY_CLASSES.find((C) => a instanceof C) ?? (a.constructor as new (b: ArrayBuffer) => T);
  return new (Ctor as new (b: ArrayBuffer) => T)(bytes.buffer);
}

/** The buffers of `inputs` to transfer: all of them are the copies toWireInput made. */
export function inputTransferList(inputs: readonly WireInput[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const t of inputs) {
    if (!Array.isArray(t.data) && t.data.buffer instanceof ArrayBuffer) out.add(t.data.buffer);
  }
  return [...out];
}

/** What the worker reads of an ORT output value (`Ort.OnnxValue`). */
export interface OrtValueLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** An ORT output as a protocol tensor; typed arrays are reused, not copied. */
export function fromOrtOutput(name: string, v: OrtValueLike): Tensor {
  const datatype = ORT_TO_DATATYPE[v.type];
  if (!datatype) throw new Error(`output '${name}' has ORT type '${v.type}', which has no KServe datatype`);
  const shape = [...v.dims];
  if (datatype === 'BYTES') {
    return { name, datatype, shape, data: (v.data as string[]).map((s) => utf8Encoder.encode(s)) };
  }
  let data = v.data as TypedTensorArray | { buffer: ArrayBufferLike; byteOffset: number; length: number };
  if (datatype === 'FP16' && !(data instanceof Uint16Array)) {
    // Node 24 has Float16Array and ORT returns one; the protocol carries raw 16-bit patterns.
    data = new Uint16Array(data.buffer, data.byteOffset, data.length);
  }
  return { name, datatype, shape, data: data as TypedTensorArray };
}

/**
 * The buffers of `outputs` the worker can hand over without a copy: each distinct
 * ArrayBuffer once (listing one twice is a DataCloneError), never a SharedArrayBuffer.
 */
export function outputTransferList(outputs: readonly Tensor[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const t of outputs) {
    const parts = Array.isArray(t.data) ? t.data : [t.data];
    for (const p of parts) if (p.buffer instanceof ArrayBuffer) out.add(p.buffer);
  }
  return [...out];
}

/** What the worker reads of ORT's input/output metadata (`Ort.InferenceSession.ValueMetadata`). */
export type OrtValueMetadataLike =
  | { readonly name: string; readonly isTensor: false }
  | { readonly name: string; readonly isTensor: true; readonly type: string; readonly shape: readonly (number | string)[] };

/** ORT's input/output metadata as infermesh signatures; symbolic dimensions become -1. */
export function toSignature(meta: readonly OrtValueMetadataLike[], what: string): TensorSignature[] {
  return meta.map((m) => {
    if (!m.isTensor) throw new Error(`${what} '${m.name}' is not a tensor (sequence/map); only tensor inputs and outputs are served`);
    const datatype = ORT_TO_DATATYPE[m.type];
    if (!datatype) throw new Error(`${what} '${m.name}' has ORT type '${m.type}', which has no KServe datatype`);
    return { name: m.name, datatype, shape: m.shape.map((d) => (typeof d === 'number' ? d : -1)) };
  });
}

/** Both sides of a session's signature. */
export function sessionSignature(inputs: readonly OrtValueMetadataLike[], outputs: readonly OrtValueMetadataLike[]): ModelSignature {
  return { inputs: toSignature(inputs, 'input'), outputs: toSignature(outputs, 'output') };
}
