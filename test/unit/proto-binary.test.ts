/**
 * The descriptor-driven protobuf binary codec (core/proto-binary.ts): exact bytes for small
 * messages written out by hand from the protobuf encoding spec, the full ModelConfig schema
 * cross-checked against protobufjs (an independent implementation, built here by reflection
 * from the same descriptors), round trips, and refusal of malformed input.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { decodeProtoBinary, encodeProtoBinary } from '../../core/proto-binary.ts';
import { MODEL_CONFIG } from '../../core/model-config-schema.ts';
import { parsePbtxt } from '../../core/pbtxt.ts';
import { withPrimitiveDefaults } from '../../core/proto-defaults.ts';
import { enumType, field, mapField, messageType, type EnumDescriptor, type MessageDescriptor } from '../../core/proto-descriptor.ts';
import { expectInferError } from '../support/expect-infer-error.ts';

// protobufjs comes with protons (the codec generator); used here only as a test oracle.
const protobuf = createRequire(import.meta.url)('protobufjs') as typeof import('protobufjs');

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ascii = (s: string) => Buffer.from(s).toString('hex');

/** A protobufjs Root equivalent to a descriptor tree (types named by their descriptor names). */
function protobufjsType(root: MessageDescriptor): import('protobufjs').Type {
  const pb = new protobuf.Root();
  const messages = new Map<MessageDescriptor, string>();
  const enums = new Map<EnumDescriptor, string>();
  const flat = (n: string) => n.replaceAll('.', '_');
  const enumName = (e: EnumDescriptor) => {
    let n = enums.get(e);
    if (!n) {
      n = `E_${flat(e.name)}_${enums.size}`;
      enums.set(e, n);
      pb.add(new protobuf.Enum(n, Object.fromEntries(e.byName)));
    }
    return n;
  };
  const add = (d: MessageDescriptor): string => {
    let n = messages.get(d);
    if (n) return n;
    n = `M_${flat(d.name)}_${messages.size}`;
    messages.set(d, n);
    const t = new protobuf.Type(n);
    pb.add(t);
    const seen = new Set<number>();
    for (const f of d.fields) {
      if (seen.has(f.number)) continue; // an alias (two names, one number): protobufjs gets the first
      seen.add(f.number);
      const type = f.type.kind === 'scalar' ? f.type.scalar : f.type.kind === 'enum' ? enumName(f.type.enumType) : add(f.type.message);
      if (f.label === 'map') t.add(new protobuf.MapField(f.name, f.number, f.mapKey!, type));
      else t.add(new protobuf.Field(f.name, f.number, type, f.label === 'repeated' ? 'repeated' : undefined));
    }
    for (const [name, members] of d.oneofs) {
      if (new Set(members.map((m) => d.byName.get(m)!.number)).size === 1) continue; // alias group, not a oneof
      t.add(new protobuf.OneOf(name.replace(/\W/g, '_'), members));
    }
    return n;
  };
  const name = add(root);
  pb.resolveAll();
  return pb.lookupType(name);
}

/**
 * protobufjs's reading of `bytes` as a plain object. It keys 64-bit integer maps by an 8-char
 * hash of the value; those keys are turned back into decimal strings, as protobuf JSON has them.
 */
function readWithProtobufjs(desc: MessageDescriptor, bytes: Uint8Array): Record<string, unknown> {
  const T = protobufjsType(desc);
  const fix = (d: MessageDescriptor, o: Record<string, unknown>): Record<string, unknown> => {
    for (const f of d.fields) {
      const v = o[f.name];
      if (v === undefined) continue;
      const sub = f.type.kind === 'message' ? f.type.message : undefined;
      if (f.label === 'map') {
        const wide = f.mapKey === 'int64' || f.mapKey === 'uint64';
        o[f.name] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, e]) => [
          wide ? protobuf.util.LongBits.fromHash(k).toNumber(f.mapKey === 'uint64').toString() : k,
          sub ? fix(sub, e as Record<string, unknown>) : e,
        ]));
      } else if (sub) {
        o[f.name] = f.label === 'repeated' ? (v as Record<string, unknown>[]).map((e) => fix(sub, e)) : fix(sub, v as Record<string, unknown>);
      }
    }
    return o;
  };
  return fix(desc, T.toObject(T.decode(bytes), { longs: Number, enums: String }));
}

const Color = enumType('Color', ['RED', 'GREEN', 'BLUE']);
const Inner = messageType('Inner', [field('label', 1, 'string'), field('n', 2, 'int32')]);
const Test = messageType('Test', [
  field('s', 1, 'string'),
  field('b', 2, 'bool'),
  field('i32', 3, 'int32'),
  field('u32', 4, 'uint32'),
  field('i64', 5, 'int64'),
  field('u64', 6, 'uint64'),
  field('f', 7, 'float'),
  field('d', 8, 'double'),
  field('color', 9, Color),
  field('ints', 10, 'int64', { repeated: true }),
  field('names', 11, 'string', { repeated: true }),
  field('inner', 12, Inner),
  field('inners', 13, Inner, { repeated: true }),
  mapField('tags', 14, 'string', 'string'),
  mapField('levels', 15, 'uint64', Inner),
  field('flag', 16, 'bool', { oneof: 'choice' }),
  field('text', 17, 'string', { oneof: 'choice' }),
  field('big', 300, 'uint32'),
]);

describe('encoding: exact bytes (protobuf encoding spec)', () => {
  it('writes scalars with their wire types and omits proto3 defaults', () => {
    expect(hex(encodeProtoBinary(Test, { s: 'hi', b: true, i32: 150, u32: 1, f: 1, d: -2, color: 'BLUE' }))).toBe(
      `0a02${ascii('hi')}` + '1001' + '189601' + '2001' + '3d0000803f' + '41' + '00000000000000c0' + '4802',
    );
    // every field at its default: nothing at all
    expect(encodeProtoBinary(Test, { s: '', b: false, i32: 0, u32: 0, i64: 0, f: 0, d: 0, color: 'RED', ints: [], names: [], tags: {} }).byteLength).toBe(0);
  });

  it('writes negative int32/int64 as ten-byte two\'s-complement varints, packed repeated scalars in one record', () => {
    expect(hex(encodeProtoBinary(Test, { i32: -1 }))).toBe('18ffffffffffffffffff01');
    expect(hex(encodeProtoBinary(Test, { ints: [-1, 16, 300] }))).toBe('520d' + 'ffffffffffffffffff01' + '10' + 'ac02');
    expect(hex(encodeProtoBinary(Test, { i64: 2 ** 53 - 1 }))).toBe('28ffffffffffffff0f');
  });

  it('writes strings and messages one record each, fields in number order, large field numbers', () => {
    const bytes = encodeProtoBinary(Test, { big: 1, names: ['a', ''], inner: { n: 2 }, s: 'x' });
    expect(hex(bytes)).toBe(`0a01${ascii('x')}` + '5a0161' + '5a00' + '62021002' + 'e0120' + '1');
  });

  it('writes map entries with key and value always present, and oneof members even at their default', () => {
    expect(hex(encodeProtoBinary(Test, { tags: { k: '' } }))).toBe('7205' + `0a01${ascii('k')}` + '1200');
    expect(hex(encodeProtoBinary(Test, { levels: { 3: {} } }))).toBe('7a04' + '0803' + '1200');
    expect(hex(encodeProtoBinary(Test, { flag: false }))).toBe('800100');
  });

  it('refuses objects that do not fit the descriptor, naming the field', () => {
    expectInferError(() => encodeProtoBinary(Test, { nope: 1 }), 'INTERNAL', "Test has no field 'nope'");
    expectInferError(() => encodeProtoBinary(Test, { inner: { n: 'two' } }), 'INTERNAL', 'inner.n');
    expectInferError(() => encodeProtoBinary(Test, { u32: -1 }), 'INTERNAL', 'negative');
    expectInferError(() => encodeProtoBinary(Test, { color: 'PURPLE' }), 'INTERNAL', "'PURPLE' is not a value of enum Color");
  });
});

describe('decoding', () => {
  const full = {
    s: 'héllo', b: true, i32: -5, u32: 7, i64: -(2 ** 40), u64: 2 ** 53 - 1, f: 0.5, d: Math.PI, color: 'GREEN',
    ints: [1, -1, 0, 2 ** 33], names: ['x', '', 'z'], inner: { label: 'in', n: -3 }, inners: [{ label: 'a' }, {}],
    tags: { a: '1', '': 'empty key' }, levels: { 1: { n: 1 }, 18446744073709: { label: 'big key' } }, text: 'chosen', big: 4_000_000_000,
  };

  it('round-trips every kind of field', () => {
    expect(decodeProtoBinary(Test, encodeProtoBinary(Test, full))).toEqual(full);
  });

  it('agrees with protobufjs both ways', () => {
    const T = protobufjsType(Test);
    expect(readWithProtobufjs(Test, encodeProtoBinary(Test, full))).toEqual(full);
    const theirBytes = T.encode(T.fromObject(full)).finish();
    expect(decodeProtoBinary(Test, theirBytes)).toEqual(full);
  });

  it('accepts expanded (unpacked) repeated scalars and skips unknown fields', () => {
    // ints as two separate varint records, then unknown field 99 (varint) and 98 (bytes)
    const bytes = Uint8Array.from([0x50, 0x01, 0x50, 0x02, 0x98, 0x06, 0x07, 0x92, 0x06, 0x02, 0xaa, 0xbb]);
    expect(decodeProtoBinary(Test, bytes)).toEqual({ ints: [1, 2] });
  });

  it('refuses malformed and over-limit input with INVALID_ARG', () => {
    expectInferError(() => decodeProtoBinary(Test, Uint8Array.from([0x0a, 0x05, 0x61])), 'INVALID_ARG', 'runs past the end');
    expectInferError(() => decodeProtoBinary(Test, Uint8Array.from([0x18, 0xff])), 'INVALID_ARG', 'truncated inside a varint');
    expectInferError(() => decodeProtoBinary(Test, Uint8Array.from([0x0b])), 'INVALID_ARG', 'wire type 3');
    expectInferError(() => decodeProtoBinary(Test, Uint8Array.from([0x48, 0x09])), 'INVALID_ARG', '9 is not a value of enum Color');
    expectInferError(() => decodeProtoBinary(Test, Uint8Array.from([0x0a, 0x01, 0xff])), 'INVALID_ARG', 'not valid UTF-8');
    expectInferError(() => decodeProtoBinary(Test, Uint8Array.from([0x08, 0x01])), 'INVALID_ARG', 'wire type 0 does not match');
    expectInferError(() => decodeProtoBinary(Test, new Uint8Array(10), { maxBytes: 4 }), 'INVALID_ARG', 'over the limit of 4');
    // u64 beyond 2^53 cannot be carried exactly as a JS number
    expectInferError(() => decodeProtoBinary(Test, Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), 'INVALID_ARG', '2^53');
    const Deep: MessageDescriptor = messageType('Deep', [field('x', 1, 'int32')]);
    (Deep.fields as unknown as object[]).push({ ...field('self', 2, Deep), jsonName: 'self' });
    (Deep.byName as Map<string, unknown>).set('self', Deep.fields[1]);
    let nested = new Uint8Array(0);
    for (let i = 0; i < 40; i++) nested = Uint8Array.from([0x12, nested.byteLength, ...nested]);
    expectInferError(() => decodeProtoBinary(Deep, nested, { maxDepth: 32 }), 'INVALID_ARG', 'nest more than 32');
  });
});

describe('ModelConfig', () => {
  const rich = `
    name: "rich"
    platform: "onnxruntime_onnx"
    max_batch_size: 8
    version_policy { specific { versions: [1, 3] } }
    input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1, 3 ] reshape { shape: [ 3, -1 ] } optional: true } ]
    output [ { name: "OUT" data_type: TYPE_STRING dims: [ 4 ] label_filename: "labels.txt" } ]
    instance_group [ { name: "g" kind: KIND_CPU count: 2 rate_limiter { resources [ { name: "R" global: true count: 2 } ] priority: 1 } } ]
    dynamic_batching {
      preferred_batch_size: [ 2, 4 ] max_queue_delay_microseconds: 500 priority_levels: 2 default_priority_level: 2
      default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 1000 max_queue_size: 7 }
      priority_queue_policy { key: 1 value { allow_timeout_override: true } }
    }
    optimization { graph { level: -1 } cuda { graphs: true graph_spec [ { batch_size: 2 input { key: "IN" value { dim: [ 2, 3 ] } } } ] } input_pinned_memory { enable: false } }
    parameters { key: "p" value { string_value: "v" } }
    metric_tags { key: "team" value: "ml" }
    model_warmup [ { name: "w" batch_size: 2 inputs { key: "IN" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: false } } count: 1 } ]
    model_transaction_policy { decoupled: false }
    response_cache { enable: true }
    model_metrics { metric_control [ { metric_identifier { family: "nv_inference_first_response_histogram_ms" } histogram_options { buckets: [ 0.5, 1, 2.5 ] } } ] }
  `;
  const sequence = `
    name: "seq"
    max_batch_size: 2
    sequence_batching {
      oldest { max_candidate_sequences: 4 preferred_batch_size: [ 2 ] }
      max_sequence_idle_microseconds: 5000000
      control_input [ { name: "START" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1.5 ] } ] },
                      { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] } ]
      state [ { input_name: "S_IN" output_name: "S_OUT" data_type: TYPE_INT32 dims: [ -1 ] initial_state [ { data_type: TYPE_INT32 dims: [ 1 ] zero_data: true name: "init" } ] } ]
    }
  `;
  const ensemble = `
    name: "ens"
    platform: "ensemble"
    max_batch_size: 1
    ensemble_scheduling {
      step [ { model_name: "a" model_version: -1 input_map { key: "X" value: "IN" } output_map { key: "Y" value: "MID" } },
             { model_name: "b" model_version: 2 input_map { key: "X" value: "MID" } output_map { key: "Y" value: "OUT" } } ]
      max_inflight_requests: 3
    }
  `;

  for (const [label, text] of [['rich', rich], ['sequence', sequence], ['ensemble', ensemble]] as const) {
    it(`${label}: protobufjs reads our bytes as the same config, and ours read protobufjs's`, () => {
      const cfg = parsePbtxt(text, MODEL_CONFIG, { file: `${label}.pbtxt` });
      const bytes = encodeProtoBinary(MODEL_CONFIG, cfg);
      const T = protobufjsType(MODEL_CONFIG);
      expect(withPrimitiveDefaults(MODEL_CONFIG, readWithProtobufjs(MODEL_CONFIG, bytes))).toEqual(withPrimitiveDefaults(MODEL_CONFIG, cfg));
      expect(withPrimitiveDefaults(MODEL_CONFIG, decodeProtoBinary(MODEL_CONFIG, bytes))).toEqual(withPrimitiveDefaults(MODEL_CONFIG, cfg));
      const theirBytes = T.encode(T.fromObject(cfg)).finish();
      expect(withPrimitiveDefaults(MODEL_CONFIG, decodeProtoBinary(MODEL_CONFIG, theirBytes))).toEqual(withPrimitiveDefaults(MODEL_CONFIG, cfg));
    });
  }

  it('a oneof member at its default is still written (zero_data: false marks which data kind was chosen)', () => {
    const cfg = parsePbtxt(rich, MODEL_CONFIG);
    const back = decodeProtoBinary(MODEL_CONFIG, encodeProtoBinary(MODEL_CONFIG, cfg)) as { model_warmup: { inputs: Record<string, Record<string, unknown>> }[] };
    expect(back.model_warmup[0].inputs.IN).toHaveProperty('zero_data', false);
  });

  it('the ensemble field 2 alias (max_inflight_responses) encodes as field 2 and decodes as max_inflight_requests', () => {
    const a = encodeProtoBinary(MODEL_CONFIG, { ensemble_scheduling: { max_inflight_responses: 3 } });
    const b = encodeProtoBinary(MODEL_CONFIG, { ensemble_scheduling: { max_inflight_requests: 3 } });
    expect(hex(a)).toBe(hex(b));
    expect(hex(a)).toBe('7a021003');
    expect(decodeProtoBinary(MODEL_CONFIG, a)).toEqual({ ensemble_scheduling: { max_inflight_requests: 3 } });
    // at 0 it is a plain field: not written
    expect(encodeProtoBinary(MODEL_CONFIG, { ensemble_scheduling: { max_inflight_requests: 0 } })).toEqual(Uint8Array.from([0x7a, 0x00]));
  });

  it('the simple example config has the bytes protobuf writes for it', () => {
    const cfg = { name: 'simple', max_batch_size: 8, input: [{ name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] }] };
    // name (1), max_batch_size (4), input (5) { name (1), data_type (2) = 8, dims (4) packed [16] }
    expect(hex(encodeProtoBinary(MODEL_CONFIG, cfg))).toBe(`0a06${ascii('simple')}` + '2008' + '2a0d' + `0a06${ascii('INPUT0')}` + '1008' + '220110');
  });
});
