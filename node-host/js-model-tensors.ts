/**
 * Tensors between the main thread and a JS model's worker, and tensors a JS model writes by
 * hand. Imported by both sides (js-model-client.ts and js-model.worker.ts).
 *
 * Posting: every typed array is copied into a buffer of its own and that copy is
 * transferred, and a BYTES tensor's elements are packed into one buffer. A tensor from the
 * server may view a large pooled socket buffer (structured clone would copy all of it, and
 * transferring it would detach the server's buffer), and a tensor from a model may be state
 * the model keeps (transferring it would empty the model's array).
 *
 * Reading what a model wrote: `toTensor` accepts what is natural in JS (plain number arrays,
 * strings for BYTES, a missing datatype when the array says it) and refuses everything else
 * with a message naming the tensor and what to write instead.
 */
import type { DataType, TypedTensorArray } from '../protocol/datatypes.ts';
import { DATATYPES, isDataType, typedArrayCtor } from '../protocol/datatypes.ts';
import { ERROR_CODES, InferError, isInferError, type ErrorCode, type WireError } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';
import { elementCount } from '../protocol/tensor.ts';
import { ownCopy } from '../protocol/tensor-transfer.ts';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

/** Tensors ready for comlink's `transfer(value, buffers)`: compact copies, each buffer listed once. */
export interface Packed {
  tensors: Tensor[];
  transfer: ArrayBuffer[];
}

/** Copies `tensors` into buffers of their own (BYTES elements into one) and lists them for transfer. */
export function packTensors(tensors: readonly Tensor[]): Packed {
  const transfer: ArrayBuffer[] = [];
  const out = tensors.map((t): Tensor => {
    if (t.datatype === 'BYTES') {
      const elems = t.data as Uint8Array[];
      let total = 0;
      for (const e of elems) total += e.byteLength;
      const all = new Uint8Array(total);
      const data = new Array<Uint8Array>(elems.length);
      let off = 0;
      for (let i = 0; i < elems.length; i++) {
        all.set(elems[i], off);
        data[i] = all.subarray(off, off + elems[i].byteLength);
        off += elems[i].byteLength;
      }
      transfer.push(all.buffer);
      return { name: t.name, datatype: 'BYTES', shape: [...t.shape], data };
    }
    const data = ownCopy(t.data as TypedTensorArray);
    transfer.push(data.buffer as ArrayBuffer);
    return { name: t.name, datatype: t.datatype, shape: [...t.shape], data };
  });
  return { tensors: out, transfer };
}

/** The typed-array class each datatype is written with when a model gives no datatype. */
const DATATYPE_OF_ARRAY: readonly [new (...a: never[]) => unknown, DataType][] = [
  [Float32Array, 'FP32'], [Float64Array, 'FP64'], [Int32Array, 'INT32'], [BigInt64Array, 'INT64'],
  [Int8Array, 'INT8'], [Int16Array, 'INT16'], [Uint16Array, 'UINT16'], [Uint32Array, 'UINT32'],
  [BigUint64Array, 'UINT64'], [Uint8Array, 'UINT8'],
];

/** What a tensor is expected to be where it is written (an output: the config's datatype). */
export interface TensorExpectation {
  /** The tensor's name when the writer may leave it out (outputs given as an object map). */
  name?: string;
  datatype?: DataType;
}

/**
 * A tensor a model wrote, checked and normalised. Messages start with `where` and the
 * tensor's name (`where` = `model 'tok' version 1: output` gives `… output 'ids': …`). Accepts `data` as the datatype's typed array,
 * any other typed array or plain array of numbers/bigints/booleans (converted), and for
 * BYTES an array of strings (UTF-8) and/or Uint8Arrays. `shape` defaults to `[data.length]`.
 */
export function toTensor(like: unknown, where: string, expect: TensorExpectation = {}): Tensor {
  if (typeof like !== 'object' || like === null) throw modelError(`${where}: expected a tensor object { name, datatype, shape, data }, got ${describe(like)}`);
  const t = like as { name?: unknown; datatype?: unknown; shape?: unknown; data?: unknown };
  const name = t.name ?? expect.name;
  if (typeof name !== 'string' || name === '') throw modelError(`${where}: the tensor has no name; give it a 'name' string`);
  const at = `${where} '${name}'`;
  const data = t.data;
  if (data === undefined || data === null || typeof data !== 'object' || typeof (data as { length?: unknown }).length !== 'number') {
    throw modelError(`${at}: 'data' must be a typed array or an array, got ${describe(data)}`);
  }
  let datatype: DataType;
  if (t.datatype !== undefined) {
    if (!isDataType(t.datatype)) throw modelError(`${at}: datatype ${JSON.stringify(t.datatype)} is not one of ${DATATYPES.join(', ')}`);
    datatype = t.datatype;
    if (expect.datatype !== undefined && datatype !== expect.datatype) {
      throw modelError(`${at}: datatype ${datatype}, but the config declares ${expect.datatype}`);
    }
  } else if (expect.datatype !== undefined) {
    datatype = expect.datatype;
  } else {
    datatype = inferDatatype(data, at);
  }
  const converted = datatype === 'BYTES' ? toBytesData(data, at) : toTypedData(data, datatype, at);
  let shape: number[];
  if (t.shape === undefined) {
    shape = [converted.length];
  } else {
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw modelError(`${at}: 'shape' must be an array of non-negative integers, got ${describe(t.shape)}`);
    }
    shape = [...t.shape] as number[];
  }
  if (elementCount(shape) !== converted.length) {
    throw modelError(`${at}: shape ${JSON.stringify(shape)} holds ${elementCount(shape)} element(s) but data has ${converted.length}`);
  }
  return { name, datatype, shape, data: converted };
}

function inferDatatype(data: object, at: string): DataType {
  for (const [Ctor, dt] of DATATYPE_OF_ARRAY) if (data instanceof Ctor) return dt;
  if (Array.isArray(data)) {
    if (data.length > 0 && data.every((x) => typeof x === 'string' || x instanceof Uint8Array)) return 'BYTES';
    if (data.length > 0 && data.every((x) => typeof x === 'boolean')) return 'BOOL';
  }
  throw modelError(`${at}: give a 'datatype' (${DATATYPES.join(', ')}); it cannot be told from ${describe(data)}`);
}

function toBytesData(data: object, at: string): Uint8Array[] {
  if (!Array.isArray(data)) throw modelError(`${at}: BYTES data must be an array of strings or Uint8Arrays, got ${describe(data)}`);
  return data.map((x, i) => {
    if (typeof x === 'string') return utf8Encoder.encode(x);
    if (x instanceof Uint8Array) return x;
    throw modelError(`${at}: BYTES element ${i} must be a string or a Uint8Array, got ${describe(x)}`);
  });
}

function toTypedData(data: object, dt: Exclude<DataType, 'BYTES'>, at: string): TypedTensorArray {
  const Ctor = typedArrayCtor(dt);
  // FP16/BF16 travel as raw 16-bit patterns: only a Uint16Array says that is what it holds.
  if (dt === 'FP16' || dt === 'BF16') {
    if (data instanceof Uint16Array) return data;
    throw modelError(`${at}: ${dt} data must be a Uint16Array of raw 16-bit patterns, got ${describe(data)}`);
  }
  if (data instanceof Ctor && !(dt === 'BOOL' && (data as Uint8Array).some((b) => b > 1))) return data as TypedTensorArray;
  const big = dt === 'INT64' || dt === 'UINT64';
  const src = data as ArrayLike<unknown>;
  const out = new Ctor(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (big) {
      if (typeof v === 'bigint') out[i] = v;
      else if (typeof v === 'number' && Number.isSafeInteger(v)) out[i] = BigInt(v);
      else throw modelError(`${at}: ${dt} element ${i} must be a bigint or a safe integer, got ${describe(v)}`);
    } else if (typeof v === 'number') {
      out[i] = dt === 'BOOL' ? (v ? 1 : 0) : v;
    } else if (typeof v === 'boolean') {
      out[i] = v ? 1 : 0;
    } else if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
      out[i] = Number(v);
    } else {
      throw modelError(`${at}: ${dt} element ${i} must be a number, got ${describe(v)}`);
    }
  }
  return out;
}

/** A short description of a value for messages. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'object') return `an object (${v.constructor?.name ?? 'no prototype'})`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** A model's mistake: INTERNAL (the model, not the client, is wrong), counted as BACKEND. */
export function modelError(message: string): InferError {
  return new InferError('INTERNAL', message, 'BACKEND');
}

/** The UTF-8 text of each element of a BYTES tensor (invalid sequences become U+FFFD). */
export function bytesToStrings(t: Tensor, where: string): string[] {
  if (t.datatype !== 'BYTES') throw new InferError('INVALID_ARG', `${where}: tensor '${t.name}' is ${t.datatype}, not BYTES; read its data directly`);
  return (t.data as Uint8Array[]).map((e) => utf8Decoder.decode(e));
}

/**
 * What a model threw or answered as an error, as a WireError: an InferError keeps its code,
 * any error whose `code` is one of infermesh's codes (`{ code: 'INVALID_ARG', message }`)
 * keeps that code, anything else is INTERNAL. Counted as BACKEND failures.
 */
export function modelWireError(e: unknown, prefix: string): WireError {
  const message = typeof e === 'object' && e !== null && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  const code = isInferError(e) ? e.code : (e as { code?: unknown } | null)?.code;
  const known = typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code) ? code as ErrorCode : 'INTERNAL';
  // Messages that already say where they come from (toTensor's) are not prefixed twice.
  const text = message.startsWith(prefix) ? message : `${prefix}${message || 'failed without a message'}`;
  return { code: known, message: text, reason: 'BACKEND' };
}

/** Rebuilds an InferError from its wire form (classes do not survive the thread boundary). */
export function fromWireError(e: WireError): InferError {
  return new InferError(e.code, e.message, e.reason);
}
