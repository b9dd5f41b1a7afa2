/**
 * HTTP behaviour beyond the protocol tables: optional CORS, a client that disconnects while
 * queued cancels its request (it never runs and counts as CANCELED), and poll mode picking
 * up added and removed models.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { request } from 'node:http';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';

describe('CORS (off by default, on with --cors-origin)', () => {
  let s: TestServer;
  beforeAll(async () => { s = await startTestServer({ corsOrigin: 'https://app.example' }); });
  afterAll(async () => { await s?.stop(); });

  test('preflight and responses carry the CORS headers', async () => {
    const pre = await fetch(`${s.client.base}/v2/models/simple/infer`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'inference-header-content-length' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Inference-Header-Content-Length/i);
    const meta = await fetch(`${s.client.base}/v2`, { headers: { Origin: 'https://app.example' } });
    expect(meta.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(meta.headers.get('access-control-expose-headers')).toMatch(/Inference-Header-Content-Length/);
  });

  test('without --cors-origin there are no CORS headers and OPTIONS is 405 like Triton', async () => {
    const plain = await startTestServer();
    try {
      const pre = await fetch(`${plain.client.base}/v2/models/simple/infer`, { method: 'OPTIONS' });
      expect(pre.status).toBe(405);
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await plain.stop();
    }
  });
});

describe('a disconnected client cancels its queued request', () => {
  let s: TestServer;
  beforeAll(async () => { s = await startTestServer(); });
  afterAll(async () => { await s?.stop(); });

  test('the request leaves the queue, is counted CANCELED, and others still complete', async () => {
    const meta = (await s.client.get('/v2/models/dense_mlp')).json as { inputs: { name: string; shape: number[] }[] };
    const width = meta.inputs[0].shape[1];
    const body = JSON.stringify({ inputs: [{ name: meta.inputs[0].name, shape: [32, width], datatype: 'FP32', data: Array(32 * width).fill(0.25) }] });
    // Keep the single instance busy so the next request has to queue.
    const busy = Array.from({ length: 6 }, () => s.client.raw('POST', '/v2/models/dense_mlp/infer', body));
    const url = new URL(`${s.client.base}/v2/models/dense_mlp/infer`);
    await new Promise<void>((resolve) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST' });
      req.on('error', () => resolve());
      req.end(body, () => setTimeout(() => { req.destroy(); resolve(); }, 5));
    });
    const statuses = (await Promise.all(busy)).map((r) => r.status);
    expect(statuses).toEqual(statuses.map(() => 200));
    let canceled = 0;
    for (let i = 0; i < 50 && canceled === 0; i++) {
      const text = await (await fetch(s.metricsUrl)).text();
      canceled = Number(/nv_inference_request_failure\{model="dense_mlp",version="1",reason="CANCELED"\} (\d+)/.exec(text)?.[1] ?? 0);
      if (canceled === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(canceled).toBe(1);
    const stats = ((await s.client.get('/v2/models/dense_mlp/stats')).json as { model_stats: { inference_stats: { success: { count: number }; fail: { count: number } } }[] }).model_stats[0];
    expect(stats.inference_stats.success.count).toBe(6);
    expect(stats.inference_stats.fail.count).toBe(1);
  });
});

describe('poll mode', () => {
  test('a model added to the repository is loaded, a removed one unloaded', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'infermesh-poll-'));
    cpSync(join(EXAMPLES, 'simple'), join(repo, 'simple'), { recursive: true });
    const s = await startTestServer({ repositories: [repo], controlMode: 'poll', pollSeconds: 1 });
    try {
      expect((await s.client.get('/v2/models/autocomplete_add/ready')).status).toBe(404);
      cpSync(join(EXAMPLES, 'autocomplete_add'), join(repo, 'autocomplete_add'), { recursive: true });
      let status = 0;
      for (let i = 0; i < 60 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await s.client.get('/v2/models/autocomplete_add/ready')).status;
      }
      expect(status).toBe(200);
      rmSync(join(repo, 'simple'), { recursive: true });
      for (let i = 0; i < 60 && status === 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await s.client.get('/v2/models/simple/ready')).status;
      }
      expect(status).toBe(404);
      // Ready turns 404 as soon as unloading starts; the final state follows once drained.
      let row: unknown;
      for (let i = 0; i < 50; i++) {
        const index = (await s.client.post('/v2/repository/index')).json as { name: string; state?: string }[];
        row = index.find((r) => r.name === 'simple');
        if ((row as { state?: string })?.state === 'UNAVAILABLE') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(row).toEqual({ name: 'simple', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' });
    } finally {
      await s.stop();
    }
  });
});

describe('classification labels', () => {
  test('label_filename labels the top-k classes ("value:index:label")', async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const repo = mkdtempSync(join(tmpdir(), 'infermesh-labels-'));
    cpSync(join(EXAMPLES, 'simple'), join(repo, 'simple'), { recursive: true });
    const cfgPath = join(repo, 'simple', 'config.pbtxt');
    const cfg = readFileSync(cfgPath, 'utf8').replace(/(name:\s*"OUTPUT0")/, '$1\n    label_filename: "labels.txt"');
    expect(cfg).toContain('label_filename');
    writeFileSync(cfgPath, cfg);
    writeFileSync(join(repo, 'simple', 'labels.txt'), Array.from({ length: 16 }, (_, i) => `class-${i}`).join('\n') + '\n');
    const s = await startTestServer({ repositories: [repo] });
    try {
      const r = await s.client.post('/v2/models/simple/infer', {
        inputs: [
          { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, (_, i) => (i === 3 ? 50 : i)) },
          { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array(16).fill(0) }],
        outputs: [{ name: 'OUTPUT0', parameters: { classification: 2 } }],
      });
      expect(r.status).toBe(200);
      expect((r.json as { outputs: unknown[] }).outputs[0]).toEqual({ name: 'OUTPUT0', datatype: 'BYTES', shape: [1, 2], data: ['50:3:class-3', '15:15:class-15'] });
    } finally {
      await s.stop();
    }
  });
});
