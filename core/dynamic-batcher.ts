/**
 * Triton's dynamic batcher (COMPAT-NOTES §3.4; Triton `src/dynamic_batch_scheduler.cc` and
 * docs/user_guide/batcher.md), on an injected clock so it is tested without sleeps.
 *
 * Batch formation, each time an instance is free:
 * 1. Walk queued requests in priority order (level 1 first; within a level, arrival order,
 *    then the requests a DELAY timeout moved back). A request's batch size counts toward the
 *    batch total. The walk stops at the first request that would pass max_batch_size or whose
 *    inputs cannot be batched with the first one (Triton sends the batch formed so far rather
 *    than skipping ahead, which keeps arrival order within a priority).
 * 2. If some prefix of the walk totals a preferred batch size, send the largest such prefix
 *    at once. As in Triton, a batch does not grow past the largest preferred size before the
 *    queue delay expires: when the next request would overshoot it, the prefix so far is sent.
 * 3. Otherwise send everything walked, unless max_queue_delay_microseconds > 0 and the oldest
 *    walked request has waited less than that: then wait (one timer on the clock) for more
 *    requests. An arrival that makes a preferred or the maximum size possible sends at once;
 *    at expiry what is there is sent.
 * Without preferred sizes the maximum batch size is the only preferred size (Triton's config
 * normaliser fills preferred_batch_size with max_batch_size).
 *
 * Arrivals are coalesced for one microtask before a batch forms, so requests scheduled in one
 * synchronous burst batch together instead of the first running alone; this adds no timer and
 * no measurable latency.
 *
 * Statistics: one `recordExecution` per batch here; the caller records per-request success
 * and failure (see model-stats.ts).
 */
import { internal, invalidArg } from '../protocol/errors.ts';
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
import { PriorityLevels } from './priority-levels.ts';
import type { PriorityLevel } from './priority-levels.ts';
import { LinkedQueue } from './queue.ts';
import type { QueueNode } from './queue.ts';
import { QueuedRequest } from './queued-request.ts';
import type { EntryOwner } from './queued-request.ts';
import type { ScheduledRequest, ScheduledResult, Scheduler } from './scheduler.ts';
import type { InstanceGate } from './rate-limiter.ts';
import { cancelledError, closedError, executionError, queueFullError, timeoutExpiredError } from './scheduler-errors.ts';

/** What a DynamicBatcher is built from: the shared scheduler init. */
export type DynamicBatcherInit = SchedulerInit;

/** One execution: its requests, instance, timings and (once done) its answers. */
class Batch implements QueueNode<Batch> {
  prev: Batch | null = null;
  next: Batch | null = null;
  queue: LinkedQueue<Batch> | null = null;

  readonly entries: QueuedRequest[];
  readonly instance: number;
  /**
   * Clock time (ms) the batch left the queue (or, under the rate limiter, got its resources):
   * the end of every member's queue time.
   */
  start: number;
  /** Sum of the members' batch sizes. */
  readonly rows: number;
  done = false;
  results: Tensor[][] | undefined = undefined;
  error: InferError | undefined = undefined;
  /** Per-member errors when the backend answered requests one by one (`runRequests`). */
  errors: (InferError | undefined)[] | undefined = undefined;
  computeInputNs = 0;
  computeInferNs = 0;
  computeOutputNs = 0;

  constructor(entries: QueuedRequest[], instance: number, start: number, rows: number) {
    this.entries = entries;
    this.instance = instance;
    this.start = start;
    this.rows = rows;
  }
}

/**
 * Triton's dynamic batcher: queues requests per priority level with their queue policies and
 * runs batches on N instances concurrently (instance_group count).
 */
export class DynamicBatcher implements Scheduler, EntryOwner {
  readonly #name: string;
  readonly #instances: ModelInstance[];
  readonly #clock: Clock;
  readonly #stats: ModelStats;
  readonly #logger: Logger;
  /** max_batch_size > 0: inputs carry a batch dimension and requests may be concatenated. */
  readonly #batching: boolean;
  readonly #maxBatch: number;
  readonly #preferred: ReadonlySet<number>;
  readonly #maxPreferred: number;
  readonly #delayMs: number;
  readonly #preserveOrdering: boolean;
  readonly #priorities: PriorityLevels;
  readonly #levels: readonly PriorityLevel[];
  readonly #gates: readonly InstanceGate[] | undefined;
  /** Requests of dispatched batches waiting for the rate limiter (pending, as Triton counts them). */
  #waitingForGate = 0;

  /** Instances not executing (a stack: the most recently used, warmest, runs next). */
  readonly #idle: number[] = [];
  #queued = 0;
  /** Batches dispatched and not yet answered (held ones under preserve_ordering included). */
  #inFlight = 0;
  /** Dispatched batches in order, for preserve_ordering. */
  readonly #completions = new LinkedQueue<Batch>();
  /** Reused by batch formation so a walk allocates nothing. */
  readonly #scratch: QueuedRequest[] = [];
  /** Set by #formBatch when it decides to wait: when the queue delay of the batch expires. */
  #waitUntil = Infinity;
  /** The queue delay of the batch #formBatch waits for; its firing pumps with the delay reached. */
  readonly #delayTimer: DelayTimer;
  #pumpScheduled = false;
  #closed: string | undefined = undefined;
  readonly #drained = new DrainWaiters(() => this.#queued === 0 && this.#inFlight === 0);
  // Bound once, so scheduling a pump allocates no closure.
  readonly #runPump = (): void => this.#pump(-Infinity);

  constructor(init: DynamicBatcherInit) {
    const { config } = init;
    if (init.instances.length === 0) throw internal(`model '${config.name}' has no instances to schedule on`);
    this.#name = config.name;
    this.#instances = init.instances;
    this.#clock = init.clock;
    this.#delayTimer = new DelayTimer(init.clock, (due) => this.#pump(due));
    this.#stats = init.stats;
    this.#logger = init.logger ?? silentLogger;
    const db = config.dynamic_batching;
    this.#batching = config.max_batch_size > 0;
    // Without a batch dimension nothing can be concatenated: every batch is one request,
    // but priorities, queue policies and the instance pool still apply.
    this.#maxBatch = this.#batching ? config.max_batch_size : 1;
    const preferred = (db?.preferred_batch_size ?? []).filter((s) => Number.isInteger(s) && s >= 1 && s <= this.#maxBatch);
    if (preferred.length === 0) preferred.push(this.#maxBatch);
    this.#preferred = new Set(preferred);
    this.#maxPreferred = Math.max(...preferred);
    this.#delayMs = Math.max(0, db?.max_queue_delay_microseconds ?? 0) / 1000;
    this.#preserveOrdering = db?.preserve_ordering === true;
    this.#priorities = new PriorityLevels(config.name, db);
    this.#levels = this.#priorities.levels;
    this.#gates = init.gates;
    for (let i = init.instances.length - 1; i >= 0; i--) this.#idle.push(i);
  }

  /** Requests queued and not yet executing (`nv_inference_pending_request_count`). */
  get pendingCount(): number {
    return this.#queued + this.#waitingForGate;
  }

  schedule(request: ScheduledRequest): Promise<ScheduledResult> {
    if (this.#closed !== undefined) return Promise.reject(closedError(this.#closed));
    const index = this.#priorities.indexFor(request.priority);
    if (index < 0) return Promise.reject(invalidArg(`parameter 'priority' must be a non-negative integer, got ${request.priority}`));
    if (this.#batching && request.batchSize > this.#maxBatch) {
      // Validation rejects this before scheduling; guarded because a batch could never hold it.
      return Promise.reject(invalidArg(`inference request batch-size must be <= ${this.#maxBatch} for '${this.#name}'`));
    }
    if (request.signal?.aborted) return Promise.reject(cancelledError());
    const level = this.#levels[index];
    // Arrivals wait a microtask before batches form; a burst must not find its level "full"
    // while instances sit idle, so dispatch what is queued before judging.
    if (level.full && this.#idle.length > 0) this.#pump(-Infinity);
    if (level.full) return Promise.reject(queueFullError());

    const now = this.#clock.now();
    const entry = new QueuedRequest(request, now, this);
    const timeoutMs = level.timeoutFor(request.timeoutUs);
    if (timeoutMs > 0) {
      entry.deadline = now + timeoutMs;
      // Triton checks timeouts only when it forms a batch, so a request can outlive its
      // timeout while every instance is busy (issue #7512) and its client learns late. A
      // timer per timed request rejects it on time instead. DELAY needs no timer: moving a
      // request back only matters when a batch forms, and the walk does it then.
      if (level.action === 'REJECT') entry.timer = this.#clock.setTimer(() => this.#expire(entry), timeoutMs);
    }
    level.main.push(entry);
    this.#queued++;
    this.#schedulePump();
    return entry.promise;
  }

  /** EntryOwner: the request's signal aborted. */
  cancel(entry: QueuedRequest): void {
    if (entry.state === 'queued') {
      this.#unqueue(entry);
      entry.fail(cancelledError());
      // The request that left may have been holding a batch back (its shape, its age).
      this.#schedulePump();
      this.#drained.check();
    } else {
      // Executing: answer now; the batch completes for the others and this result is dropped.
      entry.fail(cancelledError());
    }
  }

  drain(): Promise<void> {
    return this.#drained.wait();
  }

  close(reason: string): void {
    if (this.#closed !== undefined) return;
    this.#closed = reason;
    this.#delayTimer.clear();
    const error = closedError(reason);
    for (const level of this.#levels) {
      for (const list of [level.main, level.delayed]) {
        for (let e = list.head; e !== null; e = list.head) {
          this.#unqueue(e);
          e.fail(error);
        }
      }
    }
    this.#drained.check();
  }

  /** REJECT timeout timer of a queued request. */
  #expire(entry: QueuedRequest): void {
    entry.timer = undefined;
    if (entry.state !== 'queued') return;
    this.#unqueue(entry);
    entry.fail(timeoutExpiredError());
    this.#schedulePump();
    this.#drained.check();
  }

  /** Takes a queued entry out of its queue and cancels its timeout timer. */
  #unqueue(entry: QueuedRequest): void {
    entry.queue?.remove(entry);
    if (entry.timer !== undefined) {
      this.#clock.clearTimer(entry.timer);
      entry.timer = undefined;
    }
    this.#queued--;
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#idle.length === 0 || this.#closed !== undefined) return;
    this.#pumpScheduled = true;
    queueMicrotask(this.#runPump);
  }

  /**
   * Forms and dispatches batches while instances are free, then arms or clears the delay
   * timer. `delayReached`: a clock time the queue delay is known to have reached (see
   * DelayTimer); -Infinity otherwise.
   */
  #pump(delayReached: number): void {
    this.#pumpScheduled = false;
    let waitUntil = Infinity;
    while (this.#idle.length > 0 && this.#queued > 0 && this.#closed === undefined) {
      const now = this.#clock.now();
      const n = this.#formBatch(now, delayReached > now ? delayReached : now);
      if (n === 0) {
        waitUntil = this.#waitUntil;
        break;
      }
      this.#dispatch(n, now);
    }
    if (waitUntil !== Infinity) this.#delayTimer.arm(waitUntil);
    else this.#delayTimer.clear();
    this.#drained.check();
  }

  /**
   * Chooses the next batch (see the file comment). Leaves its members in `#scratch[0, n)` and
   * returns n, or returns 0 with `#waitUntil` set when it should wait (Infinity when the
   * queue turned out empty). Expired requests met on the way are rejected or moved back.
   * `delayNow` is `now`, or later when the delay timer vouches that its time has come.
   */
  #formBatch(now: number, delayNow: number): number {
    const scratch = this.#scratch;
    const maxBatch = this.#maxBatch;
    const maxPreferred = this.#maxPreferred;
    const preferred = this.#preferred;
    let count = 0;
    let total = 0;
    let best = 0;
    let sendNow = false;
    let oldest = Infinity;
    let head: ScheduledRequest | undefined;
    this.#waitUntil = Infinity;

    walk: for (const level of this.#levels) {
      if (level.size === 0) continue;
      for (let list = level.main; ; list = level.delayed) {
        let e = list.head;
        while (e !== null) {
          const next = e.next;
          if (e.deadline <= now) {
            this.#onDeadline(level, e);
            e = next;
            continue;
          }
          const w = e.weight;
          if (count === 0) {
            head = e.request;
          } else {
            if (best === 0 && total + w > maxPreferred) best = count;
            if (total + w > maxBatch || !sameBatchShape(head!, e.request)) {
              sendNow = true;
              break walk;
            }
          }
          scratch[count++] = e;
          total += w;
          if (e.enqueuedAt < oldest) oldest = e.enqueuedAt;
          if (preferred.has(total)) best = count;
          e = next;
        }
        if (list === level.delayed) break;
      }
    }

    if (count === 0) return 0;
    const due = oldest + this.#delayMs;
    const delayExpired = this.#delayMs > 0 && delayNow >= due;
    if (best > 0 && !delayExpired) return best;
    if (sendNow || total >= maxPreferred || delayExpired || this.#delayMs === 0) return count;
    this.#waitUntil = due;
    return 0;
  }

  /** A queued request whose timeout passed, met during a walk (its timer may not have run yet). */
  #onDeadline(level: PriorityLevel, e: QueuedRequest): void {
    if (level.action === 'REJECT') {
      this.#unqueue(e);
      e.fail(timeoutExpiredError());
      return;
    }
    // DELAY: behind every non-timed-out request of this level; the walk meets it again there.
    level.main.remove(e);
    e.deadline = Infinity;
    level.delayed.push(e);
  }

  /** Takes `#scratch[0, n)` out of the queue and starts it on a free instance. */
  #dispatch(n: number, now: number): void {
    const entries = this.#scratch.slice(0, n);
    this.#scratch.length = 0;
    let rows = 0;
    for (const e of entries) {
      this.#unqueue(e);
      e.state = 'executing';
      rows += e.weight;
    }
    const batch = new Batch(entries, this.#idle.pop()!, now, rows);
    this.#inFlight++;
    if (this.#preserveOrdering) this.#completions.push(batch);
    void this.#execute(batch);
  }

  async #execute(batch: Batch): Promise<void> {
    const { entries } = batch;
    const clock = this.#clock;
    const gate = this.#gates?.[batch.instance];
    try {
      const wait = gate?.acquire();
      if (wait !== undefined) {
        this.#waitingForGate += entries.length;
        try {
          await wait;
        } finally {
          this.#waitingForGate -= entries.length;
        }
        // Every member was cancelled while waiting: nothing to run.
        if (entries.every((e) => e.state === 'settled')) throw cancelledError();
        batch.start = clock.now();
      }
      const instance = this.#instances[batch.instance];
      if (instance.runRequests) await this.#runSeparately(batch, instance);
      else await this.#runConcatenated(batch, instance);
      this.#stats.recordExecution(batch.rows, batch.computeInputNs, batch.computeInferNs, batch.computeOutputNs);
    } catch (e) {
      batch.error = executionError(e);
      this.#logger.debug('batch execution failed', { model: this.#name, requests: entries.length, error: batch.error.message });
    }
    gate?.release();
    batch.done = true;
    this.#idle.push(batch.instance);
    if (this.#preserveOrdering) {
      // Answer in dispatch order: hold this batch until every earlier one has been answered.
      while (this.#completions.head?.done) this.#release(this.#completions.shift()!);
    } else {
      this.#release(batch);
    }
    this.#schedulePump();
    this.#drained.check();
  }

  /** Runs a batch as one execution of the concatenated inputs, then slices the outputs per request. */
  async #runConcatenated(batch: Batch, instance: ModelInstance): Promise<void> {
    const { entries } = batch;
    const clock = this.#clock;
    let inputs: Tensor[];
    let outputNames: string[];
    if (entries.length === 1) {
      // One request: its tensors go to the instance untouched (zero copy).
      inputs = entries[0].request.inputs;
      outputNames = entries[0].request.outputNames;
    } else {
      const requests = entries.map((e) => e.request);
      inputs = concatBatch(requests.map((r) => r.inputs), requests[0].inputs.map((t) => t.name));
      outputNames = outputUnion(requests);
    }
    const inferStart = clock.now();
    const outputs = await instance.run(inputs, outputNames);
    const inferEnd = clock.now();
    if (outputs.length !== outputNames.length) {
      throw internal(`model returned ${outputs.length} output(s) for the ${outputNames.length} requested`);
    }
    let results: Tensor[][];
    if (!this.#batching) {
      results = [outputs];
    } else {
      results = splitBatch(outputs, entries.map((e) => e.request.batchSize));
      if (entries.length > 1) {
        for (let i = 0; i < entries.length; i++) results[i] = selectOutputs(results[i], outputNames, entries[i].request.outputNames);
      }
    }
    const end = clock.now();
    // Triton attributes a batch's compute time to each of its requests.
    batch.computeInputNs = msToNs(inferStart - batch.start);
    batch.computeInferNs = msToNs(inferEnd - inferStart);
    batch.computeOutputNs = msToNs(end - inferEnd);
    batch.results = results;
  }

  /**
   * Runs a batch on a backend that needs request boundaries (JS models, like Triton's Python
   * backend): the requests go side by side, each with its signal, and each gets its own
   * answer or error.
   */
  async #runSeparately(batch: Batch, instance: ModelInstance): Promise<void> {
    const { entries } = batch;
    const inferStart = this.#clock.now();
    const answers = await instance.runRequests!(entries.map((e) => ({
      inputs: e.request.inputs, outputNames: e.request.outputNames, signal: e.request.signal,
    })));
    const inferEnd = this.#clock.now();
    if (answers.length !== entries.length) throw internal(`model answered ${answers.length} request(s) of the ${entries.length} it was given`);
    const results: Tensor[][] = new Array<Tensor[]>(entries.length);
    const errors: (InferError | undefined)[] = new Array<InferError | undefined>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const a = answers[i];
      const wanted = entries[i].request.outputNames.length;
      if ('error' in a) errors[i] = executionError(a.error);
      else if (a.outputs.length !== wanted) errors[i] = internal(`model returned ${a.outputs.length} output(s) for the ${wanted} requested`);
      results[i] = 'error' in a ? [] : a.outputs;
    }
    batch.computeInputNs = msToNs(inferStart - batch.start);
    batch.computeInferNs = msToNs(inferEnd - inferStart);
    batch.computeOutputNs = 0;
    batch.results = results;
    batch.errors = errors;
  }

  /** Answers every member of a finished batch (members cancelled meanwhile are skipped). */
  #release(batch: Batch): void {
    const { entries, results, error } = batch;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (error !== undefined || results === undefined) {
        e.fail(error ?? internal('batch finished without results'));
        continue;
      }
      const own = batch.errors?.[i];
      if (own !== undefined) {
        e.fail(own);
        continue;
      }
      e.succeed({
        outputs: results[i],
        timing: {
          queueNs: msToNs(batch.start - e.enqueuedAt),
          computeInputNs: batch.computeInputNs,
          computeInferNs: batch.computeInferNs,
          computeOutputNs: batch.computeOutputNs,
        },
      });
    }
    this.#inFlight--;
  }
}
