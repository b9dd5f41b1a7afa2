import { describe, expect, test } from 'vitest';
import { SequenceBatcher } from '../../core/sequence-batcher.ts';
import type { ModelSequenceBatching, ModelSequenceBatchingControl } from '../../core/model-config.ts';
import { ModelStats } from '../../core/model-stats.ts';
import type { ScheduledRequest, ScheduledResult, SequenceFlags } from '../../core/scheduler.ts';
import { sequenceFlagsOf } from '../../core/sequence-params.ts';
import { InferError } from '../../protocol/errors.ts';
import type { Tensor } from '../../protocol/tensor.ts';
import { FakeClock } from '../support/fake-clock.ts';
import type { FakeCall } from '../support/fake-backend.ts';
import { allCalls, fakeInstances, flush } from '../support/fake-backend.ts';
import { modelConfig, numbers } from '../support/scheduler-fixtures.ts';
import { expectInferError } from '../support/expect-infer-error.ts';
import type { ModelSignature } from '../../core/model-config.ts';
import { normalizeModelConfig } from '../../core/model-config-normalize.ts';
import { parseModelConfigText } from '../../core/model-config-parse.ts';
import { validateModelConfig } from '../../core/model-config-validate.ts';

// ---- fixtures ---------------------------------------------------------------------------------

type Ctl = Partial<ModelSequenceBatchingControl> & Pick<ModelSequenceBatchingControl, 'kind'>;

function control(name: string, c: Ctl): { name: string; control: ModelSequenceBatchingControl[] } {
  return { name, control: [{ int32_false_true: [], fp32_false_true: [], bool_false_true: [], data_type: 'TYPE_INVALID', ...c }] };
}

/** The controls most tests use: START/END/READY as INT32 0/1, CORRID UINT64. */
const CONTROLS = [
  control('START', { kind: 'CONTROL_SEQUENCE_START', int32_false_true: [0, 1] }),
  control('END', { kind: 'CONTROL_SEQUENCE_END', int32_false_true: [0, 1] }),
  control('READY', { kind: 'CONTROL_SEQUENCE_READY', int32_false_true: [0, 1] }),
  control('CORRID', { kind: 'CONTROL_SEQUENCE_CORRID', data_type: 'TYPE_UINT64' }),
];

/** A running-sum state: STATE_IN → STATE_OUT, FP32 [2]. */
function sumState(init: { zero_data?: boolean; data_file?: string } | undefined = { zero_data: true }): ModelSequenceBatching['state'][number] {
  return {
    input_name: 'STATE_IN', output_name: 'STATE_OUT', data_type: 'TYPE_FP32', dims: [2],
    initial_state: init === undefined ? [] : [{ data_type: 'TYPE_FP32', dims: [2], name: 'init', ...init }],
    use_same_buffer_for_input_output: false, use_growable_memory: false,
  };
}

interface SetupOptions {
  instances?: number;
  maxBatch?: number;
  sb?: Partial<ModelSequenceBatching>;
  files?: Map<string, Uint8Array>;
}

function setup(o: SetupOptions = {}) {
  const clock = new FakeClock();
  const instances = fakeInstances(o.instances ?? 1);
  const stats = new ModelStats();
  const config = modelConfig({ max_batch_size: o.maxBatch ?? 4, dynamic_batching: undefined, name: 'seq' });
  config.sequence_batching = {
    max_sequence_idle_microseconds: 1_000_000,
    control_input: CONTROLS,
    state: [],
    iterative_sequence: false,
    ...o.sb,
  };
  const batcher = new SequenceBatcher({ config, instances, clock, stats, initialStateFiles: o.files });
  return { clock, instances, stats, batcher, calls: () => allCalls(instances) };
}

interface Tracked {
  value?: ScheduledResult;
  error?: InferError;
  done: boolean;
}

function track(p: Promise<ScheduledResult>): Tracked {
  const s: Tracked = { done: false };
  p.then((v) => { s.value = v; s.done = true; }, (e) => { s.error = e; s.done = true; });
  return s;
}

interface SeqReqOptions {
  start?: boolean;
  end?: boolean;
  batch?: number | null;
  outputs?: string[];
  signal?: AbortSignal;
  /** Elements per row (default 2). */
  width?: number;
}

/** A request of sequence `id` whose INPUT0 is [x, x] (batch dim unless `batch: null`). */
function sreq(id: bigint | string | number, x: number, o: SeqReqOptions = {}): ScheduledRequest {
  const batch = o.batch === undefined ? 1 : o.batch;
  const w = o.width ?? 2;
  const shape = batch === null ? [w] : [batch, w];
  const n = shape.reduce((a, b) => a * b, 1);
  const sequence: SequenceFlags = { id: typeof id === 'number' ? BigInt(id) : id, start: o.start ?? false, end: o.end ?? false };
  return {
    inputs: [{ name: 'INPUT0', datatype: 'FP32', shape, data: new Float32Array(n).fill(x) }],
    outputNames: o.outputs ?? ['OUTPUT0'],
    batchSize: batch ?? 1,
    priority: 0,
    signal: o.signal,
    sequence,
  };
}

function input(call: FakeCall, name: string): Tensor {
  const t = call.inputs.find((i) => i.name === name);
  if (!t) throw new Error(`call has no input '${name}' (has ${call.inputs.map((i) => i.name).join(', ')})`);
  return t;
}

/** Column values of a [rows, 1] control tensor. */
function col(call: FakeCall, name: string): (number | string)[] {
  const t = input(call, name);
  if (t.datatype === 'BYTES') return (t.data as Uint8Array[]).map((b) => new TextDecoder().decode(b));
  return numbers(t);
}

/** The model the state tests run: OUTPUT0 = STATE_IN + INPUT0, STATE_OUT = OUTPUT0 (as the fake computes it). */
function accumulate(call: FakeCall): Tensor[] {
  const x = input(call, 'INPUT0');
  const s = call.inputs.find((i) => i.name === 'STATE_IN');
  const sum = new Float32Array(x.data.length);
  for (let i = 0; i < sum.length; i++) sum[i] = Number((x.data as Float32Array)[i]) + (s ? Number((s.data as Float32Array)[i]) : 0);
  return call.outputNames.map((name) => ({ name, datatype: 'FP32' as const, shape: x.shape.slice(), data: sum.slice() }));
}

/** Answers every pending call with `accumulate` and lets the batcher move on. */
async function runPending(instances: ReturnType<typeof fakeInstances>): Promise<void> {
  for (const c of allCalls(instances).filter((x) => !x.settled)) c.resolve(accumulate(c));
  await flush();
}

const first = (t: Tracked): number => numbers(t.value!.outputs[0])[0];

// ---- tests --------------------------------------------------------------------------------------

describe('sequence parameters', () => {
  test('sequence_id: uint64 number or string; 0 and "" mean no sequence; flags must be booleans', () => {
    expect(sequenceFlagsOf({ sequence_id: 42, sequence_start: true })).toEqual({ id: 42n, start: true, end: false });
    expect(sequenceFlagsOf({ sequence_id: 'abc', sequence_end: true })).toEqual({ id: 'abc', start: false, end: true });
    expect(sequenceFlagsOf({ sequence_id: 0, sequence_start: true })).toBeUndefined();
    expect(sequenceFlagsOf({ sequence_id: '' })).toBeUndefined();
    expect(sequenceFlagsOf({})).toBeUndefined();
    // a gRPC uint64 above 2^53 arrives as its decimal string and stays one id
    expect(sequenceFlagsOf({ sequence_id: '18446744073709551615' })?.id).toBe('18446744073709551615');
    // gRPC's int64_param: a negative id is the uint64 with the same bits (Triton's reading)
    expect(sequenceFlagsOf({ sequence_id: -1 })?.id).toBe(2n ** 64n - 1n);
    expectInferError(() => sequenceFlagsOf({ sequence_id: 2 ** 64 }), 'INVALID_ARG', "'sequence_id' must be an unsigned 64-bit integer");
    expectInferError(() => sequenceFlagsOf({ sequence_id: 1.5 }), 'INVALID_ARG', "'sequence_id'");
    expectInferError(() => sequenceFlagsOf({ sequence_id: 1, sequence_start: 'yes' }), 'INVALID_ARG', "'sequence_start' must be a boolean");
  });
});

describe('SequenceBatcher: Triton errors', () => {
  test('a request without a correlation id, a first request without START, a batch of two', async () => {
    const { batcher } = setup();
    const noId = { ...sreq(1, 1), sequence: undefined };
    await expect(batcher.schedule(noId)).rejects.toMatchObject({
      code: 'INVALID_ARG', message: "inference request to model 'seq' must specify a non-zero or non-empty correlation ID",
    });
    await expect(batcher.schedule(sreq(7, 1))).rejects.toMatchObject({
      code: 'INVALID_ARG', message: "inference request for sequence 7 to model 'seq' must specify the START flag on the first request of the sequence",
    });
    await expect(batcher.schedule(sreq('abc', 1))).rejects.toMatchObject({ message: expect.stringContaining('for sequence abc to model') });
    await expect(batcher.schedule(sreq(1, 1, { start: true, batch: 2 }))).rejects.toMatchObject({
      code: 'INVALID_ARG', message: "inference request to model 'seq' must specify batch-size 1 due to requirements of sequence batcher",
    });
    expect(batcher.activeSequences).toBe(0);
  });

  test('a string id for a model whose CORRID is numeric is refused when it arrives; digit strings are accepted', async () => {
    const { batcher, instances } = setup();
    await expect(batcher.schedule(sreq('abc', 1, { start: true }))).rejects.toMatchObject({
      code: 'INVALID_ARG', message: expect.stringMatching(/sequence id 'abc' is a string, but model 'seq' takes its correlation id in control 'CORRID' of type UINT64/),
    });
    const t = track(batcher.schedule(sreq('18446744073709551615', 1, { start: true })));
    await flush();
    expect(col(instances[0].calls[0], 'CORRID')).toEqual([18446744073709551615]);
    expect(input(instances[0].calls[0], 'CORRID').data).toEqual(BigUint64Array.of(18446744073709551615n));
    await runPending(instances);
    expect(t.value).toBeDefined();
  });

  test('after END the id is free: a further request needs START again', async () => {
    const { batcher, instances } = setup();
    const a = track(batcher.schedule(sreq(5, 1, { start: true, end: true })));
    await expect(batcher.schedule(sreq(5, 2))).rejects.toMatchObject({ message: expect.stringContaining('must specify the START flag') });
    await flush();
    await runPending(instances);
    expect(a.value).toBeDefined();
    expect(batcher.activeSequences).toBe(0);
    await expect(batcher.schedule(sreq(5, 3))).rejects.toMatchObject({ message: expect.stringContaining('must specify the START flag') });
  });

  test('closed: queued requests fail UNAVAILABLE and new ones are refused', async () => {
    const { batcher } = setup({ maxBatch: 1 });
    const running = track(batcher.schedule(sreq(1, 1, { start: true })));
    const queued = track(batcher.schedule(sreq(2, 1, { start: true })));
    await flush();
    expect(batcher.pendingCount).toBe(1);
    batcher.close('model unloaded');
    await flush();
    expect(queued.error).toMatchObject({ code: 'UNAVAILABLE', message: 'model unloaded' });
    expect(running.done).toBe(false);
    await expect(batcher.schedule(sreq(3, 1, { start: true }))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});

describe('SequenceBatcher: direct strategy', () => {
  test('one slot per batch row: concurrent sequences run together, with their control values', async () => {
    const { batcher, instances } = setup({ maxBatch: 4 });
    const t = [track(batcher.schedule(sreq(11, 1, { start: true }))), track(batcher.schedule(sreq(22, 2, { start: true, end: true })))];
    await flush();
    const [call] = instances[0].calls;
    expect(call.batchSize).toBe(2);
    expect(input(call, 'START').shape).toEqual([2, 1]);
    expect(input(call, 'START').datatype).toBe('INT32');
    expect(col(call, 'START')).toEqual([1, 1]);
    expect(col(call, 'END')).toEqual([0, 1]);
    expect(col(call, 'READY')).toEqual([1, 1]);
    expect(col(call, 'CORRID')).toEqual([11, 22]);
    expect(input(call, 'CORRID').datatype).toBe('UINT64');
    await runPending(instances);
    expect(t.map(first)).toEqual([1, 2]);
  });

  test('rows without a ready request below the highest used slot are padding: zero inputs, READY 0, CORRID 0', async () => {
    const { batcher, instances } = setup({ maxBatch: 4 });
    // three sequences take slots 0, 1, 2
    for (const id of [1, 2, 3]) track(batcher.schedule(sreq(id, id, { start: true })));
    await flush();
    await runPending(instances);
    // now only the sequences in slots 0 and 2 send a request
    const t = [track(batcher.schedule(sreq(1, 10))), track(batcher.schedule(sreq(3, 30)))];
    await flush();
    const call = instances[0].calls[1];
    expect(call.batchSize).toBe(3);
    expect(col(call, 'READY')).toEqual([1, 0, 1]);
    expect(col(call, 'CORRID')).toEqual([1, 0, 3]);
    expect(col(call, 'START')).toEqual([0, 0, 0]);
    expect(numbers(input(call, 'INPUT0'))).toEqual([10, 10, 0, 0, 30, 30]);
    await runPending(instances);
    expect(t.map(first)).toEqual([10, 30]);
  });

  test('requests of one sequence run one at a time, in order', async () => {
    const { batcher, instances } = setup({ maxBatch: 4 });
    const t = [1, 2, 3].map((x, i) => track(batcher.schedule(sreq(9, x, { start: i === 0 }))));
    await flush();
    expect(instances[0].calls.length).toBe(1);
    expect(instances[0].calls[0].batchSize).toBe(1);
    expect(batcher.pendingCount).toBe(2);
    await runPending(instances);
    expect(instances[0].calls.length).toBe(2);
    await runPending(instances);
    await runPending(instances);
    expect(instances[0].calls.map((c) => numbers(input(c, 'INPUT0'))[0])).toEqual([1, 2, 3]);
    expect(t.every((x) => x.value !== undefined)).toBe(true);
  });

  test('sequences beyond the slots wait in the backlog until END frees a slot', async () => {
    const { batcher, instances, stats } = setup({ maxBatch: 1, instances: 2 });
    const a = track(batcher.schedule(sreq(1, 1, { start: true })));
    const b = track(batcher.schedule(sreq(2, 2, { start: true })));
    const c = track(batcher.schedule(sreq(3, 3, { start: true })));
    await flush();
    // two instances × one slot: sequence 3 waits
    expect(instances.map((i) => i.calls.length)).toEqual([1, 1]);
    expect(batcher.backlogLength).toBe(1);
    expect(batcher.pendingCount).toBe(1);
    await runPending(instances);
    expect(a.value && b.value).toBeTruthy();
    expect(c.done).toBe(false);
    // sequence 3 can keep queueing while it waits
    const c2 = track(batcher.schedule(sreq(3, 4)));
    // sequence 1 ends: its slot (instance 0) goes to sequence 3
    const a2 = track(batcher.schedule(sreq(1, 5, { end: true })));
    await flush();
    await runPending(instances);
    expect(a2.value).toBeDefined();
    expect(batcher.backlogLength).toBe(0);
    await flush();
    expect(instances[0].calls.length).toBe(3);
    expect(numbers(input(instances[0].calls[2], 'INPUT0'))[0]).toBe(3);
    await runPending(instances);
    await runPending(instances);
    expect(c.value && c2.value).toBeTruthy();
    expect(stats.counters().execCount).toBe(5);
  });

  test('an idle sequence is released after max_sequence_idle_microseconds; the backlog takes its slot', async () => {
    const { batcher, instances, clock } = setup({ maxBatch: 1, sb: { max_sequence_idle_microseconds: 2000 } });
    track(batcher.schedule(sreq(1, 1, { start: true })));
    await flush();
    await runPending(instances);
    const waiting = track(batcher.schedule(sreq(2, 2, { start: true })));
    await flush();
    expect(batcher.backlogLength).toBe(1);
    clock.advance(1.9);
    await flush();
    expect(waiting.done).toBe(false);
    clock.advance(0.2);
    await flush();
    expect(batcher.backlogLength).toBe(0);
    expect(instances[0].calls.length).toBe(2);
    await runPending(instances);
    expect(waiting.value).toBeDefined();
    // sequence 1 was forgotten: continuing it is Triton's START error
    await expect(batcher.schedule(sreq(1, 3))).rejects.toMatchObject({ message: expect.stringContaining('for sequence 1 to model') });
  });

  test('a request keeps its sequence alive: the idle clock restarts after each', async () => {
    const { batcher, instances, clock } = setup({ sb: { max_sequence_idle_microseconds: 2000, state: [sumState()] } });
    track(batcher.schedule(sreq(1, 1, { start: true })));
    await flush();
    await runPending(instances);
    for (let i = 0; i < 3; i++) {
      clock.advance(1.5);
      const t = track(batcher.schedule(sreq(1, 1)));
      await flush();
      await runPending(instances);
      expect(first(t)).toBe(i + 2);
    }
    expect(batcher.activeSequences).toBe(1);
    clock.advance(2);
    expect(batcher.activeSequences).toBe(0);
  });

  test('minimum_slot_utilization with a queue delay waits for more ready slots, then runs what is there', async () => {
    const { batcher, instances, clock } = setup({ maxBatch: 4, sb: { direct: { max_queue_delay_microseconds: 500, minimum_slot_utilization: 0.5 } } });
    track(batcher.schedule(sreq(1, 1, { start: true })));
    await flush();
    expect(instances[0].calls.length).toBe(0);
    clock.advance(0.2);
    track(batcher.schedule(sreq(2, 2, { start: true })));
    await flush();
    // 2 of 4 slots ready = 0.5: runs at once
    expect(instances[0].calls.length).toBe(1);
    expect(instances[0].calls[0].batchSize).toBe(2);
    await runPending(instances);
    track(batcher.schedule(sreq(1, 1)));
    await flush();
    expect(instances[0].calls.length).toBe(1);
    clock.advance(0.5);
    await flush();
    expect(instances[0].calls.length).toBe(2);
    expect(instances[0].calls[1].batchSize).toBe(1);
  });

  test('rows with other shapes wait for the next execution, and the oldest ready request sets the shapes (no starvation)', async () => {
    const { batcher, instances, clock } = setup({ maxBatch: 4 });
    for (const id of [1, 2]) track(batcher.schedule(sreq(id, id, { start: true })));
    await flush();
    await runPending(instances);
    // sequence 2 (slot 1) sends a wider request first; sequence 1 (slot 0) a narrower one later
    const wide = track(batcher.schedule(sreq(2, 7, { width: 3 })));
    clock.advance(1);
    const narrow = track(batcher.schedule(sreq(1, 5)));
    await flush();
    // the oldest (slot 1, width 3) runs; slot 0 is a padding row of the same width
    const call = instances[0].calls[1];
    expect(input(call, 'INPUT0').shape).toEqual([2, 3]);
    expect(col(call, 'READY')).toEqual([0, 1]);
    await runPending(instances);
    expect(wide.value).toBeDefined();
    expect(instances[0].calls[2].batchSize).toBe(1);
    await runPending(instances);
    expect(first(narrow)).toBe(5);
  });

  test('cancelling a START queued behind an END keeps the sequence closing', async () => {
    const { batcher, instances } = setup();
    track(batcher.schedule(sreq(1, 1, { start: true })));
    await flush();
    const end = track(batcher.schedule(sreq(1, 2, { end: true })));
    const ac = new AbortController();
    const restart = track(batcher.schedule(sreq(1, 3, { start: true, signal: ac.signal })));
    ac.abort();
    await flush();
    expect(restart.error).toMatchObject({ code: 'CANCELLED' });
    // the END is still queued: a request without START is refused
    await expect(batcher.schedule(sreq(1, 4))).rejects.toMatchObject({ message: expect.stringContaining('must specify the START flag') });
    await runPending(instances);
    await runPending(instances);
    expect(end.value).toBeDefined();
    expect(batcher.activeSequences).toBe(0);
  });

  test('a model that does not batch: one slot per instance, control tensors of shape [1]', async () => {
    const { batcher, instances } = setup({ maxBatch: 0, instances: 2, sb: { state: [sumState()] } });
    const t = [track(batcher.schedule(sreq(1, 1, { start: true, batch: null }))), track(batcher.schedule(sreq(2, 5, { start: true, batch: null })))];
    await flush();
    expect(instances.map((i) => i.calls.length)).toEqual([1, 1]);
    const call = instances[0].calls[0];
    expect(input(call, 'START').shape).toEqual([1]);
    expect(input(call, 'STATE_IN').shape).toEqual([2]);
    expect(input(call, 'INPUT0').shape).toEqual([2]);
    await runPending(instances);
    const t2 = [track(batcher.schedule(sreq(1, 1, { batch: null }))), track(batcher.schedule(sreq(2, 5, { batch: null })))];
    await flush();
    await runPending(instances);
    expect([...t, ...t2].map(first)).toEqual([1, 5, 2, 10]);
  });
});

describe('SequenceBatcher: implicit state', () => {
  test('interleaved sequences each keep their own running sum, never returned to the client', async () => {
    // no CORRID control here, so a string id is fine
    const { batcher, instances } = setup({ maxBatch: 2, sb: { state: [sumState()], control_input: CONTROLS.slice(0, 3) } });
    const steps = [[1, 100], [2, 200], [3, 300], [4, 400]];
    const results: number[][] = [];
    for (let i = 0; i < steps.length; i++) {
      const [a, b] = steps[i];
      const ta = track(batcher.schedule(sreq(1, a, { start: i === 0 })));
      const tb = track(batcher.schedule(sreq('b', b, { start: i === 0 })));
      await flush();
      await runPending(instances);
      results.push([first(ta), first(tb)]);
      expect(ta.value!.outputs.map((o) => o.name)).toEqual(['OUTPUT0']);
    }
    expect(results).toEqual([[1, 100], [3, 300], [6, 600], [10, 1000]]);
    // both rows ran together each time, and the state output was asked of the model
    expect(instances[0].calls.map((c) => c.batchSize)).toEqual([2, 2, 2, 2]);
    expect(instances[0].calls[0].outputNames).toEqual(['OUTPUT0', 'STATE_OUT']);
  });

  test('the state output is returned when the client asks for it by name', async () => {
    const { batcher, instances } = setup({ sb: { state: [sumState()] } });
    const t = track(batcher.schedule(sreq(1, 3, { start: true, outputs: ['STATE_OUT', 'OUTPUT0'] })));
    await flush();
    expect(instances[0].calls[0].outputNames).toEqual(['STATE_OUT', 'OUTPUT0']);
    await runPending(instances);
    expect(t.value!.outputs.map((o) => o.name)).toEqual(['STATE_OUT', 'OUTPUT0']);
  });

  test('START starts from the initial state: zero_data, or the data_file values; a restart resets it', async () => {
    const files = new Map([['init.bin', new Uint8Array(new Float32Array([100, 200]).buffer)]]);
    const { batcher, instances } = setup({ sb: { state: [sumState({ data_file: 'init.bin' })] }, files });
    const t1 = track(batcher.schedule(sreq(1, 1, { start: true })));
    await flush();
    expect(numbers(input(instances[0].calls[0], 'STATE_IN'))).toEqual([100, 200]);
    await runPending(instances);
    expect(numbers(t1.value!.outputs[0])).toEqual([101, 201]);
    const t2 = track(batcher.schedule(sreq(1, 1)));
    await flush();
    await runPending(instances);
    expect(numbers(t2.value!.outputs[0])).toEqual([102, 202]);
    // START again on a live sequence: state back to the initial value
    const t3 = track(batcher.schedule(sreq(1, 5, { start: true })));
    await flush();
    await runPending(instances);
    expect(numbers(t3.value!.outputs[0])).toEqual([105, 205]);
  });

  test('a state without initial_state starts at zeros; a bad data_file is refused when the batcher is built', () => {
    const { batcher } = setup({ sb: { state: [sumState(undefined)] } });
    expect(batcher.activeSequences).toBe(0);
    const files = new Map([['short.bin', new Uint8Array(4)]]);
    expectInferError(() => setup({ sb: { state: [sumState({ data_file: 'short.bin' })] }, files }), 'INVALID_ARG',
      "state 'STATE_IN'", 'has 4 bytes, but 2 element(s) of FP32 need 8');
    expectInferError(() => setup({ sb: { state: [sumState({ data_file: 'missing.bin' })] } }), 'INVALID_ARG', 'initial_state/missing.bin');
  });

  test('a failed execution fails its requests and leaves the state as it was', async () => {
    const { batcher, instances } = setup({ sb: { state: [sumState()] } });
    track(batcher.schedule(sreq(1, 1, { start: true })));
    await flush();
    await runPending(instances);
    const bad = track(batcher.schedule(sreq(1, 50)));
    await flush();
    instances[0].calls[1].reject(new Error('kernel exploded'));
    await flush();
    expect(bad.error).toMatchObject({ code: 'INTERNAL', message: 'kernel exploded' });
    const ok = track(batcher.schedule(sreq(1, 2)));
    await flush();
    await runPending(instances);
    expect(first(ok)).toBe(3);
  });
});

describe('SequenceBatcher: oldest strategy', () => {
  const oldest = (o: Partial<NonNullable<ModelSequenceBatching['oldest']>> = {}) => ({
    oldest: { max_candidate_sequences: 4, preferred_batch_size: [], max_queue_delay_microseconds: 0, preserve_ordering: false, ...o },
  });

  test('batches the oldest request of each candidate sequence, at most one per sequence, no padding', async () => {
    const { batcher, instances } = setup({ maxBatch: 4, sb: { ...oldest(), state: [sumState()] } });
    // sequence 1 sends two requests before anyone else: only its first can run now
    const t = [
      track(batcher.schedule(sreq(1, 1, { start: true }))),
      track(batcher.schedule(sreq(1, 2))),
      track(batcher.schedule(sreq(2, 10, { start: true }))),
      track(batcher.schedule(sreq(3, 100, { start: true }))),
    ];
    await flush();
    const [call] = instances[0].calls;
    expect(col(call, 'CORRID')).toEqual([1, 2, 3]);
    expect(col(call, 'READY')).toEqual([1, 1, 1]);
    await runPending(instances);
    await runPending(instances);
    expect(t.map(first)).toEqual([1, 3, 10, 100]);
  });

  test('max_candidate_sequences per instance: sequences spread over instances, the rest wait', async () => {
    const { batcher, instances } = setup({ maxBatch: 4, instances: 2, sb: oldest({ max_candidate_sequences: 1 }) });
    for (const id of [1, 2, 3]) track(batcher.schedule(sreq(id, id, { start: true })));
    await flush();
    expect(instances.map((i) => i.calls.length)).toEqual([1, 1]);
    expect(batcher.backlogLength).toBe(1);
  });

  test('preferred_batch_size and max_queue_delay_microseconds as in the dynamic batcher', async () => {
    const { batcher, instances, clock } = setup({ maxBatch: 4, sb: oldest({ preferred_batch_size: [3], max_queue_delay_microseconds: 1000 }) });
    track(batcher.schedule(sreq(1, 1, { start: true })));
    track(batcher.schedule(sreq(2, 1, { start: true })));
    await flush();
    expect(instances[0].calls.length).toBe(0);
    track(batcher.schedule(sreq(3, 1, { start: true })));
    await flush();
    expect(instances[0].calls.map((c) => c.batchSize)).toEqual([3]);
    await runPending(instances);
    track(batcher.schedule(sreq(1, 1)));
    await flush();
    expect(instances[0].calls.length).toBe(1);
    clock.advance(1);
    await flush();
    expect(instances[0].calls.map((c) => c.batchSize)).toEqual([3, 1]);
  });
});

describe('SequenceBatcher: control tensor types', () => {
  test('fp32_false_true and bool_false_true values; CORRID as INT64, UINT32, INT32 (truncated) and STRING', async () => {
    const cases: [ModelSequenceBatchingControl['data_type'], bigint | string, (number | string)[]][] = [
      ['TYPE_INT64', 2n ** 63n + 5n, [Number(-(2n ** 63n) + 5n)]],
      ['TYPE_UINT32', 2n ** 32n + 7n, [7]],
      ['TYPE_INT32', 2n ** 32n - 1n, [-1]],
      ['TYPE_STRING', 'seq-a', ['seq-a']],
      ['TYPE_STRING', 42n, ['42']],
    ];
    for (const [dt, id, want] of cases) {
      const { batcher, instances } = setup({
        sb: {
          control_input: [
            control('S', { kind: 'CONTROL_SEQUENCE_START', fp32_false_true: [-1.5, 2.5] }),
            control('R', { kind: 'CONTROL_SEQUENCE_READY', bool_false_true: [false, true] }),
            control('C', { kind: 'CONTROL_SEQUENCE_CORRID', data_type: dt }),
          ],
        },
      });
      track(batcher.schedule(sreq(id, 1, { start: true })));
      await flush();
      const call = instances[0].calls[0];
      expect(col(call, 'C')[0], dt).toEqual(want[0]);
      expect(input(call, 'S').datatype).toBe('FP32');
      expect(col(call, 'S')[0]).toBe(2.5);
      expect(input(call, 'R').datatype).toBe('BOOL');
      expect(col(call, 'R')[0]).toBe(1);
    }
  });
});

describe('SequenceBatcher: cancellation', () => {
  test('cancelling a queued request cancels the later queued requests of its sequence', async () => {
    const { batcher, instances } = setup();
    const ac = new AbortController();
    const t0 = track(batcher.schedule(sreq(1, 1, { start: true })));
    const t1 = track(batcher.schedule(sreq(1, 2, { signal: ac.signal })));
    const t2 = track(batcher.schedule(sreq(1, 3)));
    await flush();
    ac.abort();
    await flush();
    expect(t1.error).toMatchObject({ code: 'CANCELLED' });
    expect(t2.error).toMatchObject({ code: 'CANCELLED' });
    expect(batcher.pendingCount).toBe(0);
    await runPending(instances);
    expect(t0.value).toBeDefined();
    // the sequence itself lives on
    const t3 = track(batcher.schedule(sreq(1, 4)));
    await flush();
    await runPending(instances);
    expect(t3.value).toBeDefined();
  });

  test('a sequence whose START was cancelled before it ran never existed: its slot goes to the backlog', async () => {
    const { batcher, instances } = setup({ maxBatch: 1 });
    const t0 = track(batcher.schedule(sreq(1, 1, { start: true })));
    const ac = new AbortController();
    const t1 = track(batcher.schedule(sreq(2, 1, { start: true, signal: ac.signal })));
    const t2 = track(batcher.schedule(sreq(3, 1, { start: true })));
    await flush();
    ac.abort();
    await flush();
    expect(t1.error).toMatchObject({ code: 'CANCELLED' });
    expect(batcher.activeSequences).toBe(2);
    await expect(batcher.schedule(sreq(2, 1))).rejects.toMatchObject({ message: expect.stringContaining('must specify the START flag') });
    track(batcher.schedule(sreq(1, 1, { end: true })));
    await runPending(instances);
    await runPending(instances);
    await runPending(instances);
    expect(t0.value && t2.value).toBeTruthy();
  });
});

describe('sequence_batching config validation', () => {
  const ACC = `name: "acc"
platform: "onnxruntime_onnx"
max_batch_size: 4
input [ { name: "INPUT" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT" data_type: TYPE_FP32 dims: [ 4 ] } ]
`;
  const SIG: ModelSignature = {
    inputs: [
      { name: 'INPUT', datatype: 'FP32', shape: [-1, 4] }, { name: 'START', datatype: 'FP32', shape: [-1, 1] },
      { name: 'ACC_IN', datatype: 'FP32', shape: [-1, 4] },
    ],
    outputs: [{ name: 'OUTPUT', datatype: 'FP32', shape: [-1, 4] }, { name: 'ACC_OUT', datatype: 'FP32', shape: [-1, 4] }],
  };
  const START = 'control_input [ { name: "START" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1 ] } ] } ]';
  const state = (extra = '', dims = '[ 4 ]') => `state [ { input_name: "ACC_IN" output_name: "ACC_OUT" data_type: TYPE_FP32 dims: ${dims} ${extra} } ]`;
  const check = (sb: string, sig: ModelSignature | undefined = SIG) => {
    const cfg = normalizeModelConfig(parseModelConfigText(`${ACC}sequence_batching { ${sb} }`), { modelName: 'acc', autoComplete: false });
    validateModelConfig(cfg, { modelName: 'acc', signature: sig });
  };

  test('a complete config passes; bad state and control settings are refused with what to change', () => {
    expect(() => check(`${START} ${state('initial_state { dims: [ 4 ] zero_data: true }')}`)).not.toThrow();
    expectInferError(() => check(`${START} ${state('', '[ -1 ]')}`), 'INVALID_ARG', "state 'ACC_IN' has variable dims [-1] and no initial_state");
    expectInferError(() => check(`${START} ${state('initial_state { dims: [ 4 ] }')}`), 'INVALID_ARG', 'exactly one of zero_data or data_file');
    expectInferError(() => check(`${START} ${state('initial_state { dims: [ 4 ] data_file: "../x" }')}`), 'INVALID_ARG', "must be a file name inside <model>/initial_state/");
    expectInferError(() => check(`${START} ${state('initial_state { data_type: TYPE_INT32 dims: [ 4 ] zero_data: true }')}`), 'INVALID_ARG', 'initial_state data_type TYPE_INT32 differs');
    expectInferError(() => check(`oldest { max_candidate_sequences: 0 } ${START} ${state()}`), 'INVALID_ARG', 'max_candidate_sequences >= 1');
    expectInferError(() => check('control_input [ { name: "START" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1 ] }, { kind: CONTROL_SEQUENCE_END fp32_false_true: [ 0, 1 ] } ] } ]'),
      'INVALID_ARG', "control tensor 'START' gives 2 controls");
  });

  test('against the model: control and state tensors must exist with the datatype the batcher feeds', () => {
    expectInferError(() => check(`control_input [ { name: "START" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] } ] ${state()}`),
      'INVALID_ARG', "control tensor (CONTROL_SEQUENCE_START) 'START' is INT32 in config.pbtxt, but the model's input is FP32");
    const noOut: ModelSignature = { inputs: SIG.inputs, outputs: [SIG.outputs[0]] };
    expectInferError(() => check(`${START} ${state()}`, noOut), 'INVALID_ARG', "names state output 'ACC_OUT', but the model has no such output");
  });
});
