/**
 * The sequence batcher over gRPC (ModelInfer and ModelStreamInfer) against a real server with
 * real onnxruntime-node: ids as int64_param (exact beyond 2^53, negative ones read as uint64
 * as Triton does) and string_param, Triton's errors as gRPC statuses and in-band stream errors.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import * as pb from '../../protocol/inference-pb.ts';
import { decodeModelInferResponse, inferRequestToProto } from '../../protocol/mesh-infer-codec.ts';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';
import { createGrpcClient, expectGrpcError, grpcStatus, type GrpcClient } from '../support/grpc-client.ts';

const M = 'sequence_accumulate';
let repo: string;
let s: TestServer;
let c: GrpcClient;

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), 'infermesh-seq-grpc-'));
  cpSync(join(EXAMPLES, M), join(repo, M), { recursive: true });
  s = await startTestServer({ repositories: [repo] });
  c = createGrpcClient(s.grpcUrl);
});

afterAll(async () => {
  c?.close();
  await s?.stop();
  if (repo) rmSync(repo, { recursive: true, force: true });
});

function step(id: number | string, x: number, flags: { start?: boolean; end?: boolean } = {}): InferRequest {
  const parameters: InferRequest['parameters'] = { sequence_id: id };
  if (flags.start) parameters.sequence_start = true;
  if (flags.end) parameters.sequence_end = true;
  return { modelName: M, id: `${id}/${x}`, parameters, inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 4], data: new Float32Array([x, x, x, x]) }] };
}

const out0 = (r: InferResponse): number => (r.outputs[0].data as Float32Array)[0];

/** A step whose sequence_id goes as an exact int64_param (the codec's number form tops out at 2^53). */
function int64Step(id: bigint, x: number, flags: { start?: boolean; end?: boolean } = {}): pb.ModelInferRequest {
  const msg = inferRequestToProto(step(1, x, flags));
  msg.parameters.set('sequence_id', { int64Param: id });
  return msg;
}

describe('sequence batcher over gRPC', () => {
  test('ModelInfer: interleaved sequences with int64 and string ids keep their own sums', async () => {
    const ids: (number | string)[] = [5, 'grpc-a', 6, 'grpc-b'];
    await Promise.all(ids.map(async (id, i) => {
      let sum = 0;
      for (let k = 0; k < 4; k++) {
        const x = 10 * (i + 1) + k;
        sum += x;
        expect(out0(await c.infer(step(id, x, { start: k === 0, end: k === 3 })))).toBe(sum);
      }
    }));
  });

  test('int64_param ids beyond 2^53 stay exact, and a negative one is its uint64 bit pattern', async () => {
    const big = 2n ** 60n + 1n;
    const answer = async (msg: pb.ModelInferRequest) => out0(decodeModelInferResponse(pb.ModelInferResponse.encode(await c.inferRaw(msg))));
    expect(await answer(int64Step(big, 1, { start: true }))).toBe(1);
    // 2^60 + 1 and 2^60 are different sequences: the neighbour has never started
    await expectGrpcError(c.inferRaw(int64Step(big - 1n, 1)), grpcStatus.INVALID_ARGUMENT, `sequence ${big - 1n} to model '${M}' must specify the START flag`);
    expect(await answer(int64Step(big, 2, { end: true }))).toBe(3);
    // -1 as int64 is 2^64 - 1 as uint64, and so is Triton's error text
    await expectGrpcError(c.inferRaw(int64Step(-1n, 1)), grpcStatus.INVALID_ARGUMENT, `inference request for sequence ${2n ** 64n - 1n} to model '${M}'`);
  });

  test('a negative int64 id below -2^53 (how C++ clients send a uint64 above 2^63) is that uint64, not a string id', async () => {
    const neg = -(2n ** 62n);
    const answer = async (msg: pb.ModelInferRequest) => out0(decodeModelInferResponse(pb.ModelInferResponse.encode(await c.inferRaw(msg))));
    await expectGrpcError(c.inferRaw(int64Step(neg, 1)), grpcStatus.INVALID_ARGUMENT, `sequence ${2n ** 64n + neg} to model '${M}' must specify the START flag`);
    expect(await answer(int64Step(neg, 4, { start: true }))).toBe(4);
    expect(await answer(int64Step(neg, 5, { end: true }))).toBe(9);
  });

  test("Triton's errors as gRPC statuses: no correlation id, no START", async () => {
    await expectGrpcError(c.infer({ ...step(9, 1, { start: true }), parameters: {} }), grpcStatus.INVALID_ARGUMENT,
      `inference request to model '${M}' must specify a non-zero or non-empty correlation ID`);
    await expectGrpcError(c.infer(step(31337, 1)), grpcStatus.INVALID_ARGUMENT,
      `inference request for sequence 31337 to model '${M}' must specify the START flag on the first request of the sequence`);
    await expectGrpcError(c.infer({ ...step(9, 1), parameters: { sequence_id: 9, sequence_start: 'yes' } }), grpcStatus.INVALID_ARGUMENT, 'sequence_start');
  });

  test('ModelStreamInfer: a sequence sent back to back keeps its order; an unknown sequence answers in-band and the stream goes on', async () => {
    const st = c.stream();
    st.send(step('stream-seq', 1, { start: true }));
    st.send(step('stream-seq', 2));
    st.send(step('never-started', 5));
    st.send(step('stream-seq', 3, { end: true }));
    const got = new Map<string, { response?: InferResponse; error?: string }>();
    for (let i = 0; i < 4; i++) {
      const r = await st.next();
      got.set(r.id, r);
    }
    expect(out0(got.get('stream-seq/1')!.response!)).toBe(1);
    expect(out0(got.get('stream-seq/2')!.response!)).toBe(3);
    expect(out0(got.get('stream-seq/3')!.response!)).toBe(6);
    expect(got.get('never-started/5')!.error).toBe(`inference request for sequence never-started to model '${M}' must specify the START flag on the first request of the sequence`);
    st.end();
    expect((await st.done).code).toBe(grpcStatus.OK);
  });
});
