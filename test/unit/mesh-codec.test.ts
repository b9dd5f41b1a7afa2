/**
 * The protobuf wire formats: gRPC ModelInferRequest/Response (field numbers from COMPAT-NOTES
 * §2.2, raw-contents rules from §2.3, interop with packed encodings other libraries write),
 * the mesh envelopes and errors, decode limits, and the generated code staying in sync.
 */
import { describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { InferError } from '../../protocol/errors.ts';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import { resolveDecodeLimits } from '../../protocol/limits.ts';
import type { InferParameter } from '../../protocol/inference-pb.ts';
import { ModelInferRequest, ModelInferResponse } from '../../protocol/inference-pb.ts';
import { BlobRequest, BlobResponse, MeshInferResponse, PeerStatus } from '../../protocol/mesh-pb.ts';
import {
  decodeMeshInferRequest, decodeMeshInferResponse, decodeMeshInferResult, decodeModelInferRequest, decodeModelInferResponse,
  encodeMeshInferRequest, encodeMeshInferResponse, encodeModelInferRequest, encodeModelInferResponse, inferRequestToProto,
  parametersFromProto,
} from '../../protocol/mesh-infer-codec.ts';

const hex = (s: string) => Uint8Array.from(s.match(/../g)!, (h) => parseInt(h, 16));
const utf8 = (s: string) => new TextEncoder().encode(s);

/** Top-level (field number, wire type) pairs of a protobuf message, in order. */
function fields(buf: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  let pos = 0;
  const varint = () => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const wire = key & 7;
    out.push([key >>> 3, wire]);
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 2) {
      const len = Number(varint()); // read first: `pos += varint()` would add to the old pos
      pos += len;
    }
    else if (wire === 5) pos += 4;
    else throw new Error(`wire type ${wire}`);
  }
  return out;
}

/** The bytes of length-delimited field `n` (first occurrence) of a message. */
function sub(buf: Uint8Array, n: number): Uint8Array {
  let pos = 0;
  const varint = () => { let v = 0, s = 0, b; do { b = buf[pos++]; v += (b & 0x7f) * 2 ** s; s += 7; } while (b >= 0x80); return v; };
  while (pos < buf.length) {
    const key = varint();
    const wire = key & 7;
    if (wire === 2) {
      const len = varint();
      if (key >>> 3 === n) return buf.subarray(pos, pos + len);
      pos += len;
    } else if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else pos += 4;
  }
  throw new Error(`no field ${n}`);
}

function everyType(): InferRequest {
  return {
    modelName: 'all', modelVersion: '3', id: 'req-7',
    parameters: { s: 'text', i: 42, b: true, d: 0.25, neg: -7 },
    inputs: [
      { name: 'BOOL', datatype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1]) },
      { name: 'U8', datatype: 'UINT8', shape: [2], data: Uint8Array.from([0, 255]) },
      { name: 'U16', datatype: 'UINT16', shape: [1], data: Uint16Array.from([65535]) },
      { name: 'U32', datatype: 'UINT32', shape: [1], data: Uint32Array.from([4294967295]) },
      { name: 'U64', datatype: 'UINT64', shape: [1], data: BigUint64Array.from([2n ** 64n - 1n]) },
      { name: 'I8', datatype: 'INT8', shape: [1], data: Int8Array.from([-128]) },
      { name: 'I16', datatype: 'INT16', shape: [1], data: Int16Array.from([-32768]) },
      { name: 'I32', datatype: 'INT32', shape: [2, 2], data: Int32Array.from([1, -2, 3, -4]) },
      { name: 'I64', datatype: 'INT64', shape: [1], data: BigInt64Array.from([-(2n ** 63n)]) },
      { name: 'F16', datatype: 'FP16', shape: [1], data: Uint16Array.from([0x3c00]) },
      { name: 'F32', datatype: 'FP32', shape: [1, 2], data: Float32Array.from([1.5, -0]) },
      { name: 'F64', datatype: 'FP64', shape: [1], data: Float64Array.from([Math.PI]) },
      { name: 'BF16', datatype: 'BF16', shape: [1], data: Uint16Array.from([0x3f80]) },
      { name: 'STR', datatype: 'BYTES', shape: [2], data: [utf8('ab'), new Uint8Array()], parameters: { binary_data_size: 10, note: 'kept' } },
      { name: 'EMPTY', datatype: 'FP32', shape: [0, 4], data: new Float32Array() },
    ],
    outputs: [{ name: 'OUT', parameters: { classification: 3 } }, { name: 'OUT2' }],
  };
}

const norm = (t: { data: unknown }) => (Array.isArray(t.data) ? (t.data as Uint8Array[]).map((e) => [...e]) : [(t.data as object).constructor.name, ...(t.data as Iterable<unknown>)]);

async function invalid(f: () => unknown): Promise<InferError> {
  let err: unknown;
  try { await f(); } catch (e) { err = e; }
  expect((err as Error)?.name).toBe('InferError');
  expect((err as InferError).code).toBe('INVALID_ARG');
  return err as InferError;
}

describe('ModelInferRequest', () => {
  test('every datatype, parameters, id, version and requested outputs round-trip', () => {
    const req = everyType();
    const back = decodeModelInferRequest(encodeModelInferRequest(req));
    expect(back.modelName).toBe('all');
    expect(back.modelVersion).toBe('3');
    expect(back.id).toBe('req-7');
    expect({ ...back.parameters }).toEqual(req.parameters);
    expect(back.outputs).toEqual([{ name: 'OUT', parameters: expect.objectContaining({ classification: 3 }) }, { name: 'OUT2' }]);
    expect(back.inputs.map((i) => [i.name, i.datatype, i.shape])).toEqual(req.inputs.map((i) => [i.name, i.datatype, i.shape]));
    back.inputs.forEach((i, k) => expect(norm(i)).toEqual(norm(req.inputs[k])));
    // HTTP framing parameters do not travel; the others do
    expect({ ...back.inputs[13].parameters }).toEqual({ note: 'kept' });
  });

  test('data travels as raw_input_contents, one entry per input in order, BYTES length-prefixed', () => {
    const msg = inferRequestToProto(everyType());
    expect(msg.rawInputContents).toHaveLength(15);
    expect([...msg.rawInputContents[13]]).toEqual([2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0]); // COMPAT-NOTES §1.7 worked example
    expect([...msg.rawInputContents[10]]).toEqual([0, 0, 0xc0, 0x3f, 0, 0, 0, 0x80]); // FP32 1.5, -0 little-endian
    expect(msg.inputs.every((i) => i.contents === undefined)).toBe(true);
  });

  test('field numbers are Triton\'s (COMPAT-NOTES §2.2)', () => {
    const bytes = encodeModelInferRequest(everyType());
    expect(new Set(fields(bytes).map(([n, w]) => `${n}:${w}`))).toEqual(new Set(['1:2', '2:2', '3:2', '4:2', '5:2', '6:2', '7:2']));
    const input = sub(bytes, 5);
    expect(fields(input).map(([n]) => n)).toEqual([1, 2, 3]); // name, datatype, shape (BOOL [3])
    expect(fields(sub(encodeModelInferRequest({ ...everyType(), inputs: [everyType().inputs[13]] }), 5)).map(([n]) => n)).toEqual([1, 2, 3, 4]);
    const param = (v: unknown) => fields(sub(sub(encodeModelInferRequest({ modelName: 'm', parameters: { k: v as string }, inputs: [] }), 4), 2));
    expect(param(true)).toEqual([[1, 0]]);
    expect(param(5)).toEqual([[2, 0]]);
    expect(param('s')).toEqual([[3, 2]]);
    expect(param(0.5)).toEqual([[4, 1]]);
  });

  test('reads what protobufjs writes: packed shape and typed fp32_contents', () => {
    // protobufjs 7 encoding of {model_name: "m", inputs: [{name: "x", datatype: "FP32", shape: [2, 3],
    // contents: {fp32_contents: [1..6]}}]} from protocol/inference.proto (packed, as proto3 mandates)
    const req = decodeModelInferRequest(hex('0a016d2a290a01781204465033321a0202032a1a32180000803f0000004000004040000080400000a0400000c040'));
    expect(req.inputs[0].shape).toEqual([2, 3]);
    expect([...(req.inputs[0].data as Float32Array)]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('typed contents are accepted for every type that has a field', () => {
    const msg: ModelInferRequest = {
      modelName: 'm', modelVersion: '', id: '', parameters: new Map(), outputs: [], rawInputContents: [],
      inputs: [
        { name: 'b', datatype: 'BOOL', shape: [2n], parameters: new Map(), contents: contents({ boolContents: [true, false] }) },
        { name: 'i8', datatype: 'INT8', shape: [1n], parameters: new Map(), contents: contents({ intContents: [-5] }) },
        { name: 'i64', datatype: 'INT64', shape: [1n], parameters: new Map(), contents: contents({ int64Contents: [-9n] }) },
        { name: 'u64', datatype: 'UINT64', shape: [1n], parameters: new Map(), contents: contents({ uint64Contents: [9n] }) },
        { name: 'f64', datatype: 'FP64', shape: [1n], parameters: new Map(), contents: contents({ fp64Contents: [0.1] }) },
        { name: 's', datatype: 'BYTES', shape: [1n], parameters: new Map(), contents: contents({ bytesContents: [utf8('hi')] }) },
      ],
    };
    const req = decodeModelInferRequest(ModelInferRequest.encode(msg));
    expect(req.inputs.map(norm)).toEqual([
      ['Uint8Array', 1, 0], ['Int8Array', -5], ['BigInt64Array', -9n], ['BigUint64Array', 9n], ['Float64Array', 0.1], [[0x68, 0x69]],
    ]);
  });

  test('Triton\'s raw-contents rules: no mixing, no missing or surplus entries', async () => {
    const base = inferRequestToProto({ modelName: 'm', parameters: {}, inputs: [{ name: 'x', datatype: 'INT32', shape: [1], data: Int32Array.of(1) }] });
    const mixed = { ...base, inputs: [{ ...base.inputs[0], contents: contents({ intContents: [1] }) }] };
    expect((await invalid(() => decodeModelInferRequest(ModelInferRequest.encode(mixed)))).message)
      .toBe("contents field must not be specified when using raw_input_contents for 'x' for model 'm'");
    expect((await invalid(() => decodeModelInferRequest(ModelInferRequest.encode({ ...base, rawInputContents: [] })))).message)
      .toBe("unable to find data for input tensor 'x' for model 'm'");
    const extra = { ...base, rawInputContents: [...base.rawInputContents, new Uint8Array(4)] };
    expect((await invalid(() => decodeModelInferRequest(ModelInferRequest.encode(extra)))).message).toContain('2 entries but the request\'s inputs use 1');
  });

  test('bad tensors are INVALID_ARG naming the input', async () => {
    const one = (t: Partial<ModelInferRequest.InferInputTensor>, raw: Uint8Array[]) => ModelInferRequest.encode({
      modelName: 'm', modelVersion: '', id: '', parameters: new Map(), outputs: [], rawInputContents: raw as Uint8Array<ArrayBuffer>[],
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2n], parameters: new Map(), ...t }],
    });
    expect((await invalid(() => decodeModelInferRequest(one({}, [new Uint8Array(7)])))).message)
      .toContain("input 'x': raw content has 7 bytes but shape [2] of FP32 needs 8");
    expect((await invalid(() => decodeModelInferRequest(one({ datatype: 'STRING' }, [new Uint8Array(8)])))).message)
      .toContain("input 'x': unknown datatype 'STRING'");
    expect((await invalid(() => decodeModelInferRequest(one({ shape: [-1n] }, [new Uint8Array(8)])))).message)
      .toContain('dimension 0 must be a non-negative integer, got -1');
    expect((await invalid(() => decodeModelInferRequest(one({ shape: [2n ** 62n] }, [new Uint8Array(8)])))).message)
      .toContain('must be a non-negative integer');
    expect((await invalid(() => decodeModelInferRequest(one({ datatype: 'BYTES', shape: [2n] }, [hex('0100000061')])))).message)
      .toContain('BYTES data');
    expect((await invalid(() => decodeModelInferRequest(one({ datatype: 'FP16', shape: [1n], contents: contents({}) }, [])))).message)
      .toContain('FP16 has no typed contents field');
    expect((await invalid(() => decodeModelInferRequest(one({ datatype: 'INT8', shape: [1n], contents: contents({ intContents: [300] }) }, [])))).message)
      .toContain('int_contents[0] = 300 is out of range for INT8');
    expect((await invalid(() => decodeModelInferRequest(one({ datatype: 'INT32', shape: [3n], contents: contents({ intContents: [1] }) }, [])))).message)
      .toContain('int_contents holds 1 elements but the shape needs 3');
  });

  test('decode limits: size, inputs, rank, elements, parameters', async () => {
    const req = everyType();
    const bytes = encodeModelInferRequest(req);
    expect((await invalid(() => decodeModelInferRequest(bytes, resolveDecodeLimits({ maxBodyBytes: 100 })))).message)
      .toMatch(/ModelInferRequest size in bytes \(\d+\) exceeds the decode limit 'maxBodyBytes' \(100\)/);
    expect((await invalid(() => decodeModelInferRequest(bytes, resolveDecodeLimits({ maxInputs: 3 })))).message)
      .toContain("field 'inputs' has more than 3 entries, over the decode limit 'maxInputs'");
    expect((await invalid(() => decodeModelInferRequest(bytes, resolveDecodeLimits({ maxParameters: 2 })))).message)
      .toContain("over the decode limit 'maxParameters'");
    expect((await invalid(() => decodeModelInferRequest(bytes, resolveDecodeLimits({ maxRank: 1 })))).message)
      .toContain("over the decode limit 'maxRank'");
    expect((await invalid(() => decodeModelInferRequest(bytes, resolveDecodeLimits({ maxElements: 3 })))).message)
      .toContain("'maxElements'");
    expect((await invalid(() => decodeModelInferRequest(bytes, resolveDecodeLimits({ maxBytesElementBytes: 1 })))).message)
      .toContain("'maxBytesElementBytes'");
    // typed contents are bounded while parsing, before the array can grow
    const huge = ModelInferRequest.encode({
      modelName: 'm', modelVersion: '', id: '', parameters: new Map(), outputs: [], rawInputContents: [],
      inputs: [{ name: 'x', datatype: 'FP32', shape: [4n], parameters: new Map(), contents: contents({ fp32Contents: [1, 2, 3, 4] }) }],
    });
    expect((await invalid(() => decodeModelInferRequest(huge, resolveDecodeLimits({ maxElements: 2 })))).message)
      .toContain("field 'fp32Contents' has more than 2 entries");
  });

  test('garbage and truncated bytes are INVALID_ARG, not crashes', async () => {
    const bytes = encodeModelInferRequest(everyType());
    expect((await invalid(() => decodeModelInferRequest(bytes.subarray(0, bytes.length - 3)))).message).toContain('not a valid protobuf message');
    await invalid(() => decodeModelInferRequest(hex('0a05ff')));
    expect((await invalid(() => decodeModelInferRequest(new Uint8Array()))).message).toContain('empty model_name');
  });
});

describe('ModelInferResponse', () => {
  const response = (): InferResponse => ({
    modelName: 'm', modelVersion: '2', id: 'q', parameters: { sequence_end: true },
    outputs: [
      { name: 'A', datatype: 'FP32', shape: [1, 2], data: Float32Array.of(0.5, 2) },
      { name: 'Z', datatype: 'INT64', shape: [0], data: new BigInt64Array() },
      { name: 'S', datatype: 'BYTES', shape: [1], data: [utf8('ok')] },
    ],
  });

  test('round-trips with raw_output_contents index-aligned with outputs (empty outputs too)', () => {
    const bytes = encodeModelInferResponse(response());
    const msg = ModelInferResponse.decode(bytes);
    expect(msg.rawOutputContents.map((r) => r.byteLength)).toEqual([8, 0, 6]);
    expect(new Set(fields(bytes).map(([n]) => n))).toEqual(new Set([1, 2, 3, 4, 5, 6]));
    const back = decodeModelInferResponse(bytes);
    expect(back.outputs.map(norm)).toEqual(response().outputs.map(norm));
    expect({ ...back.parameters }).toEqual({ sequence_end: true });
    expect([back.modelVersion, back.id]).toEqual(['2', 'q']);
  });

  test('reads what protobufjs writes (packed one-element shape, bool parameter)', () => {
    const r = decodeModelInferResponse(hex('0a016d12013122070a016b120208012a0c0a016f1204465033321a010232080000000000000000'));
    expect(r).toMatchObject({ modelName: 'm', modelVersion: '1', outputs: [{ name: 'o', datatype: 'FP32', shape: [2] }] });
    expect({ ...r.parameters }).toEqual({ k: true });
  });

  test('falls back to typed contents; refuses misaligned raw contents', async () => {
    const typed = ModelInferResponse.encode({
      modelName: 'm', modelVersion: '1', id: '', parameters: new Map(), rawOutputContents: [],
      outputs: [{ name: 'o', datatype: 'INT32', shape: [2n], parameters: new Map(), contents: contents({ intContents: [7, 8] }) }],
    });
    expect(norm(decodeModelInferResponse(typed).outputs[0])).toEqual(['Int32Array', 7, 8]);
    const msg = ModelInferResponse.decode(encodeModelInferResponse(response()));
    const bad = ModelInferResponse.encode({ ...msg, rawOutputContents: msg.rawOutputContents.slice(0, 2) });
    expect((await invalid(() => decodeModelInferResponse(bad))).message).toContain('3 outputs but 2 raw_output_contents');
  });
});

describe('parameters', () => {
  test('int64/uint64 beyond 2^53 become decimal strings; a parameter without a value is refused', async () => {
    const p = parametersFromProto(new Map([['big', { int64Param: 2n ** 60n }], ['u', { uint64Param: 5n }], ['__proto__', { stringParam: 'x' }]]));
    expect(p.big).toBe('1152921504606846976');
    expect(p.u).toBe(5);
    expect(Object.keys(p)).toContain('__proto__');
    expect(Object.getPrototypeOf(p)).toBeNull();
    expect((await invalid(() => parametersFromProto(new Map([['k', {}]]), " of input 'x'"))).message).toContain("parameter 'k' of input 'x' has no value");
  });
});

describe('a request sequence_id beyond ±2^53 stays numeric', () => {
  const ids: [string, InferParameter, bigint][] = [
    // C++ clients send a uint64 id above 2^63 as the negative int64 with the same bits
    ['negative int64', { int64Param: -(2n ** 60n) }, 2n ** 64n - 2n ** 60n],
    ['int64 above 2^53', { int64Param: 2n ** 53n + 1n }, 2n ** 53n + 1n],
    ['uint64 above 2^63', { uint64Param: 2n ** 64n - 1n }, 2n ** 64n - 1n],
  ];
  test.each(ids)('%s: its uint64 value as a bigint, on the request only', (_what, param, value) => {
    expect(parametersFromProto(new Map([['sequence_id', param]])).sequence_id).toBe(value);
    // other keys, and an input's own sequence_id, keep the decimal string
    expect(parametersFromProto(new Map([['other', param]])).other).toBeTypeOf('string');
    expect(parametersFromProto(new Map([['sequence_id', param]]), " of input 'x'").sequence_id).toBeTypeOf('string');
  });

  test('it round-trips through the gRPC and mesh codecs (as the int64 with its bits) to the same sequence id', () => {
    const id = 2n ** 63n + 7n;
    const req: InferRequest = { modelName: 'm', parameters: { sequence_id: id, sequence_start: true }, inputs: [] };
    expect(inferRequestToProto(req).parameters.get('sequence_id')).toEqual({ int64Param: 7n - 2n ** 63n });
    const back = decodeModelInferRequest(encodeModelInferRequest(req));
    expect({ ...back.parameters }).toEqual({ sequence_id: id, sequence_start: true });
    expect(decodeMeshInferRequest(encodeMeshInferRequest({ request: req })).request.parameters.sequence_id).toBe(id);
    // a small negative int64 stays a number; sequenceFlagsOf reads it as the same uint64 (core/sequence-params.ts)
    const near = { ...req, parameters: { sequence_id: 2n ** 64n - 5n } };
    expect(decodeModelInferRequest(encodeModelInferRequest(near)).parameters.sequence_id).toBe(-5);
  });
});

describe('mesh envelopes', () => {
  test('a request carries its deadline and trace id', () => {
    const env = decodeMeshInferRequest(encodeMeshInferRequest({ request: everyType(), deadlineUnixMs: 1_700_000_000_123, traceId: 't-1' }));
    expect(env.deadlineUnixMs).toBe(1_700_000_000_123);
    expect(env.traceId).toBe('t-1');
    expect(env.request.inputs).toHaveLength(15);
    const none = decodeMeshInferRequest(encodeMeshInferRequest({ request: everyType() }));
    expect(none.deadlineUnixMs).toBeUndefined();
    expect(fields(encodeMeshInferRequest({ request: everyType(), deadlineUnixMs: 5, traceId: 'x' }))).toEqual([[1, 2], [2, 0], [3, 2]]);
  });

  test('an error travels with its code, message and reason; unknown names degrade safely', () => {
    const bytes = encodeMeshInferResponse({ error: { code: 'OVERLOADED', message: 'queue full', reason: 'REJECTED' } });
    expect(fields(bytes)).toEqual([[2, 2]]);
    const r = decodeMeshInferResult(bytes);
    expect([r.error?.name, r.error?.code, r.error?.message, r.error?.reason]).toEqual(['InferError', 'OVERLOADED', 'queue full', 'REJECTED']);
    expect(() => decodeMeshInferResponse(bytes)).toThrow('queue full');
    const odd = decodeMeshInferResult(MeshInferResponse.encode({ error: { code: 'FUTURE_CODE', message: '', reason: 'WHATEVER' } }));
    expect([odd.error?.code, odd.error?.reason]).toEqual(['UNKNOWN', 'OTHER']);
    expect(odd.error?.message).toContain('FUTURE_CODE');
  });

  test('a response travels in field 1; an empty frame is INVALID_ARG', async () => {
    const ok = encodeMeshInferResponse({ response: { modelName: 'm', modelVersion: '1', outputs: [] } });
    expect(fields(ok)).toEqual([[1, 2]]);
    expect(decodeMeshInferResponse(ok).modelName).toBe('m');
    expect((await invalid(() => decodeMeshInferResult(new Uint8Array()))).message).toContain('neither a response nor an error');
    expect((await invalid(() => decodeMeshInferRequest(new Uint8Array()))).message).toContain('carries no request');
  });

  test('status and blob messages round-trip, negative shape dims included', () => {
    const status: PeerStatus = {
      schemaVersion: 1, peerId: 'p', role: 'PEER_ROLE_BROWSER', seq: 1_700_000_000_000, sentAtMs: 1_700_000_000_001,
      addresses: ['/ip4/1.2.3.4/tcp/1'], engines: ['onnxruntime-web:webgpu'], capacity: 2.5, queued: 3, inFlight: 1,
      models: [{ name: 'm', versions: ['1', '2'], platform: 'onnxruntime_onnx', maxBatchSize: 8, throughput: 120.5, queued: 3, inFlight: 1,
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1n, 3n, 224n, 224n] }], outputs: [],
        files: [{ path: '1/model.onnx', sha256: new Uint8Array(32).fill(9), size: 2 ** 33 }] }],
    };
    expect(PeerStatus.decode(PeerStatus.encode(status))).toEqual(status);
    const req = { sha256: new Uint8Array(32).fill(7), offset: 5, length: 0 };
    expect(BlobRequest.decode(BlobRequest.encode(req))).toEqual(req);
    const chunk = { chunk: { data: Uint8Array.of(1, 2), offset: 2 ** 40, totalSize: 2 ** 41, final: true } };
    expect(BlobResponse.decode(BlobResponse.encode(chunk))).toEqual(chunk);
  });
});

describe('generated code', () => {
  test('protocol/*-pb.ts are what scripts/generate-protocol.ts produces from the .proto files', () => {
    const root = join(import.meta.dirname, '..', '..');
    // throws (exit 1, naming the stale file) when someone edited a .proto without regenerating
    execFileSync(process.execPath, [join(root, 'scripts', 'generate-protocol.ts'), '--check'], { cwd: root, stdio: 'pipe' });
  });
});

function contents(c: Partial<ModelInferRequest.InferInputTensor['contents'] & object>): NonNullable<ModelInferRequest.InferInputTensor['contents']> {
  return {
    boolContents: [], intContents: [], int64Contents: [], uintContents: [], uint64Contents: [], fp32Contents: [], fp64Contents: [], bytesContents: [],
    ...c,
  } as NonNullable<ModelInferRequest.InferInputTensor['contents']>;
}
