import { describe, expect, test } from 'vitest';
import { DefaultScheduler } from '../../core/default-scheduler.ts';
import { ModelStats } from '../../core/model-stats.ts';
import type { ScheduledResult } from '../../core/scheduler.ts';
import { InferError } from '../../protocol/errors.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { allCalls, fakeInstances, flush } from '../support/fake-backend.ts';
import { expectedValues, modelConfig, numbers, req } from '../support/scheduler-fixtures.ts';

function setup(opts: { instances?: number; maxBatch?: number } = {}) {
  const clock = new FakeClock();
  const instances = fakeInstances(opts.instances ?? 1);
  const stats = new ModelStats();
  const config = modelConfig({ max_batch_size: opts.maxBatch ?? 0, dynamic_batching: undefined });
  const sched = new DefaultScheduler({ config, instances, clock, stats });
  return { clock, instances, stats, sched };
}

/** Records how each promise settled without letting a rejection go unhandled. */
function track(p: Promise<ScheduledResult>) {
  const s: { value?: ScheduledResult; error?: InferError; done: boolean } = { done: false };
  p.then((v) => { s.value = v; s.done = true; }, (e) => { s.error = e; s.done = true; });
  return s;
}

describe('DefaultScheduler', () => {
  test('runs each request alone with its own tensors, FIFO, one at a time per instance', async () => {
    const { instances: [inst], sched } = setup();
    const a = track(sched.schedule(req(1, { batch: null })));
    const b = track(sched.schedule(req(2, { batch: null })));
    expect(inst.calls).toHaveLength(1);
    expect(sched.pendingCount).toBe(1);
    inst.calls[0].resolve();
    await flush();
    expect(a.done).toBe(true);
    expect(numbers(a.value!.outputs[0])).toEqual(expectedValues(1, 2));
    expect(inst.calls).toHaveLength(2);
    expect(inst.calls[1].inputs[0].data[0]).toBe(2000);
    expect(sched.pendingCount).toBe(0);
    inst.calls[1].resolve();
    await flush();
    expect(numbers(b.value!.outputs[0])).toEqual(expectedValues(2, 2));
  });

  test('the request tensors reach the instance untouched (zero copy)', () => {
    const { instances: [inst], sched } = setup();
    const r = req(1, { batch: null });
    void sched.schedule(r);
    expect(inst.calls[0].inputs).toBe(r.inputs);
    expect(inst.calls[0].outputNames).toBe(r.outputNames);
  });

  test('N instances run N requests concurrently; the next waits for the first free one', async () => {
    const { instances, sched } = setup({ instances: 2 });
    for (let i = 0; i < 3; i++) void sched.schedule(req(i, { batch: null }));
    expect(instances[0].calls).toHaveLength(1);
    expect(instances[1].calls).toHaveLength(1);
    expect(sched.pendingCount).toBe(1);
    instances[1].calls[0].resolve();
    await flush();
    expect(instances[1].calls).toHaveLength(2);
    expect(instances[1].calls[1].inputs[0].data[0]).toBe(2000);
    expect(sched.pendingCount).toBe(0);
  });

  test('timing: queue from enqueue to start, infer from the instance call', async () => {
    const { clock, instances: [inst], sched } = setup();
    void sched.schedule(req(1, { batch: null }));
    const b = track(sched.schedule(req(2, { batch: null })));
    clock.advance(3); // request 2 waits 3 ms behind request 1
    inst.calls[0].resolve();
    await flush();
    clock.advance(5); // request 2 executes for 5 ms
    inst.calls[1].resolve();
    await flush();
    expect(b.value!.timing).toEqual({ queueNs: 3_000_000, computeInputNs: 0, computeInferNs: 5_000_000, computeOutputNs: 0 });
  });

  test('records one execution per request with its batch size', async () => {
    const { instances: [inst], sched, stats } = setup({ maxBatch: 8 });
    void sched.schedule(req(1, { batch: 3 }));
    inst.calls[0].resolve();
    await flush();
    const j = stats.toJSON('m', '1');
    expect(j.execution_count).toBe(1);
    expect(j.inference_count).toBe(3);
    expect(j.batch_stats.map((b) => [b.batch_size, b.compute_infer.count])).toEqual([[3, 1]]);
  });

  test('cancel while queued: leaves at once with CANCELLED; the instance never sees it', async () => {
    const { instances: [inst], sched } = setup();
    void sched.schedule(req(1, { batch: null }));
    const ac = new AbortController();
    const b = track(sched.schedule(req(2, { batch: null, signal: ac.signal })));
    expect(sched.pendingCount).toBe(1);
    ac.abort();
    expect(sched.pendingCount).toBe(0);
    await flush();
    expect(b.error).toMatchObject({ code: 'CANCELLED', reason: 'CANCELED' });
    inst.calls[0].resolve();
    await flush();
    expect(allCalls([inst])).toHaveLength(1);
  });

  test('an already-aborted signal is rejected without queuing', async () => {
    const { instances: [inst], sched } = setup();
    const ac = new AbortController();
    ac.abort();
    await expect(sched.schedule(req(1, { batch: null, signal: ac.signal }))).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(inst.calls).toHaveLength(0);
  });

  test('cancel during execution: answered CANCELLED now, result discarded, instance freed after', async () => {
    const { instances: [inst], sched, stats } = setup();
    const ac = new AbortController();
    const a = track(sched.schedule(req(1, { batch: null, signal: ac.signal })));
    const b = track(sched.schedule(req(2, { batch: null })));
    ac.abort();
    await flush();
    expect(a.error).toMatchObject({ code: 'CANCELLED' });
    expect(inst.calls).toHaveLength(1); // still executing request 1
    inst.calls[0].resolve();
    await flush();
    expect(a.value).toBeUndefined();
    expect(stats.toJSON('m', '1').execution_count).toBe(1); // it did execute
    inst.calls[1].resolve();
    await flush();
    expect(b.value).toBeDefined();
  });

  test('backend errors: InferError kept (reason BACKEND), others become INTERNAL', async () => {
    const { instances: [inst], sched, stats } = setup();
    const a = track(sched.schedule(req(1, { batch: null })));
    const b = track(sched.schedule(req(2, { batch: null })));
    inst.calls[0].reject(new InferError('INVALID_ARG', 'bad thing'));
    await flush();
    inst.calls[1].reject(new TypeError('boom'));
    await flush();
    expect(a.error).toMatchObject({ code: 'INVALID_ARG', message: 'bad thing', reason: 'BACKEND' });
    expect(b.error).toMatchObject({ name: 'InferError', code: 'INTERNAL', message: 'boom', reason: 'BACKEND' });
    expect(stats.toJSON('m', '1').execution_count).toBe(0);
  });

  test('a synchronous throw from run() is a backend error too', async () => {
    const { instances: [inst], sched } = setup();
    inst.run = () => { throw new Error('sync'); };
    await expect(sched.schedule(req(1, { batch: null }))).rejects.toMatchObject({ code: 'INTERNAL', message: 'sync' });
    // The instance was freed: the next request runs.
    let ran = false;
    inst.run = async (inputs) => { ran = true; return [{ ...inputs[0], name: 'OUTPUT0' }]; };
    await sched.schedule(req(2, { batch: null }));
    expect(ran).toBe(true);
  });

  test('close() rejects what is queued with UNAVAILABLE and refuses new requests; executing work completes', async () => {
    const { instances: [inst], sched } = setup();
    const a = track(sched.schedule(req(1, { batch: null })));
    const b = track(sched.schedule(req(2, { batch: null })));
    sched.close('model unloaded');
    await flush();
    expect(b.error).toMatchObject({ code: 'UNAVAILABLE', message: 'model unloaded' });
    await expect(sched.schedule(req(3, { batch: null }))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    inst.calls[0].resolve();
    await flush();
    expect(a.value).toBeDefined();
    expect(inst.calls).toHaveLength(1);
  });

  test('drain() resolves only when nothing is queued or executing', async () => {
    const { instances: [inst], sched } = setup();
    await sched.drain(); // idle: at once
    void sched.schedule(req(1, { batch: null }));
    void sched.schedule(req(2, { batch: null }));
    let drained = false;
    void sched.drain().then(() => { drained = true; });
    inst.calls[0].resolve();
    await flush();
    expect(drained).toBe(false);
    inst.calls[1].resolve();
    await flush();
    expect(drained).toBe(true);
  });

  test('a model without instances cannot get a scheduler', () => {
    expect(() => new DefaultScheduler({ config: modelConfig(), instances: [], clock: new FakeClock(), stats: new ModelStats() })).toThrow(/no instances/);
  });
});
