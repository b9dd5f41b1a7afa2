/**
 * Protobuf binary encoding and decoding of protobuf-JSON-shaped objects, driven by the
 * hand-written descriptors of core/proto-descriptor.ts. The gRPC `ModelConfig` RPC answers
 * with an encoded `inference.ModelConfig` (COMPAT-NOTES §2.1), and the config exists only as
 * the object the pbtxt/JSON readers produce (core/model-config-schema.ts), so this encodes
 * that object directly instead of keeping a second, generated ModelConfig codec in sync.
 *
 * Encoding follows what protobuf's C++ serializer writes for proto3 (the protobuf encoding
 * spec, protobuf.dev/programming-guides/encoding): fields in field-number order; singular
 * scalars and enums omitted at their default (implicit presence) unless they are oneof
 * members; repeated numeric scalars packed; strings, messages and map entries one record
 * each; a map entry always carries its key (1) and value (2); negative int32/int64 as
 * ten-byte two's-complement varints; float/double little-endian fixed32/fixed64.
 *
 * Decoding accepts packed and expanded repeated scalars, skips unknown fields, and produces
 * the shape of core/proto-json.ts: snake_case keys, enums as names, 64-bit integers as JS
 * numbers (refused beyond 2^53), maps as objects with string keys. Absent fields stay absent
 * (use core/proto-defaults.ts to print defaults). Pure: no Node APIs, no npm packages.
 */
import { internal, invalidArg, isInferError } from '../protocol/errors.ts';
import { checkInt, isIntScalar, scalarDefault, setOwn, type FieldDescriptor, type FieldType, type MessageDescriptor, type ScalarType } from './proto-descriptor.ts';

/** Bounds on untrusted protobuf input. */
export interface ProtoBinaryLimits {
  /** Largest accepted message, in bytes. */
  maxBytes: number;
  /** Deepest message nesting. */
  maxDepth: number;
}

/**
 * 16 MiB and 32 levels: a model config is a few KiB and nests about 6 levels (Triton's
 * ModelConfig has no recursion); the same depth bound as the text and JSON readers.
 */
export const DEFAULT_PROTO_BINARY_LIMITS: Readonly<ProtoBinaryLimits> = Object.freeze({ maxBytes: 16 * 1024 * 1024, maxDepth: 32 });

// Wire types (protobuf encoding spec).
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ---- encoding ---------------------------------------------------------------------------------

/** A growable byte buffer with the protobuf primitives. */
class Writer {
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(256);
  #len = 0;

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.#len++] = b;
  }

  /** An unsigned varint of up to 64 bits. */
  varint(v: bigint): void {
    let x = v;
    while (x > 0x7fn) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }

  tag(number: number, wireType: number): void {
    this.varint(BigInt(number) * 8n + BigInt(wireType));
  }

  bytes(b: Uint8Array): void {
    this.varint(BigInt(b.byteLength));
    this.#reserve(b.byteLength);
    this.#buf.set(b, this.#len);
    this.#len += b.byteLength;
  }

  fixed(n: number, fill: (view: DataView) => void): void {
    this.#reserve(n);
    fill(new DataView(this.#buf.buffer, this.#buf.byteOffset + this.#len, n));
    this.#len += n;
  }

  finish(): Uint8Array<ArrayBuffer> {
    return this.#buf.slice(0, this.#len);
  }
}

/** The JS value of an integer field as a BigInt, refusing anything that is not an integer. */
function toBigInt(v: unknown, path: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) return BigInt(v);
  throw internal(`cannot encode ${path}: expected an integer, got ${typeof v} ${String(v)}`);
}

/** Wire type a scalar (or enum) is written with. */
function wireTypeOf(t: FieldType): number {
  if (t.kind === 'message') return LEN;
  if (t.kind === 'enum') return VARINT;
  switch (t.scalar) {
    case 'string': return LEN;
    case 'float': return I32;
    case 'double': return I64;
    default: return VARINT;
  }
}

/** Writes one scalar or enum value without its tag. */
function writeScalar(w: Writer, t: Exclude<FieldType, { kind: 'message' }>, v: unknown, path: string): void {
  if (t.kind === 'enum') {
    const n = typeof v === 'number' ? v : t.enumType.byName.get(String(v));
    if (n === undefined || !Number.isInteger(n)) throw internal(`cannot encode ${path}: '${String(v)}' is not a value of enum ${t.enumType.name}`);
    w.varint(BigInt.asUintN(64, BigInt(n)));
    return;
  }
  const s: ScalarType = t.scalar;
  switch (s) {
    case 'string':
      if (typeof v !== 'string') throw internal(`cannot encode ${path}: expected a string, got ${typeof v}`);
      w.bytes(utf8Encoder.encode(v));
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw internal(`cannot encode ${path}: expected a boolean, got ${typeof v}`);
      w.byte(v ? 1 : 0);
      return;
    case 'float': case 'double': {
      if (typeof v !== 'number') throw internal(`cannot encode ${path}: expected a number, got ${typeof v}`);
      if (s === 'float') w.fixed(4, (d) => d.setFloat32(0, v, true));
      else w.fixed(8, (d) => d.setFloat64(0, v, true));
      return;
    }
    default: {
      const big = toBigInt(v, path);
      const r = checkInt(big, s);
      if (typeof r === 'string') throw internal(`cannot encode ${path}: ${r}`);
      // int32 and int64 negatives are ten-byte varints of their 64-bit two's complement.
      w.varint(BigInt.asUintN(64, big));
    }
  }
}

/** True for a proto3 default (what implicit presence leaves out). */
function isDefault(t: FieldType, v: unknown): boolean {
  if (t.kind === 'enum') return v === t.enumType.defaultName || v === 0;
  if (t.kind === 'message') return false;
  if (t.scalar === 'string') return v === '';
  if (t.scalar === 'bool') return v === false;
  // -0 is not a default for float/double: its bits differ from 0 (protobuf writes it).
  return (typeof v === 'number' && v === 0 && !Object.is(v, -0)) || v === 0n;
}

/**
 * True when a field has explicit presence: a real oneof member. A "oneof" whose members all
 * share one field number is an alias group (two names for one plain field, such as
 * ModelEnsembling's field 2), which keeps implicit presence.
 */
function hasPresence(desc: MessageDescriptor, f: FieldDescriptor): boolean {
  if (!f.oneof) return false;
  const members = desc.oneofs.get(f.oneof) ?? [];
  return members.some((m) => desc.byName.get(m)?.number !== f.number);
}

/** A map key (always a string in the object) as the value of its key type. */
function mapKeyValue(k: string, t: ScalarType, path: string): unknown {
  if (t === 'string') return k;
  if (t === 'bool') {
    if (k === 'true' || k === 'false') return k === 'true';
    throw internal(`cannot encode ${path}: map key '${k}' is not a bool`);
  }
  if (isIntScalar(t)) return toBigInt(k, path);
  throw internal(`cannot encode ${path}: map keys of type ${t} are not supported`);
}

function encodeInto(w: Writer, desc: MessageDescriptor, obj: Record<string, unknown>, path: string, depth: number, maxDepth: number): void {
  if (depth > maxDepth) throw internal(`cannot encode ${path || desc.name}: messages nest more than ${maxDepth} levels`);
  for (const key of Object.keys(obj)) {
    if (!desc.byName.has(key) && obj[key] !== undefined) {
      throw internal(`cannot encode ${path ? `${path}.` : ''}${key}: ${desc.name} has no field '${key}' (core/model-config-schema.ts must describe it)`);
    }
  }
  const fields = [...desc.fields].sort((a, b) => a.number - b.number);
  for (const f of fields) {
    const v = obj[f.name];
    if (v === undefined || v === null) continue;
    const at = path ? `${path}.${f.name}` : f.name;
    if (f.label === 'map') {
      if (typeof v !== 'object' || Array.isArray(v)) throw internal(`cannot encode ${at}: expected an object (map)`);
      const keyType: FieldType = { kind: 'scalar', scalar: f.mapKey ?? 'string' };
      for (const [k, e] of Object.entries(v as Record<string, unknown>)) {
        const entry = new Writer();
        const sub = `${at}[${JSON.stringify(k)}]`;
        entry.tag(1, wireTypeOf(keyType));
        writeScalar(entry, keyType as Exclude<FieldType, { kind: 'message' }>, mapKeyValue(k, f.mapKey ?? 'string', sub), sub);
        writeValue(entry, 2, f.type, e, sub, depth, maxDepth);
        w.tag(f.number, LEN);
        w.bytes(entry.finish());
      }
      continue;
    }
    if (f.label === 'repeated') {
      if (!Array.isArray(v)) throw internal(`cannot encode ${at}: expected an array`);
      if (v.length === 0) continue;
      const packable = f.type.kind === 'enum' || (f.type.kind === 'scalar' && f.type.scalar !== 'string');
      if (packable) {
        const run = new Writer();
        v.forEach((e, i) => writeScalar(run, f.type as Exclude<FieldType, { kind: 'message' }>, e, `${at}[${i}]`));
        w.tag(f.number, LEN);
        w.bytes(run.finish());
      } else {
        v.forEach((e, i) => writeValue(w, f.number, f.type, e, `${at}[${i}]`, depth, maxDepth));
      }
      continue;
    }
    if (!hasPresence(desc, f) && isDefault(f.type, v)) continue;
    writeValue(w, f.number, f.type, v, at, depth, maxDepth);
  }
}

/** Writes one tagged value: a scalar, an enum, or a length-delimited message. */
function writeValue(w: Writer, number: number, t: FieldType, v: unknown, path: string, depth: number, maxDepth: number): void {
  if (t.kind === 'message') {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw internal(`cannot encode ${path}: expected an object (${t.message.name})`);
    const sub = new Writer();
    encodeInto(sub, t.message, v as Record<string, unknown>, path, depth + 1, maxDepth);
    w.tag(number, LEN);
    w.bytes(sub.finish());
    return;
  }
  w.tag(number, wireTypeOf(t));
  writeScalar(w, t, v, path);
}

/**
 * Encodes a protobuf-JSON-shaped object (snake_case keys, enums as names, 64-bit integers as
 * numbers, maps as objects) as the protobuf binary form of `desc`.
 * @throws InferError INTERNAL when the object does not fit the descriptor (a key it lacks, a
 *   value of the wrong type): a bug in whoever built the object, named by its path.
 */
export function encodeProtoBinary(desc: MessageDescriptor, obj: Record<string, unknown>, maxDepth = DEFAULT_PROTO_BINARY_LIMITS.maxDepth): Uint8Array<ArrayBuffer> {
  const w = new Writer();
  encodeInto(w, desc, obj, '', 0, maxDepth);
  return w.finish();
}

// ---- decoding ---------------------------------------------------------------------------------

/** Reads protobuf primitives from a byte range, failing with INVALID_ARG on malformed input. */
class Reader {
  readonly #buf: Uint8Array;
  pos: number;
  readonly end: number;

  constructor(buf: Uint8Array, pos: number, end: number) {
    this.#buf = buf;
    this.pos = pos;
    this.end = end;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) throw invalidArg('protobuf message is truncated inside a varint');
      const b = this.#buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw invalidArg('protobuf varint is longer than 10 bytes');
  }

  take(n: number): Uint8Array {
    if (n > this.end - this.pos) throw invalidArg(`protobuf field needs ${n} bytes but only ${this.end - this.pos} remain`);
    const out = this.#buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  lengthDelimited(): Uint8Array {
    const n = this.varint();
    if (n > BigInt(this.end - this.pos)) throw invalidArg(`protobuf length ${n} runs past the end of the message`);
    return this.take(Number(n));
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT: this.varint(); return;
      case I64: this.take(8); return;
      case LEN: this.lengthDelimited(); return;
      case I32: this.take(4); return;
      default: throw invalidArg(`protobuf wire type ${wireType} is not supported (groups are deprecated)`);
    }
  }
}

/** A decoded varint as the value of its scalar type (sign, range, exactness checked). */
function intFromVarint(raw: bigint, s: 'int32' | 'uint32' | 'int64' | 'uint64', path: string): number {
  // Negative int32/int64 arrive as 64-bit two's complement; checkInt refuses what does not fit.
  const v = s === 'int32' || s === 'int64' ? BigInt.asIntN(64, raw) : raw;
  const r = checkInt(v, s);
  if (typeof r === 'string') throw invalidArg(`${path}: ${r}`);
  return r;
}

/** Reads one scalar or enum value whose tag has been read. */
function readScalar(r: Reader, t: Exclude<FieldType, { kind: 'message' }>, wireType: number, path: string): unknown {
  const want = wireTypeOf(t);
  if (wireType !== want) throw invalidArg(`${path}: wire type ${wireType} does not match the field's type (expected ${want})`);
  if (t.kind === 'enum') {
    const n = Number(BigInt.asIntN(32, r.varint()));
    // proto3 keeps unknown enum numbers; a name is needed here, so they are refused.
    const name = t.enumType.byNumber.get(n);
    if (name === undefined) throw invalidArg(`${path}: ${n} is not a value of enum ${t.enumType.name}`);
    return name;
  }
  switch (t.scalar) {
    case 'string':
      try {
        return utf8Decoder.decode(r.lengthDelimited());
      } catch (e) {
        if (isInferError(e)) throw e;
        throw invalidArg(`${path}: string field is not valid UTF-8`);
      }
    case 'bool': return r.varint() !== 0n;
    case 'float': {
      const b = r.take(4);
      return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
    }
    case 'double': {
      const b = r.take(8);
      return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);
    }
    default: return intFromVarint(r.varint(), t.scalar, path);
  }
}

function decodeMessage(buf: Uint8Array, desc: MessageDescriptor, path: string, depth: number, maxDepth: number): Record<string, unknown> {
  if (depth > maxDepth) throw invalidArg(`${path || desc.name}: messages nest more than ${maxDepth} levels`);
  // First field per number wins: an alias group (two names, one number) decodes to the first name.
  const byNumber = new Map<number, FieldDescriptor>();
  for (const f of desc.fields) if (!byNumber.has(f.number)) byNumber.set(f.number, f);
  const out: Record<string, unknown> = {};
  const r = new Reader(buf, 0, buf.byteLength);
  while (r.pos < r.end) {
    const tag = r.varint();
    const number = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (number === 0) throw invalidArg(`${path || desc.name}: field number 0 is invalid`);
    const f = byNumber.get(number);
    if (!f) {
      r.skip(wireType);
      continue;
    }
    const at = path ? `${path}.${f.name}` : f.name;
    if (f.label === 'map') {
      if (wireType !== LEN) throw invalidArg(`${at}: wire type ${wireType} for a map entry (expected 2)`);
      const [k, v] = decodeMapEntry(r.lengthDelimited(), f, at, depth, maxDepth);
      const map = (out[f.name] ??= {}) as Record<string, unknown>;
      setOwn(map, k, v);
      continue;
    }
    if (f.label === 'repeated') {
      const list = (out[f.name] ??= []) as unknown[];
      const packable = f.type.kind === 'enum' || (f.type.kind === 'scalar' && f.type.scalar !== 'string');
      if (packable && wireType === LEN) {
        const run = r.lengthDelimited();
        const sub = new Reader(run, 0, run.byteLength);
        while (sub.pos < sub.end) list.push(readScalar(sub, f.type as Exclude<FieldType, { kind: 'message' }>, wireTypeOf(f.type), `${at}[${list.length}]`));
      } else {
        list.push(readValue(r, f.type, wireType, `${at}[${list.length}]`, depth, maxDepth));
      }
      continue;
    }
    if (f.oneof) {
      // A later member of the same oneof replaces an earlier one (protobuf: last one wins).
      for (const m of desc.oneofs.get(f.oneof) ?? []) if (m !== f.name) delete out[m];
    }
    const prev = out[f.name];
    const v = readValue(r, f.type, wireType, at, depth, maxDepth);
    // A message given twice merges, here field by field at its top level; a scalar: the last wins.
    setOwn(out, f.name, f.type.kind === 'message' && prev !== undefined ? { ...(prev as object), ...(v as object) } : v);
  }
  return out;
}

function readValue(r: Reader, t: FieldType, wireType: number, path: string, depth: number, maxDepth: number): unknown {
  if (t.kind === 'message') {
    if (wireType !== LEN) throw invalidArg(`${path}: wire type ${wireType} for a message field (expected 2)`);
    return decodeMessage(r.lengthDelimited(), t.message, path, depth + 1, maxDepth);
  }
  return readScalar(r, t, wireType, path);
}

/** One map entry (key 1, value 2; either may be absent on the wire and then is its default). */
function decodeMapEntry(bytes: Uint8Array, f: FieldDescriptor, path: string, depth: number, maxDepth: number): [string, unknown] {
  const keyType = { kind: 'scalar', scalar: f.mapKey ?? 'string' } as const;
  const r = new Reader(bytes, 0, bytes.byteLength);
  let key: unknown;
  let value: unknown;
  while (r.pos < r.end) {
    const tag = r.varint();
    const number = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (number === 1) key = readScalar(r, keyType, wireType, `${path} (key)`);
    else if (number === 2) value = readValue(r, f.type, wireType, `${path} (value)`, depth, maxDepth);
    else r.skip(wireType);
  }
  key ??= scalarDefault(keyType.scalar);
  if (value === undefined) {
    if (f.type.kind === 'message') value = {};
    else if (f.type.kind === 'enum') value = f.type.enumType.defaultName;
    else value = scalarDefault(f.type.scalar);
  }
  return [String(key), value];
}

/**
 * Decodes protobuf binary bytes of `desc` into a protobuf-JSON-shaped object (see the file
 * comment); fields absent on the wire are absent in the result.
 * @throws InferError INVALID_ARG naming the field when the bytes are malformed, over the
 *   limits, or hold a value the object form cannot carry (an unknown enum number, a 64-bit
 *   integer beyond 2^53).
 */
export function decodeProtoBinary(desc: MessageDescriptor, bytes: Uint8Array, limits: Partial<ProtoBinaryLimits> = {}): Record<string, unknown> {
  const l = { ...DEFAULT_PROTO_BINARY_LIMITS, ...limits };
  if (bytes.byteLength > l.maxBytes) throw invalidArg(`${desc.name} message of ${bytes.byteLength} bytes is over the limit of ${l.maxBytes}`);
  try {
    return decodeMessage(bytes, desc, '', 0, l.maxDepth);
  } catch (e) {
    if (isInferError(e)) throw e;
    throw invalidArg(`${desc.name} is not a valid protobuf message: ${(e as Error).message}`);
  }
}
