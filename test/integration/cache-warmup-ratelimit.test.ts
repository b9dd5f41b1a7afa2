/**
 * Response cache, model warmup and rate limiter end to end: real onnxruntime-node, real HTTP
 * on 127.0.0.1, a temporary repository whose configs turn the features on, and the CLI flags
 * in a real process.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, copyFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLES, startTestServer, type TestServer } from '../support/test-server.ts';
import { spawnServer } from '../support/spawn-server.ts';
import { KServeClient } from '../support/kserve-client.ts';
import type { InferRequest } from '../../protocol/infer.ts';
import { createGrpcClient } from '../support/grpc-client.ts';

const SIMPLE_IO = `max_batch_size: 8
input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "INPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 16 ] }, { name: "OUTPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]`;

const warmupInput = (key: string, source: string) => `inputs { key: "${key}" value { data_type: TYPE_INT32 dims: [ 16 ] ${source} } }`;

/** A model folder holding `simple`'s model.onnx with `config`, plus `files` (relative paths). */
function simpleModel(repo: string, name: string, config: string, files: Record<string, Uint8Array> = {}): void {
  mkdirSync(join(repo, name, '1'), { recursive: true });
  copyFileSync(join(EXAMPLES, 'simple', '1', 'model.onnx'), join(repo, name, '1', 'model.onnx'));
  writeFileSync(join(repo, name, 'config.pbtxt'), `name: "${name}"\nplatform: "onnxruntime_onnx"\n${SIMPLE_IO}\n${config}\n`);
  for (const [rel, bytes] of Object.entries(files)) {
    mkdirSync(join(repo, name, rel, '..'), { recursive: true });
    writeFileSync(join(repo, name, rel), bytes);
  }
}

/** A `dense_mlp` (about 1-5 ms per execution) under another name, sharing the example's model file. */
function mlpModel(repo: string, name: string, instanceGroup: string): void {
  mkdirSync(join(repo, name, '1'), { recursive: true });
  symlinkSync(join(EXAMPLES, 'dense_mlp', '1', 'model.onnx'), join(repo, name, '1', 'model.onnx'));
  writeFileSync(join(repo, name, 'config.pbtxt'), `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 32
input [ { name: "input" data_type: TYPE_FP32 dims: [ 512 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 512 ] } ]
instance_group [ ${instanceGroup} ]
parameters { key: "intra_op_thread_count" value: { string_value: "1" } }
`);
}

const int32 = (values: number[]) => new Uint8Array(Int32Array.from(values).buffer);
const range = (f: (i: number) => number) => Array.from({ length: 16 }, (_, i) => f(i));

function simpleRequest(model: string, a: number[], b: number[], extra: Partial<InferRequest> = {}): InferRequest {
  return {
    modelName: model, parameters: {}, ...extra,
    inputs: [
      { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: Int32Array.from(a) },
      { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: Int32Array.from(b) },
    ],
  };
}

interface Stats {
  execution_count: number;
  inference_count: number;
  inference_stats: Record<string, { count: number; ns: number }>;
  batch_stats: { batch_size: number; compute_input: { ns: number }; compute_infer: { count: number; ns: number }; compute_output: { ns: number } }[];
}

async function statsOf(client: KServeClient, model: string): Promise<Stats> {
  const r = await client.get(`/v2/models/${model}/stats`);
  expect(r.status).toBe(200);
  return (r.json as { model_stats: Stats[] }).model_stats[0];
}

let repo: string;
let s: TestServer;

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), 'infermesh-cwr-'));
  simpleModel(repo, 'cached_simple', 'instance_group [ { kind: KIND_CPU count: 1 } ]\nresponse_cache { enable: true }');
  simpleModel(repo, 'warm_simple', `instance_group [ { kind: KIND_CPU count: 2 } ]
model_warmup [
  { name: "zeros" batch_size: 8 count: 3 ${warmupInput('INPUT0', 'zero_data: true')} ${warmupInput('INPUT1', 'zero_data: true')} },
  { name: "random" batch_size: 2 ${warmupInput('INPUT0', 'random_data: true')} ${warmupInput('INPUT1', 'random_data: true')} },
  { name: "file" batch_size: 1 ${warmupInput('INPUT0', 'input_data_file: "in0.bin"')} ${warmupInput('INPUT1', 'input_data_file: "in1.bin"')} }
]`, { 'warmup/in0.bin': int32(range((i) => i)), 'warmup/in1.bin': int32(range(() => 1)) });
  simpleModel(repo, 'bad_warmup', `model_warmup [ { name: "short_file" batch_size: 1 ${warmupInput('INPUT0', 'input_data_file: "short.bin"')} ${warmupInput('INPUT1', 'zero_data: true')} } ]`,
    { 'warmup/short.bin': new Uint8Array(10) });
  s = await startTestServer({ repositories: [repo], strictReadiness: false });
}, 60_000);
afterAll(async () => { await s?.stop(); });

describe('response cache over HTTP', () => {
  test('a repeated request is answered from the cache: same answer, no execution, Triton statistics and metrics', async () => {
    const a = range((i) => i * 3);
    const b = range((i) => 100 - i);
    const first = await s.client.infer(simpleRequest('cached_simple', a, b, { id: 'one' }));
    expect(Array.from(first.outputs[0].data as Int32Array)).toEqual(a.map((x, i) => x + b[i]));
    const before = await statsOf(s.client, 'cached_simple');
    expect(before.execution_count).toBe(1);
    expect(before.inference_stats.cache_miss.count).toBe(1);

    // Same inputs; binary outputs and a priority change only the encoding and the queue.
    const hit = await s.client.infer(simpleRequest('cached_simple', a, b, { id: 'two', parameters: { priority: 1 } }), { binaryOutputs: true });
    expect(hit.id).toBe('two');
    expect(hit.outputs.map((t) => [t.name, t.shape, Array.from(t.data as Int32Array)])).toEqual(first.outputs.map((t) => [t.name, t.shape, Array.from(t.data as Int32Array)]));
    const hit2 = await s.client.infer(simpleRequest('cached_simple', a, b));
    expect(Array.from(hit2.outputs[1].data as Int32Array)).toEqual(a.map((x, i) => x - b[i]));

    const after = await statsOf(s.client, 'cached_simple');
    expect(after.execution_count).toBe(1);
    expect(after.inference_count).toBe(1);
    expect(after.inference_stats.success.count).toBe(3);
    expect(after.inference_stats.queue.count).toBe(3);
    expect(after.inference_stats.cache_hit.count).toBe(2);
    expect(after.inference_stats.cache_hit.ns).toBeGreaterThan(0);
    expect(after.inference_stats.cache_miss.count).toBe(1);
    expect(after.inference_stats.compute_infer.count).toBe(1);

    // Another output selection is another answer, computed once.
    const only1 = await s.client.infer(simpleRequest('cached_simple', a, b, { outputs: [{ name: 'OUTPUT1' }] }));
    expect(only1.outputs.map((t) => t.name)).toEqual(['OUTPUT1']);
    expect((await statsOf(s.client, 'cached_simple')).execution_count).toBe(2);

    const metrics = await (await fetch(s.metricsUrl)).text();
    expect(metrics).toContain('nv_cache_num_hits_per_model{model="cached_simple",version="1"} 2');
    expect(metrics).toContain('nv_cache_num_misses_per_model{model="cached_simple",version="1"} 2');
    expect(metrics).toMatch(/nv_cache_hit_duration_per_model\{model="cached_simple",version="1"\} \d+/);
    expect(metrics).toContain('nv_inference_exec_count{model="cached_simple",version="1"} 2');
    expect(metrics).toContain('nv_inference_request_success{model="cached_simple",version="1"} 4');
    // Models without response_cache export no cache families.
    expect(metrics).not.toMatch(/nv_cache_num_hits_per_model\{model="warm_simple"/);
  });
});

describe('response cache over gRPC', () => {
  test('a gRPC request hits the entry an HTTP request filled; gRPC statistics show the hit', async () => {
    const grpc = createGrpcClient(s.grpcUrl);
    try {
      const a = range((i) => 1000 + i);
      const b = range(() => 7);
      const viaHttp = await s.client.infer(simpleRequest('cached_simple', a, b));
      const before = await statsOf(s.client, 'cached_simple');
      const viaGrpc = await grpc.infer(simpleRequest('cached_simple', a, b, { id: 'g' }));
      expect(viaGrpc.id).toBe('g');
      expect(viaGrpc.outputs.map((t) => [t.name, t.shape, Array.from(t.data as Int32Array)])).toEqual(viaHttp.outputs.map((t) => [t.name, t.shape, Array.from(t.data as Int32Array)]));
      const after = await statsOf(s.client, 'cached_simple');
      expect(after.execution_count).toBe(before.execution_count);
      expect(after.inference_stats.cache_hit.count).toBe(before.inference_stats.cache_hit.count + 1);
      const viaGrpcStats = (await grpc.modelStatistics('cached_simple')).model_stats[0] as { inference_stats: Record<string, { count: number }> };
      expect(Number(viaGrpcStats.inference_stats.cache_hit.count)).toBe(after.inference_stats.cache_hit.count);
      expect(Number(viaGrpcStats.inference_stats.cache_miss.count)).toBe(after.inference_stats.cache_miss.count);
    } finally {
      grpc.close();
    }
  });
});

describe('model warmup', () => {
  test('zero, random and file samples run at load; the model is READY and the statistics show no execution', async () => {
    const index = (await s.client.post('/v2/repository/index')).json as { name: string; state?: string; reason?: string }[];
    expect(index.find((r) => r.name === 'warm_simple')).toEqual({ name: 'warm_simple', version: '1', state: 'READY' });
    const st = await statsOf(s.client, 'warm_simple');
    expect(st.execution_count).toBe(0);
    expect(st.inference_stats.success.count).toBe(0);
    expect(st.batch_stats).toEqual([]);
    const r = await s.client.infer(simpleRequest('warm_simple', range((i) => i), range(() => 1)));
    expect(Array.from(r.outputs[0].data as Int32Array)).toEqual(range((i) => i + 1));
    expect((await statsOf(s.client, 'warm_simple')).execution_count).toBe(1);
  });

  test('a warmup file too short for its dims fails the load, with the sample named in the index', async () => {
    const index = (await s.client.post('/v2/repository/index')).json as { name: string; state?: string; reason?: string }[];
    expect(index.find((r) => r.name === 'bad_warmup')).toEqual({
      name: 'bad_warmup', version: '1', state: 'UNAVAILABLE',
      reason: "model 'bad_warmup': failed to run warmup sample 'short_file': input 'INPUT0': warmup setting expects 64 bytes (16 × INT32), but the data provided from 'warmup/short.bin' only has 10 bytes",
    });
    expect((await s.client.get('/v2/models/bad_warmup/ready')).status).not.toBe(200);
  });
});

describe('rate limiter with ONNX Runtime', () => {
  const mlpRequest = (model: string, seed: number): InferRequest => ({
    modelName: model, parameters: {},
    inputs: [{ name: 'input', datatype: 'FP32', shape: [8, 512], data: Float32Array.from({ length: 8 * 512 }, (_, i) => ((i * 7 + seed) % 13) / 13) }],
  });

  /**
   * Sends `perModel` concurrent requests to each of two models and returns the wall time and
   * the summed execution time (compute input + infer + output of every execution). Executions
   * that never overlap fit inside the wall time; overlapping ones may add up to more.
   */
  async function burst(client: KServeClient, models: string[], perModel: number): Promise<{ wallMs: number; busyMs: number }> {
    const t0 = performance.now();
    await Promise.all(models.flatMap((m) => Array.from({ length: perModel }, (_, i) => client.infer(mlpRequest(m, i), { binaryInputs: true, binaryOutputs: true }))));
    const wallMs = performance.now() - t0;
    let busyNs = 0;
    for (const m of models) {
      for (const b of (await statsOf(client, m)).batch_stats) busyNs += b.compute_input.ns + b.compute_infer.ns + b.compute_output.ns;
    }
    return { wallMs, busyMs: busyNs / 1e6 };
  }

  test('one global resource of count 1 serialises two models; without the limiter they overlap', async () => {
    const limited = mkdtempSync(join(tmpdir(), 'infermesh-rl-'));
    const group = 'count: 1 kind: KIND_CPU rate_limiter { resources [ { name: "R" global: true count: 1 } ] }';
    mlpModel(limited, 'mlp_a', `{ ${group} }`);
    mlpModel(limited, 'mlp_b', `{ ${group} }`);
    const on = await startTestServer({ repositories: [limited], rateLimit: {} });
    let serial: { wallMs: number; busyMs: number };
    try {
      serial = await burst(on.client, ['mlp_a', 'mlp_b'], 40);
    } finally {
      await on.stop();
    }
    const off = await startTestServer({ repositories: [limited] });
    let parallel: { wallMs: number; busyMs: number };
    try {
      parallel = await burst(off.client, ['mlp_a', 'mlp_b'], 40);
    } finally {
      await off.stop();
    }
    console.log(`rate limiter on: wall ${serial.wallMs.toFixed(1)} ms, executions ${serial.busyMs.toFixed(1)} ms; off: wall ${parallel.wallMs.toFixed(1)} ms, executions ${parallel.busyMs.toFixed(1)} ms`);
    // Serialised: executions are disjoint intervals inside the burst.
    expect(serial.busyMs).toBeLessThanOrEqual(serial.wallMs);
    // The control shows the check can fail: two workers on two cores overlap.
    expect(parallel.busyMs).toBeGreaterThan(parallel.wallMs);
  }, 60_000);
});

describe('CLI flags', () => {
  test('--cache-config, --rate-limit and --rate-limit-resource reach the server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'infermesh-cwr-cli-'));
    simpleModel(dir, 'cached_simple', 'instance_group [ { kind: KIND_CPU count: 1 } ]\nresponse_cache { enable: true }');
    simpleModel(dir, 'needs_two', 'instance_group [ { kind: KIND_CPU count: 1 rate_limiter { resources [ { name: "R" count: 2 } ] } } ]');
    const proc = await spawnServer(['--model-repository', dir, '--http-port', '0', '--metrics-port', '0', '--host', '127.0.0.1', '--no-mesh',
      '--cache-config', 'local,size=1048576', '--rate-limit', 'execution_count', '--rate-limit-resource', 'R:1']);
    try {
      const client = new KServeClient(proc.httpUrl);
      const index = (await client.post('/v2/repository/index')).json as { name: string; state?: string; reason?: string }[];
      const two = index.find((r) => r.name === 'needs_two');
      expect(two?.state).toBe('UNAVAILABLE');
      expect(two?.reason).toContain('Resource count for "R" is limited to 1 which will prevent scheduling of one or more model instances, the minimum required count is 2');
      for (let i = 0; i < 3; i++) await client.infer(simpleRequest('cached_simple', range(() => 1), range(() => 2)));
      const st = await statsOf(client, 'cached_simple');
      expect([st.execution_count, st.inference_stats.cache_hit.count]).toEqual([1, 2]);
    } finally {
      proc.child.kill('SIGKILL');
    }
  }, 60_000);
});
