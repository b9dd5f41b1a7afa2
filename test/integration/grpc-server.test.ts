/**
 * The gRPC endpoint (`inference.GRPCInferenceService` + `grpc.health.v1.Health`) against a
 * real server on 127.0.0.1 with real onnxruntime-node: every RPC, raw and typed tensor
 * contents for every datatype, answers equal to the HTTP endpoint's, Triton's status codes
 * for bad requests (COMPAT-NOTES §2.6), streaming with in-band errors, and the message limit.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_TYPES } from '../../scripts/example-models.ts';
import { buildModel } from '../../scripts/onnx-builder.ts';
import type { DataType } from '../../protocol/datatypes.ts';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import * as pb from '../../protocol/inference-pb.ts';
import { inferRequestToProto } from '../../protocol/mesh-infer-codec.ts';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';
import { createGrpcClient, expectGrpcError, grpcStatus, typedContentsRequest, type GrpcClient } from '../support/grpc-client.ts';

const FIXTURES = join(EXAMPLES, '..', '..', 'test', 'fixtures', 'models');
const MAX_MESSAGE_BYTES = 1024 * 1024;

let s: TestServer;
let c: GrpcClient;
beforeAll(async () => {
  s = await startTestServer({ maxBodyBytes: MAX_MESSAGE_BYTES });
  c = createGrpcClient(s.grpcUrl);
});
afterAll(async () => {
  c?.close();
  await s?.stop();
});

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

function simpleRequest(batch = 1, extra: Partial<InferRequest> = {}): InferRequest {
  return {
    modelName: 'simple', parameters: {},
    inputs: [
      { name: 'INPUT0', datatype: 'INT32', shape: [batch, 16], data: Int32Array.from(range(16 * batch, (i) => i)) },
      { name: 'INPUT1', datatype: 'INT32', shape: [batch, 16], data: Int32Array.from(range(16 * batch, (i) => 2 * i - 7)) },
    ],
    ...extra,
  };
}

/** Deterministic pseudo-random floats, so HTTP and gRPC get identical inputs. */
function floats(n: number, seed: number): Float32Array {
  let x = seed;
  return Float32Array.from(range(n, () => { x = (x * 1103515245 + 12345) % 2 ** 31; return x / 2 ** 30 - 1; }));
}

/**
 * The HTTP endpoint's answer to the same request (binary outputs, so values are exact), less
 * the HTTP framing parameter `binary_data_size` of each output, which gRPC has no use for.
 */
async function viaHttp(req: InferRequest, client = s.client): Promise<InferResponse> {
  const res = await client.infer(req, { binaryInputs: true, binaryOutputs: true });
  return { ...res, outputs: res.outputs.map(({ name, datatype, shape, data }) => ({ name, datatype, shape, data })) };
}

describe('health and metadata RPCs', () => {
  test('ServerLive, ServerReady, and ServerMetadata equal to GET /v2', async () => {
    expect(await c.serverLive()).toBe(true);
    expect(await c.serverReady()).toBe(true);
    expect(await c.serverMetadata()).toEqual((await s.client.get('/v2')).json);
  });

  test('grpc.health.v1 Check reports SERVING for the server and the inference service; unknown services are NOT_FOUND', async () => {
    expect(await c.healthCheck()).toBe('SERVING');
    expect(await c.healthCheck('inference.GRPCInferenceService')).toBe('SERVING');
    await expectGrpcError(c.healthCheck('no.such.Service'), grpcStatus.NOT_FOUND, "unknown service 'no.such.Service'");
  });

  test('ModelMetadata equals GET /v2/models/{m} for every model, with and without a version', async () => {
    const index = await c.repositoryIndex(true);
    expect(index.length).toBeGreaterThanOrEqual(4);
    for (const { name } of index) {
      const http = (await s.client.get(`/v2/models/${name}`)).json;
      expect(await c.modelMetadata(name)).toEqual(http);
      expect(await c.modelMetadata(name, '1')).toEqual((await s.client.get(`/v2/models/${name}/versions/1`)).json);
    }
  });

  test('ModelMetadata of an unknown model or version is NOT_FOUND with Triton\'s text; a bad version is INVALID_ARGUMENT', async () => {
    await expectGrpcError(c.modelMetadata('nope'), grpcStatus.NOT_FOUND, "Request for unknown model: 'nope' is not found");
    await expectGrpcError(c.modelMetadata('simple', '7'), grpcStatus.NOT_FOUND, "'simple' version 7 is not found");
    await expectGrpcError(c.modelMetadata('simple', 'x1'), grpcStatus.INVALID_ARGUMENT, "version string 'x1'");
  });

  test('ModelReady: true for a ready model, false (status OK) for unknown models and versions', async () => {
    expect(await c.modelReady('simple')).toBe(true);
    expect(await c.modelReady('simple', '1')).toBe(true);
    expect(await c.modelReady('nope')).toBe(false);
    expect(await c.modelReady('simple', '9')).toBe(false);
    await expectGrpcError(c.modelReady('simple', '-1'), grpcStatus.INVALID_ARGUMENT, 'non-negative integer');
  });

  test('ModelConfig carries the full inference.ModelConfig: decoded, it equals GET /v2/models/{m}/config for every model', async () => {
    for (const { name } of await c.repositoryIndex(true)) {
      expect(await c.modelConfig(name)).toEqual((await s.client.get(`/v2/models/${name}/config`)).json);
    }
    // field 1 (name) comes first, as protobuf writes fields in number order
    const bytes = await c.modelConfigBytes('simple');
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x0a, 6, ...new TextEncoder().encode('simple')]);
    await expectGrpcError(c.modelConfig('nope'), grpcStatus.NOT_FOUND, "'nope' is not found");
  });

  test('RepositoryIndex equals POST /v2/repository/index (all and ready-only)', async () => {
    expect(await c.repositoryIndex()).toEqual((await s.client.post('/v2/repository/index')).json);
    expect(await c.repositoryIndex(true)).toEqual((await s.client.post('/v2/repository/index', { ready: true })).json);
  });

  test('load/unload outside explicit mode are UNAVAILABLE, as Triton answers', async () => {
    await expectGrpcError(c.loadModel('simple'), grpcStatus.UNAVAILABLE, 'explicit model load / unload is not allowed');
    await expectGrpcError(c.unloadModel('simple'), grpcStatus.UNAVAILABLE, 'explicit model load / unload is not allowed');
    await expectGrpcError(c.loadModel('simple', {}, { repositoryName: 'r' }), grpcStatus.UNIMPLEMENTED, "'repository_name' specification is not supported");
  });

  test('shared memory, trace and log settings answer UNIMPLEMENTED with what to do instead', async () => {
    const cases: [Parameters<GrpcClient['call']>[0], string][] = [
      ['SystemSharedMemoryStatus', 'system shared memory'], ['SystemSharedMemoryRegister', 'system shared memory'],
      ['SystemSharedMemoryUnregister', 'system shared memory'], ['CudaSharedMemoryStatus', 'CUDA shared memory'],
      ['CudaSharedMemoryRegister', 'CUDA shared memory'], ['CudaSharedMemoryUnregister', 'CUDA shared memory'],
      ['TraceSetting', 'trace'], ['LogSettings', 'log settings'],
    ];
    for (const [rpc, what] of cases) {
      const details = await expectGrpcError(c.call(rpc, {}), grpcStatus.UNIMPLEMENTED, what, 'not implemented by infermesh');
      expect(details).toMatch(/instead|ModelStatistics|--log-verbose/);
    }
  });
});

describe('ModelInfer', () => {
  test('simple: raw contents in, raw_output_contents out (one per output, in order), values right, id echoed', async () => {
    const req = simpleRequest(2, { id: 'abc' });
    const raw = await c.inferRaw(inferRequestToProto(req));
    expect(raw.outputs.map((o) => o.name)).toEqual(['OUTPUT0', 'OUTPUT1']);
    expect(raw.rawOutputContents.map((b) => b.byteLength)).toEqual([128, 128]);
    expect(raw.outputs.every((o) => o.contents === undefined)).toBe(true);
    expect([raw.id, raw.modelName, raw.modelVersion]).toEqual(['abc', 'simple', '1']);
    const res = await c.infer(req);
    const a = req.inputs[0].data as Int32Array;
    const b = req.inputs[1].data as Int32Array;
    expect(Array.from(res.outputs[0].data as Int32Array)).toEqual(Array.from(a, (v, i) => v + b[i]));
    expect(Array.from(res.outputs[1].data as Int32Array)).toEqual(Array.from(a, (v, i) => v - b[i]));
    expect(res.outputs[0].shape).toEqual([2, 16]);
  });

  test('typed contents give the same answer as raw contents and as HTTP', async () => {
    const req = simpleRequest(3);
    const http = await viaHttp(req);
    expect(await c.infer(req)).toEqual(http);
    expect(await c.infer(req, { typedContents: true })).toEqual(http);
  });

  test('requested outputs: only those, in the requested order; classification returns top-k labels as BYTES', async () => {
    const res = await c.infer(simpleRequest(1, { outputs: [{ name: 'OUTPUT1' }] }));
    expect(res.outputs.map((o) => o.name)).toEqual(['OUTPUT1']);
    const cls = await c.infer(simpleRequest(1, { outputs: [{ name: 'OUTPUT0', parameters: { classification: 2 } }] }));
    const http = await viaHttp(simpleRequest(1, { outputs: [{ name: 'OUTPUT0', parameters: { classification: 2 } }] }));
    expect(cls).toEqual(http);
    expect(cls.outputs[0]).toMatchObject({ datatype: 'BYTES', shape: [1, 2] });
    expect((cls.outputs[0].data as Uint8Array[]).map((e) => new TextDecoder().decode(e))).toEqual(['38:15', '35:14']); // OUTPUT0[i] = 3i - 7
  });

  test('dense_mlp, autocomplete_add and silero_vad answer exactly what the HTTP endpoint answers', async () => {
    const meta = await c.modelMetadata('autocomplete_add');
    const requests: InferRequest[] = [
      { modelName: 'dense_mlp', parameters: {}, inputs: [{ name: 'input', datatype: 'FP32', shape: [4, 512], data: floats(4 * 512, 1) }] },
      {
        modelName: 'autocomplete_add', parameters: {},
        inputs: meta.inputs.map((t, k) => {
          const shape = t.shape.map((d) => (d < 0 ? 2 : d));
          const n = shape.reduce((x, y) => x * y, 1);
          return { name: t.name, datatype: t.datatype as DataType, shape, data: floats(n, 7 + k) };
        }),
      },
      {
        modelName: 'silero_vad', parameters: {},
        inputs: [
          { name: 'input', datatype: 'FP32', shape: [1, 512], data: floats(512, 3).map((v) => v * 0.3) },
          { name: 'sr', datatype: 'INT64', shape: [1], data: BigInt64Array.from([16000n]) },
          { name: 'h', datatype: 'FP32', shape: [2, 1, 64], data: new Float32Array(128) },
          { name: 'c', datatype: 'FP32', shape: [2, 1, 64], data: new Float32Array(128) },
        ],
      },
    ];
    for (const req of requests) {
      const grpc = await c.infer(req);
      expect(grpc).toEqual(await viaHttp(req));
      expect(grpc.outputs.length).toBeGreaterThan(0);
    }
  });

  test('unknown model → NOT_FOUND; the same texts as the HTTP endpoint for bad input', async () => {
    await expectGrpcError(c.infer({ ...simpleRequest(), modelName: 'nope' }), grpcStatus.NOT_FOUND, "Request for unknown model: 'nope' is not found");
    await expectGrpcError(c.infer({ ...simpleRequest(), modelVersion: '3' }), grpcStatus.NOT_FOUND, "'simple' version 3 is not found");
    const bad: [string, InferRequest][] = [
      ['shape mismatch', { ...simpleRequest(), inputs: [{ ...simpleRequest().inputs[0], shape: [1, 8], data: new Int32Array(8) }, simpleRequest().inputs[1]] }],
      ['wrong datatype', { ...simpleRequest(), inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 16], data: new Float32Array(16) }, simpleRequest().inputs[1]] }],
      ['batch too large', simpleRequest(9)],
      ['missing input', { ...simpleRequest(), inputs: [simpleRequest().inputs[0]] }],
      ['unknown output', simpleRequest(1, { outputs: [{ name: 'OUTPUT9' }] })],
    ];
    for (const [what, req] of bad) {
      const http = await s.client.inferRaw(req, { binaryInputs: true });
      expect([what, http.status]).toEqual([what, 400]);
      const details = await expectGrpcError(c.infer(req), grpcStatus.INVALID_ARGUMENT);
      expect([what, details]).toEqual([what, (http.json as { error: string }).error]);
    }
  });

  test('malformed messages and raw-contents mistakes are INVALID_ARGUMENT saying what is wrong', async () => {
    await expectGrpcError(c.inferRaw(Uint8Array.from([0x0a, 0x40, 0x01])), grpcStatus.INVALID_ARGUMENT, 'ModelInferRequest is not a valid protobuf message');
    const msg = inferRequestToProto(simpleRequest());
    await expectGrpcError(c.inferRaw({ ...msg, rawInputContents: [msg.rawInputContents[0]] }), grpcStatus.INVALID_ARGUMENT,
      "unable to find data for input tensor 'INPUT1' for model 'simple'");
    await expectGrpcError(c.inferRaw({ ...msg, rawInputContents: [...msg.rawInputContents, new Uint8Array(4)] }), grpcStatus.INVALID_ARGUMENT,
      'raw_input_contents has 3 entries');
    await expectGrpcError(c.inferRaw({ ...msg, rawInputContents: [msg.rawInputContents[0].subarray(4), msg.rawInputContents[1]] }), grpcStatus.INVALID_ARGUMENT,
      "input 'INPUT0': raw content has 60 bytes but shape [1,16] of INT32 needs 64");
    const typed = typedContentsRequest(simpleRequest());
    await expectGrpcError(c.inferRaw({ ...typed, rawInputContents: [new Uint8Array(64)] }), grpcStatus.INVALID_ARGUMENT, 'contents field must not be specified when using raw_input_contents');
    await expectGrpcError(c.inferRaw({ ...msg, modelName: '' }), grpcStatus.INVALID_ARGUMENT, 'empty model_name');
    await expectGrpcError(c.inferRaw({ ...msg, parameters: new Map([['triton_x', { boolParam: true }]]) }), grpcStatus.INVALID_ARGUMENT, "starting with 'triton_' are reserved");
  });

  test('a message over the receive limit is RESOURCE_EXHAUSTED; one under it is served', async () => {
    const big: InferRequest = { modelName: 'dense_mlp', parameters: {}, inputs: [{ name: 'input', datatype: 'FP32', shape: [32, 512], data: floats(32 * 512, 5) }] };
    expect((await c.infer(big)).outputs[0].shape).toEqual([32, 512]); // 64 KiB
    const tooBig = pb.ModelInferRequest.encode({ ...inferRequestToProto(big), rawInputContents: [new Uint8Array(MAX_MESSAGE_BYTES + 1)] });
    await expectGrpcError(c.inferRaw(tooBig), grpcStatus.RESOURCE_EXHAUSTED);
    expect(await c.serverLive()).toBe(true);
  });

  test('ModelStatistics equals the HTTP statistics, per model and for all models', async () => {
    for (let i = 0; i < 3; i++) await c.infer(simpleRequest(i + 1));
    const http = (await s.client.get('/v2/models/simple/stats')).json as { model_stats: { inference_count: number }[] };
    expect(await c.modelStatistics('simple')).toEqual(http);
    expect(http.model_stats[0].inference_count).toBeGreaterThanOrEqual(6);
    expect(await c.modelStatistics('simple', '1')).toEqual((await s.client.get('/v2/models/simple/versions/1/stats')).json);
    expect(await c.modelStatistics()).toEqual((await s.client.get('/v2/models/stats')).json);
    await expectGrpcError(c.modelStatistics('nope'), grpcStatus.INVALID_ARGUMENT, "requested model 'nope' is not available");
  });
});

describe('ModelStreamInfer', () => {
  test('several requests on one stream, an in-band error in the middle does not end it, each answer final', async () => {
    const st = c.stream();
    st.send(simpleRequest(1, { id: 'one' }));
    st.send({ ...simpleRequest(1, { id: 'bad' }), modelName: 'nope' });
    st.send({ modelName: 'dense_mlp', id: 'two', parameters: {}, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 512], data: floats(512, 9) }] });
    const got = [await st.next(), await st.next(), await st.next()];
    const byId = Object.fromEntries(got.map((r) => [r.id, r]));
    expect(Object.keys(byId).sort()).toEqual(['bad', 'one', 'two']);
    expect(got.every((r) => r.final)).toBe(true);
    expect(byId.bad.error).toBe("Request for unknown model: 'nope' is not found");
    expect(byId.one.response).toEqual(await viaHttp(simpleRequest(1, { id: 'one' })));
    expect(byId.two.response?.outputs[0].shape).toEqual([1, 512]);
    // still open after the error
    st.send(simpleRequest(2, { id: 'three' }));
    const third = await st.next();
    expect(third).toMatchObject({ id: 'three', final: true, response: { modelName: 'simple' } });
    expect(third.response?.outputs.map((o) => o.shape)).toEqual([[2, 16], [2, 16]]);
    st.end();
    expect(await st.done).toEqual({ code: grpcStatus.OK, details: 'OK' });
  });

  test('a malformed or invalid request is answered in-band with its id and model', async () => {
    const st = c.stream();
    st.send(Uint8Array.from([0xff, 0xff]));
    const malformed = await st.next();
    expect(malformed.error).toContain('ModelInferRequest is not a valid protobuf message');
    st.send(simpleRequest(9, { id: 'too-big' }));
    const tooBig = await st.next();
    expect(tooBig).toMatchObject({ id: 'too-big', final: true, error: expect.stringContaining("batch-size must be <= 8 for 'simple'") });
    st.end();
    expect((await st.done).code).toBe(grpcStatus.OK);
  });

  test('many requests in flight on one stream all come back, matched by id', async () => {
    const st = c.stream();
    for (let i = 0; i < 50; i++) {
      st.send({ ...simpleRequest(1, { id: `r${i}` }), inputs: simpleRequest(1).inputs.map((t) => ({ ...t, data: Int32Array.from(t.data as Int32Array, (v) => v + i) })) });
    }
    const seen = new Map<string, InferResponse>();
    for (let i = 0; i < 50; i++) {
      const r = await st.next();
      seen.set(r.id, r.response!);
    }
    for (let i = 0; i < 50; i++) {
      const out0 = seen.get(`r${i}`)!.outputs[0].data as Int32Array;
      expect(out0[0]).toBe(0 + i + (-7 + i));
    }
    st.end();
    await st.done;
  });

  test('sequence requests sent back to back on one stream keep their order (sequence_id as int64 and string)', async () => {
    const st = c.stream();
    const step = (id: string | number, k: number, flags: { start?: boolean; end?: boolean }): InferRequest => ({
      modelName: 'sequence_accumulate', id: `${id}-${k}`,
      parameters: { sequence_id: id, ...(flags.start ? { sequence_start: true } : {}), ...(flags.end ? { sequence_end: true } : {}) },
      inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 4], data: Float32Array.from([k, 1, 0, -k]) }],
    });
    // two interleaved sequences, all sent before any answer arrives
    for (let k = 1; k <= 4; k++) {
      st.send(step(77, k, { start: k === 1, end: k === 4 }));
      st.send(step('seq-b', k, { start: k === 1, end: k === 4 }));
    }
    const byId = new Map<string, InferResponse>();
    for (let i = 0; i < 8; i++) {
      const r = await st.next();
      expect(r.error, r.id).toBeUndefined();
      byId.set(r.id, r.response!);
    }
    for (const id of ['77', 'seq-b']) {
      let sum = 0;
      for (let k = 1; k <= 4; k++) {
        sum += k;
        expect([id, k, Array.from(byId.get(`${id}-${k}`)!.outputs[0].data as Float32Array)]).toEqual([id, k, [sum, k, 0, -sum]]);
      }
    }
    st.end();
    expect((await st.done).code).toBe(grpcStatus.OK);
  });

  test('with the triton_grpc_error header, the first error ends the stream with its status code', async () => {
    const st = c.stream({ metadata: { triton_grpc_error: 'true' } });
    st.send(simpleRequest(1, { id: 'ok' }));
    expect((await st.next()).id).toBe('ok');
    st.send({ ...simpleRequest(), modelName: 'nope' });
    const done = await st.done;
    expect(done.code).toBe(grpcStatus.NOT_FOUND);
    expect(done.details).toContain("'nope' is not found");
  });
});

describe('every datatype (all_types fixture), raw and typed', () => {
  let t: TestServer;
  let tc: GrpcClient;
  let identities: string;
  beforeAll(async () => {
    // all_types needs every input in one request, but FP16 is raw-only and raw and typed
    // contents cannot mix: typed contents go to one Identity model per datatype instead.
    identities = mkdtempSync(join(tmpdir(), 'infermesh-grpc-types-'));
    for (const [dt, elemType] of ALL_TYPES) {
      mkdirSync(join(identities, `id_${dt}`, '1'), { recursive: true });
      writeFileSync(join(identities, `id_${dt}`, '1', 'model.onnx'), buildModel({
        graphName: `id_${dt}`, inputs: [{ name: 'x', elemType, shape: ['n'] }], outputs: [{ name: 'y', elemType, shape: ['n'] }],
        nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'], name: 'id' }],
      }));
    }
    t = await startTestServer({ repositories: [FIXTURES, identities] });
    tc = createGrpcClient(t.grpcUrl);
  });
  afterAll(async () => {
    tc?.close();
    await t?.stop();
    if (identities) rmSync(identities, { recursive: true, force: true });
  });

  const utf8 = (x: string) => new TextEncoder().encode(x);
  const n = 4;
  const data: Record<string, InferRequest['inputs'][number]['data']> = {
    BOOL: Uint8Array.from([1, 0, 0, 1]),
    UINT8: Uint8Array.from([0, 1, 200, 255]),
    UINT16: Uint16Array.from([0, 1, 40000, 65535]),
    UINT32: Uint32Array.from([0, 1, 3e9, 4294967295]),
    UINT64: BigUint64Array.from([0n, 1n, 2n ** 63n, 2n ** 64n - 1n]),
    INT8: Int8Array.from([-128, -1, 0, 127]),
    INT16: Int16Array.from([-32768, -1, 0, 32767]),
    INT32: Int32Array.from([-2147483648, -1, 0, 2147483647]),
    INT64: BigInt64Array.from([-(2n ** 63n), -1n, 2n ** 53n + 1n, 2n ** 63n - 1n]),
    FP16: Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001]),
    FP32: Float32Array.from([0, -1.5, 3.4e38, 1e-45]),
    FP64: Float64Array.from([0, -1.5, 1.7e308, 5e-324]),
    BYTES: ['héllo', '', '日本語', 'tab\there'].map(utf8),
  };
  const request = (types: string[]): InferRequest => ({
    modelName: 'all_types', parameters: {},
    inputs: types.map((dt) => ({ name: `in_${dt}`, datatype: dt as DataType, shape: [n, 1], data: data[dt] })),
    outputs: types.map((dt) => ({ name: `out_${dt}` })),
  });
  const all = Object.keys(data);
  const typedOk = all.filter((dt) => dt !== 'FP16');

  test('raw contents round-trip every datatype (FP16 included) and equal the HTTP answer', async () => {
    const req = request(all);
    const res = await tc.infer(req);
    for (const [i, dt] of all.entries()) {
      expect([dt, res.outputs[i].name, res.outputs[i].datatype, res.outputs[i].shape]).toEqual([dt, `out_${dt}`, dt, [n, 1]]);
      expect([dt, res.outputs[i].data]).toEqual([dt, data[dt]]);
    }
    expect(res).toEqual(await viaHttp(req, t.client));
  });

  test('typed contents round-trip every datatype that has a contents field, as raw contents do', async () => {
    expect(typedOk).toHaveLength(12);
    for (const dt of typedOk) {
      const req: InferRequest = { modelName: `id_${dt}`, parameters: {}, inputs: [{ name: 'x', datatype: dt as DataType, shape: [n, 1], data: data[dt] }] };
      const typed = await tc.infer(req, { typedContents: true });
      expect([dt, typed.outputs[0].datatype, typed.outputs[0].data]).toEqual([dt, dt, data[dt]]);
      expect(typed).toEqual(await tc.infer(req));
    }
  });

  test('FP16 and BF16 are raw-only: typed contents are refused with INVALID_ARGUMENT', async () => {
    const msg = typedContentsRequest(request(['FP32']));
    for (const dt of ['FP16', 'BF16']) {
      const bad = { ...msg, inputs: [{ ...msg.inputs[0], name: 'in_FP16', datatype: dt }] };
      await expectGrpcError(tc.inferRaw(bad), grpcStatus.INVALID_ARGUMENT, `${dt} has no typed contents field; send it in raw_input_contents`);
    }
    // BF16 raw reaches the model's signature check (all_types has no BF16 input)
    const bf16: InferRequest = { modelName: 'all_types', parameters: {}, inputs: [{ name: 'in_FP16', datatype: 'BF16', shape: [n, 1], data: new Uint16Array(n) }] };
    await expectGrpcError(tc.infer(bf16), grpcStatus.INVALID_ARGUMENT, 'in_FP16');
  });

  test('typed values out of range for their datatype are refused', async () => {
    const msg = typedContentsRequest(request(['INT8']));
    msg.inputs[0].contents!.intContents = [1, 2, 300, 4];
    await expectGrpcError(tc.inferRaw(msg), grpcStatus.INVALID_ARGUMENT, 'int_contents[2] = 300 is out of range for INT8');
  });
});
