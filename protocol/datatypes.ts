/**
 * KServe v2 tensor datatypes, their sizes and their typed-array representation.
 * Spec: shared/reference/kserve-v2-required_api.md "Tensor Data Types", COMPAT-NOTES §1.6.
 */

/** Every datatype name the KServe v2 protocol allows on the wire (case-sensitive). */
export const DATATYPES = [
  'BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64',
  'FP16', 'FP32', 'FP64', 'BYTES', 'BF16',
] as const;

/** A KServe v2 datatype name such as `FP32` or `BYTES`. */
export type DataType = (typeof DATATYPES)[number];

/** Bytes per element; BYTES is variable-length and has no fixed size (0 here). */
export const DATATYPE_BYTE_SIZE: Readonly<Record<DataType, number>> = {
  BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8,
  FP16: 2, FP32: 4, FP64: 8, BYTES: 0, BF16: 2,
};

/**
 * The typed array that holds each fixed-size datatype. BOOL is one byte per element (0/1);
 * FP16 and BF16 are carried as raw 16-bit patterns (JS has no native half floats).
 */
export type TypedTensorArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | BigUint64Array | BigInt64Array | Float32Array | Float64Array;

type TypedArrayCtor = { new (length: number): TypedTensorArray; new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedTensorArray; BYTES_PER_ELEMENT: number };

const TYPED_ARRAY: Readonly<Record<Exclude<DataType, 'BYTES'>, TypedArrayCtor>> = {
  BOOL: Uint8Array, UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array,
  UINT64: BigUint64Array, INT8: Int8Array, INT16: Int16Array, INT32: Int32Array,
  INT64: BigInt64Array, FP16: Uint16Array, FP32: Float32Array, FP64: Float64Array,
  BF16: Uint16Array,
};

/** True when `s` is a valid KServe v2 datatype name. `STRING` is not (Triton rejects it too). */
export function isDataType(s: unknown): s is DataType {
  return typeof s === 'string' && (DATATYPES as readonly string[]).includes(s);
}

/** The typed-array constructor for a fixed-size datatype. */
export function typedArrayCtor(dt: Exclude<DataType, 'BYTES'>): TypedArrayCtor {
  return TYPED_ARRAY[dt];
}

/** A zero-filled typed array of `length` elements of `dt`. */
export function allocTyped(dt: Exclude<DataType, 'BYTES'>, length: number): TypedTensorArray {
  return new TYPED_ARRAY[dt](length);
}

/**
 * A typed view of little-endian bytes. Copies when the bytes are not aligned for the
 * element size (typed arrays require aligned offsets); otherwise shares the memory.
 */
export function viewTyped(dt: Exclude<DataType, 'BYTES'>, bytes: Uint8Array): TypedTensorArray {
  const ctor = TYPED_ARRAY[dt];
  const size = ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(`${dt} data of ${bytes.byteLength} bytes is not a multiple of ${size}`);
  }
  if (bytes.byteOffset % size === 0) return new ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
  const copy = new Uint8Array(bytes);
  return new ctor(copy.buffer, 0, bytes.byteLength / size);
}

/** The bytes of a typed array (a view, not a copy). Little-endian on every supported platform. */
export function bytesOf(a: TypedTensorArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** config.pbtxt enum names (`TYPE_FP32`) ↔ protocol names (`FP32`); TYPE_STRING ↔ BYTES. */
export const CONFIG_TYPE_NAMES = [
  'TYPE_INVALID', 'TYPE_BOOL', 'TYPE_UINT8', 'TYPE_UINT16', 'TYPE_UINT32', 'TYPE_UINT64',
  'TYPE_INT8', 'TYPE_INT16', 'TYPE_INT32', 'TYPE_INT64', 'TYPE_FP16', 'TYPE_FP32', 'TYPE_FP64',
  'TYPE_STRING', 'TYPE_BF16',
] as const;

/** A model-config datatype enum name (`TYPE_FP32`). Its index in CONFIG_TYPE_NAMES is its proto value. */
export type ConfigDataType = (typeof CONFIG_TYPE_NAMES)[number];

/** `TYPE_FP32` → `FP32`, `TYPE_STRING` → `BYTES`; undefined for TYPE_INVALID. */
export function configTypeToDataType(t: ConfigDataType): DataType | undefined {
  if (t === 'TYPE_STRING') return 'BYTES';
  if (t === 'TYPE_INVALID') return undefined;
  return t.slice(5) as DataType;
}

/** `FP32` → `TYPE_FP32`, `BYTES` → `TYPE_STRING`. */
export function dataTypeToConfigType(dt: DataType): ConfigDataType {
  return dt === 'BYTES' ? 'TYPE_STRING' : (`TYPE_${dt}` as ConfigDataType);
}
