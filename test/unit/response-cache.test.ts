/**
 * The response cache: exact keys (everything that changes an answer, nothing that does not),
 * collision safety, LRU eviction by bytes, copies in and out, and the server around it
 * (hits skip the scheduler; Triton's statistics and cache metrics).
 */
import { describe, expect, test } from 'vitest';
import { hashWords, responseCacheKey, sameKey, type CacheKey } from '../../core/response-cache-key.ts';
import {
  DEFAULT_RESPONSE_CACHE_BYTES, ENTRY_OVERHEAD_BYTES, modelUsesResponseCache, requestIsCacheable, ResponseCache,
} from '../../core/response-cache.ts';
import { formatPrometheus } from '../../core/prometheus.ts';
import type { InferRequest } from '../../protocol/infer.ts';
import type { Tensor } from '../../protocol/tensor.ts';
import { modelConfig } from '../support/scheduler-fixtures.ts';
import { fp32Config, fp32Signature, startFakeModelServer } from '../support/fake-model-server.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { parseCacheConfig } from '../../node-host/cli-cache-rate-limit.ts';

const f32 = (name: string, shape: number[], values: number[]): Tensor => ({ name, datatype: 'FP32', shape, data: Float32Array.from(values) });

function request(over: Partial<InferRequest> = {}): InferRequest {
  return { modelName: 'm', parameters: {}, inputs: [f32('A', [1, 4], [1, 2, 3, 4]), f32('B', [1, 4], [5, 6, 7, 8])], ...over };
}

const key = (r: InferRequest, scope = 'm\u00001\u00001') => responseCacheKey(scope, r);
const same = (a: CacheKey, b: CacheKey) => a.hash === b.hash && sameKey(a.bytes, b.bytes);

describe('cache key', () => {
  test('equal requests give equal keys; input order does not matter', () => {
    expect(same(key(request()), key(request()))).toBe(true);
    const swapped = request();
    swapped.inputs.reverse();
    expect(same(key(request()), key(swapped))).toBe(true);
    expect(key(request()).bytes.byteLength % 4).toBe(0);
  });

  test('every part that changes the answer changes the key', () => {
    const base = key(request());
    const variants: [string, CacheKey][] = [
      ['model/version scope', key(request(), 'm\u00002\u00001')],
      ['another load of the same version', key(request(), 'm\u00001\u00002')],
      ['input name', key(request({ inputs: [f32('A', [1, 4], [1, 2, 3, 4]), f32('C', [1, 4], [5, 6, 7, 8])] }))],
      ['shape with the same bytes', key(request({ inputs: [f32('A', [2, 2], [1, 2, 3, 4]), f32('B', [1, 4], [5, 6, 7, 8])] }))],
      ['datatype with the same bytes', key(request({ inputs: [{ name: 'A', datatype: 'INT32', shape: [1, 4], data: new Int32Array(Float32Array.from([1, 2, 3, 4]).buffer) }, f32('B', [1, 4], [5, 6, 7, 8])] }))],
      ['one input value', key(request({ inputs: [f32('A', [1, 4], [1, 2, 3, 4]), f32('B', [1, 4], [5, 6, 7, 9])] }))],
      ['requested outputs', key(request({ outputs: [{ name: 'OUTPUT0' }] }))],
      ['requested output order', key(request({ outputs: [{ name: 'OUTPUT1' }, { name: 'OUTPUT0' }] }))],
      ['classification', key(request({ outputs: [{ name: 'OUTPUT0', parameters: { classification: 2 } }] }))],
      ['a custom request parameter', key(request({ parameters: { temperature: 0.5 } }))],
    ];
    for (const [what, k] of variants) expect(same(base, k), what).toBe(false);
    expect(same(key(request({ outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT1' }] })), key(request({ outputs: [{ name: 'OUTPUT1' }, { name: 'OUTPUT0' }] })))).toBe(false);
  });

  test('scheduling and encoding parameters do not change the key', () => {
    const base = key(request({ outputs: [{ name: 'OUTPUT0' }] }));
    const neutral = key(request({
      parameters: { priority: 1, timeout: 5000, binary_data_output: true },
      outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }],
    }));
    expect(same(base, neutral)).toBe(true);
  });

  test('BYTES elements keep their boundaries: ["ab","c"] differs from ["a","bc"]', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    const bytes = (els: string[]): InferRequest => request({ inputs: [{ name: 'S', datatype: 'BYTES', shape: [els.length], data: els.map(enc) }] });
    expect(same(key(bytes(['ab', 'c'])), key(bytes(['a', 'bc'])))).toBe(false);
    expect(same(key(bytes(['ab', 'c'])), key(bytes(['ab', 'c'])))).toBe(true);
  });

  test('hashWords spreads nearby inputs and sameKey compares every word', () => {
    const hashes = new Set<number>();
    for (let i = 0; i < 1000; i++) hashes.add(hashWords(Uint32Array.of(i, 0, 0)));
    expect(hashes.size).toBe(1000);
    expect(sameKey(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 9))).toBe(false);
    expect(sameKey(Uint8Array.of(1, 2, 3, 4), Uint8Array.of(1, 2, 3, 4, 0, 0, 0, 0))).toBe(false);
  });
});

describe('ResponseCache', () => {
  const out = (v: number, n = 4): Tensor[] => [f32('OUTPUT0', [1, n], Array(n).fill(v))];

  test('a hash collision never returns another request\'s answer', () => {
    const cache = new ResponseCache({ maxBytes: 1 << 20 });
    const k1 = key(request());
    const k2real = key(request({ inputs: [f32('A', [1, 4], [9, 9, 9, 9])] }));
    // Force the collision: same hash, different bytes.
    const k2: CacheKey = { bytes: k2real.bytes, hash: k1.hash };
    cache.insert(k1, out(1));
    expect(cache.lookup(k2)).toBeUndefined();
    cache.insert(k2, out(2));
    expect(cache.size).toBe(2);
    expect(Array.from(cache.lookup(k1)![0].data as Float32Array)).toEqual([1, 1, 1, 1]);
    expect(Array.from(cache.lookup(k2)![0].data as Float32Array)).toEqual([2, 2, 2, 2]);
    // Removing one of the chained entries keeps the other reachable.
    cache.insert(k1, out(3));
    expect(cache.size).toBe(2);
    expect(Array.from(cache.lookup(k2)![0].data as Float32Array)).toEqual([2, 2, 2, 2]);
    expect(Array.from(cache.lookup(k1)![0].data as Float32Array)).toEqual([3, 3, 3, 3]);
  });

  test('evicts least recently used entries by bytes; never exceeds the bound', () => {
    const keys = [1, 2, 3, 4].map((v) => key(request({ inputs: [f32('A', [1, 1], [v])] })));
    const probe = new ResponseCache({ maxBytes: 1 << 20 });
    probe.insert(keys[0], out(0, 256));
    const one = probe.bytes;
    expect(one).toBeGreaterThan(1024 + ENTRY_OVERHEAD_BYTES);
    const cache = new ResponseCache({ maxBytes: one * 2 + 10 });
    cache.insert(keys[0], out(0, 256));
    cache.insert(keys[1], out(1, 256));
    expect(cache.lookup(keys[0])).toBeDefined(); // 0 is now the most recent
    cache.insert(keys[2], out(2, 256));
    expect(cache.size).toBe(2);
    expect(cache.evictions).toBe(1);
    expect(cache.lookup(keys[1])).toBeUndefined();
    expect(cache.lookup(keys[0])).toBeDefined();
    expect(cache.lookup(keys[2])).toBeDefined();
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
    // An entry bigger than the whole cache is refused and evicts nothing.
    expect(cache.insert(keys[3], out(3, 4096))).toBe(false);
    expect(cache.size).toBe(2);
  });

  test('holds copies: mutating what went in or came out changes nothing', () => {
    const cache = new ResponseCache({ maxBytes: 1 << 20 });
    const k = key(request());
    const enc = new TextEncoder();
    const outputs: Tensor[] = [f32('OUTPUT0', [1, 2], [1, 2]), { name: 'S', datatype: 'BYTES', shape: [2], data: [enc.encode('ab'), enc.encode('c')] }];
    cache.insert(k, outputs);
    (outputs[0].data as Float32Array)[0] = 99;
    (outputs[1].data as Uint8Array[])[0][0] = 0;
    outputs[0].shape[0] = 7;
    const first = cache.lookup(k)!;
    expect(Array.from(first[0].data as Float32Array)).toEqual([1, 2]);
    expect(first[0].shape).toEqual([1, 2]);
    expect(new TextDecoder().decode((first[1].data as Uint8Array[])[0])).toBe('ab');
    (first[0].data as Float32Array)[1] = -1;
    (first[1].data as Uint8Array[])[1][0] = 0;
    const second = cache.lookup(k)!;
    expect(Array.from(second[0].data as Float32Array)).toEqual([1, 2]);
    expect(new TextDecoder().decode((second[1].data as Uint8Array[])[1])).toBe('c');
  });

  test('a view into a large buffer is stored compactly (only its own bytes)', () => {
    const big = new Float32Array(1 << 16);
    const view: Tensor = { name: 'OUTPUT0', datatype: 'FP32', shape: [1, 4], data: big.subarray(8, 12) };
    const cache = new ResponseCache({ maxBytes: 1 << 20 });
    cache.insert(key(request()), [view]);
    expect((cache.lookup(key(request()))![0].data as Float32Array).buffer.byteLength).toBe(16);
    expect(cache.bytes).toBeLessThan(2048);
  });

  test('refuses a size that is not a positive integer; default is 64 MiB', () => {
    expect(() => new ResponseCache({ maxBytes: 0 })).toThrow(/positive integer/);
    expect(DEFAULT_RESPONSE_CACHE_BYTES).toBe(64 * 1024 * 1024);
  });

  test('which models and requests are cached (Triton: not decoupled, not sequence)', () => {
    const cfg = modelConfig();
    expect(modelUsesResponseCache(cfg)).toBe(false);
    expect(modelUsesResponseCache({ ...cfg, response_cache: { enable: true } })).toBe(true);
    expect(modelUsesResponseCache({ ...cfg, response_cache: { enable: true }, model_transaction_policy: { decoupled: true } })).toBe(false);
    expect(modelUsesResponseCache({ ...cfg, response_cache: { enable: true }, sequence_batching: {} as never })).toBe(false);
    expect(requestIsCacheable(request())).toBe(true);
    expect(requestIsCacheable(request({ parameters: { sequence_id: 0, sequence_start: false } }))).toBe(true);
    expect(requestIsCacheable(request({ parameters: { sequence_id: 7 } }))).toBe(false);
    expect(requestIsCacheable(request({ parameters: { sequence_id: 'abc' } }))).toBe(false);
    expect(requestIsCacheable(request({ parameters: { sequence_start: true } }))).toBe(false);
  });
});

describe('InferenceServer with the response cache', () => {
  const models = [
    { name: 'cached', config: fp32Config('cached', [4], 8, 'instance_group [ { kind: KIND_CPU count: 1 } ]\nresponse_cache { enable: true }'), signature: fp32Signature([4], true) },
    { name: 'plain', config: fp32Config('plain', [4], 8, 'instance_group [ { kind: KIND_CPU count: 1 } ]'), signature: fp32Signature([4], true) },
  ];
  const req = (model: string, v: number, extra: Partial<InferRequest> = {}): InferRequest => ({
    modelName: model, parameters: {}, inputs: [f32('INPUT0', [1, 4], [v, v, v, v])], ...extra,
  });

  test('a hit skips the model; statistics follow Triton (success and queue count it, compute does not)', async () => {
    const clock = new FakeClock();
    const { server, instances } = await startFakeModelServer(models, { clock });
    const inst = instances.get('cached')![0];
    const first = await server.infer(req('cached', 1, { id: 'a' }));
    expect(Array.from(first.outputs[0].data as Float32Array)).toEqual([2, 2, 2, 2]);
    expect(inst.calls).toHaveLength(1);
    const hit = await server.infer(req('cached', 1, { id: 'b' }));
    expect(inst.calls).toHaveLength(1);
    expect(hit.id).toBe('b');
    expect(hit.outputs).toEqual(first.outputs);
    // A caller that mutates its answer does not corrupt the next one.
    (hit.outputs[0].data as Float32Array).fill(0);
    expect(Array.from((await server.infer(req('cached', 1))).outputs[0].data as Float32Array)).toEqual([2, 2, 2, 2]);
    await server.infer(req('cached', 2));
    expect(inst.calls).toHaveLength(2);
    // Another output selection is another answer.
    await server.infer(req('cached', 1, { outputs: [{ name: 'OUTPUT0' }] }));
    expect(inst.calls).toHaveLength(3);

    const s = (server.statistics('cached').model_stats[0] as { execution_count: number; inference_count: number; inference_stats: Record<string, { count: number }> });
    expect(s.execution_count).toBe(3);
    expect(s.inference_count).toBe(3);
    expect(s.inference_stats.success.count).toBe(5);
    expect(s.inference_stats.queue.count).toBe(5);
    expect(s.inference_stats.cache_hit.count).toBe(2);
    expect(s.inference_stats.cache_miss.count).toBe(3);
    expect(s.inference_stats.compute_infer.count).toBe(s.inference_stats.success.count - s.inference_stats.cache_hit.count);

    // A model without response_cache never uses it.
    await server.infer(req('plain', 1));
    await server.infer(req('plain', 1));
    expect(instances.get('plain')![0].calls).toHaveLength(2);
    const p = server.statistics('plain').model_stats[0] as { inference_stats: Record<string, { count: number }> };
    expect(p.inference_stats.cache_hit.count + p.inference_stats.cache_miss.count).toBe(0);

    const text = formatPrometheus(server.metricsSamples());
    expect(text).toContain('# TYPE nv_cache_num_hits_per_model counter');
    expect(text).toContain('nv_cache_num_hits_per_model{model="cached",version="1"} 2');
    expect(text).toContain('nv_cache_num_misses_per_model{model="cached",version="1"} 3');
    expect(text).toMatch(/nv_cache_hit_duration_per_model\{model="cached",version="1"\} \d+/);
    expect(text).toMatch(/nv_cache_miss_duration_per_model\{model="cached",version="1"\} \d+/);
    expect(text).not.toContain('nv_cache_num_hits_per_model{model="plain"');
    expect(text).toContain('nv_inference_exec_count{model="cached",version="1"} 3');
    await server.stop();
  });

  test('failures, sequence requests and a disabled cache are not cached', async () => {
    const { server, instances } = await startFakeModelServer(models, { autoResolve: false });
    const inst = instances.get('cached')![0];
    const failing = server.infer(req('cached', 5));
    await new Promise((r) => setImmediate(r));
    inst.calls[0].reject(new Error('boom'));
    await expect(failing).rejects.toThrow('boom');
    inst.autoResolve = true;
    await server.infer(req('cached', 5));
    expect(inst.calls).toHaveLength(2);
    await server.infer(req('cached', 6, { parameters: { sequence_id: 3 } }));
    await server.infer(req('cached', 6, { parameters: { sequence_id: 3 } }));
    expect(inst.calls).toHaveLength(4);
    await server.stop();

    const off = await startFakeModelServer(models, { responseCacheBytes: 0 });
    await off.server.infer(req('cached', 1));
    await off.server.infer(req('cached', 1));
    expect(off.instances.get('cached')![0].calls).toHaveLength(2);
    expect(off.server.responseCache).toBeUndefined();
    expect(formatPrometheus(off.server.metricsSamples())).not.toContain('nv_cache_');
    await off.server.stop();
  });
});

describe('--cache-config parsing', () => {
  test('local,size=N sets the size; absent leaves the default; size=0 turns the cache off', () => {
    expect(parseCacheConfig([])).toBeUndefined();
    expect(parseCacheConfig(['local,size=1048576'])).toBe(1048576);
    expect(parseCacheConfig(['local,size=0'])).toBe(0);
  });

  test('other caches, keys and sizes are usage errors', () => {
    const usage = (entry: string) => {
      try {
        parseCacheConfig([entry]);
      } catch (e) {
        expect((e as Error).name).toBe('UsageError');
        return (e as Error).message;
      }
      throw new Error('expected a usage error');
    };
    expect(usage('redis,host=localhost')).toBe("--cache-config: unknown cache 'redis' (infermesh has the 'local' cache only)");
    expect(usage('local,bytes=5')).toBe("--cache-config local: unknown key 'bytes' (known: size)");
    expect(usage('local,size=1e6')).toBe("--cache-config local,size must be a whole number of bytes, got '1e6'");
    expect(usage('local')).toBe("--cache-config must look like local,size=BYTES, got 'local'");
  });
});
