/**
 * KServe v2 HTTP against a real server on 127.0.0.1 with real onnxruntime-node: every
 * endpoint, JSON and binary tensors, Triton's status codes and messages for bad input,
 * statistics and metrics, and hundreds of concurrent requests without mix-ups.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { InferRequest } from '../../protocol/infer.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let s: TestServer;
beforeAll(async () => { s = await startTestServer(); });
afterAll(async () => { await s?.stop(); });

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

function simpleRequest(a: number[], b: number[], extra: Partial<InferRequest> = {}): InferRequest {
  const batch = a.length / 16;
  return {
    modelName: 'simple', parameters: {},
    inputs: [
      { name: 'INPUT0', datatype: 'INT32', shape: [batch, 16], data: Int32Array.from(a) },
      { name: 'INPUT1', datatype: 'INT32', shape: [batch, 16], data: Int32Array.from(b) },
    ],
    ...extra,
  };
}

describe('health and metadata', () => {
  test('live and ready answer 200 with an empty body', async () => {
    for (const p of ['/v2/health/live', '/v2/health/ready']) {
      const r = await s.client.get(p);
      expect([p, r.status, r.text]).toEqual([p, 200, '']);
    }
  });

  test('server metadata lists the implemented extensions', async () => {
    const r = await s.client.get('/v2');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'infermesh', version: expect.any(String) });
    expect((r.json as { extensions: string[] }).extensions).toEqual(expect.arrayContaining(['binary_tensor_data', 'model_repository', 'statistics', 'model_configuration']));
  });

  test('model metadata prepends -1 for batching models, with and without a version', async () => {
    const want = {
      name: 'simple', versions: ['1'], platform: 'onnxruntime_onnx',
      inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] }, { name: 'INPUT1', datatype: 'INT32', shape: [-1, 16] }],
      outputs: [{ name: 'OUTPUT0', datatype: 'INT32', shape: [-1, 16] }, { name: 'OUTPUT1', datatype: 'INT32', shape: [-1, 16] }],
    };
    expect((await s.client.get('/v2/models/simple')).json).toEqual(want);
    expect((await s.client.get('/v2/models/simple/versions/1')).json).toEqual(want);
  });

  test('model ready, config (protobuf JSON with defaults) and auto-completed config', async () => {
    expect((await s.client.get('/v2/models/simple/ready')).status).toBe(200);
    expect((await s.client.get('/v2/models/simple/versions/1/ready')).status).toBe(200);
    const cfg = (await s.client.get('/v2/models/simple/config')).json as Record<string, unknown>;
    expect(cfg).toMatchObject({ name: 'simple', platform: 'onnxruntime_onnx', max_batch_size: 8 });
    expect((cfg.input as unknown[])[0]).toEqual({
      name: 'INPUT0', data_type: 'TYPE_INT32', format: 'FORMAT_NONE', dims: [16], is_shape_tensor: false,
      allow_ragged_batch: false, optional: false, is_non_linear_format_io: false,
    });
    // No config.pbtxt: completed from the model (first dim dynamic → batching with Triton's default 4).
    const auto = (await s.client.get('/v2/models/autocomplete_add/config')).json as Record<string, unknown>;
    expect(auto).toMatchObject({ name: 'autocomplete_add', max_batch_size: 4, dynamic_batching: expect.any(Object) });
    expect((auto.input as { name: string; dims: number[] }[]).map((i) => [i.name, i.dims])).toEqual([['x', [4]], ['y', [4]]]);
  });
});

describe('inference', () => {
  test('JSON in, JSON out: OUTPUT0 = sum, OUTPUT1 = difference, id echoed', async () => {
    const a = range(16, (i) => i);
    const b = range(16, () => 1);
    const r = await s.client.post('/v2/models/simple/infer', {
      id: 'req-1',
      inputs: [
        { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: a },
        { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: b },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.json).toEqual({
      model_name: 'simple', model_version: '1', id: 'req-1',
      outputs: [
        { name: 'OUTPUT0', datatype: 'INT32', shape: [1, 16], data: range(16, (i) => i + 1) },
        { name: 'OUTPUT1', datatype: 'INT32', shape: [1, 16], data: range(16, (i) => i - 1) },
      ],
    });
  });

  test('nested JSON data is accepted like flat data', async () => {
    const r = await s.client.post('/v2/models/simple/versions/1/infer', {
      inputs: [
        { name: 'INPUT0', shape: [2, 16], datatype: 'INT32', data: [range(16, (i) => i), range(16, (i) => 100 + i)] },
        { name: 'INPUT1', shape: [2, 16], datatype: 'INT32', data: range(32, () => 2) },
      ],
      outputs: [{ name: 'OUTPUT1' }],
    });
    expect(r.status).toBe(200);
    const out = (r.json as { outputs: { name: string; data: number[] }[] }).outputs;
    expect(out.map((o) => o.name)).toEqual(['OUTPUT1']);
    expect(out[0].data).toEqual([...range(16, (i) => i - 2), ...range(16, (i) => 98 + i)]);
  });

  test('binary inputs and binary outputs (Inference-Header-Content-Length)', async () => {
    const a = range(32, (i) => i * 3);
    const b = range(32, (i) => -i);
    const r = await s.client.inferRaw(simpleRequest(a, b), { binaryInputs: true, binaryOutputs: true });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    const hl = Number(r.headers.get('inference-header-content-length'));
    const header = JSON.parse(new TextDecoder().decode(r.body.subarray(0, hl)));
    expect(header.outputs.map((o: { name: string; parameters: unknown }) => [o.name, o.parameters])).toEqual([
      ['OUTPUT0', { binary_data_size: 128 }], ['OUTPUT1', { binary_data_size: 128 }],
    ]);
    expect(r.body.byteLength).toBe(hl + 256);
    const blob = r.body.slice(hl);
    const out0 = new Int32Array(blob.buffer, 0, 32);
    const out1 = new Int32Array(blob.buffer, 128, 32);
    expect([...out0]).toEqual(range(32, (i) => i * 2));
    expect([...out1]).toEqual(range(32, (i) => i * 4));
  });

  test('binary_data per output mixes JSON and binary outputs', async () => {
    const req = simpleRequest(range(16, (i) => i), range(16, () => 5), {
      outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }, { name: 'OUTPUT1', parameters: { binary_data: false } }],
    });
    const resp = await s.client.infer(req, { binaryInputs: true });
    expect(resp.outputs.map((o) => o.name)).toEqual(['OUTPUT0', 'OUTPUT1']);
    expect([...(resp.outputs[0].data as Int32Array)]).toEqual(range(16, (i) => i + 5));
    expect([...(resp.outputs[1].data as Int32Array)]).toEqual(range(16, (i) => i - 5));
  });

  test('raw binary request (Inference-Header-Content-Length: 0) on a single-input model', async () => {
    const meta = (await s.client.get('/v2/models/dense_mlp')).json as { inputs: { shape: number[] }[]; outputs: { name: string; shape: number[] }[] };
    const width = meta.inputs[0].shape[1];
    const x = Float32Array.from({ length: width }, (_, i) => (i % 9) / 9);
    const raw = await s.client.raw('POST', '/v2/models/dense_mlp/infer', new Uint8Array(x.buffer), { 'Inference-Header-Content-Length': '0' });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('application/octet-stream');
    const hl = Number(raw.headers.get('inference-header-content-length'));
    const header = JSON.parse(new TextDecoder().decode(raw.body.subarray(0, hl)));
    expect(header.outputs[0].shape).toEqual([1, meta.outputs[0].shape[1]]);
    // Same answer as the JSON form of the same request.
    const viaJson = await s.client.infer({ modelName: 'dense_mlp', parameters: {}, inputs: [{ name: (meta as unknown as { inputs: { name: string }[] }).inputs[0].name, datatype: 'FP32', shape: [1, width], data: x }] });
    const rawOut = new Float32Array(raw.body.slice(hl).buffer);
    expect([...rawOut]).toEqual([...(viaJson.outputs[0].data as Float32Array)]);
    // A model with two inputs cannot take a raw request.
    const two = await s.client.raw('POST', '/v2/models/simple/infer', new Uint8Array(128), { 'Inference-Header-Content-Length': '0' });
    expect(two.status).toBe(400);
    expect((two.json as { error: string }).error).toMatch(/exactly one input/);
  });

  test('classification extension returns top-k "value:index" BYTES', async () => {
    const resp = await s.client.infer(simpleRequest(range(16, (i) => (i * 7) % 16), range(16, () => 0), {
      outputs: [{ name: 'OUTPUT0', parameters: { classification: 2 } }],
    }));
    expect(resp.outputs[0]).toMatchObject({ name: 'OUTPUT0', datatype: 'BYTES', shape: [1, 2] });
    const labels = (resp.outputs[0].data as Uint8Array[]).map((e) => new TextDecoder().decode(e));
    // values are (i*7)%16: 15 at i=9, 14 at i=2.
    expect(labels).toEqual(['15:9', '14:2']);
  });

  test('gzip request bodies are decompressed and responses compressed on request', async () => {
    const { gzipSync, gunzipSync } = await import('node:zlib');
    const body = gzipSync(JSON.stringify({ inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: range(16, () => 1) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: range(16, () => 1) },
    ] }));
    const res = await fetch(`${s.client.base}/v2/models/simple/infer`, {
      method: 'POST', body, headers: { 'Content-Encoding': 'gzip', 'Accept-Encoding': 'identity' },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { outputs: { data: number[] }[] }).outputs[0].data).toEqual(range(16, () => 2));
    // Node's http.request does not auto-decompress, so we see the gzip bytes.
    const { request } = await import('node:http');
    const raw = await new Promise<{ enc?: string; body: Buffer }>((resolve, reject) => {
      const r = request(`${s.client.base}/v2/models/simple/infer`, { method: 'POST', headers: { 'Accept-Encoding': 'gzip', 'Content-Encoding': 'gzip' } }, (res2) => {
        const chunks: Buffer[] = [];
        res2.on('data', (c) => chunks.push(c)).on('end', () => resolve({ enc: res2.headers['content-encoding'], body: Buffer.concat(chunks) }));
      });
      r.on('error', reject);
      r.end(body);
    });
    expect(raw.enc).toBe('gzip');
    expect(JSON.parse(gunzipSync(raw.body).toString()).outputs[1].data).toEqual(range(16, () => 0));
  });
});

describe('errors are Triton\'s, and the server stays up', () => {
  const bad: [string, string, unknown, number, RegExp][] = [
    ['malformed JSON', '/v2/models/simple/infer', '{"inputs": [', 400, /JSON/i],
    ['wrong datatype', '/v2/models/simple/infer', { inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'FP32', data: range(16, () => 1) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: range(16, () => 1) }] }, 400,
    /inference input 'INPUT0' data-type is 'FP32', but model 'simple' expects 'INT32'/],
    ['wrong shape', '/v2/models/simple/infer', { inputs: [
      { name: 'INPUT0', shape: [1, 15], datatype: 'INT32', data: range(15, () => 1) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: range(16, () => 1) }] }, 400,
    /unexpected shape for input 'INPUT0' for model 'simple'\. Expected \[-1,16\], got \[1,15\]/],
    ['shape without the batch dim gets Triton\'s NOTE', '/v2/models/simple/infer', { inputs: [
      { name: 'INPUT0', shape: [2, 8], datatype: 'INT32', data: range(16, () => 1) },
      { name: 'INPUT1', shape: [2, 8], datatype: 'INT32', data: range(16, () => 1) }] }, 400, /requires a batch dimension to be prepended/],
    ['data size mismatch', '/v2/models/simple/infer', { inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: range(12, () => 1) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: range(16, () => 1) }] }, 400, /INPUT0/],
    ['batch over max_batch_size', '/v2/models/simple/infer', { inputs: [
      { name: 'INPUT0', shape: [9, 16], datatype: 'INT32', data: range(144, () => 1) },
      { name: 'INPUT1', shape: [9, 16], datatype: 'INT32', data: range(144, () => 1) }] }, 400,
    /inference request batch-size must be <= 8 for 'simple'/],
    ['missing input', '/v2/models/simple/infer', { inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: range(16, () => 1) }] }, 400, /missing required input\(s\) \['INPUT1'\]/],
    ['unknown output', '/v2/models/simple/infer', { inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: range(16, () => 1) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: range(16, () => 1) }], outputs: [{ name: 'NOPE' }] }, 400,
    /unexpected inference output 'NOPE' for model 'simple'/],
    ['unknown datatype', '/v2/models/simple/infer', { inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'STRING', data: range(16, () => 1) }] }, 400, /STRING/],
    ['triton_ parameter', '/v2/models/simple/infer', { parameters: { triton_x: 1 }, inputs: [] }, 400, /reserved/],
    ['unknown model', '/v2/models/nope/infer', { inputs: [] }, 404, /^Request for unknown model: 'nope' is not found$/],
    ['unknown version', '/v2/models/simple/versions/7/infer', { inputs: [] }, 404, /^Request for unknown model: 'simple' version 7 is not found$/],
  ];
  test.each(bad)('%s', async (_name, path, body, status, message) => {
    const r = await s.client.raw('POST', path, typeof body === 'string' ? body : JSON.stringify(body), { 'Content-Type': 'application/json' });
    expect(r.status).toBe(status);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(Object.keys(r.json as object)).toEqual(['error']);
    expect((r.json as { error: string }).error).toMatch(message);
  });

  test('bad binary header values and short binary data', async () => {
    const json = JSON.stringify({ inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } }] });
    const body = new Uint8Array([...new TextEncoder().encode(json), ...new Uint8Array(100)]);
    const over = await s.client.raw('POST', '/v2/models/simple/infer', body, { 'Inference-Header-Content-Length': '99999' });
    expect(over.status).toBe(400);
    const nan = await s.client.raw('POST', '/v2/models/simple/infer', body, { 'Inference-Header-Content-Length': 'abc' });
    expect(nan.status).toBe(400);
    const short = await s.client.raw('POST', '/v2/models/simple/infer', body, { 'Inference-Header-Content-Length': String(json.length) });
    expect(short.status).toBe(400);
    expect((short.json as { error: string }).error).toMatch(/unexpected size for input 'INPUT1', expecting 28 additional bytes for model 'simple'/);
    const missing = await s.client.raw('POST', '/v2/models/simple/infer', body);
    expect(missing.status).toBe(400);
  });

  test('unknown paths 404, wrong methods 405, load/unload outside explicit mode 503', async () => {
    expect(await s.client.get('/v2/nothing')).toMatchObject({ status: 404, json: { error: 'Not Found' } });
    expect(await s.client.get('/v3')).toMatchObject({ status: 404 });
    expect(await s.client.get('/v2/models/simple/infer')).toMatchObject({ status: 405, json: { error: 'Method Not Allowed' } });
    expect(await s.client.post('/v2/health/live')).toMatchObject({ status: 405 });
    expect((await s.client.get('/v2/models/simple/versions/x')).status).toBe(404);
    const load = await s.client.post('/v2/repository/models/simple/load');
    expect(load).toMatchObject({ status: 503, json: { error: 'explicit model load / unload is not allowed if polling is enabled' } });
    expect(await s.client.post('/v2/repository/models/simple/unload')).toMatchObject({ status: 503 });
    expect(await s.client.post('/v2/repository/other/models/simple/load')).toMatchObject({ status: 501 });
    expect((await s.client.get('/v2/health/live')).status).toBe(200);
  });

  test('a body over the limit is refused with 400 and a hint', async () => {
    const small = await startTestServer({ maxBodyBytes: 4096 });
    try {
      const r = await small.client.raw('POST', '/v2/models/simple/infer', new Uint8Array(10_000));
      expect(r.status).toBe(400);
      expect((r.json as { error: string }).error).toMatch(/exceeds the limit of 4096 bytes.*--http-max-body-bytes/);
    } finally {
      await small.stop();
    }
  });
});

describe('repository index, statistics and metrics', () => {
  test('index lists every model with its state', async () => {
    const r = await s.client.post('/v2/repository/index', {});
    const rows = r.json as { name: string; version?: string; state?: string }[];
    expect(rows.find((x) => x.name === 'simple')).toEqual({ name: 'simple', version: '1', state: 'READY' });
    expect(rows.map((x) => x.name)).toEqual(expect.arrayContaining(['simple', 'dense_mlp', 'autocomplete_add']));
    expect((await s.client.post('/v2/repository/index', { ready: 'yes' })).status).toBe(400);
  });

  test('statistics count successes, executions and keep the compute counts equal', async () => {
    const before = ((await s.client.get('/v2/models/autocomplete_add/stats')).json as { model_stats: any[] }).model_stats[0];
    const x = { name: 'x', datatype: 'FP32' as const, shape: [2, 4], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };
    const y = { name: 'y', datatype: 'FP32' as const, shape: [2, 4], data: Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1]) };
    for (let i = 0; i < 3; i++) {
      const resp = await s.client.infer({ modelName: 'autocomplete_add', parameters: {}, inputs: [x, y] });
      expect([...(resp.outputs[0].data as Float32Array)]).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    }
    const st = ((await s.client.get('/v2/models/autocomplete_add/versions/1/stats')).json as { model_stats: any[] }).model_stats[0];
    expect(st.name).toBe('autocomplete_add');
    expect(st.version).toBe('1');
    const is = st.inference_stats;
    expect(is.success.count - before.inference_stats.success.count).toBe(3);
    expect(st.inference_count - before.inference_count).toBe(6);
    expect(is.compute_input.count).toBe(is.compute_infer.count);
    expect(is.compute_infer.count).toBe(is.compute_output.count);
    expect(is.queue.count).toBe(is.success.count);
    expect(is.success.ns).toBeGreaterThan(0);
    expect(st.batch_stats.some((b: { batch_size: number }) => b.batch_size === 2)).toBe(true);
    expect(st.last_inference).toBeGreaterThan(Date.now() - 60_000);
    const all = (await s.client.get('/v2/models/stats')).json as { model_stats: { name: string }[] };
    expect(all.model_stats.map((m) => m.name)).toEqual(expect.arrayContaining(['autocomplete_add', 'simple', 'dense_mlp']));
    expect((await s.client.get('/v2/models/nope/stats')).status).toBe(400);
  });

  test('Prometheus metrics use Triton names and labels', async () => {
    await s.client.infer(simpleRequest(range(16, () => 1), range(16, () => 1)));
    const res = await fetch(s.metricsUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const text = await res.text();
    expect(text).toContain('# TYPE nv_inference_request_success counter');
    expect(text).toMatch(/^nv_inference_request_success\{model="simple",version="1"\} [1-9]\d*$/m);
    expect(text).toMatch(/^nv_inference_request_failure\{model="simple",version="1",reason="OTHER"\} [1-9]\d*$/m);
    expect(text).toMatch(/^nv_inference_request_failure\{model="simple",version="1",reason="REJECTED"\} 0$/m);
    for (const name of ['nv_inference_count', 'nv_inference_exec_count', 'nv_inference_request_duration_us', 'nv_inference_queue_duration_us',
      'nv_inference_compute_input_duration_us', 'nv_inference_compute_infer_duration_us', 'nv_inference_compute_output_duration_us',
      'nv_inference_pending_request_count', 'nv_cpu_utilization', 'nv_cpu_memory_total_bytes', 'nv_cpu_memory_used_bytes']) {
      expect(text).toContain(`# HELP ${name} `);
    }
    expect((await fetch(s.metricsUrl.replace('/metrics', '/other'))).status).toBe(404);
  });
});

describe('load figures for the mesh', () => {
  test('inflightOf counts requests inside the server per version and returns to 0', async () => {
    const core = s.handle.core;
    const served = core.repository.get('dense_mlp');
    const meta = (await s.client.get('/v2/models/dense_mlp')).json as { inputs: { name: string; shape: number[] }[] };
    const width = meta.inputs[0].shape[1];
    const body = { inputs: [{ name: meta.inputs[0].name, shape: [32, width], datatype: 'FP32', data: Array(32 * width).fill(0.1) }] };
    const running = Array.from({ length: 6 }, () => s.client.post('/v2/models/dense_mlp/infer', body));
    let peak = 0;
    for (let i = 0; i < 200 && peak < 2; i++) {
      peak = Math.max(peak, core.inflightOf(served));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(peak).toBeGreaterThanOrEqual(2);
    expect((await Promise.all(running)).map((r) => r.status)).toEqual(Array(6).fill(200));
    expect(core.inflightOf(served)).toBe(0);
  });
});

describe('concurrency', () => {
  test('hundreds of concurrent requests to two models, each gets its own answer', async () => {
    const jobs = range(400, (i) => i).map(async (i) => {
      if (i % 2 === 0) {
        const a = range(16, (k) => i * 100 + k);
        const b = range(16, (k) => k);
        const resp = await s.client.infer(simpleRequest(a, b, { id: `s${i}` }), { binaryInputs: i % 4 === 0, binaryOutputs: i % 3 === 0 });
        expect(resp.id).toBe(`s${i}`);
        expect([...(resp.outputs[0].data as Int32Array)]).toEqual(range(16, (k) => i * 100 + 2 * k));
        expect([...(resp.outputs[1].data as Int32Array)]).toEqual(range(16, () => i * 100));
      } else {
        const x = Float32Array.from(range(4, (k) => i + k));
        const resp = await s.client.infer({ modelName: 'autocomplete_add', id: `a${i}`, parameters: {}, inputs: [
          { name: 'x', datatype: 'FP32', shape: [1, 4], data: x },
          { name: 'y', datatype: 'FP32', shape: [1, 4], data: Float32Array.from([i, i, i, i]) }] }, { binaryInputs: i % 3 === 0 });
        expect(resp.id).toBe(`a${i}`);
        expect([...(resp.outputs[0].data as Float32Array)]).toEqual(range(4, (k) => 2 * i + k));
      }
    });
    await Promise.all(jobs);
    expect((await s.client.get('/v2/health/live')).status).toBe(200);
  });
});
