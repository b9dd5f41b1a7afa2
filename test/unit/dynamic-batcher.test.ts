import { describe, expect, test } from 'vitest';
import { DynamicBatcher } from '../../core/dynamic-batcher.ts';
import type { ModelDynamicBatching } from '../../core/model-config.ts';
import { ModelStats } from '../../core/model-stats.ts';
import type { ScheduledRequest, ScheduledResult } from '../../core/scheduler.ts';
import { InferError } from '../../protocol/errors.ts';
import type { Tensor } from '../../protocol/tensor.ts';
import { FakeClock } from '../support/fake-clock.ts';
import type { FakeCall, FakeInstance } from '../support/fake-backend.ts';
import { allCalls, fakeInstances, flush } from '../support/fake-backend.ts';
import { expectedValues, modelConfig, numbers, queuePolicy, req, valueOf } from '../support/scheduler-fixtures.ts';
import { mulberry32 } from '../../scripts/seeded-random.ts';

interface SetupOptions {
  instances?: number;
  maxBatch?: number;
}

function setup(db: Partial<ModelDynamicBatching> = {}, o: SetupOptions = {}) {
  const clock = new FakeClock();
  const instances = fakeInstances(o.instances ?? 1);
  const stats = new ModelStats();
  const config = modelConfig({ max_batch_size: o.maxBatch ?? 8, dynamic_batching: db });
  const batcher = new DynamicBatcher({ config, instances, clock, stats });
  return { clock, instances, stats, batcher, calls: () => allCalls(instances) };
}

interface Tracked {
  value?: ScheduledResult;
  error?: InferError;
  done: boolean;
  /** Order in which tracked promises settled. */
  order?: number;
}

let settleCounter = 0;

/** Records how a promise settled without leaving a rejection unhandled. */
function track(p: Promise<ScheduledResult>): Tracked {
  const s: Tracked = { done: false };
  p.then(
    (v) => { s.value = v; s.done = true; s.order = settleCounter++; },
    (e) => { s.error = e; s.done = true; s.order = settleCounter++; },
  );
  return s;
}

/** Ids of the requests in a call, read from the first element of each INPUT0 row. */
function idsIn(call: FakeCall): number[] {
  const t = call.inputs.find((x) => x.name === 'INPUT0')!;
  const rowLen = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const ids: number[] = [];
  for (let r = 0; r < t.shape[0]; r++) {
    const id = Math.floor(Number((t.data as ArrayLike<number>)[r * rowLen]) / 1000);
    if (ids[ids.length - 1] !== id) ids.push(id);
  }
  return ids;
}

/** Schedules and tracks a batch of requests. */
function submit(b: DynamicBatcher, rs: ScheduledRequest[]): Tracked[] {
  return rs.map((r) => track(b.schedule(r)));
}

/**
 * Keeps the only instance busy with request `id` so later arrivals queue up. `rows` should
 * fill a preferred (or the maximum) batch size when the model has a queue delay.
 */
async function occupy(b: DynamicBatcher, rows = 1, id = 999): Promise<Tracked> {
  const t = track(b.schedule(req(id, { batch: rows })));
  await flush();
  return t;
}

describe('DynamicBatcher: forming batches', () => {
  test('batches up to max_batch_size and sends the rest next', async () => {
    const { batcher, instances: [inst] } = setup({}, { maxBatch: 4 });
    const t = submit(batcher, [1, 2, 3, 4, 5, 6].map((i) => req(i)));
    await flush();
    expect(inst.calls.map(idsIn)).toEqual([[1, 2, 3, 4]]);
    expect(inst.calls[0].inputs[0].shape).toEqual([4, 2]);
    expect(batcher.pendingCount).toBe(2);
    inst.calls[0].resolve();
    await flush();
    expect(inst.calls.map(idsIn)).toEqual([[1, 2, 3, 4], [5, 6]]);
    inst.calls[1].resolve();
    await flush();
    for (let i = 0; i < 6; i++) expect(numbers(t[i].value!.outputs[0])).toEqual(expectedValues(i + 1, 2));
  });

  test('a request\'s own batch size counts toward the total', async () => {
    const { batcher, instances: [inst] } = setup({}, { maxBatch: 4 });
    submit(batcher, [req(1, { batch: 3 }), req(2, { batch: 2 }), req(3, { batch: 1 })]);
    await flush();
    expect(inst.calls[0].batchSize).toBe(3); // 3 + 2 > 4: request 2 waits
    inst.calls[0].resolve();
    await flush();
    expect(idsIn(inst.calls[1])).toEqual([2, 3]);
    expect(inst.calls[1].batchSize).toBe(3);
  });

  test('sends the largest preferred batch size that can be formed', async () => {
    const { batcher, instances: [inst] } = setup({ preferred_batch_size: [2, 4] }, { maxBatch: 8 });
    submit(batcher, [1, 2, 3, 4, 5, 6, 7].map((i) => req(i)));
    await flush();
    expect(inst.calls.map((c) => c.batchSize)).toEqual([4]);
    inst.calls[0].resolve();
    await flush();
    expect(inst.calls.map((c) => c.batchSize)).toEqual([4, 2]);
    inst.calls[1].resolve();
    await flush();
    expect(inst.calls.map((c) => c.batchSize)).toEqual([4, 2, 1]); // no delay: the rest goes as is
  });

  test('preferred sizes are prefix totals: multi-row requests may skip over them', async () => {
    // 3 + 3 passes the largest preferred size (4) without hitting one: like Triton, the
    // prefix before the overshoot (3) goes at once; after the queue delay everything (6) would.
    const { batcher, instances: [inst] } = setup({ preferred_batch_size: [4] }, { maxBatch: 8 });
    submit(batcher, [req(1, { batch: 3 }), req(2, { batch: 3 })]);
    await flush();
    expect(inst.calls.map((c) => c.batchSize)).toEqual([3]);
  });

  test('after the queue delay expires, everything up to max goes regardless of preferred sizes', async () => {
    const { clock, batcher, instances: [inst] } = setup({ preferred_batch_size: [4], max_queue_delay_microseconds: 1000 }, { maxBatch: 8 });
    await occupy(batcher, 4);
    expect(inst.calls).toHaveLength(1);
    submit(batcher, [req(1, { batch: 3 }), req(2, { batch: 3 })]);
    await flush();
    clock.advance(2); // both waited past the delay while the instance was busy
    inst.calls[0].resolve();
    await flush();
    expect(inst.calls[1].batchSize).toBe(6);
  });

  test('max_queue_delay: waits for more requests and fires at expiry on the clock', async () => {
    const { clock, batcher, instances: [inst] } = setup({ max_queue_delay_microseconds: 1000 }, { maxBatch: 8 });
    const t = submit(batcher, [req(1)]);
    await flush();
    clock.advance(0.5);
    t.push(...submit(batcher, [req(2), req(3)]));
    await flush();
    expect(inst.calls).toHaveLength(0);
    clock.advance(0.499);
    await flush();
    expect(inst.calls).toHaveLength(0);
    clock.advance(0.001); // 1 ms after the OLDEST request
    await flush();
    expect(inst.calls.map(idsIn)).toEqual([[1, 2, 3]]);
    expect(clock.pendingTimers).toBe(0);
    inst.calls[0].resolve();
    await flush();
    expect(t.map((x) => x.value!.timing.queueNs)).toEqual([1_000_000, 500_000, 500_000]);
  });

  test('during a delay, reaching max_batch_size sends at once', async () => {
    const { clock, batcher, instances: [inst] } = setup({ max_queue_delay_microseconds: 100_000 }, { maxBatch: 4 });
    submit(batcher, [req(1), req(2), req(3)]);
    await flush();
    expect(inst.calls).toHaveLength(0);
    submit(batcher, [req(4)]);
    await flush();
    expect(inst.calls.map(idsIn)).toEqual([[1, 2, 3, 4]]);
    expect(clock.now()).toBe(0);
    expect(clock.pendingTimers).toBe(0); // no stale delay timer left behind
  });

  test('during a delay, reaching a preferred size sends at once', async () => {
    const { clock, batcher, instances: [inst] } = setup({ preferred_batch_size: [3, 6], max_queue_delay_microseconds: 100_000 }, { maxBatch: 8 });
    submit(batcher, [req(1), req(2)]);
    await flush();
    expect(inst.calls).toHaveLength(0);
    submit(batcher, [req(3)]);
    await flush();
    expect(inst.calls.map(idsIn)).toEqual([[1, 2, 3]]);
    expect(clock.now()).toBe(0);
  });

  test('without a delay a lone request goes at once; arrivals in one burst batch together', async () => {
    const { batcher, instances: [inst] } = setup({}, { maxBatch: 8 });
    submit(batcher, [req(1), req(2), req(3)]);
    await flush();
    expect(inst.calls.map(idsIn)).toEqual([[1, 2, 3]]);
  });

  test('shape-incompatible requests are never batched together', async () => {
    const { batcher, instances: [inst] } = setup({}, { maxBatch: 8 });
    await occupy(batcher);
    submit(batcher, [req(1, { dims: [2] }), req(2, { dims: [2] }), req(3, { dims: [3] }), req(4, { dims: [3] }), req(5, { dims: [2] })]);
    await flush();
    for (let i = 0; i < 4; i++) {
      inst.calls[i].resolve();
      await flush();
    }
    expect(inst.calls.slice(1).map(idsIn)).toEqual([[1, 2], [3, 4], [5]]);
    for (const c of inst.calls) expect(new Set(c.inputs.map((x) => x.shape.slice(1).join()))).toHaveProperty('size', 1);
  });

  test('an incompatible arrival ends a delayed batch at once; dtype and input set count too', async () => {
    const { batcher, instances: [inst] } = setup({ max_queue_delay_microseconds: 100_000 }, { maxBatch: 8 });
    submit(batcher, [req(1), req(2)]);
    await flush();
    expect(inst.calls).toHaveLength(0);
    submit(batcher, [req(3, { dtype: 'INT32' })]);
    await flush();
    expect(inst.calls.map(idsIn)).toEqual([[1, 2]]);
    inst.calls[0].resolve();
    await flush();
    // Request 3 is alone now and waits for its own delay.
    expect(inst.calls).toHaveLength(1);
    submit(batcher, [req(4, { dtype: 'INT32', extraInputs: 1 })]);
    await flush();
    expect(inst.calls.map(idsIn)).toEqual([[1, 2], [3]]);
  });

  test('requests asking for different outputs: the batch runs the union, each gets its own subset in its own order', async () => {
    const { batcher, instances: [inst] } = setup({}, { maxBatch: 8 });
    const [a, b, c] = submit(batcher, [
      req(1, { extraInputs: 1, outputs: ['OUTPUT1', 'OUTPUT0'] }),
      req(2, { extraInputs: 1, outputs: ['OUTPUT0'] }),
      req(3, { extraInputs: 1, outputs: ['OUTPUT0', 'OUTPUT1'] }),
    ]);
    await flush();
    expect(inst.calls[0].outputNames).toEqual(['OUTPUT1', 'OUTPUT0']);
    inst.calls[0].resolve();
    await flush();
    expect(a.value!.outputs.map((t) => t.name)).toEqual(['OUTPUT1', 'OUTPUT0']);
    expect(numbers(a.value!.outputs[0])).toEqual(expectedValues(1, 2, 1));
    expect(numbers(a.value!.outputs[1])).toEqual(expectedValues(1, 2, 0));
    expect(b.value!.outputs.map((t) => t.name)).toEqual(['OUTPUT0']);
    expect(numbers(b.value!.outputs[0])).toEqual(expectedValues(2, 2));
    expect(c.value!.outputs.map((t) => t.name)).toEqual(['OUTPUT0', 'OUTPUT1']);
    expect(numbers(c.value!.outputs[1])).toEqual(expectedValues(3, 2, 1));
    expect(c.value!.outputs[0].shape).toEqual([1, 2]);
  });

  test('a single-request batch passes tensors through untouched (zero copy)', async () => {
    const { batcher, instances: [inst] } = setup({}, { maxBatch: 8 });
    const r = req(1, { batch: 2 });
    const [t] = submit(batcher, [r]);
    await flush();
    expect(inst.calls[0].inputs).toBe(r.inputs);
    const out: Tensor[] = [{ name: 'OUTPUT0', datatype: 'FP32', shape: [2, 2], data: new Float32Array(4) }];
    inst.calls[0].resolve(out);
    await flush();
    expect(t.value!.outputs).toBe(out);
  });

  test('a multi-request batch splits outputs into views of the batch output', async () => {
    const { batcher, instances: [inst] } = setup({}, { maxBatch: 8 });
    const [a, b] = submit(batcher, [req(1), req(2, { batch: 2 })]);
    await flush();
    inst.calls[0].resolve();
    await flush();
    expect((a.value!.outputs[0].data as Float32Array).buffer).toBe((b.value!.outputs[0].data as Float32Array).buffer);
    expect(b.value!.outputs[0].shape).toEqual([2, 2]);
    expect(numbers(b.value!.outputs[0])).toEqual(expectedValues(2, 4));
  });

  test('a model that does not batch on dim 0 fails the batch with INTERNAL naming the output', async () => {
    const { batcher, instances: [inst] } = setup({}, { maxBatch: 8 });
    const t = submit(batcher, [req(1), req(2)]);
    await flush();
    inst.calls[0].resolve([{ name: 'OUTPUT0', datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) }]);
    await flush();
    for (const x of t) {
      expect(x.error).toMatchObject({ code: 'INTERNAL', reason: 'BACKEND' });
      expect(x.error!.message).toContain("'OUTPUT0'");
    }
  });

  test('max_batch_size 0: each request runs alone with its own tensors, queue policies still apply', async () => {
    const { batcher, instances: [inst] } = setup({ default_queue_policy: queuePolicy({ max_queue_size: 1 }) }, { maxBatch: 0 });
    const r1 = req(1, { batch: null });
    const t = submit(batcher, [r1, req(2, { batch: null }), req(3, { batch: null })]);
    await flush();
    expect(t[2].error).toMatchObject({ message: 'Exceeds maximum queue size' });
    expect(inst.calls[0].inputs).toBe(r1.inputs);
    inst.calls[0].resolve();
    await flush();
    expect(inst.calls[1].inputs[0].shape).toEqual([2]);
    inst.calls[1].resolve();
    await flush();
    expect(numbers(t[1].value!.outputs[0])).toEqual(expectedValues(2, 2));
  });

  test('a request larger than max_batch_size is refused (guard; validation normally catches it)', async () => {
    const { batcher } = setup({}, { maxBatch: 4 });
    await expect(batcher.schedule(req(1, { batch: 5 }))).rejects.toMatchObject({ code: 'INVALID_ARG', message: "inference request batch-size must be <= 4 for 'm'" });
  });
});

describe('DynamicBatcher: instances and ordering', () => {
  test('N instances run N batches concurrently; the next waits for a free one', async () => {
    const { batcher, instances } = setup({}, { instances: 2, maxBatch: 2 });
    submit(batcher, [1, 2, 3, 4, 5, 6].map((i) => req(i)));
    await flush();
    expect(instances.map((i) => i.calls.map(idsIn))).toEqual([[[1, 2]], [[3, 4]]]);
    expect(batcher.pendingCount).toBe(2);
    instances[1].calls[0].resolve();
    await flush();
    expect(instances[1].calls.map(idsIn)).toEqual([[3, 4], [5, 6]]);
    expect(instances[0].calls).toHaveLength(1);
  });

  test('preserve_ordering: answers are released in arrival order even when batches finish out of order', async () => {
    const { batcher, instances } = setup({ preserve_ordering: true }, { instances: 2, maxBatch: 1 });
    const [a, b] = submit(batcher, [req(1), req(2)]);
    await flush();
    instances[1].calls[0].resolve(); // request 2 finishes first
    await flush();
    expect(b.done).toBe(false);
    instances[0].calls[0].resolve();
    await flush();
    expect(a.done && b.done).toBe(true);
    expect(a.order!).toBeLessThan(b.order!);
    expect(numbers(b.value!.outputs[0])).toEqual(expectedValues(2, 2));
  });

  test('without preserve_ordering a batch that finishes first is answered first', async () => {
    const { batcher, instances } = setup({}, { instances: 2, maxBatch: 1 });
    const [a, b] = submit(batcher, [req(1), req(2)]);
    await flush();
    instances[1].calls[0].resolve();
    await flush();
    expect(b.done).toBe(true);
    expect(a.done).toBe(false);
  });

  test('preserve_ordering frees the instance at once even while its answer is held', async () => {
    const { batcher, instances } = setup({ preserve_ordering: true }, { instances: 2, maxBatch: 1 });
    const t = submit(batcher, [req(1), req(2), req(3)]);
    await flush();
    instances[1].calls[0].resolve();
    await flush();
    expect(instances[1].calls.map(idsIn)).toEqual([[2], [3]]);
    instances[1].calls[1].resolve();
    await flush();
    expect(t.map((x) => x.done)).toEqual([false, false, false]);
    instances[0].calls[0].resolve();
    await flush();
    expect(t.map((x) => x.order)).toEqual([...t.map((x) => x.order)].sort((p, q) => p! - q!));
  });

  test('preserve_ordering holds a failed batch\'s errors in order too', async () => {
    const { batcher, instances } = setup({ preserve_ordering: true }, { instances: 2, maxBatch: 1 });
    const [a, b] = submit(batcher, [req(1), req(2)]);
    await flush();
    instances[1].calls[0].reject(new Error('x'));
    await flush();
    expect(b.done).toBe(false);
    instances[0].calls[0].resolve();
    await flush();
    expect(a.order!).toBeLessThan(b.order!);
    expect(b.error).toMatchObject({ code: 'INTERNAL' });
  });
});

describe('DynamicBatcher: priorities and queue policies', () => {
  test('level 1 is served before level 2; priority 0 means the default level', async () => {
    const { batcher, instances: [inst] } = setup({ priority_levels: 2, default_priority_level: 2 }, { maxBatch: 1 });
    await occupy(batcher);
    submit(batcher, [req(1, { priority: 2 }), req(2, { priority: 0 }), req(3, { priority: 1 }), req(4, { priority: 2 }), req(5, { priority: 1 })]);
    await flush();
    for (let i = 0; i < 5; i++) {
      inst.calls[i].resolve();
      await flush();
    }
    expect(inst.calls.slice(1).map(idsIn).flat()).toEqual([3, 5, 1, 2, 4]);
  });

  test('priority 0 with default level 1 jumps ahead of level 2', async () => {
    const { batcher, instances: [inst] } = setup({ priority_levels: 2, default_priority_level: 1 }, { maxBatch: 1 });
    await occupy(batcher);
    submit(batcher, [req(1, { priority: 2 }), req(2, { priority: 0 })]);
    await flush();
    inst.calls[0].resolve();
    await flush();
    expect(idsIn(inst.calls[1])).toEqual([2]);
  });

  test('a batch fills from the highest level first', async () => {
    const { batcher, instances: [inst] } = setup({ priority_levels: 3, default_priority_level: 3 }, { maxBatch: 3 });
    await occupy(batcher);
    submit(batcher, [req(1, { priority: 3 }), req(2, { priority: 2 }), req(3, { priority: 3 }), req(4, { priority: 1 })]);
    await flush();
    inst.calls[0].resolve();
    await flush();
    expect(idsIn(inst.calls[1])).toEqual([4, 2, 1]);
  });

  test('a priority beyond priority_levels uses the default level (Triton SetPriority); a non-integer is INVALID_ARG', async () => {
    const { batcher, instances: [inst] } = setup({ priority_levels: 2, default_priority_level: 2 }, { maxBatch: 1 });
    await occupy(batcher);
    submit(batcher, [req(1, { priority: 2 }), req(2, { priority: 7 }), req(3, { priority: 1 })]);
    await flush();
    for (let i = 0; i < 3; i++) {
      inst.calls[i].resolve();
      await flush();
    }
    expect(inst.calls.slice(1).map(idsIn).flat()).toEqual([3, 1, 2]);
    await expect(batcher.schedule(req(9, { priority: -1 }))).rejects.toMatchObject({ code: 'INVALID_ARG' });
    await expect(batcher.schedule(req(9, { priority: 1.5 }))).rejects.toMatchObject({ code: 'INVALID_ARG' });
  });

  test('a default_priority_level outside [1, priority_levels] is refused at construction', () => {
    expect(() => setup({ priority_levels: 2, default_priority_level: 0 })).toThrow(/default priority level/);
    expect(() => setup({ priority_levels: 2, default_priority_level: 3 })).toThrow(/\[1, 2\]/);
  });

  test('max_queue_size: a full level rejects at once with UNAVAILABLE "Exceeds maximum queue size"; other levels have their own limit', async () => {
    const { batcher, instances: [inst] } = setup({
      priority_levels: 2,
      default_priority_level: 2,
      default_queue_policy: queuePolicy({ max_queue_size: 2 }),
      priority_queue_policy: { 1: queuePolicy({ max_queue_size: 1 }) },
    }, { maxBatch: 1 });
    await occupy(batcher);
    const t = submit(batcher, [req(1, { priority: 2 }), req(2, { priority: 2 }), req(3, { priority: 2 }), req(4, { priority: 1 }), req(5, { priority: 1 })]);
    await flush();
    expect(t[2].error).toMatchObject({ name: 'InferError', code: 'UNAVAILABLE', message: 'Exceeds maximum queue size', reason: 'REJECTED' });
    expect(t[4].error).toMatchObject({ message: 'Exceeds maximum queue size' });
    expect([t[0], t[1], t[3]].every((x) => !x.done)).toBe(true);
    expect(batcher.pendingCount).toBe(3);
    // Room again once the queue drains.
    inst.calls[0].resolve();
    await flush();
    const again = track(batcher.schedule(req(6, { priority: 1 })));
    await flush();
    expect(again.error).toBeUndefined();
  });

  test('timeout REJECT: the request is rejected on time while the instance is busy (unlike Triton #7512)', async () => {
    const { clock, batcher, instances: [inst] } = setup({ default_queue_policy: queuePolicy({ default_timeout_microseconds: 5000 }) }, { maxBatch: 8 });
    await occupy(batcher);
    const [t] = submit(batcher, [req(1)]);
    await flush();
    clock.advance(4.999);
    await flush();
    expect(t.done).toBe(false);
    expect(batcher.pendingCount).toBe(1);
    clock.advance(0.001);
    await flush();
    expect(t.error).toMatchObject({ code: 'UNAVAILABLE', message: 'Request timeout expired', reason: 'REJECTED' });
    expect(batcher.pendingCount).toBe(0);
    inst.calls[0].resolve();
    await flush();
    expect(inst.calls).toHaveLength(1); // the instance never saw it
  });

  test('a request dispatched before its timeout is not affected by it, and its timer is cleared', async () => {
    const { clock, batcher, instances: [inst] } = setup({ default_queue_policy: queuePolicy({ default_timeout_microseconds: 5000 }) });
    const [t] = submit(batcher, [req(1)]);
    await flush();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(10);
    inst.calls[0].resolve();
    await flush();
    expect(t.value).toBeDefined();
  });

  test('timeout DELAY: an expired request moves behind non-timed-out requests of its level, ahead of lower levels', async () => {
    const { clock, batcher, instances: [inst] } = setup({
      priority_levels: 2,
      default_priority_level: 2,
      priority_queue_policy: { 1: queuePolicy({ timeout_action: 'DELAY', default_timeout_microseconds: 1000 }) },
    }, { maxBatch: 1 });
    await occupy(batcher);
    const t = submit(batcher, [req(1, { priority: 1 }), req(2, { priority: 2 })]);
    await flush();
    clock.advance(2); // request 1 timed out: delayed, not rejected
    t.push(...submit(batcher, [req(3, { priority: 1 }), req(4, { priority: 1 })]));
    await flush();
    inst.calls[0].resolve();
    await flush();
    // A later arrival of the same level that has not timed out also goes ahead of request 1.
    t.push(...submit(batcher, [req(5, { priority: 1 })]));
    await flush();
    for (let i = 1; i < 6; i++) {
      inst.calls[i].resolve();
      await flush();
    }
    expect(inst.calls.slice(1).map(idsIn).flat()).toEqual([3, 4, 5, 1, 2]);
    expect(t.every((x) => x.value !== undefined)).toBe(true);
  });

  test('timeout DELAY keeps arrival order when nothing expired (control for the test above)', async () => {
    const { batcher, instances: [inst] } = setup({ default_queue_policy: queuePolicy({ timeout_action: 'DELAY', default_timeout_microseconds: 1000 }) }, { maxBatch: 1 });
    await occupy(batcher);
    submit(batcher, [req(1), req(2)]);
    await flush();
    inst.calls[0].resolve();
    await flush();
    expect(idsIn(inst.calls[1])).toEqual([1]);
  });

  describe('allow_timeout_override', () => {
    async function expiryOf(policy: Parameters<typeof queuePolicy>[0], timeoutUs: number | undefined): Promise<number | undefined> {
      const { clock, batcher } = setup({ default_queue_policy: queuePolicy(policy) });
      await occupy(batcher);
      const [t] = submit(batcher, [req(1, { timeoutUs })]);
      await flush();
      for (let ms = 1; ms <= 30; ms++) {
        clock.advance(1);
        await flush();
        if (t.done) return t.error ? ms : undefined;
      }
      return undefined;
    }

    test('a request timeout lowers the default when overriding is allowed', async () => {
      expect(await expiryOf({ default_timeout_microseconds: 10_000, allow_timeout_override: true }, 2000)).toBe(2);
    });
    test('a request timeout cannot raise the default', async () => {
      expect(await expiryOf({ default_timeout_microseconds: 10_000, allow_timeout_override: true }, 20_000)).toBe(10);
    });
    test('a request timeout is ignored when overriding is not allowed', async () => {
      expect(await expiryOf({ default_timeout_microseconds: 10_000 }, 2000)).toBe(10);
      expect(await expiryOf({ default_timeout_microseconds: 0 }, 2000)).toBeUndefined();
    });
    test('with no default timeout (0 = none) an allowed request timeout applies', async () => {
      expect(await expiryOf({ default_timeout_microseconds: 0, allow_timeout_override: true }, 3000)).toBe(3);
      expect(await expiryOf({ default_timeout_microseconds: 0, allow_timeout_override: true }, undefined)).toBeUndefined();
    });
  });
});

describe('DynamicBatcher: cancellation, failures, close and drain', () => {
  test('cancel while queued: leaves at once, CANCELLED, pendingCount drops, the instance never sees it', async () => {
    const { batcher, instances: [inst] } = setup({}, { maxBatch: 8 });
    await occupy(batcher);
    const ac = new AbortController();
    const t = submit(batcher, [req(1), req(2, { signal: ac.signal }), req(3)]);
    await flush();
    expect(batcher.pendingCount).toBe(3);
    ac.abort();
    expect(batcher.pendingCount).toBe(2);
    await flush();
    expect(t[1].error).toMatchObject({ name: 'InferError', code: 'CANCELLED', reason: 'CANCELED' });
    inst.calls[0].resolve();
    await flush();
    expect(idsIn(inst.calls[1])).toEqual([1, 3]);
  });

  test('an already-aborted signal is rejected without queuing', async () => {
    const { batcher, instances: [inst] } = setup();
    const ac = new AbortController();
    ac.abort();
    await expect(batcher.schedule(req(1, { signal: ac.signal }))).rejects.toMatchObject({ code: 'CANCELLED' });
    await flush();
    expect(batcher.pendingCount).toBe(0);
    expect(inst.calls).toHaveLength(0);
  });

  test('cancel of a timed request clears its timer', async () => {
    const { clock, batcher } = setup({ default_queue_policy: queuePolicy({ default_timeout_microseconds: 5000 }) });
    await occupy(batcher);
    const ac = new AbortController();
    submit(batcher, [req(1, { signal: ac.signal })]);
    await flush();
    expect(clock.pendingTimers).toBe(1);
    ac.abort();
    expect(clock.pendingTimers).toBe(0);
  });

  test('cancel during execution: answered CANCELLED at once, the batch completes for the others', async () => {
    const { batcher, instances: [inst] } = setup({}, { maxBatch: 8 });
    const ac = new AbortController();
    const [a, b] = submit(batcher, [req(1, { signal: ac.signal }), req(2)]);
    await flush();
    ac.abort();
    await flush();
    expect(a.error).toMatchObject({ code: 'CANCELLED' });
    expect(b.done).toBe(false);
    inst.calls[0].resolve();
    await flush();
    expect(a.value).toBeUndefined();
    expect(numbers(b.value!.outputs[0])).toEqual(expectedValues(2, 2));
  });

  test('a backend error rejects every request of the batch, reason BACKEND; an InferError keeps its code', async () => {
    const { batcher, instances: [inst], stats } = setup({}, { maxBatch: 8 });
    const t = submit(batcher, [req(1), req(2), req(3)]);
    await flush();
    inst.calls[0].reject(new Error('CUDA out of memory'));
    await flush();
    for (const x of t) expect(x.error).toMatchObject({ name: 'InferError', code: 'INTERNAL', message: 'CUDA out of memory', reason: 'BACKEND' });
    const u = submit(batcher, [req(4)]);
    await flush();
    inst.calls[1].reject(new InferError('INVALID_ARG', 'bad input'));
    await flush();
    expect(u[0].error).toMatchObject({ code: 'INVALID_ARG', message: 'bad input', reason: 'BACKEND' });
    expect(stats.toJSON('m', '1').execution_count).toBe(0);
  });

  test('a synchronous throw from run() fails the batch and frees the instance', async () => {
    const { batcher, instances: [inst] } = setup();
    const original = inst.run.bind(inst);
    inst.run = () => { throw new Error('sync'); };
    await expect(batcher.schedule(req(1))).rejects.toMatchObject({ code: 'INTERNAL', message: 'sync' });
    inst.run = original;
    const [t] = submit(batcher, [req(2)]);
    await flush();
    inst.calls[0].resolve();
    await flush();
    expect(t.value).toBeDefined();
  });

  test('a model returning the wrong number of outputs fails the batch', async () => {
    const { batcher, instances: [inst] } = setup();
    const [t] = submit(batcher, [req(1)]);
    await flush();
    inst.calls[0].resolve([]);
    await flush();
    expect(t.error).toMatchObject({ code: 'INTERNAL' });
  });

  test('close(): queued requests get UNAVAILABLE, new ones are refused, executing batches complete', async () => {
    const { clock, batcher, instances: [inst] } = setup({ default_queue_policy: queuePolicy({ default_timeout_microseconds: 5000 }) }, { maxBatch: 1 });
    const t = submit(batcher, [req(1), req(2), req(3)]);
    await flush();
    batcher.close('model unloaded');
    expect(batcher.pendingCount).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    await flush();
    expect(t[1].error).toMatchObject({ code: 'UNAVAILABLE', message: 'model unloaded' });
    expect(t[2].error).toMatchObject({ code: 'UNAVAILABLE' });
    await expect(batcher.schedule(req(4))).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'model unloaded' });
    inst.calls[0].resolve();
    await flush();
    expect(t[0].value).toBeDefined();
    expect(inst.calls).toHaveLength(1);
  });

  test('drain(): resolves at once when idle, else when the queue is empty and nothing executes', async () => {
    const { clock, batcher, instances: [inst] } = setup({ max_queue_delay_microseconds: 1000 }, { maxBatch: 2 });
    await batcher.drain();
    submit(batcher, [req(1), req(2), req(3)]);
    let drained = false;
    void batcher.drain().then(() => { drained = true; });
    await flush();
    inst.calls[0].resolve();
    await flush();
    expect(drained).toBe(false); // request 3 still waits for its queue delay
    clock.advance(1);
    await flush();
    expect(inst.calls).toHaveLength(2);
    expect(drained).toBe(false);
    inst.calls[1].resolve();
    await flush();
    expect(drained).toBe(true);
  });

  test('drain() also completes when the last queued request is cancelled or times out', async () => {
    const { clock, batcher, instances: [inst] } = setup({ default_queue_policy: queuePolicy({ default_timeout_microseconds: 1000 }) }, { maxBatch: 1 });
    const ac = new AbortController();
    submit(batcher, [req(1), req(2, { signal: ac.signal }), req(3)]);
    await flush();
    let drained = false;
    void batcher.drain().then(() => { drained = true; });
    inst.calls[0].resolve();
    await flush();
    // Request 2 was taken next; cancel it during execution, and let request 3 time out.
    clock.advance(2);
    await flush();
    expect(batcher.pendingCount).toBe(0);
    ac.abort();
    await flush();
    expect(drained).toBe(false); // the batch holding request 2 is still executing
    inst.calls[1].resolve();
    await flush();
    expect(drained).toBe(true);
  });
});

describe('DynamicBatcher: timing and statistics', () => {
  test('two batch-1 requests batched together: one execution of size 2, inference count 2', async () => {
    const { clock, batcher, instances: [inst], stats } = setup({}, { maxBatch: 8 });
    const t = submit(batcher, [req(1), req(2)]);
    await flush();
    clock.advance(4);
    inst.calls[0].resolve();
    await flush();
    // The server records per-request outcomes; do as it does.
    for (const x of t) stats.recordSuccess(x.value!.timing.queueNs + 4_000_000, x.value!.timing, clock.epochMs());
    const j = stats.toJSON('m', '1');
    expect(j.execution_count).toBe(1);
    expect(j.inference_count).toBe(2);
    expect(j.inference_stats.success.count).toBe(2);
    expect(j.batch_stats).toEqual([{ batch_size: 2, compute_input: { count: 1, ns: 0 }, compute_infer: { count: 1, ns: 4_000_000 }, compute_output: { count: 1, ns: 0 } }]);
    const s = j.inference_stats;
    expect([s.queue.count, s.compute_input.count, s.compute_infer.count, s.compute_output.count]).toEqual([2, 2, 2, 2]);
    expect(s.compute_infer.ns).toBe(8_000_000); // each request is attributed the batch's infer time
  });

  test('queue time runs from each request\'s enqueue to its batch start; compute from the instance call', async () => {
    const { clock, batcher, instances: [inst] } = setup({}, { maxBatch: 8 });
    await occupy(batcher);
    const [a] = submit(batcher, [req(1)]);
    await flush();
    clock.advance(2);
    const [b] = submit(batcher, [req(2)]);
    await flush();
    clock.advance(1);
    inst.calls[0].resolve();
    await flush();
    clock.advance(7);
    inst.calls[1].resolve();
    await flush();
    expect(a.value!.timing).toEqual({ queueNs: 3_000_000, computeInputNs: 0, computeInferNs: 7_000_000, computeOutputNs: 0 });
    expect(b.value!.timing.queueNs).toBe(1_000_000);
    expect(b.value!.timing.computeInferNs).toBe(7_000_000);
  });

  test('no timer is armed when neither a delay nor a timeout applies', async () => {
    const { clock, batcher } = setup({}, { maxBatch: 2 });
    await occupy(batcher);
    submit(batcher, [1, 2, 3, 4, 5].map((i) => req(i)));
    await flush();
    expect(clock.pendingTimers).toBe(0);
  });
});

/** Seeded so a failing run can be replayed. */
const rng = mulberry32;

describe('DynamicBatcher: randomized', () => {
  const cases = [1, 2, 3, 42, 2024].map((seed) => ({ seed, preserve: false })).concat([7, 99].map((seed) => ({ seed, preserve: true })));
  for (const { seed, preserve } of cases) {
    test(`every non-cancelled request gets exactly its own answer (seed ${seed}${preserve ? ', preserve_ordering' : ''})`, async () => {
      const random = rng(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
      const { clock, batcher, instances } = setup({
        preferred_batch_size: pick([[], [2, 4], [3, 6]]),
        max_queue_delay_microseconds: pick([0, 500, 2000]),
        // Triton allows preserve_ordering with a single priority level only.
        priority_levels: preserve ? 0 : 3,
        default_priority_level: preserve ? 0 : 2,
        preserve_ordering: preserve,
      }, { instances: 1 + Math.floor(random() * 3), maxBatch: 8 });

      const N = 400;
      const tracked: Tracked[] = [];
      const requests: ScheduledRequest[] = [];
      const aborts: AbortController[] = [];
      const cancelled = new Set<number>();
      let next = 0;
      const openCalls = (): FakeCall[] => instances.flatMap((i: FakeInstance) => i.pending);

      while (next < N || openCalls().length > 0 || batcher.pendingCount > 0) {
        const r = random();
        if (next < N && r < 0.45) {
          const id = next++;
          const ac = new AbortController();
          aborts[id] = ac;
          const rq = req(id + 1, { batch: 1 + Math.floor(random() * 4), priority: Math.floor(random() * 5), signal: ac.signal });
          requests[id] = rq;
          tracked[id] = track(batcher.schedule(rq));
        } else if (r < 0.55 && next > 0) {
          const id = Math.floor(random() * next);
          if (!tracked[id].done && !cancelled.has(id)) {
            cancelled.add(id);
            aborts[id].abort();
          }
        } else if (r < 0.7) {
          clock.advance(random() * 1.5);
        } else {
          const open = openCalls();
          if (open.length > 0) {
            const c = pick(open);
            if (random() < 0.05) c.reject(new Error('flaky'));
            else c.resolve();
          } else {
            clock.advance(1);
          }
        }
        await flush();
      }
      await batcher.drain();

      // No request executed twice; cancelled-while-queued ones never executed.
      const seen = new Map<number, number>();
      for (const c of allCalls(instances)) {
        expect(c.batchSize).toBeLessThanOrEqual(8);
        for (const id of idsIn(c)) seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      for (const n of seen.values()) expect(n).toBe(1);

      let ok = 0;
      for (let id = 0; id < N; id++) {
        const t = tracked[id];
        expect(t.done).toBe(true); // none lost
        const rows = requests[id].batchSize;
        if (t.value) {
          expect(cancelled.has(id) && !seen.has(id + 1)).toBe(false);
          const out = t.value.outputs[0];
          expect(out.shape).toEqual([rows, 2]);
          expect(numbers(out)).toEqual(expectedValues(id + 1, rows * 2));
          ok++;
        } else if (t.error!.code === 'CANCELLED') {
          expect(cancelled.has(id)).toBe(true);
        } else {
          expect(t.error).toMatchObject({ code: 'INTERNAL', message: 'flaky' });
          expect(seen.has(id + 1)).toBe(true);
        }
      }
      expect(ok).toBeGreaterThan(N / 3);
      expect(batcher.pendingCount).toBe(0);

      if (preserve) {
        // Everything answered by a batch (not by a cancel) is answered in dispatch order.
        const position = new Map<number, number>();
        let k = 0;
        for (const c of allCalls(instances)) for (const id of idsIn(c)) position.set(id - 1, k++);
        const answered = tracked
          .map((t, id) => ({ t, id }))
          .filter(({ t }) => t.value !== undefined || t.error?.code === 'INTERNAL')
          .sort((a, b) => a.t.order! - b.t.order!);
        const positions = answered.map(({ id }) => position.get(id)!);
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
      }
      expect(valueOf(1, 0)).toBe(1000);
    });
  }
});
