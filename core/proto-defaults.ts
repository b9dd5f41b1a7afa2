/**
 * Fills proto3 default values the way Triton's config endpoint prints them: protobuf's
 * `MessageToJsonString` with `always_print_primitive_fields = true` (COMPAT-NOTES §3.12).
 * That prints every scalar and enum field that is not in a oneof (`"optional": false`,
 * `"format": "FORMAT_NONE"`), every repeated field (`[]`) and every map (`{}`), but not
 * message fields or oneof members that are unset.
 */
import { scalarDefault, setOwn, type FieldDescriptor, type MessageDescriptor } from './proto-descriptor.ts';

function defaultOf(f: FieldDescriptor): unknown {
  if (f.label === 'repeated') return [];
  if (f.label === 'map') return {};
  if (f.type.kind === 'enum') return f.type.enumType.defaultName;
  if (f.type.kind === 'scalar') return scalarDefault(f.type.scalar);
  return undefined; // unset message: not printed
}

function fill(f: FieldDescriptor, v: unknown): unknown {
  if (f.type.kind !== 'message') return v;
  const m = f.type.message;
  if (f.label === 'repeated') return (v as unknown[]).map((e) => withPrimitiveDefaults(m, e as Record<string, unknown>));
  if (f.label === 'map') {
    const out: Record<string, unknown> = {};
    for (const [k, e] of Object.entries(v as Record<string, unknown>)) setOwn(out, k, withPrimitiveDefaults(m, e as Record<string, unknown>));
    return out;
  }
  return withPrimitiveDefaults(m, v as Record<string, unknown>);
}

/**
 * A copy of `obj` with every primitive, repeated and map field present (defaults where
 * absent), recursively through the messages that are set, with keys in `.proto`
 * declaration order (the order protobuf's JSON printer uses). Keys that the descriptor does
 * not know are dropped.
 */
export function withPrimitiveDefaults(desc: MessageDescriptor, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of desc.fields) {
    const v = obj[f.name];
    if (v !== undefined) setOwn(out, f.name, fill(f, v));
    else if (!f.oneof) {
      const d = defaultOf(f);
      if (d !== undefined) out[f.name] = d;
    }
  }
  return out;
}
