/**
 * Triton's default scheduler: for models without `dynamic_batching` (any max_batch_size).
 * Each request executes alone, in arrival order, on the first free of N instances
 * (instance_group count; COMPAT-NOTES §3.3 "requests beyond the instance count wait").
 *
 * Queue policies, priorities and request timeouts belong to `dynamic_batching` in Triton's
 * config, so this scheduler has none: a request waits until an instance frees or its client
 * cancels.
 */
import type { Tensor } from '../protocol/tensor.ts';
import { runSingle, type ModelInstance } from './backend.ts';
import type { Clock } from './clock.ts';
import { msToNs } from './clock.ts';
import { DrainWaiters } from './drain-waiters.ts';
import type { Logger } from './logger.ts';
import { silentLogger } from './logger.ts';
import type { ModelConfig } from './model-config.ts';
import type { ModelStats } from './model-stats.ts';
import { LinkedQueue } from './queue.ts';
import { QueuedRequest } from './queued-request.ts';
import type { EntryOwner, EntryState } from './queued-request.ts';
import type { ScheduledRequest, ScheduledResult, Scheduler } from './scheduler.ts';
import { cancelledError, closedError, executionError } from './scheduler-errors.ts';
import { internal } from '../protocol/errors.ts';
import type { InstanceGate } from './rate-limiter.ts';

/** What a scheduler is built from (shared with DynamicBatcher). */
export interface SchedulerInit {
  /** The normalised model config. */
  config: ModelConfig;
  /** Loaded instances; N instances run N executions concurrently. */
  instances: ModelInstance[];
  clock: Clock;
  /** Receives one `recordExecution` per execution. */
  stats: ModelStats;
  logger?: Logger;
  /**
   * The server's rate limiter gates, index-aligned with `instances`, when `--rate-limit
   * execution_count` is on: an execution on instance i runs between `gates[i].acquire()` and
   * `gates[i].release()`. Waiting for them counts as queue time, as in Triton.
   */
  gates?: readonly InstanceGate[];
}

/**
 * Runs each request alone, FIFO, on the first free instance. Records one execution per
 * request in `stats`; the caller records the request's success or failure.
 */
export class DefaultScheduler implements Scheduler, EntryOwner {
  readonly #instances: ModelInstance[];
  readonly #clock: Clock;
  readonly #stats: ModelStats;
  readonly #logger: Logger;
  readonly #queue = new LinkedQueue<QueuedRequest>();
  readonly #gates: readonly InstanceGate[] | undefined;
  /** Requests taken from the queue that wait for the rate limiter (still pending, as Triton counts them). */
  #waitingForGate = 0;
  /** Indexes of instances not executing anything (a stack: the most recently used runs next, warm). */
  readonly #idle: number[] = [];
  #executing = 0;
  #closed: string | undefined = undefined;
  readonly #drained = new DrainWaiters(() => this.#queue.length === 0 && this.#executing === 0);

  constructor(init: SchedulerInit) {
    if (init.instances.length === 0) throw internal(`model '${init.config.name}' has no instances to schedule on`);
    this.#instances = init.instances;
    this.#clock = init.clock;
    this.#stats = init.stats;
    this.#logger = init.logger ?? silentLogger;
    this.#gates = init.gates;
    for (let i = init.instances.length - 1; i >= 0; i--) this.#idle.push(i);
  }

  /** Requests waiting for an instance. */
  get pendingCount(): number {
    return this.#queue.length + this.#waitingForGate;
  }

  schedule(request: ScheduledRequest): Promise<ScheduledResult> {
    if (this.#closed !== undefined) return Promise.reject(closedError(this.#closed));
    if (request.signal?.aborted) return Promise.reject(cancelledError());
    const entry = new QueuedRequest(request, this.#clock.now(), this);
    this.#queue.push(entry);
    this.#pump();
    return entry.promise;
  }

  /** EntryOwner: the request's signal aborted. */
  cancel(entry: QueuedRequest): void {
    // Queued: it leaves at once. Executing: the instance finishes and the result is dropped.
    if (entry.state === 'queued') this.#queue.remove(entry);
    entry.fail(cancelledError());
    this.#drained.check();
  }

  drain(): Promise<void> {
    return this.#drained.wait();
  }

  close(reason: string): void {
    if (this.#closed !== undefined) return;
    this.#closed = reason;
    const error = closedError(reason);
    for (let e = this.#queue.shift(); e !== null; e = this.#queue.shift()) e.fail(error);
    this.#drained.check();
  }

  #pump(): void {
    while (this.#idle.length > 0) {
      const entry = this.#queue.shift();
      if (entry === null) return;
      void this.#execute(this.#idle.pop()!, entry);
    }
  }

  async #execute(index: number, entry: QueuedRequest): Promise<void> {
    this.#executing++;
    entry.state = 'executing';
    const { request } = entry;
    const gate = this.#gates?.[index];
    let start = this.#clock.now();
    let inferStart = start;
    let inferEnd = start;
    try {
      const wait = gate?.acquire();
      if (wait !== undefined) {
        this.#waitingForGate++;
        try {
          await wait;
        } finally {
          this.#waitingForGate--;
        }
        // Cancelled while waiting: nothing to run (it was answered already).
        if ((entry.state as EntryState) === 'settled') return;
        start = this.#clock.now();
      }
      // Nothing to assemble: the request's own tensors go to the instance untouched.
      inferStart = this.#clock.now();
      // runSingle: a backend with request boundaries (JS models) also gets the request's signal.
      const outputs: Tensor[] = await runSingle(this.#instances[index], request);
      inferEnd = this.#clock.now();
      if (outputs.length !== request.outputNames.length) {
        throw internal(`model returned ${outputs.length} output(s) for ${request.outputNames.length} requested`);
      }
      const end = this.#clock.now();
      const computeInputNs = msToNs(inferStart - start);
      const computeInferNs = msToNs(inferEnd - inferStart);
      const computeOutputNs = msToNs(end - inferEnd);
      this.#stats.recordExecution(entry.weight, computeInputNs, computeInferNs, computeOutputNs);
      entry.succeed({
        outputs,
        timing: { queueNs: msToNs(start - entry.enqueuedAt), computeInputNs, computeInferNs, computeOutputNs },
      });
    } catch (e) {
      const error = executionError(e);
      this.#logger.debug('execution failed', { error: error.message });
      entry.fail(error);
    } finally {
      gate?.release();
      this.#executing--;
      this.#idle.push(index);
      this.#pump();
      this.#drained.check();
    }
  }
}
