/**
 * Ensembles over HTTP on real onnxruntime-node: the example `ensemble_add_mlp` (simple →
 * mlp_preprocess → dense_mlp, two parallel branches) answers exactly what running its steps by
 * hand gives; metadata, config and statistics; pruning; errors that name the step; load-time
 * validation against the composing models this host serves.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENSEMBLE_ADD_MLP_CONFIG, MLP_PREPROCESS_REPEATS, MLP_PREPROCESS_SCALE } from '../../scripts/example-models.ts';
import { addMlpByHand, addMlpInputs, maxAbsDiff, MLP_TOLERANCE } from '../support/ensemble-examples.ts';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';
import type { KServeClient } from '../support/kserve-client.ts';

type Stat = { name: string; execution_count: number; inference_count: number; inference_stats: { success: { count: number }; fail: { count: number } } };
async function stats(client: KServeClient, model: string): Promise<Stat> {
  return ((await client.get(`/v2/models/${model}/stats`)).json as { model_stats: Stat[] }).model_stats[0];
}

let s: TestServer;
beforeAll(async () => { s = await startTestServer(); });
afterAll(async () => { await s?.stop(); });

describe('ensemble_add_mlp over HTTP', () => {
  test('answers what running its steps by hand gives', async () => {
    const inputs = addMlpInputs();
    const resp = await s.client.infer({ modelName: 'ensemble_add_mlp', parameters: {}, inputs }, { binaryOutputs: true });
    expect(resp.modelName).toBe('ensemble_add_mlp');
    expect(resp.modelVersion).toBe('1');
    expect(resp.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
      ['SUM', 'INT32', [2, 16]], ['DIFF', 'INT32', [2, 16]], ['MLP_SUM', 'FP32', [2, 512]], ['MLP_DIFF', 'FP32', [2, 512]],
    ]);
    const byHand = await addMlpByHand(s.client, inputs);
    const got = Object.fromEntries(resp.outputs.map((o) => [o.name, o]));
    const [a, b] = [inputs[0].data as Int32Array, inputs[1].data as Int32Array];
    expect([...got.SUM.data as Int32Array]).toEqual([...a].map((v, i) => v + b[i]));
    expect([...got.DIFF.data as Int32Array]).toEqual([...a].map((v, i) => v - b[i]));
    // mlp_preprocess is exact: float(x) / 16 repeated 32 times.
    const sum0 = [...byHand.SUM.data as Int32Array].slice(0, 16).map((v) => v * MLP_PREPROCESS_SCALE);
    expect([...byHand.sumFeatures.data as Float32Array].slice(0, 16 * MLP_PREPROCESS_REPEATS)).toEqual(Array.from({ length: MLP_PREPROCESS_REPEATS }, () => sum0).flat());
    expect(maxAbsDiff(got.MLP_SUM, byHand.MLP_SUM)).toBeLessThan(MLP_TOLERANCE);
    expect(maxAbsDiff(got.MLP_DIFF, byHand.MLP_DIFF)).toBeLessThan(MLP_TOLERANCE);
    // The two branches see different data, so a mix-up would show.
    expect(maxAbsDiff(got.MLP_SUM, got.MLP_DIFF)).toBeGreaterThan(0.01);
  });

  test('serves its metadata and config like any model', async () => {
    expect((await s.client.get('/v2/models/ensemble_add_mlp/ready')).status).toBe(200);
    const meta = (await s.client.get('/v2/models/ensemble_add_mlp')).json as { platform: string; inputs: unknown[]; outputs: { name: string; shape: number[] }[] };
    expect(meta.platform).toBe('ensemble');
    expect(meta.inputs).toEqual([{ name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] }, { name: 'INPUT1', datatype: 'INT32', shape: [-1, 16] }]);
    expect(meta.outputs.map((o) => [o.name, o.shape])).toEqual([['SUM', [-1, 16]], ['DIFF', [-1, 16]], ['MLP_SUM', [-1, 512]], ['MLP_DIFF', [-1, 512]]]);
    const cfg = (await s.client.get('/v2/models/ensemble_add_mlp/config')).json as { platform: string; instance_group: unknown[]; ensemble_scheduling: { step: { model_name: string; model_version: number }[]; max_inflight_requests: number } };
    expect(cfg.platform).toBe('ensemble');
    expect(cfg.instance_group).toEqual([]);
    expect(cfg.ensemble_scheduling.max_inflight_requests).toBe(0);
    expect(cfg.ensemble_scheduling.step.map((x) => [x.model_name, x.model_version])).toEqual([
      ['simple', -1], ['mlp_preprocess', -1], ['mlp_preprocess', -1], ['dense_mlp', -1], ['dense_mlp', -1],
    ]);
    const index = (await s.client.post('/v2/repository/index', {})).json as { name: string; state?: string }[];
    expect(index.find((r) => r.name === 'ensemble_add_mlp')).toEqual({ name: 'ensemble_add_mlp', version: '1', state: 'READY' });
    expect((await s.client.get('/v2/health/ready')).status).toBe(200);
  });

  test('counts ensemble requests; composing models count their own', async () => {
    const before = { e: await stats(s.client, 'ensemble_add_mlp'), simple: await stats(s.client, 'simple'), mlp: await stats(s.client, 'dense_mlp') };
    for (let i = 0; i < 3; i++) await s.client.infer({ modelName: 'ensemble_add_mlp', parameters: {}, inputs: addMlpInputs(i) });
    const e = await stats(s.client, 'ensemble_add_mlp');
    expect(e.inference_stats.success.count - before.e.inference_stats.success.count).toBe(3);
    expect(e.execution_count - before.e.execution_count).toBe(3);
    expect(e.inference_count - before.e.inference_count).toBe(6); // batch 2 each
    expect((await stats(s.client, 'simple')).inference_stats.success.count - before.simple.inference_stats.success.count).toBe(3);
    // Two dense_mlp calls per ensemble request (they may share executions through the batcher).
    expect((await stats(s.client, 'dense_mlp')).inference_stats.success.count - before.mlp.inference_stats.success.count).toBe(6);
    const metrics = await (await fetch(s.metricsUrl)).text();
    expect(metrics).toMatch(/nv_inference_request_success\{model="ensemble_add_mlp",version="1"\} \d+/);
  });

  test('runs only the steps the requested outputs need', async () => {
    const before = await stats(s.client, 'dense_mlp');
    const resp = await s.client.infer({ modelName: 'ensemble_add_mlp', parameters: {}, inputs: addMlpInputs(), outputs: [{ name: 'DIFF' }] });
    expect(resp.outputs.map((o) => o.name)).toEqual(['DIFF']);
    expect((await stats(s.client, 'dense_mlp')).inference_stats.success.count).toBe(before.inference_stats.success.count);
  });

  test('checks the request against the ensemble config before any step runs', async () => {
    const before = await stats(s.client, 'simple');
    const bad = await s.client.inferRaw({ modelName: 'ensemble_add_mlp', parameters: {}, inputs: [
      { name: 'INPUT0', datatype: 'INT32', shape: [1, 15], data: new Int32Array(15) },
      { name: 'INPUT1', datatype: 'INT32', shape: [1, 15], data: new Int32Array(15) },
    ] });
    expect(bad.status).toBe(400);
    expect((bad.json as { error: string }).error).toMatch(/unexpected shape for input 'INPUT0' for model 'ensemble_add_mlp'. Expected \[-1,16\], got \[1,15\]/);
    expect((await stats(s.client, 'simple')).inference_stats.success.count).toBe(before.inference_stats.success.count);
  });
});

describe('ensemble errors and load-time checks', () => {
  let repo: string;
  let t: TestServer;
  const ensemble = (name: string, text: string) => {
    mkdirSync(join(repo, name, '1'), { recursive: true });
    writeFileSync(join(repo, name, 'config.pbtxt'), text.replace('name: "ensemble_add_mlp"', `name: "${name}"`));
  };
  beforeAll(async () => {
    repo = mkdtempSync(join(tmpdir(), 'infermesh-ensemble-'));
    for (const m of ['simple', 'mlp_preprocess']) cpSync(join(EXAMPLES, m), join(repo, m), { recursive: true });
    // dense_mlp is not served here (and there is no mesh): its steps fail at request time.
    ensemble('needs_absent', ENSEMBLE_ADD_MLP_CONFIG);
    // simple's OUTPUT0 is INT32; declaring the ensemble output FP32 disagrees with it.
    ensemble('type_mismatch', ENSEMBLE_ADD_MLP_CONFIG.replace('name: "SUM"\n    data_type: TYPE_INT32', 'name: "SUM"\n    data_type: TYPE_FP32'));
    ensemble('cyclic', ENSEMBLE_ADD_MLP_CONFIG.replace('input_map { key: "INT_VALUES" value: "SUM" }', 'input_map { key: "INT_VALUES" value: "MLP_DIFF" }')
      .replace('input_map { key: "input" value: "diff_features" }', 'input_map { key: "input" value: "sum_features" }'));
    // No version folder at all.
    mkdirSync(join(repo, 'no_version'));
    writeFileSync(join(repo, 'no_version', 'config.pbtxt'), ENSEMBLE_ADD_MLP_CONFIG.replace('name: "ensemble_add_mlp"', 'name: "no_version"'));
    t = await startTestServer({ repositories: [repo], strictReadiness: false });
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(repo, { recursive: true, force: true });
  });

  const reasonOf = async (name: string) => ((await t.client.post('/v2/repository/index', {})).json as { name: string; state?: string; reason?: string }[])
    .find((r) => r.name === name);

  test('a step model nobody serves fails the request with UNAVAILABLE naming the step', async () => {
    expect((await reasonOf('needs_absent'))?.state).toBe('READY');
    const before = await stats(t.client, 'simple');
    const r = await t.client.inferRaw({ modelName: 'needs_absent', parameters: {}, inputs: addMlpInputs() });
    expect(r.status).toBe(503);
    expect((r.json as { error: string }).error).toMatch(/^ensemble 'needs_absent' step [34] \('dense_mlp'\): Request for unknown model: 'dense_mlp' is not found; load model 'dense_mlp' on this host or on a peer of the mesh$/);
    // The steps before it ran; the ensemble counts one failure.
    expect((await stats(t.client, 'simple')).inference_stats.success.count).toBe(before.inference_stats.success.count + 1);
    const e = await stats(t.client, 'needs_absent');
    expect([e.inference_stats.fail.count, e.execution_count]).toEqual([1, 0]);
    // Asking only for outputs that need no dense_mlp works.
    const ok = await t.client.infer({ modelName: 'needs_absent', parameters: {}, inputs: addMlpInputs(), outputs: [{ name: 'SUM' }] });
    expect(ok.outputs[0].name).toBe('SUM');
  });

  test('load refuses types that disagree with a served composing model, cycles and a missing version folder', async () => {
    expect(await reasonOf('type_mismatch')).toEqual({
      name: 'type_mismatch', version: '1', state: 'UNAVAILABLE',
      reason: "ensemble 'type_mismatch', ensemble tensor 'SUM': inconsistent data type: FP32 is inferred from model 'type_mismatch' while INT32 is inferred from model 'simple'",
    });
    expect((await reasonOf('cyclic'))?.reason).toMatch(/^ensemble 'cyclic': steps form a cycle: step \d \('(mlp_preprocess|dense_mlp)'\) → .*every tensor must be computed before it is read$/);
    expect((await reasonOf('no_version'))).toEqual({
      name: 'no_version', state: 'UNAVAILABLE',
      reason: "ensemble 'no_version' has no version folders: create an empty folder 'no_version/1/' (Triton requires one for ensembles too)",
    });
    expect((await t.client.inferRaw({ modelName: 'type_mismatch', parameters: {}, inputs: addMlpInputs() })).status).toBe(404);
  });
});

describe('explicit model control', () => {
  let repo: string;
  let t: TestServer;
  beforeAll(async () => {
    repo = mkdtempSync(join(tmpdir(), 'infermesh-ensemble-explicit-'));
    for (const m of ['simple', 'mlp_preprocess', 'dense_mlp', 'autocomplete_add', 'ensemble_add_mlp']) cpSync(join(EXAMPLES, m), join(repo, m), { recursive: true });
    t = await startTestServer({ repositories: [repo], controlMode: 'explicit', loadModels: ['ensemble_add_mlp'] });
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(repo, { recursive: true, force: true });
  });

  test('loading an ensemble loads its composing models from the repository (as Triton does), nothing else', async () => {
    const ready = (await t.client.post('/v2/repository/index', { ready: true })).json as { name: string }[];
    expect(ready.map((r) => r.name).sort()).toEqual(['dense_mlp', 'ensemble_add_mlp', 'mlp_preprocess', 'simple']);
    const resp = await t.client.infer({ modelName: 'ensemble_add_mlp', parameters: {}, inputs: addMlpInputs(5) }, { binaryOutputs: true });
    const byHand = await addMlpByHand(t.client, addMlpInputs(5));
    expect(maxAbsDiff(resp.outputs.find((o) => o.name === 'MLP_SUM')!, byHand.MLP_SUM)).toBeLessThan(MLP_TOLERANCE);
  });
});
