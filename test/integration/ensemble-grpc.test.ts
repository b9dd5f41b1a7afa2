/**
 * Ensembles over gRPC (Triton's GRPCInferenceService) on real onnxruntime-node: the example
 * `ensemble_add_mlp` answers on ModelInfer and ModelStreamInfer what its steps give by hand,
 * its config travels as an `inference.ModelConfig` with the steps, and a failing step reaches
 * the client as a gRPC status naming the step.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferRequest } from '../../protocol/infer.ts';
import { addMlpByHand, addMlpInputs, maxAbsDiff, MLP_TOLERANCE } from '../support/ensemble-examples.ts';
import { createGrpcClient, expectGrpcError, grpcStatus, type GrpcClient } from '../support/grpc-client.ts';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';

const request = (seed: number): InferRequest => ({ modelName: 'ensemble_add_mlp', id: `req-${seed}`, parameters: {}, inputs: addMlpInputs(seed) });

let repo: string;
let s: TestServer;
let grpc: GrpcClient;
beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), 'infermesh-ensemble-grpc-'));
  for (const m of ['simple', 'mlp_preprocess', 'dense_mlp', 'ensemble_add_mlp']) cpSync(join(EXAMPLES, m), join(repo, m), { recursive: true });
  s = await startTestServer({ repositories: [repo], controlMode: 'explicit', loadModels: ['ensemble_add_mlp'] });
  grpc = createGrpcClient(s.grpcUrl);
});
afterAll(async () => {
  grpc?.close();
  await s?.stop();
  rmSync(repo, { recursive: true, force: true });
});

describe('ensemble_add_mlp over gRPC', () => {
  test('ModelInfer answers what the steps give by hand', async () => {
    const resp = await grpc.infer(request(1));
    expect([resp.modelName, resp.modelVersion, resp.id]).toEqual(['ensemble_add_mlp', '1', 'req-1']);
    const byHand = await addMlpByHand(s.client, addMlpInputs(1));
    const got = Object.fromEntries(resp.outputs.map((o) => [o.name, o]));
    expect([...got.SUM.data as Int32Array]).toEqual([...byHand.SUM.data as Int32Array]);
    expect([...got.DIFF.data as Int32Array]).toEqual([...byHand.DIFF.data as Int32Array]);
    expect(maxAbsDiff(got.MLP_SUM, byHand.MLP_SUM)).toBeLessThan(MLP_TOLERANCE);
    expect(maxAbsDiff(got.MLP_DIFF, byHand.MLP_DIFF)).toBeLessThan(MLP_TOLERANCE);
  });

  test('ModelStreamInfer answers several ensemble requests, each with its own outputs', async () => {
    const stream = grpc.stream();
    const seeds = [2, 3, 4];
    for (const seed of seeds) stream.send(request(seed));
    const answers = new Map<string, Awaited<ReturnType<typeof grpc.infer>>>();
    for (let i = 0; i < seeds.length; i++) {
      const r = await stream.next();
      expect(r.error).toBeFalsy();
      answers.set(r.response!.id!, r.response!);
    }
    stream.end();
    expect((await stream.done).code).toBe(grpcStatus.OK);
    for (const seed of seeds) {
      const single = await grpc.infer(request(seed));
      const streamed = answers.get(`req-${seed}`)!;
      expect(maxAbsDiff(streamed.outputs.find((o) => o.name === 'MLP_SUM')!, single.outputs.find((o) => o.name === 'MLP_SUM')!)).toBeLessThan(MLP_TOLERANCE);
      expect([...streamed.outputs.find((o) => o.name === 'SUM')!.data as Int32Array]).toEqual([...single.outputs.find((o) => o.name === 'SUM')!.data as Int32Array]);
    }
  });

  test('ModelConfig and ModelMetadata describe the ensemble', async () => {
    const cfg = await grpc.modelConfig('ensemble_add_mlp') as { platform: string; ensemble_scheduling: { step: { model_name: string; input_map: Record<string, string> }[] } };
    expect(cfg.platform).toBe('ensemble');
    expect(cfg.ensemble_scheduling.step.map((x) => x.model_name)).toEqual(['simple', 'mlp_preprocess', 'mlp_preprocess', 'dense_mlp', 'dense_mlp']);
    expect(cfg.ensemble_scheduling.step[1].input_map).toEqual({ INT_VALUES: 'SUM' });
    // Same config as HTTP's (the client prints max_inflight_requests: 0 as the HTTP endpoint does).
    const http = (await s.client.get('/v2/models/ensemble_add_mlp/config')).json as typeof cfg & { ensemble_scheduling: { max_inflight_requests?: number } };
    expect(http.ensemble_scheduling.max_inflight_requests).toBe(0);
    expect(cfg).toEqual(http);
    const meta = await grpc.modelMetadata('ensemble_add_mlp');
    expect(meta.platform).toBe('ensemble');
  });

  test('a failing step is a gRPC status naming the step', async () => {
    await grpc.unloadModel('dense_mlp');
    try {
      await expectGrpcError(grpc.infer(request(5)), grpcStatus.UNAVAILABLE, "ensemble 'ensemble_add_mlp' step", "('dense_mlp')", "load model 'dense_mlp' on this host or on a peer of the mesh");
      const partial = await grpc.infer({ ...request(5), outputs: [{ name: 'DIFF' }] });
      expect(partial.outputs.map((o) => o.name)).toEqual(['DIFF']);
    } finally {
      await grpc.loadModel('dense_mlp');
    }
  });
});
