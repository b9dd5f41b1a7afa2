/**
 * Reads protobuf-JSON (a `config.json`, or the `config` parameter of a load request,
 * COMPAT-NOTES §1.12 and §3.12) against a message descriptor, as strictly as protobuf's
 * `JsonStringToMessage`: unknown keys are errors, every value's type is checked, 64-bit
 * integers may be JSON strings ("8"), enums may be names or numbers, `null` means "unset",
 * and lowerCamelCase keys are accepted and stored under the proto (snake_case) name.
 *
 * The result has the same shape the text-format parser produces (core/pbtxt.ts), so both
 * kinds of config flow through the same normalisation.
 */
import { InferError } from '../protocol/errors.ts';
import {
  checkInt, didYouMean, didYouMeanEnum, isIntScalar, setOwn,
  type FieldDescriptor, type FieldType, type MessageDescriptor, type ScalarType,
} from './proto-descriptor.ts';

/** Bounds on untrusted JSON input. */
export interface ProtoJsonLimits {
  /** Longest accepted input, in UTF-16 code units. */
  maxChars: number;
  /** Deepest message nesting. */
  maxDepth: number;
}

/** Same bounds as the text format (core/pbtxt.ts DEFAULT_PBTXT_LIMITS) for the same reasons. */
export const DEFAULT_PROTO_JSON_LIMITS: Readonly<ProtoJsonLimits> = { maxChars: 1 << 20, maxDepth: 32 };

/** Options of `parseProtoJson` / `messageFromJson`. */
export interface ProtoJsonOptions {
  /** Named in error messages. */
  file?: string;
  limits?: Partial<ProtoJsonLimits>;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class JsonReader {
  readonly #file: string;
  readonly #maxDepth: number;

  constructor(file: string, maxDepth: number) {
    this.#file = file;
    this.#maxDepth = maxDepth;
  }

  fail(path: string, msg: string): InferError {
    return new InferError('INVALID_ARG', `${this.#file}: ${path ? `at ${path}: ` : ''}${msg}`);
  }

  message(v: unknown, desc: MessageDescriptor, path: string, depth: number): Record<string, unknown> {
    if (!isObject(v)) throw this.fail(path, `expected an object (${desc.name}), got ${kindOf(v)}`);
    if (depth > this.#maxDepth) throw this.fail(path, `messages are nested more than ${this.#maxDepth} levels deep`);
    const out: Record<string, unknown> = {};
    const oneofMember = new Map<string, string>();
    for (const key of Object.keys(v)) {
      const f = desc.byName.get(key) ?? desc.byJsonName.get(key);
      if (!f) throw this.fail(path, `unknown field '${key}' in ${desc.name}${didYouMean(key, desc.byName.keys())}`);
      if (Object.hasOwn(out, f.name)) throw this.fail(path, `field '${f.name}' is given twice (as '${f.name}' and '${f.jsonName}')`);
      const val = v[key];
      if (val === null) continue; // protobuf JSON: null is the same as absent
      const sub = path ? `${path}.${key}` : key;
      if (f.oneof) {
        const other = oneofMember.get(f.oneof);
        if (other) throw this.fail(path, `'${f.name}' and '${other}' are both set, but they are members of oneof '${f.oneof}' in ${desc.name}; keep only one`);
        oneofMember.set(f.oneof, f.name);
      }
      setOwn(out, f.name, this.#field(val, f, sub, depth));
    }
    return out;
  }

  #field(v: unknown, f: FieldDescriptor, path: string, depth: number): unknown {
    if (f.label === 'repeated') {
      if (!Array.isArray(v)) throw this.fail(path, `expected an array (repeated ${this.#typeName(f.type)}), got ${kindOf(v)}`);
      return v.map((e, i) => this.#value(e, f.type, `${path}[${i}]`, depth));
    }
    if (f.label === 'map') {
      if (!isObject(v)) throw this.fail(path, `expected an object (map), got ${kindOf(v)}`);
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const sub = `${path}[${JSON.stringify(k)}]`;
        setOwn(out, this.#mapKey(k, f.mapKey ?? 'string', sub), this.#value(v[k], f.type, sub, depth));
      }
      return out;
    }
    return this.#value(v, f.type, path, depth);
  }

  #mapKey(k: string, t: ScalarType, path: string): string {
    if (t === 'string') return k;
    if (t === 'bool') {
      if (k === 'true' || k === 'false') return k;
      throw this.fail(path, `map key must be "true" or "false", got ${JSON.stringify(k)}`);
    }
    if (isIntScalar(t)) {
      if (!/^-?[0-9]+$/.test(k)) throw this.fail(path, `map key must be an integer (${t}), got ${JSON.stringify(k)}`);
      const r = checkInt(BigInt(k), t);
      if (typeof r === 'string') throw this.fail(path, `bad map key: ${r}`);
      return String(r);
    }
    throw this.fail(path, `map keys of type ${t} are not supported`);
  }

  #typeName(t: FieldType): string {
    if (t.kind === 'scalar') return t.scalar;
    if (t.kind === 'enum') return `enum ${t.enumType.name}`;
    return t.message.name;
  }

  #value(v: unknown, t: FieldType, path: string, depth: number): unknown {
    if (t.kind === 'message') return this.message(v, t.message, path, depth + 1);
    if (t.kind === 'enum') {
      const e = t.enumType;
      if (typeof v === 'string') {
        if (e.byName.has(v)) return v;
        const names = [...e.byName.keys()];
        throw this.fail(path, `unknown value ${JSON.stringify(v)} for enum ${e.name}${didYouMeanEnum(e, v)}; expected one of ${names.join(', ')}`);
      }
      if (typeof v === 'number' && Number.isInteger(v)) {
        const name = e.byNumber.get(v);
        if (name === undefined) throw this.fail(path, `${v} is not a value of enum ${e.name}`);
        return name;
      }
      throw this.fail(path, `expected a value of enum ${e.name} (a name or a number), got ${kindOf(v)}`);
    }
    const s = t.scalar;
    if (s === 'string') {
      if (typeof v !== 'string') throw this.fail(path, `expected a string, got ${kindOf(v)}`);
      return v;
    }
    if (s === 'bool') {
      if (typeof v !== 'boolean') throw this.fail(path, `expected true or false, got ${kindOf(v)}`);
      return v;
    }
    if (isIntScalar(s)) {
      // protobuf JSON allows integers as numbers or as decimal strings (64-bit ones usually are).
      let big: bigint;
      if (typeof v === 'number' && Number.isInteger(v)) big = BigInt(v);
      else if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) big = BigInt(v);
      else throw this.fail(path, `expected an integer (${s}), got ${kindOf(v)}`);
      const r = checkInt(big, s);
      if (typeof r === 'string') throw this.fail(path, `bad value: ${r}`);
      return r;
    }
    // float / double: a number, or "NaN", "Infinity", "-Infinity", or a numeric string.
    if (typeof v === 'number') return v;
    if (typeof v === 'string') {
      if (v === 'NaN') return NaN;
      if (v === 'Infinity') return Infinity;
      if (v === '-Infinity') return -Infinity;
      if (/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return Number(v);
    }
    throw this.fail(path, `expected a number (${s}), got ${kindOf(v)}`);
  }
}

/** Line and column (1-based) of a character offset. */
function lineCol(text: string, pos: number): string {
  let line = 1;
  let start = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text[i] === '\n') { line++; start = i + 1; }
  }
  return `${line}:${pos - start + 1}`;
}

/**
 * Checks an already-parsed JSON value against a message descriptor and returns it in
 * protobuf-JSON shape with snake_case keys and nulls dropped.
 */
export function messageFromJson(value: unknown, descriptor: MessageDescriptor, options: ProtoJsonOptions = {}): Record<string, unknown> {
  const limits = { ...DEFAULT_PROTO_JSON_LIMITS, ...options.limits };
  return new JsonReader(options.file ?? 'input.json', limits.maxDepth).message(value, descriptor, '', 0);
}

/** Parses protobuf-JSON text against a message descriptor. Throws INVALID_ARG naming the problem. */
export function parseProtoJson(text: string, descriptor: MessageDescriptor, options: ProtoJsonOptions = {}): Record<string, unknown> {
  const file = options.file ?? 'input.json';
  const limits = { ...DEFAULT_PROTO_JSON_LIMITS, ...options.limits };
  if (text.length > limits.maxChars) {
    throw new InferError('INVALID_ARG', `${file}: ${text.length} characters is more than the ${limits.maxChars} allowed for a JSON config`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const pos = /position (\d+)/.exec(msg);
    throw new InferError('INVALID_ARG', `${file}${pos ? `:${lineCol(text, Number(pos[1]))}` : ''}: invalid JSON: ${msg}`);
  }
  return messageFromJson(value, descriptor, { ...options, file });
}
