/**
 * Tensor `data` in KServe v2 JSON ↔ typed tensor data.
 * Spec: kserve-v2-required_api.md "Tensor Data" (row-major, nested or flat), COMPAT-NOTES
 * §1.5 (Triton's flattening, depth limit, element typing) and §1.6 (which types JSON allows).
 *
 * 64-bit integers: JSON numbers are parsed by `JSON.parse` into doubles, so INT64/UINT64
 * values beyond ±2^53 have already lost precision when they reach this module; they are
 * accepted (converted with `BigInt`) as long as they stay inside the type's range. Clients
 * that need exact 64-bit values must use the binary format. In the other direction the
 * encoder writes exact decimal integer literals (as Triton does), so a client with a
 * 64-bit-capable JSON parser (Python, Go, C++) receives exact values.
 */
import { allocTyped } from './datatypes.ts';
import type { DataType, TypedTensorArray } from './datatypes.ts';
import { internal, invalidArg } from './errors.ts';
import { DEFAULT_DECODE_LIMITS, limitExceeded } from './limits.ts';
import type { DecodeLimits } from './limits.ts';
import type { TensorData } from './tensor.ts';

/** Which side of a request a tensor is on; only changes the wording of error messages. */
export type TensorRole = 'input' | 'output';

/** Options of {@link jsonToTensorData}. */
export interface JsonTensorDecodeOptions {
  /** `input` when a server decodes a request (default), `output` when a client decodes a response. */
  role?: TensorRole;
  /** Depth, decoded-size and BYTES element bounds (defaults: {@link DEFAULT_DECODE_LIMITS}). */
  limits?: Pick<DecodeLimits, 'maxJsonDepth' | 'maxJsonInputBytes' | 'maxBytesElementBytes'>;
  /**
   * Accept JSON `null` as NaN for FP32/FP64. Our encoder writes non-finite floats as `null`
   * (JSON has no NaN/Infinity), so clients decoding our responses set this; servers do not
   * (Triton rejects `null` in request data).
   */
  nullAsNaN?: boolean;
}

/** Integer ranges of the fixed-size integer types, as doubles (the JSON number domain). */
const INT_RANGE: Readonly<Partial<Record<DataType, readonly [number, number]>>> = {
  UINT8: [0, 0xff], UINT16: [0, 0xffff], UINT32: [0, 0xffff_ffff], UINT64: [0, 2 ** 64],
  INT8: [-0x80, 0x7f], INT16: [-0x8000, 0x7fff], INT32: [-0x8000_0000, 0x7fff_ffff], INT64: [-(2 ** 63), 2 ** 63],
};

/** Element size of fixed types, used for the JSON-decoded size limit. */
const ELEMENT_BYTES: Readonly<Record<DataType, number>> = {
  BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8,
  FP16: 2, FP32: 4, FP64: 8, BYTES: 0, BF16: 2,
};

const utf8Encoder = new TextEncoder();
// fatal: a BYTES output that is not UTF-8 cannot be represented as a JSON string without
// corrupting it; we say so instead of silently writing U+FFFD (COMPAT-NOTES §1.7 advises
// binary output for non-UTF-8 payloads).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A short, safe rendering of a JSON value for error messages. */
function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  const s = Array.isArray(v) ? 'an array' : JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Counts the leaves of a nested array (error path only, to report the true element count). */
function countLeaves(v: unknown, depth: number, maxDepth: number): number {
  if (!Array.isArray(v)) return 1;
  if (depth > maxDepth) return 0;
  let n = 0;
  for (let i = 0; i < v.length; i++) n += countLeaves(v[i], depth + 1, maxDepth);
  return n;
}

/** The FP16/BF16 refusal, worded as Triton words it (http_server.cc `ReadDataFromJson`). */
function halfFloatJsonError(dt: 'FP16' | 'BF16', role: TensorRole, name: string, receiving: boolean) {
  return invalidArg(
    `${receiving ? 'receiving' : 'sending'} ${dt} data via JSON is not supported. `
    + `Please use the binary data format for ${role} '${name}'`,
  );
}

/**
 * Decodes the JSON `data` of one tensor into typed data holding exactly `elementCount`
 * elements. `data` may be flat or nested to any depth up to `maxJsonDepth` (Triton flattens
 * recursively and only checks the total count). Element typing (COMPAT-NOTES §1.5/§1.6):
 * BOOL needs `true`/`false`; UINT* non-negative integers in range; INT* integers in range
 * (INT64/UINT64 → BigInt64Array/BigUint64Array, see the module note on precision);
 * FP32/FP64 any number; BYTES strings (UTF-8 encoded, one Uint8Array per element);
 * FP16/BF16 are refused, as in Triton.
 *
 * @throws InferError INVALID_ARG naming the tensor, the element index and what was expected.
 */
export function jsonToTensorData(
  name: string,
  datatype: DataType,
  elementCount: number,
  data: unknown,
  opts: JsonTensorDecodeOptions = {},
): TensorData {
  const role = opts.role ?? 'input';
  const limits = opts.limits ?? DEFAULT_DECODE_LIMITS;
  const who = `${role} '${name}'`;

  if (datatype === 'FP16' || datatype === 'BF16') throw halfFloatJsonError(datatype, role, name, true);
  if (!Array.isArray(data)) throw invalidArg(`Unable to parse 'data': ${who} must give 'data' as a JSON array, got ${show(data)}`);

  if (datatype !== 'BYTES') {
    // Refuse before allocating: the shape alone decides the allocation size.
    const decoded = elementCount * ELEMENT_BYTES[datatype];
    if (decoded > limits.maxJsonInputBytes) {
      throw limitExceeded(`${who}: JSON-decoded size in bytes`, decoded, 'maxJsonInputBytes', limits.maxJsonInputBytes,
        ' (Triton: --http-max-input-size), or send the tensor as binary data');
    }
  }

  const mismatch = (): never => {
    const got = countLeaves(data, 1, limits.maxJsonDepth);
    throw invalidArg(
      `Unable to parse 'data': Shape does not match true shape of 'data' field for ${who}: `
      + `the shape needs ${elementCount} elements, 'data' holds ${got}`,
    );
  };
  const badElement = (index: number, expected: string, v: unknown): never => {
    throw invalidArg(`Unable to parse 'data': ${who} element ${index}: expected ${expected} for ${datatype}, got ${show(v)}`);
  };

  // Fast path for the common case: a flat array of numbers into FP32/FP64.
  if ((datatype === 'FP32' || datatype === 'FP64') && data.length === elementCount) {
    const out = allocTyped(datatype, elementCount) as Float32Array | Float64Array;
    let i = 0;
    for (; i < elementCount; i++) {
      const v = data[i];
      if (typeof v !== 'number') break;
      out[i] = v;
    }
    if (i === elementCount) return out;
    // Fell off the fast path (nested data or a non-number): redo it with the general walker.
  }

  let put: (v: unknown, index: number) => void;
  let result: TypedTensorArray | Uint8Array[];
  if (datatype === 'BYTES') {
    const elements = new Array<Uint8Array>(elementCount);
    let total = 0;
    put = (v, index) => {
      if (typeof v !== 'string') badElement(index, 'a JSON string', v);
      const bytes = utf8Encoder.encode(v as string);
      if (bytes.byteLength > limits.maxBytesElementBytes) {
        throw limitExceeded(`${who}: BYTES element ${index} length`, bytes.byteLength, 'maxBytesElementBytes', limits.maxBytesElementBytes);
      }
      // Triton sizes JSON BYTES as length + 4 per element (`JsonBytesArrayByteSize`).
      total += bytes.byteLength + 4;
      if (total > limits.maxJsonInputBytes) {
        throw limitExceeded(`${who}: JSON-decoded size in bytes`, total, 'maxJsonInputBytes', limits.maxJsonInputBytes,
          ' (Triton: --http-max-input-size), or send the tensor as binary data');
      }
      elements[index] = bytes;
    };
    result = elements;
  } else if (datatype === 'BOOL') {
    const out = allocTyped('BOOL', elementCount) as Uint8Array;
    put = (v, index) => {
      if (v === true) out[index] = 1;
      else if (v !== false) badElement(index, 'true or false', v);
    };
    result = out;
  } else if (datatype === 'FP32' || datatype === 'FP64') {
    const out = allocTyped(datatype, elementCount) as Float32Array | Float64Array;
    const nullAsNaN = opts.nullAsNaN === true;
    put = (v, index) => {
      if (typeof v === 'number') out[index] = v;
      else if (v === null && nullAsNaN) out[index] = NaN;
      else badElement(index, 'a JSON number', v);
    };
    result = out;
  } else {
    const [min, maxExclusiveOrInclusive] = INT_RANGE[datatype]!;
    const is64 = datatype === 'INT64' || datatype === 'UINT64';
    // 64-bit upper bounds (2^63, 2^64) are exclusive and exactly representable as doubles;
    // the smaller types' bounds are inclusive.
    const inRange = is64
      ? (v: number) => v >= min && v < maxExclusiveOrInclusive
      : (v: number) => v >= min && v <= maxExclusiveOrInclusive;
    const expected = min === 0
      ? `a non-negative JSON integer no larger than ${is64 ? '2^64-1' : maxExclusiveOrInclusive}`
      : `a JSON integer in [${is64 ? '-2^63' : min}, ${is64 ? '2^63-1' : maxExclusiveOrInclusive}]`;
    const out = allocTyped(datatype, elementCount);
    if (is64) {
      const big = out as BigInt64Array | BigUint64Array;
      put = (v, index) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || !inRange(v)) badElement(index, expected, v);
        big[index] = BigInt(v as number);
      };
    } else {
      const small = out as Exclude<TypedTensorArray, BigInt64Array | BigUint64Array>;
      put = (v, index) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || !inRange(v)) badElement(index, expected, v);
        small[index] = v as number;
      };
    }
    result = out;
  }

  let count = 0;
  const maxDepth = limits.maxJsonDepth;
  const walk = (arr: unknown[], depth: number): void => {
    if (depth > maxDepth) {
      throw limitExceeded(`${who}: 'data' nesting depth`, depth, 'maxJsonDepth', maxDepth);
    }
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      if (Array.isArray(v)) {
        walk(v, depth + 1);
      } else {
        if (count >= elementCount) mismatch();
        put(v, count++);
      }
    }
  };
  walk(data, 1);
  if (count !== elementCount) mismatch();
  return result;
}

/**
 * Copies numbers into a plain JS array. `JSON.stringify` of a plain number array is the
 * fastest way V8 offers to print numbers (measured: ~1.5x faster than `TypedArray#join` for
 * FP32, ~2.4x for INT32), and it writes NaN/±Infinity as `null`, which JSON requires.
 */
function plainNumbers(a: ArrayLike<number>): number[] {
  const out = new Array<number>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}

/** INT64/UINT64 as JSON: numbers when all are exact doubles (fast), else exact decimal literals. */
function bigIntsToJson(a: BigInt64Array | BigUint64Array): string {
  const out = new Array<number>(a.length);
  for (let i = 0; i < a.length; i++) {
    const n = Number(a[i]);
    // Beyond 2^53 Number() rounds: fall back to BigInt's exact decimal text.
    if (!Number.isSafeInteger(n)) return `[${a.join(',')}]`;
    out[i] = n;
  }
  return JSON.stringify(out);
}

/**
 * Writes typed tensor data as the text of a flat JSON array (`[1,2,3]`), ready to splice
 * into a response or request body. Numbers go through one plain array and `JSON.stringify`
 * (no per-element strings); INT64/UINT64 are exact (decimal literals when beyond 2^53); FP32 values are
 * written as the shortest decimal of their double value (`0.1f` → `0.10000000149011612`,
 * as Triton does); NaN and ±Infinity become `null`; BOOL becomes `true`/`false`; BYTES
 * elements become JSON strings of their UTF-8 text.
 *
 * @param role `output` when a server encodes a response (default), `input` when a client
 *   encodes a request; only changes the wording of errors.
 * @throws InferError INVALID_ARG for FP16/BF16 (Triton: "sending FP16 data via JSON is not
 *   supported...") and for a BYTES element that is not valid UTF-8; INTERNAL when `data`
 *   does not have the representation `datatype` needs.
 */
export function tensorDataToJson(name: string, datatype: DataType, data: TensorData, role: TensorRole = 'output'): string {
  if (datatype === 'FP16' || datatype === 'BF16') throw halfFloatJsonError(datatype, role, name, false);
  if (datatype === 'BYTES') {
    if (!Array.isArray(data)) throw internal(`${role} '${name}': BYTES data must be an array of Uint8Array`);
    const texts = new Array<string>(data.length);
    for (let i = 0; i < data.length; i++) {
      try {
        texts[i] = utf8Decoder.decode(data[i]);
      } catch {
        throw invalidArg(
          `${role} '${name}' element ${i} is not valid UTF-8 and cannot be sent as a JSON string; `
          + `request it as binary data (parameter "binary_data": true)`,
        );
      }
    }
    return JSON.stringify(texts);
  }
  if (Array.isArray(data)) throw internal(`${role} '${name}': ${datatype} data must be a typed array, got an array of elements`);
  if (datatype === 'BOOL') {
    const out = new Array<boolean>(data.length);
    for (let i = 0; i < data.length; i++) out[i] = data[i] !== 0;
    return JSON.stringify(out);
  }
  if (datatype === 'INT64' || datatype === 'UINT64') return bigIntsToJson(data as BigInt64Array | BigUint64Array);
  // Number→text is the shortest round-trip decimal of the double (`1e+21`, `1e-7`, `-0` → `0`),
  // the same text Triton's writer produces; non-finite values become `null`.
  return JSON.stringify(plainNumbers(data as ArrayLike<number>));
}
