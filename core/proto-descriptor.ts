/**
 * A minimal, hand-written protobuf message descriptor: enough for the schema-driven
 * text-format parser (core/pbtxt.ts), the protobuf-JSON reader (core/proto-json.ts) and the
 * default filler (core/proto-defaults.ts) to know which fields are repeated, maps, oneofs,
 * enums, messages, and which scalar type each one is.
 *
 * Why not a protobuf library: `core/` may not import npm packages, and the parsers need only
 * this much reflection. Values produced are protobuf-JSON shaped with snake_case keys
 * (`preserve_proto_field_names`), enums as names, 64-bit integers as JS numbers
 * (COMPAT-NOTES §3.12: Triton's ModelConfigToJson turns them back into numbers).
 */

/** Protobuf scalar types used by Triton's model_config.proto. */
export type ScalarType = 'string' | 'bool' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float' | 'double';

/** A protobuf enum: value names and their numbers. */
export interface EnumDescriptor {
  /** Name without the `inference.` package, e.g. `DataType`, `ModelInstanceGroup.Kind`. */
  readonly name: string;
  readonly byName: ReadonlyMap<string, number>;
  readonly byNumber: ReadonlyMap<number, string>;
  /** The name of value 0: what an unset field means (proto3). */
  readonly defaultName: string;
  /** Common wrong names → the right one, for "did you mean" (`TYPE_FLOAT32` → `TYPE_FP32`). */
  readonly hints?: Readonly<Record<string, string>>;
}

/** What a field holds: a scalar, an enum or a nested message. For a map, this is the value type. */
export type FieldType =
  | { readonly kind: 'scalar'; readonly scalar: ScalarType }
  | { readonly kind: 'enum'; readonly enumType: EnumDescriptor }
  | { readonly kind: 'message'; readonly message: MessageDescriptor };

/** One field of a message. */
export interface FieldDescriptor {
  /** The proto field name (snake_case), also the key in the JS objects produced. */
  readonly name: string;
  /** lowerCamelCase name that protobuf JSON also accepts. */
  readonly jsonName: string;
  readonly number: number;
  readonly label: 'singular' | 'repeated' | 'map';
  /** For a map: the value type. Otherwise the field's type. */
  readonly type: FieldType;
  /** For a map: the key type (string or an integer type, or bool). */
  readonly mapKey?: ScalarType;
  /** Name of the oneof this field belongs to. */
  readonly oneof?: string;
}

/** A message type. Fields are kept in `.proto` declaration order (the JSON printer's order). */
export interface MessageDescriptor {
  /** Name without the `inference.` package, e.g. `ModelConfig`, `ModelSequenceBatching.Control`. */
  readonly name: string;
  readonly fields: readonly FieldDescriptor[];
  readonly byName: ReadonlyMap<string, FieldDescriptor>;
  readonly byJsonName: ReadonlyMap<string, FieldDescriptor>;
  /** oneof name → its member field names. */
  readonly oneofs: ReadonlyMap<string, readonly string[]>;
}

/** The spec of a field before the message is built (see `field` / `mapField`). */
export interface FieldSpec {
  readonly name: string;
  readonly number: number;
  readonly label: 'singular' | 'repeated' | 'map';
  readonly type: FieldType;
  readonly mapKey?: ScalarType;
  readonly oneof?: string;
}

/** Builds an enum whose value numbers are the index of each name (true of every Triton enum). */
export function enumType(name: string, names: readonly string[], hints?: Readonly<Record<string, string>>): EnumDescriptor {
  const byName = new Map<string, number>();
  const byNumber = new Map<number, string>();
  names.forEach((n, i) => { byName.set(n, i); byNumber.set(i, n); });
  return { name, byName, byNumber, defaultName: names[0], hints };
}

function toFieldType(t: ScalarType | EnumDescriptor | MessageDescriptor): FieldType {
  if (typeof t === 'string') return { kind: 'scalar', scalar: t };
  if ('fields' in t) return { kind: 'message', message: t };
  return { kind: 'enum', enumType: t };
}

/** A singular or repeated field. */
export function field(
  name: string, number: number, type: ScalarType | EnumDescriptor | MessageDescriptor,
  opts: { repeated?: boolean; oneof?: string } = {},
): FieldSpec {
  return { name, number, label: opts.repeated ? 'repeated' : 'singular', type: toFieldType(type), oneof: opts.oneof };
}

/** A `map<key, value>` field. */
export function mapField(
  name: string, number: number, key: ScalarType, value: ScalarType | EnumDescriptor | MessageDescriptor,
): FieldSpec {
  return { name, number, label: 'map', type: toFieldType(value), mapKey: key };
}

function lowerCamel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Builds a message descriptor from field specs given in `.proto` declaration order. */
export function messageType(name: string, specs: readonly FieldSpec[]): MessageDescriptor {
  const fields: FieldDescriptor[] = specs.map((s) => ({ ...s, jsonName: lowerCamel(s.name) }));
  const byName = new Map(fields.map((f) => [f.name, f]));
  const byJsonName = new Map(fields.map((f) => [f.jsonName, f]));
  const oneofs = new Map<string, string[]>();
  for (const f of fields) {
    if (f.oneof) oneofs.set(f.oneof, [...(oneofs.get(f.oneof) ?? []), f.name]);
  }
  return { name, fields, byName, byJsonName, oneofs };
}

/** Inclusive integer range of each integer scalar type, as BigInt. */
export const INT_RANGE: Readonly<Record<'int32' | 'uint32' | 'int64' | 'uint64', readonly [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** True for the integer scalar types. */
export function isIntScalar(s: ScalarType): s is 'int32' | 'uint32' | 'int64' | 'uint64' {
  return s === 'int32' || s === 'uint32' || s === 'int64' || s === 'uint64';
}

/**
 * Checks an integer against its type's range and converts it to a JS number. Returns an
 * error text (no location) when it does not fit. 64-bit values beyond 2^53 are refused
 * rather than silently rounded: the config endpoint prints them as JSON numbers (§3.12).
 */
export function checkInt(value: bigint, scalar: 'int32' | 'uint32' | 'int64' | 'uint64'): number | string {
  const [lo, hi] = INT_RANGE[scalar];
  if (value < lo || value > hi) {
    return lo === 0n && value < 0n
      ? `${value} is negative, but the field is ${scalar}`
      : `${value} is out of range for ${scalar} [${lo}, ${hi}]`;
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n)) return `${value} is beyond ±2^53, the largest integer infermesh carries exactly`;
  return n;
}

/** The proto3 default of a scalar: what an absent field means. */
export function scalarDefault(s: ScalarType): string | number | boolean {
  if (s === 'string') return '';
  if (s === 'bool') return false;
  return 0;
}

/** Sets an own enumerable property, safe for keys like `__proto__` that come from user input. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Levenshtein distance, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/**
 * The closest candidate to a misspelt name, or undefined when none is close: within a third
 * of the length in edits (case-insensitive), or a prefix either way (`max_batch` →
 * `max_batch_size`).
 */
export function suggest(given: string, candidates: Iterable<string>): string | undefined {
  const g = given.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const l = c.toLowerCase();
    let score = editDistance(g, l);
    if (g.length >= 3 && (l.startsWith(g) || g.startsWith(l))) score = Math.min(score, 1.5);
    if (score <= Math.max(2, Math.floor(Math.max(g.length, l.length) / 3)) && score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/** ` (did you mean 'x'?)` or an empty string. */
export function didYouMean(given: string, candidates: Iterable<string>): string {
  const s = suggest(given, candidates);
  return s === undefined ? '' : ` (did you mean '${s}'?)`;
}

/**
 * ` (did you mean 'X'?)` for a wrong enum value name: a known alias first, then the name
 * with the prefix its values share (`FP32` → `TYPE_FP32`), then the closest spelling.
 */
export function didYouMeanEnum(e: EnumDescriptor, given: string): string {
  const hinted = e.hints?.[given] ?? e.hints?.[given.toUpperCase()];
  if (hinted) return ` (did you mean '${hinted}'?)`;
  const names = [...e.byName.keys()];
  const prefix = /^([A-Z]+_)/.exec(names[0])?.[1];
  if (prefix && names.every((n) => n.startsWith(prefix)) && e.byName.has(prefix + given.toUpperCase())) {
    return ` (did you mean '${prefix}${given.toUpperCase()}'?)`;
  }
  return didYouMean(given, names);
}
