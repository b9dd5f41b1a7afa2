/**
 * Explicit model control (Triton's --model-control-mode explicit): only --load-model models
 * load at start; load/unload through the repository extension; a load with a `config`
 * override; index states and reasons; unload while requests are in flight loses none.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';

let s: TestServer;
let repo: string;
beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), 'infermesh-explicit-'));
  for (const m of ['simple', 'autocomplete_add', 'dense_mlp']) cpSync(join(EXAMPLES, m), join(repo, m), { recursive: true });
  s = await startTestServer({ repositories: [repo], controlMode: 'explicit', loadModels: ['simple'] });
});
afterAll(async () => { await s?.stop(); });

const addRequest = (v: number) => ({ inputs: [
  { name: 'x', shape: [1, 4], datatype: 'FP32', data: [v, v, v, v] },
  { name: 'y', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });

describe('explicit model control', () => {
  test('only --load-model models are loaded; the rest are listed by name only', async () => {
    const index = (await s.client.post('/v2/repository/index')).json;
    expect(index).toEqual([
      { name: 'autocomplete_add' },
      { name: 'dense_mlp' },
      { name: 'simple', version: '1', state: 'READY' },
    ]);
    expect((await s.client.post('/v2/repository/index', { ready: true })).json).toEqual([{ name: 'simple', version: '1', state: 'READY' }]);
    expect((await s.client.get('/v2/models/autocomplete_add')).status).toBe(404);
  });

  test('load makes a model READY; unload makes it UNAVAILABLE "unloaded"', async () => {
    const load = await s.client.post('/v2/repository/models/autocomplete_add/load');
    expect(load.status).toBe(200);
    const ok = await s.client.post('/v2/models/autocomplete_add/infer', addRequest(10));
    expect((ok.json as { outputs: { data: number[] }[] }).outputs[0].data).toEqual([11, 12, 13, 14]);
    const unload = await s.client.post('/v2/repository/models/autocomplete_add/unload');
    expect(unload.status).toBe(200);
    const index = (await s.client.post('/v2/repository/index')).json as unknown[];
    expect(index).toContainEqual({ name: 'autocomplete_add', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' });
    const after = await s.client.post('/v2/models/autocomplete_add/infer', addRequest(1));
    expect(after.status).toBe(404);
    expect((after.json as { error: string }).error).toBe("Request for unknown model: 'autocomplete_add' has no available versions");
    const versioned = await s.client.post('/v2/models/autocomplete_add/versions/1/infer', addRequest(1));
    expect(versioned.status).toBe(503);
    expect((versioned.json as { error: string }).error).toBe("Request for unknown model: 'autocomplete_add' version 1 is not at ready state");
    expect((await s.client.get('/v2/models/autocomplete_add/ready')).status).toBe(404);
    // Strict readiness: a model unloaded on purpose does not make the server unready.
    expect((await s.client.get('/v2/health/ready')).status).toBe(200);
  });

  test('load with a config override (the "config" parameter) replaces the on-disk config', async () => {
    const config = JSON.stringify({ name: 'autocomplete_add', max_batch_size: 2, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [4] }, { name: 'y', data_type: 'TYPE_FP32', dims: [4] }], output: [{ name: 'sum', data_type: 'TYPE_FP32', dims: [4] }] });
    const r = await s.client.post('/v2/repository/models/autocomplete_add/load', { parameters: { config } });
    expect(r.status).toBe(200);
    expect(((await s.client.get('/v2/models/autocomplete_add/config')).json as { max_batch_size: number }).max_batch_size).toBe(2);
    const big = await s.client.post('/v2/models/autocomplete_add/infer', { inputs: [
      { name: 'x', shape: [3, 4], datatype: 'FP32', data: Array(12).fill(1) },
      { name: 'y', shape: [3, 4], datatype: 'FP32', data: Array(12).fill(1) }] });
    expect(big.status).toBe(400);
    expect((big.json as { error: string }).error).toBe("inference request batch-size must be <= 2 for 'autocomplete_add'");
  });

  test('a bad config or unknown model fails the load with a reason, and the old version keeps serving', async () => {
    const bad = await s.client.post('/v2/repository/models/simple/load', { parameters: { config: '{"max_batch_size": "many"}' } });
    expect(bad.status).toBe(400);
    expect((bad.json as { error: string }).error).toMatch(/max_batch_size/);
    expect((await s.client.get('/v2/models/simple/ready')).status).toBe(200);
    const missing = await s.client.post('/v2/repository/models/nope/load');
    expect(missing.status).toBe(400);
    expect((missing.json as { error: string }).error).toMatch(/nope/);
    // File overrides that are not a model: the load fails, and the on-disk version keeps serving.
    const junk = await s.client.post('/v2/repository/models/simple/load', { parameters: { 'file:1/model.onnx': 'AAAA', config: '{}' } });
    expect(junk.status).toBe(400);
    expect((await s.client.get('/v2/models/simple/ready')).status).toBe(200);
  });

  test('unload while requests are in flight: every accepted request completes', async () => {
    expect((await s.client.post('/v2/repository/models/dense_mlp/load')).status).toBe(200);
    const meta = (await s.client.get('/v2/models/dense_mlp')).json as { inputs: { name: string; shape: number[] }[] };
    const width = meta.inputs[0].shape[1];
    const body = { inputs: [{ name: meta.inputs[0].name, shape: [8, width], datatype: 'FP32', data: Array(8 * width).fill(0.5) }] };
    const inflight = Array.from({ length: 20 }, () => s.client.post('/v2/models/dense_mlp/infer', body));
    await new Promise((r) => setTimeout(r, 5));
    const unload = s.client.post('/v2/repository/models/dense_mlp/unload');
    const statuses = (await Promise.all(inflight)).map((r) => r.status);
    expect((await unload).status).toBe(200);
    // Requests that reached the model before the unload complete (200); later ones are refused
    // cleanly (503 not ready / 404) — none hangs, none gets a broken answer.
    expect(statuses.every((c) => c === 200 || c === 503 || c === 404)).toBe(true);
    expect(statuses[0]).toBe(200);
    expect((await s.client.get('/v2/models/dense_mlp/ready')).status).toBe(404);
  });
});
