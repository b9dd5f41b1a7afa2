/**
 * Explicit model control, the parts of the model repository extension beyond plain load and
 * unload (COMPAT-NOTES §1.12, triton-extension-model_repository.md), on a real server with real
 * onnxruntime-node: file overrides (`file:<version>/<name>`, base64) with the `config` they
 * require, loading a model that was never on disk; Triton's errors for overrides without
 * `config`, bad base64 and paths leaving the model folder; an override of a model that is on
 * disk, and back; unload answering only once accepted requests completed; `unload_dependents`.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';
import { pollUntil } from '../support/mesh-hosts.ts';
import { addConstConfig, addConstConfigJson, addConstModel, inferAdd, TempRepo } from '../support/versioned-models.ts';

const ENSEMBLE_CONFIG = `name: "ens"
platform: "ensemble"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]
ensemble_scheduling {
  step [
    { model_name: "add1" model_version: -1 input_map { key: "x" value: "x" } output_map { key: "y" value: "t" } },
    { model_name: "add2" model_version: -1 input_map { key: "x" value: "t" } output_map { key: "y" value: "y" } }
  ]
}
`;

let repo: TempRepo;
let s: TestServer;
beforeAll(async () => {
  repo = new TempRepo('infermesh-explicit-');
  repo.writeConfig('ondisk', addConstConfig('ondisk'));
  repo.addVersion('ondisk', 1, 1);
  cpSync(join(EXAMPLES, 'dense_mlp'), join(repo.dir, 'dense_mlp'), { recursive: true });
  // An ensemble y = (x + 1) + 2 over two composing models, for unload_dependents.
  for (const [m, k] of [['add1', 1], ['add2', 2]] as const) {
    repo.writeConfig(m, addConstConfig(m));
    repo.addVersion(m, 1, k);
  }
  repo.writeConfig('ens', ENSEMBLE_CONFIG);
  mkdirSync(join(repo.dir, 'ens', '1'));
  s = await startTestServer({ repositories: [repo.dir], controlMode: 'explicit', loadModels: ['ondisk'] });
});
afterAll(async () => {
  await s?.stop();
  repo?.remove();
});

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const load = (model: string, parameters?: Record<string, unknown>) =>
  s.client.post(`/v2/repository/models/${model}/load`, parameters === undefined ? undefined : { parameters });
const errorOf = (r: { json: unknown }) => (r.json as { error: string }).error;

describe('load with file overrides', () => {
  test('a model that was never on disk loads from config + files, every version serves', async () => {
    const config = JSON.parse(addConstConfigJson('fresh')) as Record<string, unknown>;
    config.version_policy = { all: {} };
    const r = await load('fresh', {
      config: JSON.stringify(config),
      'file:1/model.onnx': b64(addConstModel(7)),
      'file:2/model.onnx': b64(addConstModel(8)),
    });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('');
    expect(await inferAdd(s.client, 'fresh', 1, '1')).toEqual({ status: 200, version: '1', k: 7 });
    expect(await inferAdd(s.client, 'fresh', 1, '2')).toEqual({ status: 200, version: '2', k: 8 });
    expect(await inferAdd(s.client, 'fresh', 1)).toEqual({ status: 200, version: '2', k: 8 });
    expect(((await s.client.get('/v2/models/fresh')).json as { versions: string[] }).versions).toEqual(['1', '2']);
    const index = (await s.client.post('/v2/repository/index')).json as unknown[];
    expect(index).toContainEqual({ name: 'fresh', version: '1', state: 'READY' });
    expect(index).toContainEqual({ name: 'fresh', version: '2', state: 'READY' });
    // Unload works like for any model; a plain load then finds nothing on disk.
    expect((await s.client.post('/v2/repository/models/fresh/unload')).status).toBe(200);
    expect(await inferAdd(s.client, 'fresh', 1)).toMatchObject({ status: 404 });
    const again = await load('fresh');
    expect(again.status).toBe(400);
    expect(errorOf(again)).toMatch(/failed to load 'fresh'.*not found/);
  });

  test("file overrides without 'config' are refused with Triton's error", async () => {
    const r = await load('nocfg', { 'file:1/model.onnx': b64(addConstModel(1)) });
    expect(r.status).toBe(400);
    expect(errorOf(r)).toBe("Load parameter 'config' must be specified for model file override");
    expect(((await s.client.post('/v2/repository/index')).json as { name: string }[]).some((m) => m.name === 'nocfg')).toBe(false);
  });

  test('bad override parameters are refused with a reason', async () => {
    const config = addConstConfigJson('bad');
    const notBase64 = await load('bad', { config, 'file:1/model.onnx': 'this is not base64!' });
    expect(notBase64.status).toBe(400);
    expect(errorOf(notBase64)).toBe("parameter 'file:1/model.onnx' must hold the file's content in base64 (RFC 4648 standard alphabet), but it is not valid base64");
    const escaping = await load('bad', { config, 'file:../../etc/model.onnx': b64(addConstModel(1)) });
    expect(escaping.status).toBe(400);
    expect(errorOf(escaping)).toMatch(/^Invalid file parameter 'file:\.\.\/\.\.\/etc\/model\.onnx' with normalized path '.*' must stay within model directory/);
    const unknown = await load('bad', { config, 'flie:1/model.onnx': 'AAAA' });
    expect(unknown.status).toBe(400);
    expect(errorOf(unknown)).toMatch(/^unknown load parameter 'flie:1\/model.onnx'/);
    const traversal = await load(encodeURIComponent('../x'), { config, 'file:1/model.onnx': b64(addConstModel(1)) });
    expect(traversal.status).toBe(400);
    expect(errorOf(traversal)).toBe("invalid model name '../x', model name must not contain path traversal characters");
    const notString = await load('bad', { config: { name: 'bad' } });
    expect(notString.status).toBe(400);
  });

  test('overrides replace a model on disk for that load; a plain load goes back to the disk files', async () => {
    expect(await inferAdd(s.client, 'ondisk', 2)).toEqual({ status: 200, version: '1', k: 1 });
    const r = await load('ondisk', { config: addConstConfigJson('ondisk'), 'file:1/model.onnx': b64(addConstModel(50)) });
    expect(r.status, r.text).toBe(200);
    expect(await inferAdd(s.client, 'ondisk', 2)).toEqual({ status: 200, version: '1', k: 50 });
    expect((await load('ondisk')).status).toBe(200);
    expect(await inferAdd(s.client, 'ondisk', 2)).toEqual({ status: 200, version: '1', k: 1 });
  });

  test('overrides that are not a model fail the load and the serving version stays', async () => {
    const r = await load('ondisk', { config: addConstConfigJson('ondisk'), 'file:1/model.onnx': b64(new TextEncoder().encode('junk')) });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(await inferAdd(s.client, 'ondisk', 2)).toEqual({ status: 200, version: '1', k: 1 });
  });
});

describe('unload', () => {
  test('answers once every request the model accepted has completed', async () => {
    expect((await load('dense_mlp')).status).toBe(200);
    const meta = (await s.client.get('/v2/models/dense_mlp')).json as { inputs: { name: string; shape: number[] }[] };
    const width = meta.inputs[0].shape[1];
    const req = { modelName: 'dense_mlp', parameters: {}, inputs: [{ name: meta.inputs[0].name, shape: [32, width], datatype: 'FP32' as const, data: new Float32Array(32 * width).fill(0.5) }] };
    const N = 60;
    let pending = N;
    const finished: { status: number }[] = [];
    const inflight = Array.from({ length: N }, () => s.client.inferRaw(req, { binaryInputs: true }).then((r) => {
      pending--;
      finished.push({ status: r.status });
    }));
    await pollUntil('all requests received', () => s.handle.core.inflight === pending && pending > 0, { timeoutMs: 10_000, intervalMs: 1 });
    const pendingAtUnload = pending;
    const unload = await s.client.post('/v2/repository/models/dense_mlp/unload');
    // When the unload answers, nothing the model accepted is still computing.
    const inCoreAtAnswer = s.handle.core.inflight;
    await Promise.all(inflight);
    expect(unload.status).toBe(200);
    expect(pendingAtUnload).toBeGreaterThan(0);
    expect(inCoreAtAnswer).toBe(0);
    expect(finished.map((f) => f.status)).toEqual(finished.map(() => 200));
    expect((await s.client.post('/v2/repository/index')).json).toContainEqual({ name: 'dense_mlp', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' });
  });

  test('unload_dependents also unloads the composing models an ensemble pulled in, but not those loaded on their own', async () => {
    const ready = async () => ((await s.client.post('/v2/repository/index', { ready: true })).json as { name: string }[]).map((r) => r.name);
    expect((await load('add2')).status).toBe(200);
    expect((await load('ens')).status).toBe(200);
    expect(await inferAdd(s.client, 'ens', 1)).toEqual({ status: 200, version: '1', k: 3 });
    expect(await ready()).toEqual(expect.arrayContaining(['add1', 'add2', 'ens']));

    // Without the parameter, only the ensemble goes.
    expect((await s.client.post('/v2/repository/models/ens/unload')).status).toBe(200);
    expect(await ready()).toEqual(expect.arrayContaining(['add1', 'add2']));
    expect(await ready()).not.toContain('ens');

    expect((await load('ens')).status).toBe(200);
    const r = await s.client.post('/v2/repository/models/ens/unload', { parameters: { unload_dependents: true } });
    expect(r.status).toBe(200);
    const left = await ready();
    expect(left).not.toContain('ens');
    // add1 came with the ensemble (its load pulled it in), add2 was loaded on its own.
    expect(left).not.toContain('add1');
    expect(left).toContain('add2');
  });

  test("unload_dependents is accepted as a boolean and advertised in the server's extensions", async () => {
    expect(((await s.client.get('/v2')).json as { extensions: string[] }).extensions).toContain('model_repository(unload_dependents)');
    const bad = await s.client.post('/v2/repository/models/ondisk/unload', { parameters: { unload_dependents: 'yes' } });
    expect(bad.status).toBe(400);
    expect(errorOf(bad)).toBe("Unable to parse 'unload_dependents': expected a boolean, got string");
    expect(await inferAdd(s.client, 'ondisk', 0)).toMatchObject({ status: 200 });
    const ok = await s.client.post('/v2/repository/models/ondisk/unload', { parameters: { unload_dependents: true } });
    expect(ok.status).toBe(200);
    expect(await inferAdd(s.client, 'ondisk', 0)).toMatchObject({ status: 404 });
  });
});
