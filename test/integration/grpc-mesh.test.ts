/**
 * gRPC fronting the mesh: two real `infermesh serve` processes on loopback libp2p. Host A
 * serves `simple`; host B serves nothing. A client talking gRPC to B reaches A's model
 * (ModelInfer, ModelStreamInfer, ModelMetadata, ModelReady), as it does over HTTP.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import { HostGroup, listsPeer, meshOf, pollUntil, type MeshHost } from '../support/mesh-hosts.ts';
import { createGrpcClient, expectGrpcError, grpcStatus, type GrpcClient } from '../support/grpc-client.ts';

const group = new HostGroup();
let a: MeshHost;
let b: MeshHost;
let onB: GrpcClient;

const request = (id: string, k: number): InferRequest => ({
  modelName: 'simple', id, parameters: {},
  inputs: ['INPUT0', 'INPUT1'].map((name, j) => ({ name, datatype: 'INT32' as const, shape: [1, 16], data: Int32Array.from({ length: 16 }, (_, i) => i * (j + 1) + k) })),
});

async function successCount(host: MeshHost): Promise<number> {
  const j = (await host.client.get('/v2/models/simple/stats')).json as { model_stats: { inference_stats: { success: { count: number } } }[] };
  return j.model_stats.reduce((n, s) => n + s.inference_stats.success.count, 0);
}

/** A's own answer over HTTP, less the HTTP framing parameters of its outputs. */
async function onA(req: InferRequest): Promise<InferResponse> {
  const r = await a.client.infer(req, { binaryInputs: true, binaryOutputs: true });
  return { ...r, outputs: r.outputs.map(({ name, datatype, shape, data }) => ({ name, datatype, shape, data })) };
}

beforeAll(async () => {
  a = await group.start('A', { repo: group.makeRepo(['simple']) });
  b = await group.start('B', { repo: group.makeRepo([]), bootstrap: [a.meshAddr] });
  await pollUntil('B to see A serving simple', async () => listsPeer(await meshOf(b), a.peerId, ['simple']), { timeoutMs: 15_000 });
  onB = createGrpcClient(b.grpcUrl!);
}, 90_000);
afterAll(async () => {
  onB?.close();
  await group.close();
});

describe('gRPC on a host that does not serve the model', () => {
  test('ModelInfer runs on the peer that serves it and answers what that peer answers', async () => {
    const before = await successCount(a);
    const res = await onB.infer(request('via-b', 3));
    expect(res).toEqual(await onA(request('via-b', 3)));
    expect(await successCount(a)).toBe(before + 2);
  });

  test('ModelStreamInfer requests reach the peer too, each answered on the stream', async () => {
    const st = onB.stream();
    for (let k = 0; k < 5; k++) st.send(request(`s${k}`, k));
    const got = new Map<string, InferResponse>();
    for (let k = 0; k < 5; k++) {
      const r = await st.next();
      expect(r.error).toBeUndefined();
      got.set(r.id, r.response!);
    }
    for (let k = 0; k < 5; k++) expect(got.get(`s${k}`)).toEqual(await onA(request(`s${k}`, k)));
    st.end();
    expect((await st.done).code).toBe(grpcStatus.OK);
  });

  test('ModelMetadata and ModelReady describe the remote model; an unknown one is still NOT_FOUND', async () => {
    expect(await onB.modelMetadata('simple')).toEqual((await a.client.get('/v2/models/simple')).json);
    expect(await onB.modelReady('simple')).toBe(true);
    expect(await onB.modelReady('nope')).toBe(false);
    await expectGrpcError(onB.infer({ ...request('x', 0), modelName: 'nope' }), grpcStatus.NOT_FOUND, "'nope' is not found");
  });
});
