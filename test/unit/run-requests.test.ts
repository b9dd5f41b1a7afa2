/**
 * Schedulers and instances with `runRequests` (backends that need request boundaries, such as
 * JS models): the dynamic batcher hands them the requests of a batch side by side instead of
 * concatenated tensors, each request with its signal, and each request gets its own answer
 * or its own error; the default scheduler passes the request's signal too.
 */
import { describe, expect, test } from 'vitest';
import type { InstanceRequest, InstanceResult, ModelInstance } from '../../core/backend.ts';
import { DefaultScheduler } from '../../core/default-scheduler.ts';
import { DynamicBatcher } from '../../core/dynamic-batcher.ts';
import { ModelStats } from '../../core/model-stats.ts';
import type { ScheduledResult } from '../../core/scheduler.ts';
import { InferError } from '../../protocol/errors.ts';
import type { Tensor } from '../../protocol/tensor.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { flush, fakeCompute } from '../support/fake-backend.ts';
import { modelConfig, req, valueOf } from '../support/scheduler-fixtures.ts';

/** One runRequests call, settled by the test. */
interface Call {
  requests: InstanceRequest[];
  answer(results: InstanceResult[]): void;
  fail(e: unknown): void;
}

/** An instance that has only `runRequests` semantics (its `run` must never be used). */
class RequestsInstance implements ModelInstance {
  readonly device = 'cpu';
  readonly signature = { inputs: [], outputs: [] };
  readonly calls: Call[] = [];
  runCalls = 0;

  run(): Promise<Tensor[]> {
    this.runCalls++;
    return Promise.reject(new Error('run() must not be called on an instance with runRequests'));
  }

  runRequests(requests: InstanceRequest[]): Promise<InstanceResult[]> {
    return new Promise((resolve, reject) => this.calls.push({ requests, answer: resolve, fail: reject }));
  }

  async dispose(): Promise<void> {}
}

function track(p: Promise<ScheduledResult>) {
  const s: { value?: ScheduledResult; error?: InferError; done: boolean } = { done: false };
  p.then((v) => { s.value = v; s.done = true; }, (e) => { s.error = e; s.done = true; });
  return s;
}

const ok = (r: InstanceRequest): InstanceResult => ({ outputs: fakeCompute(r.inputs, r.outputNames) });

describe('DynamicBatcher with runRequests', () => {
  function setup() {
    const clock = new FakeClock();
    const instance = new RequestsInstance();
    const stats = new ModelStats();
    const batcher = new DynamicBatcher({ config: modelConfig({ max_batch_size: 8, dynamic_batching: {} }), instances: [instance], clock, stats });
    return { clock, instance, stats, batcher };
  }

  test('a batch arrives as separate requests with their own tensors and signals; one error fails only its request', async () => {
    const { instance, stats, batcher } = setup();
    const controller = new AbortController();
    const a = track(batcher.schedule(req(1, { batch: 2 })));
    const b = track(batcher.schedule(req(2, { signal: controller.signal })));
    const c = track(batcher.schedule(req(3, { batch: 3 })));
    await flush();
    expect(instance.calls).toHaveLength(1);
    const [call] = instance.calls;
    expect(call.requests.map((r) => r.inputs[0].shape[0])).toEqual([2, 1, 3]);
    expect(Array.from(call.requests[1].inputs[0].data as Float32Array)).toEqual([valueOf(2, 0), valueOf(2, 1)]);
    expect(call.requests[1].signal).toBe(controller.signal);
    call.answer([ok(call.requests[0]), { error: new InferError('INVALID_ARG', 'bad row in request 2') }, ok(call.requests[2])]);
    await flush();
    expect(a.value?.outputs[0].shape).toEqual([2, 2]);
    expect(Array.from(a.value!.outputs[0].data as Float32Array)).toEqual([0, 1, 2, 3].map((i) => valueOf(1, i) + 1));
    expect(b.error?.code).toBe('INVALID_ARG');
    expect(b.error?.message).toBe('bad row in request 2');
    expect(b.error?.reason).toBe('BACKEND');
    expect(c.value?.outputs[0].shape).toEqual([3, 2]);
    expect(instance.runCalls).toBe(0);
    // One execution of 6 rows: statistics count the batch once.
    expect(stats.toJSON('m', '1').execution_count).toBe(1);
  });

  test('a request answered with the wrong number of outputs fails alone; a thrown execution fails all', async () => {
    const { instance, batcher } = setup();
    const a = track(batcher.schedule(req(1)));
    const b = track(batcher.schedule(req(2)));
    await flush();
    instance.calls[0].answer([{ outputs: [] }, ok(instance.calls[0].requests[1])]);
    await flush();
    expect(a.error?.code).toBe('INTERNAL');
    expect(a.error?.message).toMatch(/returned 0 output\(s\) for the 1 requested/);
    expect(b.value?.outputs).toHaveLength(1);

    const c = track(batcher.schedule(req(3)));
    const d = track(batcher.schedule(req(4)));
    await flush();
    instance.calls[1].fail(new InferError('UNAVAILABLE', 'worker crashed'));
    await flush();
    expect(c.error?.code).toBe('UNAVAILABLE');
    expect(d.error?.code).toBe('UNAVAILABLE');
  });

  test('an answer list of the wrong length fails the whole batch', async () => {
    const { instance, batcher } = setup();
    const a = track(batcher.schedule(req(1)));
    const b = track(batcher.schedule(req(2)));
    await flush();
    instance.calls[0].answer([ok(instance.calls[0].requests[0])]);
    await flush();
    expect(a.error?.message).toMatch(/answered 1 request\(s\) of the 2/);
    expect(b.error?.code).toBe('INTERNAL');
  });
});

describe('DefaultScheduler with runRequests', () => {
  test('runs one request with its signal and rejects with its own error', async () => {
    const clock = new FakeClock();
    const instance = new RequestsInstance();
    const sched = new DefaultScheduler({ config: modelConfig({ max_batch_size: 0, dynamic_batching: undefined }), instances: [instance], clock, stats: new ModelStats() });
    const controller = new AbortController();
    const a = track(sched.schedule(req(1, { batch: null, signal: controller.signal })));
    await flush();
    expect(instance.calls).toHaveLength(1);
    expect(instance.calls[0].requests).toHaveLength(1);
    expect(instance.calls[0].requests[0].signal).toBe(controller.signal);
    instance.calls[0].answer([{ error: new InferError('INTERNAL', 'model said no', 'BACKEND') }]);
    await flush();
    expect(a.error?.message).toBe('model said no');
    const b = track(sched.schedule(req(2, { batch: null })));
    await flush();
    instance.calls[1].answer([ok(instance.calls[1].requests[0])]);
    await flush();
    expect(Array.from(b.value!.outputs[0].data as Float32Array)).toEqual([valueOf(2, 0) + 1, valueOf(2, 1) + 1]);
    expect(instance.runCalls).toBe(0);
  });
});
