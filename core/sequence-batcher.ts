/**
 * Triton's sequence batcher (COMPAT-NOTES §3.5; Triton docs/user_guide/architecture.md
 * "Stateful Models" and implicit_state_management.md; core `src/sequence_batch_scheduler/`),
 * on an injected clock so it is tested without sleeps.
 *
 * Requests carry `sequence_id` / `sequence_start` / `sequence_end` (core/sequence-params.ts).
 * Every live sequence holds a batch slot of one instance (core/sequence-slots.ts), so all its
 * requests run on that instance, one at a time, in arrival order; it keeps the slot until its
 * END request has run or it has been idle `max_sequence_idle_microseconds` (default 1 s).
 * Sequences that find no free slot wait in a backlog. Slots per instance: `max_batch_size`
 * (1 for a model that does not batch) with the `direct` strategy, `max_candidate_sequences`
 * with `oldest`.
 *
 * Batches, each time an instance is free:
 * - direct: row i of the batch is slot i. The batch runs rows 0..k where k is the highest slot
 *   whose sequence has a request ready; rows between without one are padding (zero inputs,
 *   READY false, CORRID 0), as Triton's null requests. With `max_queue_delay_microseconds` > 0
 *   and fewer ready slots than `minimum_slot_utilization` × slots, it waits up to that delay
 *   for more.
 * - oldest: the oldest ready request of each candidate sequence, oldest first, at most one per
 *   sequence, up to `max_batch_size`, with preferred sizes and the queue delay of the dynamic
 *   batcher.
 * Rows are only batched when their inputs (and implicit states) have the same non-batch shapes.
 *
 * Each row also gets the control tensors (core/sequence-controls.ts) and the implicit state
 * inputs (core/sequence-state.ts); the state outputs are kept per sequence and never returned
 * unless the client asked for them by name.
 *
 * The idle clock runs from the end of the sequence's last execution (never while one of its
 * requests is queued or running), so a long execution cannot time out its own sequence.
 *
 * Departures from Triton, on purpose: the request `timeout` and `priority` parameters are
 * ignored (Triton's are experimental for the direct strategy); `oldest { preserve_ordering }`
 * is not implemented (responses of different sequences may complete out of order); a state
 * without `initial_state` starts as zeros, not uninitialised memory; an executing request that
 * is cancelled still updates its sequence's state (the model did run it); `iterative_sequence`
 * (Triton: provisional, for decoupled models) refuses to load; backends that expose
 * `runRequests` get one concatenated `run` like any other.
 */
import { internal, invalidArg, unsupported } from '../protocol/errors.ts';
import type { InferError } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';
import type { ModelInstance } from './backend.ts';
import { concatBatch, splitBatch } from './batch-tensors.ts';
import { outputUnion, sameBatchShape, selectOutputs } from './batch-key.ts';
import type { Clock } from './clock.ts';
import { msToNs } from './clock.ts';
import type { SchedulerInit } from './default-scheduler.ts';
import { DelayTimer } from './delay-timer.ts';
import { DrainWaiters } from './drain-waiters.ts';
import type { Logger } from './logger.ts';
import { silentLogger } from './logger.ts';
import type { ModelStats } from './model-stats.ts';
import type { InstanceGate } from './rate-limiter.ts';
import { LinkedQueue } from './queue.ts';
import type { EntryOwner, QueuedRequest } from './queued-request.ts';
import type { ScheduledRequest, ScheduledResult, Scheduler } from './scheduler.ts';
import { cancelledError, closedError, executionError } from './scheduler-errors.ts';
import { checkCorrid, controlTensors, sequenceControlsOf } from './sequence-controls.ts';
import type { ControlRow, SequenceControls } from './sequence-controls.ts';
import { formatSequenceId, sequenceKey } from './sequence-params.ts';
import { makeInstanceSlots, pickFreeSlot, Sequence, SequenceEntry } from './sequence-slots.ts';
import type { InstanceSlots } from './sequence-slots.ts';
import { stateFromOutput, stateSpecsOf, zerosLike } from './sequence-state.ts';
import type { StateSpec } from './sequence-state.ts';

/** What a SequenceBatcher is built from. */
export interface SequenceBatcherInit extends SchedulerInit {
  /** Contents of `initial_state { data_file }` files by file name (core/sequence-state.ts readInitialStateFiles). */
  initialStateFiles?: ReadonlyMap<string, Uint8Array>;
}

/** Request without a usable correlation id (Triton's text, COMPAT-NOTES §1.10). */
export function missingCorrelationIdError(model: string): InferError {
  return invalidArg(`inference request to model '${model}' must specify a non-zero or non-empty correlation ID`);
}

/** First request of an unknown sequence without START (Triton's text, COMPAT-NOTES §1.10). */
export function missingStartError(id: bigint | string, model: string): InferError {
  return invalidArg(`inference request for sequence ${formatSequenceId(id)} to model '${model}' must specify the START flag on the first request of the sequence`);
}

/** A batching sequence model takes one row per request: the row is the sequence's slot (Triton's text). */
export function sequenceBatchSizeError(model: string): InferError {
  return invalidArg(`inference request to model '${model}' must specify batch-size 1 due to requirements of sequence batcher`);
}

/** One execution: its rows (undefined = padding), instance and start time. */
interface SequenceBatch {
  readonly rows: (SequenceEntry | undefined)[];
  readonly instance: InstanceSlots;
  readonly start: number;
}

/** Triton's sequence batcher (see the file comment). */
export class SequenceBatcher implements Scheduler, EntryOwner {
  readonly #name: string;
  readonly #instances: ModelInstance[];
  readonly #gates: readonly InstanceGate[] | undefined;
  readonly #clock: Clock;
  readonly #stats: ModelStats;
  readonly #logger: Logger;
  readonly #batching: boolean;
  readonly #maxBatch: number;
  readonly #oldest: boolean;
  readonly #delayMs: number;
  readonly #minUtilization: number;
  readonly #preferred: ReadonlySet<number>;
  readonly #maxPreferred: number;
  readonly #idleMs: number;
  readonly #controls: SequenceControls;
  readonly #states: StateSpec[];
  readonly #stateOutputs: string[];

  readonly #slots: InstanceSlots[];
  readonly #sequences = new Map<string, Sequence>();
  readonly #backlog = new LinkedQueue<Sequence>();
  #queued = 0;
  #executing = 0;
  #pumpScheduled = false;
  /** The earliest queue delay a free instance waits for; its firing pumps with the delay reached. */
  readonly #delayTimer: DelayTimer;
  #closed: string | undefined = undefined;
  readonly #drained = new DrainWaiters(() => this.#queued === 0 && this.#executing === 0);
  readonly #runPump = (): void => this.#pump(-Infinity);

  constructor(init: SequenceBatcherInit) {
    const { config } = init;
    const sb = config.sequence_batching;
    if (sb === undefined) throw internal(`model '${config.name}' has no sequence_batching config`);
    if (init.instances.length === 0) throw internal(`model '${config.name}' has no instances to schedule on`);
    if (sb.iterative_sequence) {
      throw unsupported(`model '${config.name}': sequence_batching iterative_sequence is not supported by infermesh; remove it`);
    }
    this.#name = config.name;
    this.#instances = init.instances;
    this.#gates = init.gates;
    this.#clock = init.clock;
    this.#delayTimer = new DelayTimer(init.clock, (due) => this.#pump(due));
    this.#stats = init.stats;
    this.#logger = init.logger ?? silentLogger;
    this.#batching = config.max_batch_size > 0;
    this.#maxBatch = this.#batching ? config.max_batch_size : 1;
    this.#oldest = sb.oldest !== undefined;
    let slotsPerInstance: number;
    if (sb.oldest) {
      slotsPerInstance = sb.oldest.max_candidate_sequences;
      if (!Number.isInteger(slotsPerInstance) || slotsPerInstance < 1) {
        throw invalidArg(`model '${config.name}': sequence_batching oldest needs max_candidate_sequences >= 1, got ${slotsPerInstance}`);
      }
      this.#delayMs = Math.max(0, sb.oldest.max_queue_delay_microseconds) / 1000;
      const preferred = sb.oldest.preferred_batch_size.filter((s) => Number.isInteger(s) && s >= 1 && s <= this.#maxBatch);
      if (preferred.length === 0) preferred.push(this.#maxBatch);
      this.#preferred = new Set(preferred);
      this.#maxPreferred = Math.max(...preferred);
      this.#minUtilization = 0;
    } else {
      // Direct (Triton's default strategy): one slot per batch row.
      slotsPerInstance = this.#maxBatch;
      this.#delayMs = Math.max(0, sb.direct?.max_queue_delay_microseconds ?? 0) / 1000;
      this.#minUtilization = sb.direct?.minimum_slot_utilization ?? 0;
      this.#preferred = new Set([this.#maxBatch]);
      this.#maxPreferred = this.#maxBatch;
    }
    this.#idleMs = sb.max_sequence_idle_microseconds / 1000;
    this.#controls = sequenceControlsOf(config);
    this.#states = stateSpecsOf(config, init.initialStateFiles);
    this.#stateOutputs = this.#states.map((s) => s.outputName);
    this.#slots = makeInstanceSlots(init.instances.length, slotsPerInstance);
  }

  /** Requests queued and not yet executing (including those of backlogged sequences). */
  get pendingCount(): number {
    return this.#queued;
  }

  /** Live sequences (holding a slot or in the backlog); for status and tests. */
  get activeSequences(): number {
    return this.#sequences.size;
  }

  /** Sequences waiting for a slot. */
  get backlogLength(): number {
    return this.#backlog.length;
  }

  schedule(request: ScheduledRequest): Promise<ScheduledResult> {
    if (this.#closed !== undefined) return Promise.reject(closedError(this.#closed));
    const flags = request.sequence;
    if (flags === undefined) return Promise.reject(missingCorrelationIdError(this.#name));
    if (this.#batching && request.batchSize !== 1) return Promise.reject(sequenceBatchSizeError(this.#name));
    const key = sequenceKey(flags.id);
    let seq = this.#sequences.get(key);
    if ((seq === undefined || seq.closing) && !flags.start) return Promise.reject(missingStartError(flags.id, this.#name));
    try {
      checkCorrid(this.#controls, flags.id, this.#name);
    } catch (e) {
      return Promise.reject(e);
    }
    if (request.signal?.aborted) return Promise.reject(cancelledError());
    if (seq !== undefined && !seq.closing && flags.start) {
      // Triton logs and carries on: the new START resets the state in the same slot.
      this.#logger.warn('sequence started again before its END; its state is reset', { model: this.#name, sequence: formatSequenceId(flags.id) });
    }
    if (seq === undefined) {
      seq = new Sequence(key, flags.id);
      this.#sequences.set(key, seq);
      const slot = pickFreeSlot(this.#slots);
      if (slot === undefined) {
        this.#backlog.push(seq);
      } else {
        slot.sequence = seq;
        seq.slot = slot;
      }
    }
    this.#clearIdle(seq);
    const entry = new SequenceEntry(request, flags, this.#clock.now(), this, seq);
    seq.requests.push(entry);
    seq.closing = flags.end;
    this.#queued++;
    this.#schedulePump();
    return entry.promise;
  }

  /**
   * EntryOwner: a request's signal aborted. Queued: it and every later queued request of its
   * sequence are cancelled (Triton docs/user_guide/request_cancellation.md: cancelling one
   * request of a sequence cancels its pending requests). Executing: it is answered CANCELLED
   * now; the execution completes for the others.
   */
  cancel(entry: QueuedRequest): void {
    const e = entry as SequenceEntry;
    if (e.state !== 'queued') {
      e.fail(cancelledError());
      return;
    }
    const seq = e.sequence;
    let cut: QueuedRequest | null = e;
    while (cut !== null) {
      const next: QueuedRequest | null = cut.next;
      seq.requests.remove(cut);
      this.#queued--;
      cut.fail(cancelledError());
      cut = next;
    }
    // Still closing only if an END is left: queued last, or running now.
    const tail = seq.requests.tail as SequenceEntry | null;
    seq.closing = tail !== null ? tail.flags.end : seq.executing?.flags.end === true;
    this.#settleIdle(seq);
    this.#schedulePump();
    this.#drained.check();
  }

  drain(): Promise<void> {
    return this.#drained.wait();
  }

  close(reason: string): void {
    if (this.#closed !== undefined) return;
    this.#closed = reason;
    this.#delayTimer.clear();
    const error = closedError(reason);
    for (const seq of [...this.#sequences.values()]) {
      for (let r = seq.requests.shift(); r !== null; r = seq.requests.shift()) {
        this.#queued--;
        r.fail(error);
      }
      this.#clearIdle(seq);
    }
    this.#sequences.clear();
    while (this.#backlog.shift() !== null);
    this.#drained.check();
  }

  // ---- sequences and slots ------------------------------------------------------------------

  /** After a sequence ran or lost requests: release it, or start its idle clock, as it stands. */
  #settleIdle(seq: Sequence): void {
    if (seq.executing !== undefined || seq.requests.length > 0) return;
    if (!seq.began) {
      // Its START never ran (cancelled): the sequence never existed.
      this.#release(seq);
      return;
    }
    if (seq.slot === undefined || this.#closed !== undefined) return;
    this.#clearIdle(seq);
    seq.idleTimer = this.#clock.setTimer(() => {
      seq.idleTimer = undefined;
      if (seq.executing === undefined && seq.requests.length === 0) {
        this.#logger.debug('sequence idle; its slot is released', { model: this.#name, sequence: formatSequenceId(seq.id) });
        this.#release(seq);
        this.#schedulePump();
        this.#drained.check();
      }
    }, this.#idleMs);
  }

  #clearIdle(seq: Sequence): void {
    if (seq.idleTimer === undefined) return;
    this.#clock.clearTimer(seq.idleTimer);
    seq.idleTimer = undefined;
  }

  /** Forgets a sequence and gives its slot to the oldest backlogged sequence. */
  #release(seq: Sequence): void {
    this.#clearIdle(seq);
    if (this.#sequences.get(seq.key) === seq) this.#sequences.delete(seq.key);
    this.#backlog.remove(seq);
    const slot = seq.slot;
    if (slot === undefined) return;
    slot.sequence = undefined;
    seq.slot = undefined;
    const waiting = this.#backlog.shift();
    if (waiting !== null) {
      slot.sequence = waiting;
      waiting.slot = slot;
    }
  }

  // ---- batch formation ------------------------------------------------------------------------

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#closed !== undefined) return;
    this.#pumpScheduled = true;
    queueMicrotask(this.#runPump);
  }

  /** Forms and starts a batch on every free instance that has work; arms the delay timer. */
  #pump(delayReached: number): void {
    this.#pumpScheduled = false;
    if (this.#closed !== undefined) return;
    const now = this.#clock.now();
    const delayNow = delayReached > now ? delayReached : now;
    let waitUntil = Infinity;
    for (const inst of this.#slots) {
      if (inst.busy) continue;
      const formed = this.#oldest ? this.#formOldest(inst, delayNow) : this.#formDirect(inst, delayNow);
      if (typeof formed === 'number') {
        if (formed < waitUntil) waitUntil = formed;
        continue;
      }
      this.#dispatch(inst, formed, now);
    }
    if (waitUntil !== Infinity) this.#delayTimer.arm(waitUntil);
    else this.#delayTimer.clear();
    this.#drained.check();
  }

  /** True when two ready requests may share a batch: same input shapes and same state shapes. */
  #compatible(a: SequenceEntry, b: SequenceEntry): boolean {
    if (!sameBatchShape(a.request, b.request)) return false;
    const sa = a.sequence.state;
    const sb = b.sequence.state;
    for (let i = 0; i < this.#states.length; i++) {
      const x = sa === undefined || a.flags.start ? this.#states[i].initial : sa[i];
      const y = sb === undefined || b.flags.start ? this.#states[i].initial : sb[i];
      if (x.datatype !== y.datatype || x.shape.length !== y.shape.length) return false;
      for (let d = 1; d < x.shape.length; d++) if (x.shape[d] !== y.shape[d]) return false;
    }
    return true;
  }

  /**
   * Direct: rows = slots 0..highest ready (gaps padded). Returns the rows, or the clock time to
   * wait for (Infinity: nothing to run).
   */
  #formDirect(inst: InstanceSlots, delayNow: number): (SequenceEntry | undefined)[] | number {
    // The oldest ready request sets the shapes of the batch, so a sequence whose shapes differ
    // from its neighbours' waits at most until it is the oldest (no starvation).
    let first: SequenceEntry | undefined;
    for (const slot of inst.slots) {
      const head = slot.sequence?.head;
      if (head !== undefined && (first === undefined || head.enqueuedAt < first.enqueuedAt)) first = head;
    }
    if (first === undefined) return Infinity;
    const rows: (SequenceEntry | undefined)[] = [];
    let last = -1;
    let ready = 0;
    let oldest = Infinity;
    for (const slot of inst.slots) {
      const head = slot.sequence?.head;
      if (head !== undefined && (head === first || this.#compatible(first, head))) {
        rows[slot.index] = head;
        last = slot.index;
        ready++;
        if (head.enqueuedAt < oldest) oldest = head.enqueuedAt;
      } else {
        rows[slot.index] = undefined;
      }
    }
    if (ready === 0) return Infinity;
    if (this.#delayMs > 0 && ready < this.#minUtilization * inst.slots.length && ready < inst.slots.length) {
      const due = oldest + this.#delayMs;
      if (delayNow < due) return due;
    }
    rows.length = last + 1;
    return rows;
  }

  /** Oldest: the oldest ready request of each candidate sequence, as the dynamic batcher forms batches. */
  #formOldest(inst: InstanceSlots, delayNow: number): SequenceEntry[] | number {
    const heads: SequenceEntry[] = [];
    for (const slot of inst.slots) {
      const head = slot.sequence?.head;
      if (head !== undefined) heads.push(head);
    }
    if (heads.length === 0) return Infinity;
    heads.sort((a, b) => a.enqueuedAt - b.enqueuedAt);
    const chosen: SequenceEntry[] = [heads[0]];
    let best = this.#preferred.has(1) ? 1 : 0;
    for (let i = 1; i < heads.length && chosen.length < this.#maxBatch; i++) {
      if (!this.#compatible(heads[0], heads[i])) continue;
      chosen.push(heads[i]);
      if (this.#preferred.has(chosen.length)) best = chosen.length;
    }
    const due = heads[0].enqueuedAt + this.#delayMs;
    const delayExpired = this.#delayMs > 0 && delayNow >= due;
    if (best > 0 && !delayExpired) return chosen.slice(0, best);
    if (chosen.length >= this.#maxPreferred || delayExpired || this.#delayMs === 0) return chosen;
    return due;
  }

  #dispatch(inst: InstanceSlots, rows: (SequenceEntry | undefined)[], now: number): void {
    inst.busy = true;
    this.#executing++;
    for (const e of rows) {
      if (e === undefined) continue;
      const seq = e.sequence;
      seq.requests.remove(e);
      this.#queued--;
      e.state = 'executing';
      seq.executing = e;
      seq.began = true;
      // START resets the implicit state, also when it restarts a live sequence.
      if (e.flags.start) seq.state = undefined;
    }
    void this.#execute({ rows, instance: inst, start: now });
  }

  // ---- execution ------------------------------------------------------------------------------

  /** The inputs of one row: the request's own, then its implicit states. */
  #rowInputs(e: SequenceEntry): Tensor[] {
    if (this.#states.length === 0) return e.request.inputs;
    const state = e.sequence.state;
    const out = e.request.inputs.slice();
    for (let i = 0; i < this.#states.length; i++) out.push(state?.[i] ?? this.#states[i].initial);
    return out;
  }

  async #execute(batch: SequenceBatch): Promise<void> {
    const { rows, instance } = batch;
    const clock = this.#clock;
    const real = rows.filter((e): e is SequenceEntry => e !== undefined);
    let results: Tensor[][] | undefined;
    let error: InferError | undefined;
    let computeInputNs = 0;
    let computeInferNs = 0;
    let computeOutputNs = 0;
    let gated: InstanceGate | undefined;
    try {
      const template = this.#rowInputs(real[0]);
      const names = template.map((t) => t.name);
      const rowInputs = rows.map((e) => (e === undefined ? template.map(zerosLike) : this.#rowInputs(e)));
      const inputs = this.#batching ? concatBatch(rowInputs, names) : rowInputs[0];
      const controlRows: ControlRow[] = rows.map((e) => (e === undefined
        ? { start: false, end: false, id: undefined }
        : { start: e.flags.start, end: e.flags.end, id: e.flags.id }));
      const runInputs = inputs.concat(controlTensors(this.#controls, controlRows, this.#batching));
      const requested = outputUnion(real.map((e) => e.request));
      const runNames = this.#stateOutputs.length === 0 ? requested : requested.concat(this.#stateOutputs.filter((n) => !requested.includes(n)));

      const gate = this.#gates?.[instance.index];
      const wait = gate?.acquire();
      gated = gate;
      // Waiting for the rate limiter counts as queue time, as in Triton and the other schedulers.
      if (wait !== undefined) await wait;
      const inferStart = clock.now();
      const outputs = await this.#instances[instance.index].run(runInputs, runNames);
      const inferEnd = clock.now();
      if (outputs.length !== runNames.length) throw internal(`model returned ${outputs.length} output(s) for the ${runNames.length} requested`);
      const perRow = this.#batching ? splitBatch(outputs, rows.map(() => 1)) : [outputs];
      results = [];
      for (let r = 0; r < rows.length; r++) {
        const e = rows[r];
        if (e === undefined) continue;
        if (this.#states.length > 0) {
          e.sequence.state = this.#states.map((s) => stateFromOutput(perRow[r][runNames.indexOf(s.outputName)], s.inputName));
        }
        results.push(selectOutputs(perRow[r], runNames, e.request.outputNames));
      }
      const end = clock.now();
      computeInputNs = msToNs(inferStart - batch.start);
      computeInferNs = msToNs(inferEnd - inferStart);
      computeOutputNs = msToNs(end - inferEnd);
      this.#stats.recordExecution(real.length, computeInputNs, computeInferNs, computeOutputNs);
    } catch (e) {
      error = executionError(e);
      this.#logger.debug('sequence batch execution failed', { model: this.#name, rows: rows.length, error: error.message });
    }
    gated?.release();
    instance.busy = false;
    this.#executing--;
    for (let i = 0; i < real.length; i++) {
      const e = real[i];
      const seq = e.sequence;
      seq.executing = undefined;
      if (error !== undefined || results === undefined) {
        e.fail(error ?? internal('sequence batch finished without results'));
      } else {
        e.succeed({ outputs: results[i], timing: { queueNs: msToNs(batch.start - e.enqueuedAt), computeInputNs, computeInferNs, computeOutputNs } });
      }
      if (this.#closed !== undefined) continue;
      // END frees the slot, unless a new START already queued behind it (it keeps the slot).
      if (e.flags.end && seq.requests.length === 0) this.#release(seq);
      else this.#settleIdle(seq);
    }
    this.#schedulePump();
    this.#drained.check();
  }
}
