/**
 * Triton's rate limiter: resource counts (global, per device, defaults and explicit counts),
 * strict order by executions × priority, and the schedulers and server that use it (fake
 * instances on a fake clock, so concurrency is observed exactly).
 */
import { describe, expect, test } from 'vitest';
import { deviceNumber, RateLimiter, type InstanceGate, type InstanceLimits } from '../../core/rate-limiter.ts';
import { DefaultScheduler } from '../../core/default-scheduler.ts';
import { DynamicBatcher } from '../../core/dynamic-batcher.ts';
import { ModelStats } from '../../core/model-stats.ts';
import { isInferError } from '../../protocol/errors.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { fakeInstances, flush, type FakeInstance } from '../support/fake-backend.ts';
import { modelConfig, req } from '../support/scheduler-fixtures.ts';
import { fp32Config, fp32Signature, startFakeModelServer } from '../support/fake-model-server.ts';
import { parseRateLimit } from '../../node-host/cli-cache-rate-limit.ts';

const needs = (resources: { name: string; global?: boolean; count: number }[], priority = 0, device = 'cpu'): InstanceLimits => ({
  device, rateLimiter: { resources: resources.map((r) => ({ global: false, ...r })), priority },
});

/** Acquires and reports whether it got the resources at once; `later` resolves when it gets them. */
function take(g: InstanceGate): { now: boolean; got: () => boolean; later: Promise<void> } {
  const p = g.acquire();
  let got = p === undefined;
  const later = (p ?? Promise.resolve()).then(() => { got = true; });
  return { now: p === undefined, got: () => got, later };
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isInferError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('RateLimiter resources', () => {
  test('a global resource of count 1 is shared by two models: one execution at a time', async () => {
    const rl = new RateLimiter();
    const [a] = rl.register('a', [needs([{ name: 'R', global: true, count: 1 }])]);
    const [b] = rl.register('b', [needs([{ name: 'R', global: true, count: 1 }], 0, 'cuda:1')]);
    expect(rl.snapshot()).toEqual({ 'global/R': { limit: 1, inUse: 0 } });
    const ta = take(a);
    expect(ta.now).toBe(true);
    const tb = take(b);
    expect(tb.now).toBe(false);
    await flush();
    expect(tb.got()).toBe(false);
    expect(rl.waiting).toBe(1);
    a.release();
    await tb.later;
    expect(rl.snapshot()['global/R'].inUse).toBe(1);
    b.release();
    expect(rl.snapshot()['global/R'].inUse).toBe(0);
  });

  test('per-device resources: separate counts per device; the default count is the largest need', async () => {
    const rl = new RateLimiter();
    const gates = rl.register('m', [needs([{ name: 'R', count: 1 }], 0, 'cuda:0'), needs([{ name: 'R', count: 1 }], 0, 'cuda:1'), needs([{ name: 'R', count: 1 }], 0, 'cuda:0')]);
    expect(rl.snapshot()).toEqual({ '0/R': { limit: 1, inUse: 0 }, '1/R': { limit: 1, inUse: 0 } });
    expect(take(gates[0]).now).toBe(true);
    expect(take(gates[1]).now).toBe(true); // another device
    const third = take(gates[2]);
    expect(third.now).toBe(false); // same device as the first
    gates[0].release();
    await third.later;
    // A bigger need raises the default: two need-1 instances then fit together.
    const [big] = rl.register('big', [needs([{ name: 'R', count: 2 }], 0, 'cuda:1')]);
    expect(rl.snapshot()['1/R'].limit).toBe(2);
    gates[1].release();
    gates[2].release();
    expect(take(big).now).toBe(true);
    big.release();
    rl.unregister([big]);
    expect(rl.snapshot()['1/R'].limit).toBe(1);
  });

  test('CPU, WebGPU and WASM instances count as device 0, cuda:N as N', () => {
    expect(['cpu', 'webgpu', 'wasm', 'cuda:0'].map(deviceNumber)).toEqual([0, 0, 0, 0]);
    expect(deviceNumber('cuda:3')).toBe(3);
  });

  test('explicit counts (--rate-limit-resource) replace the defaults and must cover every need', () => {
    const rl = new RateLimiter({ resources: [{ name: 'R', count: 3 }, { name: 'G', count: 2, device: 1 }] });
    const gates = rl.register('m', [1, 2, 3].map(() => needs([{ name: 'R', count: 1 }])));
    expect(gates.every((g) => g.acquire() === undefined)).toBe(true);
    expect(rl.snapshot()['0/R']).toEqual({ limit: 3, inUse: 3 });
    // A global resource takes the largest count given for its name on any device.
    rl.register('g', [needs([{ name: 'G', global: true, count: 2 }])]);
    expect(rl.snapshot()['global/G'].limit).toBe(2);
    expect(errorOf(() => rl.register('too-big', [needs([{ name: 'R', count: 4 }])])))
      .toBe("model 'too-big': Resource count for \"R\" is limited to 3 which will prevent scheduling of one or more model instances, the minimum required count is 4 (raise it with --rate-limit-resource)");
    expect(errorOf(() => rl.register('unknown', [needs([{ name: 'S', count: 1 }])]))).toContain('Resource count for "S" is limited to 0');
    // A failed registration leaves nothing behind.
    expect(Object.keys(rl.snapshot()).sort()).toEqual(['0/R', 'global/G']);
  });

  test('a resource may not be both global and per-device', () => {
    const rl = new RateLimiter();
    rl.register('a', [needs([{ name: 'R', global: true, count: 1 }])]);
    expect(errorOf(() => rl.register('b', [needs([{ name: 'R', count: 1 }])])))
      .toBe("model 'b': Resource \"R\" is present as both global and device-specific resource in the model configuration.");
  });

  test('bad explicit counts and double acquire are refused', () => {
    expect(() => new RateLimiter({ resources: [{ name: 'R', count: -1 }] })).toThrow(/non-negative/);
    const rl = new RateLimiter();
    const [g] = rl.register('m', [needs([])]);
    expect(g.acquire()).toBeUndefined();
    expect(() => g.acquire()).toThrow(/twice/);
    g.release();
    rl.unregister([g]);
    expect(() => g.acquire()).toThrow(/after unregistering/);
  });
});

describe('RateLimiter order', () => {
  test('priority is a weight: priority 2 gets half the turns of priority 1', async () => {
    // Two instances per model, so whenever one releases, others are waiting and the order decides.
    const rl = new RateLimiter();
    const a = rl.register('a', [1, 2].map(() => needs([{ name: 'R', global: true, count: 1 }], 1)));
    const b = rl.register('b', [1, 2].map(() => needs([{ name: 'R', global: true, count: 1 }], 2)));
    const turns: string[] = [];
    let stop = false;
    const worker = async (g: InstanceGate, name: string) => {
      while (!stop) {
        await g.acquire();
        turns.push(name);
        if (turns.length >= 60) stop = true;
        await flush();
        g.release();
      }
    };
    await Promise.all([...a.map((g) => worker(g, 'a')), ...b.map((g) => worker(g, 'b'))]);
    const first = turns.slice(0, 60);
    const countA = first.filter((t) => t === 'a').length;
    expect(countA).toBeGreaterThanOrEqual(38);
    expect(countA).toBeLessThanOrEqual(42);
  });

  test('priority 0 counts as 1', async () => {
    const rl = new RateLimiter();
    const a = rl.register('a', [1, 2].map(() => needs([{ name: 'R', global: true, count: 1 }], 0)));
    const b = rl.register('b', [1, 2].map(() => needs([{ name: 'R', global: true, count: 1 }], 1)));
    const turns: string[] = [];
    const worker = async (g: InstanceGate, name: string) => {
      for (let i = 0; i < 10; i++) {
        await g.acquire();
        turns.push(name);
        await flush();
        g.release();
      }
    };
    await Promise.all([...a.map((g) => worker(g, 'a')), ...b.map((g) => worker(g, 'b'))]);
    const countA = turns.slice(0, 20).filter((t) => t === 'a').length;
    expect(countA).toBeGreaterThanOrEqual(9);
    expect(countA).toBeLessThanOrEqual(11);
  });

  test('the first in line blocks those behind it (a big need is never starved)', async () => {
    const rl = new RateLimiter();
    const [small1, small2] = rl.register('small', [needs([{ name: 'R', global: true, count: 1 }]), needs([{ name: 'R', global: true, count: 1 }])]);
    const [big] = rl.register('big', [needs([{ name: 'R', global: true, count: 2 }])]);
    expect(take(small1).now).toBe(true);
    const tb = take(big); // needs 2, only 1 free
    const ts = take(small2); // would fit, but waits behind big
    await flush();
    expect(tb.got()).toBe(false);
    expect(ts.got()).toBe(false);
    small1.release();
    await tb.later;
    expect(ts.got()).toBe(false);
    big.release();
    await ts.later;
    small2.release();
  });

  test('freed resources start as many waiting instances as fit', async () => {
    const rl = new RateLimiter({ resources: [{ name: 'R', count: 2 }] });
    const [holder] = rl.register('h', [needs([{ name: 'R', global: true, count: 2 }])]);
    const gates = rl.register('m', [needs([{ name: 'R', global: true, count: 1 }]), needs([{ name: 'R', global: true, count: 1 }])]);
    expect(take(holder).now).toBe(true);
    const waits = gates.map(take);
    holder.release();
    await Promise.all(waits.map((w) => w.later));
    expect(rl.snapshot()['global/R'].inUse).toBe(2);
  });
});

/** Resolves held fake calls one at a time and records the largest number ever running at once. */
async function driveAll(instances: FakeInstance[], total: number): Promise<number> {
  let maxRunning = 0;
  let done = 0;
  while (done < total) {
    await flush();
    const pending = instances.flatMap((i) => i.pending);
    maxRunning = Math.max(maxRunning, pending.length);
    if (pending.length === 0) throw new Error(`stalled after ${done} of ${total} executions`);
    pending[0].resolve();
    done++;
  }
  return maxRunning;
}

describe('schedulers under the rate limiter', () => {
  test('two models, 2 instances each, one global resource of 1: never two executions at once', async () => {
    const clock = new FakeClock();
    const rl = new RateLimiter();
    const limits = needs([{ name: 'R', global: true, count: 1 }]);
    const aInst = fakeInstances(2);
    const bInst = fakeInstances(2);
    const a = new DefaultScheduler({ config: modelConfig({ name: 'a', max_batch_size: 0, dynamic_batching: undefined }), instances: aInst, clock, stats: new ModelStats(), gates: rl.register('a', [limits, limits]) });
    const b = new DynamicBatcher({ config: modelConfig({ name: 'b', max_batch_size: 4 }), instances: bInst, clock, stats: new ModelStats(), gates: rl.register('b', [limits, limits]) });
    const results: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) results.push(a.schedule(req(i, { batch: null })));
    for (let i = 0; i < 6; i++) results.push(b.schedule(req(100 + i, { batch: 4 })));
    await flush();
    // Requests taken by an instance but waiting for the resource are still pending.
    expect(a.pendingCount + b.pendingCount).toBe(11);
    const maxRunning = await driveAll([...aInst, ...bInst], 12);
    await Promise.all(results);
    expect(maxRunning).toBe(1);
  });

  test('without the rate limiter the same load runs on all four instances at once (the control)', async () => {
    const clock = new FakeClock();
    const aInst = fakeInstances(2);
    const bInst = fakeInstances(2);
    const a = new DefaultScheduler({ config: modelConfig({ name: 'a', max_batch_size: 0, dynamic_batching: undefined }), instances: aInst, clock, stats: new ModelStats() });
    const b = new DynamicBatcher({ config: modelConfig({ name: 'b', max_batch_size: 4 }), instances: bInst, clock, stats: new ModelStats() });
    const results: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) results.push(a.schedule(req(i, { batch: null })));
    for (let i = 0; i < 6; i++) results.push(b.schedule(req(100 + i, { batch: 4 })));
    expect(await driveAll([...aInst, ...bInst], 12)).toBe(4);
    await Promise.all(results);
  });

  test('time waiting for the resource counts as queue time, not compute', async () => {
    const clock = new FakeClock();
    const rl = new RateLimiter();
    const limits = needs([{ name: 'R', global: true, count: 1 }]);
    const [hold] = rl.register('other', [limits]);
    const inst = fakeInstances(1);
    const stats = new ModelStats();
    const s = new DefaultScheduler({ config: modelConfig({ max_batch_size: 0, dynamic_batching: undefined }), instances: inst, clock, stats, gates: rl.register('m', [limits]) });
    expect(hold.acquire()).toBeUndefined();
    const p = s.schedule(req(1, { batch: null }));
    await flush();
    expect(inst[0].calls).toHaveLength(0);
    clock.advance(5);
    hold.release();
    await flush();
    clock.advance(2);
    inst[0].calls[0].resolve();
    const r = await p;
    expect(r.timing.queueNs).toBe(5_000_000);
    expect(r.timing.computeInferNs).toBe(2_000_000);
  });

  test('a request cancelled while its instance waits is answered at once and never runs', async () => {
    const clock = new FakeClock();
    const rl = new RateLimiter();
    const limits = needs([{ name: 'R', global: true, count: 1 }]);
    const [hold] = rl.register('other', [limits]);
    const inst = fakeInstances(1);
    const s = new DefaultScheduler({ config: modelConfig({ max_batch_size: 0, dynamic_batching: undefined }), instances: inst, clock, stats: new ModelStats(), gates: rl.register('m', [limits]) });
    hold.acquire();
    const ac = new AbortController();
    const p = s.schedule(req(1, { batch: null, signal: ac.signal }));
    await flush();
    ac.abort();
    await expect(p).rejects.toThrow(/cancelled/);
    hold.release();
    await flush();
    expect(inst[0].calls).toHaveLength(0);
    expect(rl.snapshot()['global/R'].inUse).toBe(0);
    await s.drain();
  });
});

describe('InferenceServer with --rate-limit execution_count', () => {
  const limited = (name: string, count = 1) => ({
    name,
    config: fp32Config(name, [4], 8, `instance_group [ { kind: KIND_CPU count: 2 rate_limiter { resources [ { name: "R" global: true count: ${count} } ] priority: 1 } } ]`),
    signature: fp32Signature([4], true),
  });
  const r = (model: string, v: number) => ({ modelName: model, parameters: {}, inputs: [{ name: 'INPUT0', datatype: 'FP32' as const, shape: [1, 4], data: Float32Array.of(v, v, v, v) }] });

  test('instances of two models share the global resource; its count bounds executions', async () => {
    const fs = await startFakeModelServer([limited('a'), limited('b')], { rateLimit: {}, autoResolve: false });
    const all = [...fs.instances.get('a')!, ...fs.instances.get('b')!];
    const answers = [...Array.from({ length: 5 }, (_, i) => fs.server.infer(r('a', i))), ...Array.from({ length: 5 }, (_, i) => fs.server.infer(r('b', i)))];
    expect(await driveAll(all, 10)).toBe(1);
    expect((await Promise.all(answers)).map((x) => (x.outputs[0].data as Float32Array)[0])).toEqual([1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
    await fs.server.stop();
  });

  test('an explicit count below a model\'s need fails its load with Triton\'s reason; others load', async () => {
    const fs = await startFakeModelServer([limited('ok', 1), limited('greedy', 3)], { rateLimit: { resources: [{ name: 'R', count: 2 }] } });
    const index = fs.server.repositoryIndex();
    expect(index.find((e) => e.name === 'ok')?.state).toBe('READY');
    const greedy = index.find((e) => e.name === 'greedy');
    expect(greedy?.state).toBe('UNAVAILABLE');
    expect(greedy?.reason).toContain('Resource count for "R" is limited to 2 which will prevent scheduling of one or more model instances, the minimum required count is 3');
    // The failed load disposed its instances and gave its registration back.
    expect(fs.instances.get('greedy')!.every((i) => i.disposed)).toBe(true);
    expect(fs.server.rateLimiter!.snapshot()).toEqual({ 'global/R': { limit: 2, inUse: 0 } });
    await fs.server.stop();
    expect(fs.server.rateLimiter!.snapshot()).toEqual({});
  });
});

describe('--rate-limit / --rate-limit-resource parsing', () => {
  test('off by default; execution_count with NAME:COUNT[:DEVICE] resources', () => {
    expect(parseRateLimit(undefined, [])).toBeUndefined();
    expect(parseRateLimit('off', [])).toBeUndefined();
    expect(parseRateLimit('execution_count', ['R1:4', 'R2:2:1'])).toEqual({ resources: [{ name: 'R1', count: 4 }, { name: 'R2', count: 2, device: 1 }] });
  });

  test('mistakes are usage errors that say what to write', () => {
    const usage = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect((e as Error).name).toBe('UsageError');
        return (e as Error).message;
      }
      throw new Error('expected a usage error');
    };
    expect(usage(() => parseRateLimit('on', []))).toBe("--rate-limit must be off or execution_count, got 'on'");
    expect(usage(() => parseRateLimit(undefined, ['R:1']))).toBe('--rate-limit-resource needs --rate-limit execution_count');
    for (const bad of ['R', 'R:x', ':1', 'R:1:2:3', 'R:-1', 'R:1:gpu']) {
      expect(usage(() => parseRateLimit('execution_count', [bad]))).toBe(`--rate-limit-resource must look like NAME:COUNT or NAME:COUNT:DEVICE, got '${bad}'`);
    }
  });
});
