/**
 * The gRPC frontend's side of the shared infer codec (protocol/grpc-infer.ts): the same bytes
 * decode to the same InferRequest over gRPC and inside a mesh envelope, Triton's typed
 * parameters (COMPAT-NOTES §2.4), and the ModelStreamInfer envelope (§2.5).
 */
import { describe, expect, it } from 'vitest';
import type { InferRequest } from '../../protocol/infer.ts';
import { InferParameter, ModelInferRequest, ModelStreamInferResponse } from '../../protocol/inference-pb.ts';
import { decodeMeshInferRequest, encodeModelInferRequest, inferRequestToProto } from '../../protocol/mesh-infer-codec.ts';
import {
  decodeGrpcInferRequest, decodeStreamInferResponse, encodeStreamInferError, encodeStreamInferResponse, FINAL_RESPONSE_PARAMETER,
} from '../../protocol/grpc-infer.ts';
import { TRITON_PREFIX_MESSAGE } from '../../protocol/infer-parameters.ts';
import { expectInferError } from '../support/expect-infer-error.ts';
import { typedContentsRequest } from '../support/grpc-client.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

/** A MeshInferRequest whose field 1 (request) is exactly `bytes`, written by hand. */
function meshEnvelope(bytes: Uint8Array, deadlineUnixMs = 0): Uint8Array {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
    out.push(n);
    return out;
  };
  const head = [0x0a, ...varint(bytes.byteLength)];
  const tail = deadlineUnixMs > 0 ? [0x10, ...varint(deadlineUnixMs)] : [];
  return Uint8Array.from([...head, ...bytes, ...tail]);
}

const request: InferRequest = {
  modelName: 'm', modelVersion: '2', id: 'req-1',
  parameters: { priority: 1, custom: 'x', flag: true, ratio: 0.5 },
  inputs: [
    { name: 'a', datatype: 'FP32', shape: [2, 2], data: Float32Array.from([1, -2, 3.5, 4]) },
    { name: 'b', datatype: 'INT64', shape: [3], data: BigInt64Array.from([-1n, 0n, 2n ** 60n]) },
    { name: 'c', datatype: 'BYTES', shape: [2], data: [utf8('héllo'), new Uint8Array(0)], parameters: { note: 'n' } },
    { name: 'd', datatype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) },
  ],
  outputs: [{ name: 'y', parameters: { classification: 2 } }],
};

describe('one codec for gRPC and the mesh', () => {
  it('the same ModelInferRequest bytes decode to the same InferRequest, raw contents', () => {
    const bytes = encodeModelInferRequest(request);
    const grpc = decodeGrpcInferRequest(bytes);
    const mesh = decodeMeshInferRequest(meshEnvelope(bytes, 1_700_000_000_000));
    expect(mesh.deadlineUnixMs).toBe(1_700_000_000_000);
    expect(grpc).toEqual(mesh.request);
    expect(grpc).toEqual({ ...request, parameters: { ...request.parameters } });
  });

  it('the same bytes decode to the same InferRequest, typed contents', () => {
    const bytes = ModelInferRequest.encode(typedContentsRequest(request));
    const grpc = decodeGrpcInferRequest(bytes);
    expect(grpc).toEqual(decodeMeshInferRequest(meshEnvelope(bytes)).request);
    expect(grpc.inputs.map((i) => [i.name, Array.from(i.data as ArrayLike<unknown>)])).toEqual(request.inputs.map((i) => [i.name, Array.from(i.data as ArrayLike<unknown>)]));
  });

  it('negative int64 beyond 2^53 survive encoding (typed contents, parameters, shapes): the protons-runtime carry bug is worked around', () => {
    const extremes = [-(2n ** 63n), -(2n ** 62n), -(2n ** 54n), 2n ** 63n - 1n, -1n];
    const msg = typedContentsRequest({ ...request, inputs: [{ name: 'b', datatype: 'INT64', shape: [5], data: BigInt64Array.from(extremes) }] });
    msg.parameters = new Map([['sequence_id', { int64Param: -(2n ** 63n) }]]);
    const back = ModelInferRequest.decode(ModelInferRequest.encode(msg));
    expect(back.inputs[0].contents?.int64Contents).toEqual(extremes);
    expect(back.parameters.get('sequence_id')).toEqual({ int64Param: -(2n ** 63n) });
    // INT64_MIN is the ten-byte varint 80 80 80 80 80 80 80 80 80 01 (protobuf encoding spec)
    const param = InferParameter.encode({ int64Param: -(2n ** 63n) });
    expect(Array.from(param)).toEqual([0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
  });

  it('mixing typed contents and raw entries is refused by both, with Triton\'s message', () => {
    const msg = inferRequestToProto(request);
    msg.inputs[0].contents = typedContentsRequest(request).inputs[0].contents;
    const bytes = ModelInferRequest.encode(msg);
    const text = "contents field must not be specified when using raw_input_contents for 'a' for model 'm'";
    expectInferError(() => decodeGrpcInferRequest(bytes), 'INVALID_ARG', text);
    expectInferError(() => decodeMeshInferRequest(meshEnvelope(bytes)), 'INVALID_ARG', text);
  });
});

describe('typed parameters (COMPAT-NOTES §2.4)', () => {
  const withParams = (params: [string, InferParameter][], out?: [string, InferParameter][], inParams?: [string, InferParameter][]) => {
    const msg = inferRequestToProto({ ...request, parameters: {}, outputs: [{ name: 'y' }] });
    msg.parameters = new Map(params);
    if (out) msg.outputs[0].parameters = new Map(out);
    if (inParams) msg.inputs[0].parameters = new Map(inParams);
    return ModelInferRequest.encode(msg);
  };

  it('accepts the reserved keys in their types and custom bool/int64/string/double', () => {
    const r = decodeGrpcInferRequest(withParams([
      ['sequence_id', { stringParam: 'abc' }], ['sequence_start', { boolParam: true }], ['sequence_end', { boolParam: false }],
      ['priority', { uint64Param: 2n }], ['timeout', { int64Param: 1000n }], ['c1', { doubleParam: 1.5 }], ['c2', { int64Param: -3n }],
    ]));
    expect(r.parameters).toEqual({ sequence_id: 'abc', sequence_start: true, sequence_end: false, priority: 2, timeout: 1000, c1: 1.5, c2: -3 });
  });

  it('consumes triton_enable_empty_final_response and refuses other triton_ keys', () => {
    expect(decodeGrpcInferRequest(withParams([['triton_enable_empty_final_response', { boolParam: true }]])).parameters).toEqual({});
    expectInferError(() => decodeGrpcInferRequest(withParams([['triton_other', { boolParam: true }]])), 'INVALID_ARG', TRITON_PREFIX_MESSAGE);
  });

  it('refuses wrong types with Triton\'s wording', () => {
    expectInferError(() => decodeGrpcInferRequest(withParams([['sequence_id', { boolParam: true }]])), 'INVALID_ARG',
      "invalid value type for 'sequence_id' parameter, expected int64_param or string_param.");
    expectInferError(() => decodeGrpcInferRequest(withParams([['sequence_start', { int64Param: 1n }]])), 'INVALID_ARG', "'sequence_start' parameter, expected bool_param");
    expectInferError(() => decodeGrpcInferRequest(withParams([['timeout', { uint64Param: 1n }]])), 'INVALID_ARG', "'timeout' parameter, expected int64_param");
    expectInferError(() => decodeGrpcInferRequest(withParams([['priority', { int64Param: -1n }]])), 'INVALID_ARG', "'priority'", 'negative');
    expectInferError(() => decodeGrpcInferRequest(withParams([['custom', { uint64Param: 1n }]])), 'INVALID_ARG', "invalid value type for 'custom' parameter");
    expectInferError(() => decodeGrpcInferRequest(withParams([['custom', {}]])), 'INVALID_ARG', "'custom'");
    expectInferError(() => decodeGrpcInferRequest(withParams([], [['classification', { stringParam: '2' }]])), 'INVALID_ARG', "'classification' of output 'y'");
    expectInferError(() => decodeGrpcInferRequest(withParams([], [['classification', { int64Param: 0n }]])), 'INVALID_ARG', 'int64_param > 0');
  });

  it('refuses shared-memory tensors as unsupported', () => {
    expectInferError(() => decodeGrpcInferRequest(withParams([], undefined, [['shared_memory_region', { stringParam: 'r' }]])), 'UNSUPPORTED', "input 'a'", 'shared memory');
    expectInferError(() => decodeGrpcInferRequest(withParams([], [['shared_memory_region', { stringParam: 'r' }]])), 'UNSUPPORTED', "output 'y'");
  });
});

describe('ModelStreamInferResponse (COMPAT-NOTES §2.5)', () => {
  const response = { modelName: 'm', modelVersion: '1', id: 'r7', outputs: [{ name: 'y', datatype: 'INT32' as const, shape: [2], data: Int32Array.from([5, -6]) }] };

  it('an answer carries triton_final_response: true and raw output contents', () => {
    const bytes = encodeStreamInferResponse(response);
    const msg = ModelStreamInferResponse.decode(bytes);
    expect(msg.errorMessage).toBe('');
    expect(msg.inferResponse?.parameters.get(FINAL_RESPONSE_PARAMETER)).toEqual({ boolParam: true });
    expect(msg.inferResponse?.rawOutputContents).toHaveLength(1);
    expect(decodeStreamInferResponse(bytes)).toEqual({ response, final: true, id: 'r7' });
  });

  it('an error is in-band, naming the request', () => {
    const bytes = encodeStreamInferError('bad input', { id: 'r8', modelName: 'm', modelVersion: '3' });
    const msg = ModelStreamInferResponse.decode(bytes);
    expect({ error: msg.errorMessage, id: msg.inferResponse?.id, model: msg.inferResponse?.modelName, version: msg.inferResponse?.modelVersion })
      .toEqual({ error: 'bad input', id: 'r8', model: 'm', version: '3' });
    expect(decodeStreamInferResponse(bytes)).toEqual({ error: 'bad input', final: true, id: 'r8' });
  });

  it('a malformed stream response is refused', () => {
    expectInferError(() => decodeStreamInferResponse(Uint8Array.from([0x12, 0x09, 0x01])), 'INVALID_ARG', 'ModelStreamInferResponse');
  });
});
