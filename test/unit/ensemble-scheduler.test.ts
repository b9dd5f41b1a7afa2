/**
 * The ensemble scheduler on a fake model caller whose calls the test answers one by one, so
 * the order in which steps start proves the dataflow: a step starts as soon as its inputs are
 * ready, independent steps run concurrently, a failure or a cancellation stops the rest.
 */
import { describe, expect, it } from 'vitest';
import { ENSEMBLE_DEPTH_PARAMETER, EnsembleScheduler } from '../../core/ensemble-scheduler.ts';
import type { ModelConfig } from '../../core/model-config.ts';
import { ModelStats } from '../../core/model-stats.ts';
import type { ScheduledRequest } from '../../core/scheduler.ts';
import { InferError, isInferError } from '../../protocol/errors.ts';
import type { Parameters } from '../../protocol/infer.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { config, DIAMOND, DIAMOND_FNS, FakeModelCaller, modelConfigOf, settle } from '../support/ensemble-fixtures.ts';

interface Setup {
  scheduler: EnsembleScheduler;
  caller: FakeModelCaller;
  clock: FakeClock;
  stats: ModelStats;
}

function setup(text = DIAMOND, known: Record<string, ModelConfig> = {}): Setup {
  const caller = new FakeModelCaller(DIAMOND_FNS);
  const clock = new FakeClock();
  const stats = new ModelStats();
  const scheduler = new EnsembleScheduler({
    config: config(text), callModel: caller.call, clock, stats, modelConfigOf: (name) => known[name],
  });
  return { scheduler, caller, clock, stats };
}

function request(values: number[][], o: { outputs?: string[]; signal?: AbortSignal; parameters?: Parameters } = {}): ScheduledRequest {
  return {
    inputs: [{ name: 'X', datatype: 'FP32', shape: [values.length, 2], data: Float32Array.from(values.flat()) }],
    outputNames: o.outputs ?? ['Y', 'P'], batchSize: values.length, priority: 0, signal: o.signal, parameters: o.parameters ?? {},
  };
}

/** Resolves with the rejection of `p` (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<InferError> {
  try {
    await p;
  } catch (e) {
    expect(isInferError(e), String(e)).toBe(true);
    return e as InferError;
  }
  throw new Error('expected the request to fail');
}

describe('EnsembleScheduler dataflow', () => {
  it('starts each step as soon as its inputs are ready; independent steps run concurrently', async () => {
    const { scheduler, caller } = setup();
    const result = scheduler.schedule(request([[1, 2]]));
    await settle();
    expect(caller.started).toEqual(['a']);
    caller.pending('a').answer();
    await settle();
    // b and c both read a's output: both start before either answers.
    expect(caller.started).toEqual(['a', 'b', 'c']);
    caller.pending('c').answer();
    await settle();
    expect(caller.started).toEqual(['a', 'b', 'c']); // d still waits for b
    caller.pending('b').answer();
    await settle();
    expect(caller.started).toEqual(['a', 'b', 'c', 'd']);
    caller.pending('d').answer();
    const { outputs } = await result;
    // Y = 2(x+1) + 3(x+1) = 5(x+1); P = 2(x+1); outputs in the requested order, renamed.
    expect(outputs.map((t) => t.name)).toEqual(['Y', 'P']);
    expect([...outputs[0].data as Float32Array]).toEqual([10, 15]);
    expect([...outputs[1].data as Float32Array]).toEqual([4, 6]);
    expect(outputs[0].shape).toEqual([1, 2]);
  });

  it('sends each step its inputs under the composing model names, its version and the request parameters', async () => {
    const { scheduler, caller } = setup();
    caller.auto = true;
    await scheduler.schedule(request([[0, 0], [1, 1]], { parameters: { priority: 2, timeout: 5000, sequence_id: 7, [ENSEMBLE_DEPTH_PARAMETER]: 1 } }));
    const d = caller.calls.find((c) => c.request.modelName === 'd')!.request;
    expect(d.inputs.map((t) => [t.name, t.shape])).toEqual([['l', [2, 2]], ['r', [2, 2]]]);
    expect(d.outputs).toEqual([{ name: 'y' }]);
    expect(d.modelVersion).toBeUndefined();
    expect(caller.calls.find((c) => c.request.modelName === 'c')!.request.modelVersion).toBe('2');
    // timeout is withheld (Triton: composing requests get none); the nesting depth grows by one.
    expect(d.parameters).toEqual({ priority: 2, sequence_id: 7, [ENSEMBLE_DEPTH_PARAMETER]: 2 });
  });

  it('runs only the steps the requested outputs need', async () => {
    const { scheduler, caller } = setup();
    caller.auto = true;
    const { outputs } = await scheduler.schedule(request([[1, 2]], { outputs: ['P'] }));
    expect(caller.started).toEqual(['a', 'b']);
    expect([...outputs[0].data as Float32Array]).toEqual([4, 6]);
  });

  it('records one execution per request with its batch size (Triton ensemble statistics)', async () => {
    const { scheduler, caller, stats } = setup();
    caller.auto = true;
    await scheduler.schedule(request([[1, 1], [2, 2], [3, 3]]));
    await scheduler.schedule(request([[1, 1]]));
    const s = stats.toJSON('diamond', '1');
    expect([s.execution_count, s.inference_count]).toEqual([2, 4]);
    expect(s.batch_stats.map((b) => [b.batch_size, b.compute_infer.count])).toEqual([[1, 1], [3, 1]]);
  });

  it('fits batch dims for a composing model that does not batch (Triton ReshapeTensorDims)', async () => {
    const { scheduler, caller } = setup(DIAMOND, { c: modelConfigOf('c', 0, ['x:FP32:2'], ['y:FP32:2']) });
    caller.auto = true;
    const { outputs } = await scheduler.schedule(request([[1, 2]]));
    const c = caller.calls.find((x) => x.request.modelName === 'c')!.request;
    expect(c.inputs[0].shape).toEqual([2]); // batch of 1 dropped for the non-batching model
    expect(caller.calls.find((x) => x.request.modelName === 'd')!.request.inputs.map((t) => t.shape)).toEqual([[1, 2], [2]]);
    expect([...outputs[0].data as Float32Array]).toEqual([10, 15]);
  });
});

describe('EnsembleScheduler failures', () => {
  it('fails the request when a step fails, naming the step; running steps are cancelled and later ones never start', async () => {
    const { scheduler, caller, stats } = setup();
    const result = scheduler.schedule(request([[1, 2]]));
    await settle();
    caller.pending('a').answer();
    await settle();
    const c = caller.pending('c');
    caller.pending('b').fail(new InferError('INVALID_ARG', "unexpected shape for input 'x' for model 'b'"));
    const err = await rejection(result);
    expect(err.code).toBe('INVALID_ARG');
    expect(err.reason).toBe('OTHER');
    expect(err.message).toBe("ensemble 'diamond' step 1 ('b') failed: unexpected shape for input 'x' for model 'b'");
    expect(c.options?.signal?.aborted).toBe(true);
    expect(caller.started).not.toContain('d');
    expect(stats.toJSON('diamond', '1').execution_count).toBe(0);
    await scheduler.drain();
  });

  it('reports a step model nobody serves as UNAVAILABLE with what to do', async () => {
    const { scheduler, caller } = setup();
    const result = scheduler.schedule(request([[1, 2]]));
    await settle();
    caller.pending('a').fail(new InferError('NOT_FOUND', "Request for unknown model: 'a' is not found"));
    const err = await rejection(result);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe("ensemble 'diamond' step 0 ('a'): Request for unknown model: 'a' is not found; load model 'a' on this host or on a peer of the mesh");
  });

  it('fails with INTERNAL when a step answers without a mapped output or with the wrong type', async () => {
    const missing = setup();
    const r1 = missing.scheduler.schedule(request([[1, 2]]));
    await settle();
    missing.caller.pending('a').answerWith([{ name: 'other', datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) }]);
    const e1 = await rejection(r1);
    expect(e1.code).toBe('INTERNAL');
    expect(e1.message).toBe("ensemble 'diamond' step 0 ('a') failed: model 'a' answered without output 'y' (it answered 'other')");

    const wrong = setup();
    const r3 = wrong.scheduler.schedule(request([[1, 2]], { outputs: ['P'] }));
    await settle();
    wrong.caller.pending('a').answer();
    await settle();
    wrong.caller.pending('b').answerWith([{ name: 'y', datatype: 'INT32', shape: [1, 2], data: new Int32Array(2) }]);
    const e3 = await rejection(r3);
    expect(e3.code).toBe('INTERNAL');
    expect(e3.message).toMatch(/^ensemble 'diamond': output 'P' from step 1 \('b'\) is INT32 \[1,2\], but the ensemble declares FP32 \[-1,2\]/);
  });

  it('refuses requests nested deeper than the limit (a cycle of ensembles across hosts)', async () => {
    const { scheduler, caller } = setup();
    const err = await rejection(scheduler.schedule(request([[1, 2]], { parameters: { [ENSEMBLE_DEPTH_PARAMETER]: 16 } })));
    expect(err.code).toBe('INVALID_ARG');
    expect(err.message).toMatch(/nested 16 deep .* the limit is 16: do ensembles on different hosts call each other in a cycle\?/);
    expect(caller.calls).toHaveLength(0);
  });
});

describe('EnsembleScheduler cancellation and lifecycle', () => {
  it('cancels the running steps when the client goes away', async () => {
    const { scheduler, caller, stats } = setup();
    const ac = new AbortController();
    const result = scheduler.schedule(request([[1, 2]], { signal: ac.signal }));
    await settle();
    caller.pending('a').answer();
    await settle();
    const [b, c] = [caller.pending('b'), caller.pending('c')];
    ac.abort();
    const err = await rejection(result);
    expect(err.code).toBe('CANCELLED');
    expect(err.reason).toBe('CANCELED');
    expect([b.options?.signal?.aborted, c.options?.signal?.aborted]).toEqual([true, true]);
    expect(caller.started).not.toContain('d');
    await scheduler.drain();
    expect(stats.toJSON('diamond', '1').execution_count).toBe(0);
  });

  it('refuses an already cancelled request and new requests once closed', async () => {
    const { scheduler, caller } = setup();
    const ac = new AbortController();
    ac.abort();
    expect((await rejection(scheduler.schedule(request([[1, 2]], { signal: ac.signal })))).code).toBe('CANCELLED');
    scheduler.close('model unloaded');
    const err = await rejection(scheduler.schedule(request([[1, 2]])));
    expect([err.code, err.message]).toEqual(['UNAVAILABLE', 'model unloaded']);
    expect(caller.calls).toHaveLength(0);
  });

  it('drain waits for requests in flight', async () => {
    const { scheduler, caller } = setup();
    caller.auto = false;
    const result = scheduler.schedule(request([[1, 2]], { outputs: ['P'] }));
    let drained = false;
    void scheduler.drain().then(() => { drained = true; });
    await settle();
    caller.pending('a').answer();
    await settle();
    expect(drained).toBe(false);
    caller.pending('b').answer();
    await result;
    await settle();
    expect(drained).toBe(true);
  });
});

describe('EnsembleScheduler max_inflight_requests', () => {
  const LIMITED = DIAMOND.replace('ensemble_scheduling {', 'ensemble_scheduling {\n  max_inflight_requests: 1');

  it('holds a step back while the limit of that step is in flight, across requests', async () => {
    const { scheduler, caller, clock, stats } = setup(LIMITED);
    const r1 = scheduler.schedule(request([[1, 1]], { outputs: ['P'] }));
    const r2 = scheduler.schedule(request([[2, 2]], { outputs: ['P'] }));
    await settle();
    expect(caller.started).toEqual(['a']); // the second request's step a waits
    expect(scheduler.pendingCount).toBe(1);
    clock.advance(3);
    caller.pending('a').answer();
    await settle();
    // The slot of step a passes to request 2; request 1 moves on to step b.
    expect(caller.started).toEqual(['a', 'b', 'a']);
    expect(scheduler.pendingCount).toBe(0);
    caller.pending('a').answer();
    await settle();
    expect(caller.started).toEqual(['a', 'b', 'a']); // b is busy with request 1
    expect(scheduler.pendingCount).toBe(1);
    caller.pending('b').answer();
    await settle();
    caller.pending('b').answer();
    const [o1, o2] = await Promise.all([r1, r2]);
    expect([...o1.outputs[0].data as Float32Array]).toEqual([4, 4]);
    expect([...o2.outputs[0].data as Float32Array]).toEqual([6, 6]);
    // Request 2's wait for the slot of step a shows as queue time (3 ms).
    expect(stats.toJSON('diamond', '1').inference_stats.queue.count).toBe(0); // recordSuccess is the server's job
    expect(o2.timing.queueNs).toBe(3_000_000);
    expect(o1.timing.queueNs).toBe(0);
  });

  it('a cancelled request leaves the wait list without taking a slot', async () => {
    const { scheduler, caller } = setup(LIMITED);
    const r1 = scheduler.schedule(request([[1, 1]], { outputs: ['P'] }));
    const ac = new AbortController();
    const r2 = scheduler.schedule(request([[2, 2]], { outputs: ['P'], signal: ac.signal }));
    await settle();
    ac.abort();
    expect((await rejection(r2)).code).toBe('CANCELLED');
    expect(scheduler.pendingCount).toBe(0);
    caller.pending('a').answer();
    await settle();
    caller.pending('b').answer();
    await r1;
    expect(caller.started).toEqual(['a', 'b']);
  });

  it('close fails steps waiting for a slot', async () => {
    const { scheduler, caller } = setup(LIMITED);
    const r1 = scheduler.schedule(request([[1, 1]], { outputs: ['P'] }));
    const r2 = scheduler.schedule(request([[2, 2]], { outputs: ['P'] }));
    await settle();
    scheduler.close('model unloaded');
    const err = await rejection(r2);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe("ensemble 'diamond' step 0 ('a') failed: model unloaded");
    caller.pending('a').answer();
    await settle();
    caller.pending('b').answer();
    await r1;
  });
});
