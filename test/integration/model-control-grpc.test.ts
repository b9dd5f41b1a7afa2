/**
 * The model repository extension over gRPC (RepositoryModelLoad / RepositoryModelUnload with
 * `ModelRepositoryParameter`s, triton-extension-model_repository.md "GRPC") on a real server
 * with real onnxruntime-node, explicit model control: a model that was never on disk loads
 * from a `config` string_param plus `file:` bytes_params; Triton's errors for overrides without
 * config and for parameters of the wrong type; unload with `unload_dependents`.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { createGrpcClient, expectGrpcError, grpcStatus, type GrpcClient } from '../support/grpc-client.ts';
import { addConstConfig, addConstConfigJson, addConstModel, TempRepo, WIDTH } from '../support/versioned-models.ts';
import type { InferRequest } from '../../protocol/infer.ts';

let repo: TempRepo;
let s: TestServer;
let c: GrpcClient;
beforeAll(async () => {
  repo = new TempRepo('infermesh-grpc-control-');
  repo.writeConfig('ondisk', addConstConfig('ondisk'));
  repo.addVersion('ondisk', 1, 1);
  s = await startTestServer({ repositories: [repo.dir], controlMode: 'explicit', loadModels: ['ondisk'] });
  c = createGrpcClient(s.grpcUrl);
});
afterAll(async () => {
  c?.close();
  await s?.stop();
  repo?.remove();
});

const addRequest = (model: string, version = ''): InferRequest => ({
  modelName: model, modelVersion: version, parameters: {},
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, WIDTH], data: new Float32Array(WIDTH).fill(2) }],
});
const firstY = async (model: string, version?: string) => {
  const r = await c.infer(addRequest(model, version));
  return { version: r.modelVersion, y: (r.outputs[0].data as Float32Array)[0] };
};

describe('RepositoryModelLoad / RepositoryModelUnload', () => {
  test('a model never on disk loads from a config string_param and file bytes_params', async () => {
    await c.loadModel('grpc_fresh', {
      config: addConstConfigJson('grpc_fresh'),
      'file:1/model.onnx': addConstModel(30),
    });
    expect(await firstY('grpc_fresh')).toEqual({ version: '1', y: 32 });
    expect(await c.repositoryIndex(true)).toContainEqual({ name: 'grpc_fresh', version: '1', state: 'READY' });
    await c.unloadModel('grpc_fresh');
    await expectGrpcError(c.infer(addRequest('grpc_fresh')), grpcStatus.NOT_FOUND, "'grpc_fresh' has no available versions");
  });

  test("Triton's errors: overrides without config, and parameters of the wrong type", async () => {
    await expectGrpcError(c.loadModel('x1', { 'file:1/model.onnx': addConstModel(1) }), grpcStatus.INVALID_ARGUMENT,
      "Load parameter 'config' must be specified for model file override");
    await expectGrpcError(c.loadModel('x2', { config: new TextEncoder().encode(addConstConfigJson('x2')) }), grpcStatus.INVALID_ARGUMENT,
      "Config parameter 'config' must have string type for its value");
    await expectGrpcError(c.loadModel('x3', { config: addConstConfigJson('x3'), 'file:1/model.onnx': 'not bytes' }), grpcStatus.INVALID_ARGUMENT,
      "File parameter 'file:1/model.onnx' must have bytes type for its value");
    // Nothing was loaded by the refused requests; the on-disk model still serves.
    expect((await c.repositoryIndex()).map((m) => m.name)).not.toContain('x1');
    expect(await firstY('ondisk')).toEqual({ version: '1', y: 3 });
  });

  test('overrides replace an on-disk model for that load; a plain load goes back to disk', async () => {
    await c.loadModel('ondisk', { config: addConstConfigJson('ondisk'), 'file:1/model.onnx': addConstModel(40) });
    expect(await firstY('ondisk')).toEqual({ version: '1', y: 42 });
    await c.loadModel('ondisk');
    expect(await firstY('ondisk')).toEqual({ version: '1', y: 3 });
  });

  test('unload with unload_dependents (bool_param); a non-bool value is refused', async () => {
    const unload = (parameters: Map<string, object>) => c.call('RepositoryModelUnload', { repositoryName: '', modelName: 'ondisk', parameters });
    await expectGrpcError(unload(new Map([['unload_dependents', { stringParam: 'true' }]])), grpcStatus.INVALID_ARGUMENT,
      "Unable to parse 'unload_dependents'");
    expect(await firstY('ondisk')).toEqual({ version: '1', y: 3 });
    await unload(new Map([['unload_dependents', { boolParam: true }]]));
    await expectGrpcError(c.infer(addRequest('ondisk')), grpcStatus.NOT_FOUND, "'ondisk' has no available versions");
  });
});
