/**
 * Tensors as onnxruntime (node and web alike) takes and gives them: KServe datatypes mapped to
 * ORT's element types, one input packed for `new ort.Tensor(type, data, dims)` in an ORT
 * worker, and an ORT output read back as a protocol tensor. Does not import onnxruntime: its
 * types are named here by their strings and its values described by the fields read.
 */
import type { DataType, TypedTensorArray } from './datatypes.ts';
import { InferError } from './errors.ts';
import type { Tensor } from './tensor.ts';
import { ownCopy } from './tensor-transfer.ts';

/** ORT's tensor element type names (onnxruntime-common `Tensor.Type`) that KServe can carry. */
export type OrtTensorType =
  | 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64'
  | 'float16' | 'float32' | 'float64' | 'string';

/** ORT tensor type → KServe datatype. */
export const ORT_TO_DATATYPE: Readonly<Record<string, DataType>> = {
  bool: 'BOOL', uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64',
  int8: 'INT8', int16: 'INT16', int32: 'INT32', int64: 'INT64',
  float16: 'FP16', float32: 'FP32', float64: 'FP64', string: 'BYTES',
};

/**
 * KServe datatype → ORT tensor type; the inverse of {@link ORT_TO_DATATYPE}. BF16 has none:
 * neither onnxruntime-node's binding nor onnxruntime-web has a bfloat16 tensor type.
 */
export const DATATYPE_TO_ORT: Readonly<Partial<Record<DataType, OrtTensorType>>> = {
  BOOL: 'bool', UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64',
  INT8: 'int8', INT16: 'int16', INT32: 'int32', INT64: 'int64',
  FP16: 'float16', FP32: 'float32', FP64: 'float64', BYTES: 'string',
};

/**
 * An input as an ORT worker needs it: datatype mapped and checked, BYTES decoded to strings,
 * BOOL normalised to 0/1, typed arrays compact copies on buffers of their own (so they can be
 * transferred, see protocol/tensor-transfer.ts).
 */
export interface OrtInput {
  name: string;
  type: OrtTensorType;
  dims: number[];
  data: TypedTensorArray | string[];
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * Packs one input for an ORT worker, checked before it is posted so a bad request fails on
 * the caller's side. `runtime` names the ORT package in the error messages.
 * @throws InferError UNSUPPORTED (a datatype ORT has no tensor for), INVALID_ARG (BYTES that are not NUL-free UTF-8 text).
 */
export function toOrtInput(t: Tensor, runtime: string): OrtInput {
  const type = DATATYPE_TO_ORT[t.datatype];
  if (!type) throw new InferError('UNSUPPORTED', `input '${t.name}': datatype ${t.datatype} is not supported by ${runtime}`);
  const dims = [...t.shape];
  if (t.datatype === 'BYTES') {
    // ORT string tensors are JS strings that become C strings: bytes that are not UTF-8, or
    // hold a NUL (the string ends there), cannot round-trip, so they are refused instead of
    // silently corrupted.
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

/** What an ORT worker reads of an output value (`ort.Tensor` on the CPU, onnxruntime-common `OnnxValue`). */
export interface OrtValueLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/**
 * An ORT output as a protocol tensor. Typed arrays are reused, not copied: ORT hands each
 * output in an array of its own (onnxruntime-web copies it out of the WASM heap or GPU
 * buffer), so it can be transferred.
 * @throws InferError UNSUPPORTED (an ORT type with no KServe datatype).
 */
export function fromOrtOutput(name: string, v: OrtValueLike): Tensor {
  const datatype = ORT_TO_DATATYPE[v.type];
  if (!datatype) throw new InferError('UNSUPPORTED', `output '${name}' has ORT type '${v.type}', which has no KServe datatype`);
  const shape = [...v.dims];
  if (datatype === 'BYTES') return { name, datatype, shape, data: (v.data as string[]).map((s) => utf8Encoder.encode(s)) };
  let data = v.data as TypedTensorArray | { buffer: ArrayBufferLike; byteOffset: number; length: number };
  // Where Float16Array exists (Node 24, recent browsers) ORT returns one; the protocol carries
  // raw 16-bit patterns.
  if (datatype === 'FP16' && !(data instanceof Uint16Array)) data = new Uint16Array(data.buffer, data.byteOffset, data.length);
  return { name, datatype, shape, data: data as TypedTensorArray };
}
