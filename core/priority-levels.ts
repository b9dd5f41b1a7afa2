/**
 * The dynamic batcher's queues: one per priority level, each with its ModelQueuePolicy
 * (COMPAT-NOTES §3.4, triton-extension-schedule_policy.md).
 *
 * Each level holds two FIFOs, as Triton's `PriorityQueue::PolicyQueue` does: `main` for
 * requests in arrival order and `delayed` for requests whose timeout expired under the DELAY
 * action. The batcher visits level 1's main then delayed queue, then level 2's, and so on, so
 * a delayed request waits behind every non-timed-out request of the same or higher priority
 * and still goes before lower priorities.
 */
import { invalidArg } from '../protocol/errors.ts';
import type { ModelDynamicBatching, ModelQueuePolicy, TimeoutAction } from './model-config.ts';
import { LinkedQueue } from './queue.ts';
import type { QueuedRequest } from './queued-request.ts';

/** ModelQueuePolicy defaults (proto3 zero values): REJECT, no timeout, no override, unbounded. */
export const DEFAULT_QUEUE_POLICY: Readonly<ModelQueuePolicy> = {
  timeout_action: 'REJECT',
  default_timeout_microseconds: 0,
  allow_timeout_override: false,
  max_queue_size: 0,
};

/** One priority level's queues and policy. */
export class PriorityLevel {
  readonly main = new LinkedQueue<QueuedRequest>();
  readonly delayed = new LinkedQueue<QueuedRequest>();
  readonly action: TimeoutAction;
  /** Queue timeout in ms; 0 = none. */
  readonly timeoutMs: number;
  readonly allowOverride: boolean;
  /** 0 = unbounded. */
  readonly maxSize: number;

  constructor(policy: Readonly<ModelQueuePolicy>) {
    this.action = policy.timeout_action === 'DELAY' ? 'DELAY' : 'REJECT';
    this.timeoutMs = Math.max(0, policy.default_timeout_microseconds || 0) / 1000;
    this.allowOverride = policy.allow_timeout_override === true;
    this.maxSize = Math.max(0, policy.max_queue_size || 0);
  }

  /** Requests queued at this level (delayed ones included, as Triton counts for max_queue_size). */
  get size(): number {
    return this.main.length + this.delayed.length;
  }

  /** True when one more request would exceed max_queue_size. */
  get full(): boolean {
    return this.maxSize > 0 && this.size >= this.maxSize;
  }

  /**
   * The queue timeout (ms, 0 = none) for a request that asked for `requestTimeoutUs`.
   * A request may only shorten the timeout, and only when `allow_timeout_override` is set
   * (ModelQueuePolicy docs: "may set a timeout that is less than the default timeout value
   * but may not increase the timeout"). A default of 0 means "no timeout", so any request
   * timeout is shorter and applies. (Triton's code compares against the raw 0 and so ignores
   * request timeouts when the default is 0; we follow the documented meaning.)
   */
  timeoutFor(requestTimeoutUs: number | undefined): number {
    if (!this.allowOverride || requestTimeoutUs === undefined || !(requestTimeoutUs > 0)) return this.timeoutMs;
    const ms = requestTimeoutUs / 1000;
    return this.timeoutMs === 0 || ms < this.timeoutMs ? ms : this.timeoutMs;
  }
}

/** The levels of one model and how request priorities map onto them. */
export class PriorityLevels {
  /** Level 1 first (highest priority). A model without priority levels has one. */
  readonly levels: readonly PriorityLevel[];
  readonly #defaultIndex: number;

  constructor(modelName: string, batching: Readonly<ModelDynamicBatching> | undefined) {
    const count = Math.max(0, batching?.priority_levels ?? 0);
    const fallback = batching?.default_queue_policy ?? DEFAULT_QUEUE_POLICY;
    if (count === 0) {
      this.levels = [new PriorityLevel(fallback)];
      this.#defaultIndex = 0;
      return;
    }
    const def = batching?.default_priority_level ?? 0;
    if (!Number.isInteger(def) || def < 1 || def > count) {
      throw invalidArg(`default priority level must be in the range [1, ${count}] for model '${modelName}'`);
    }
    const levels: PriorityLevel[] = [];
    for (let l = 1; l <= count; l++) levels.push(new PriorityLevel(batching?.priority_queue_policy?.[String(l)] ?? fallback));
    this.levels = levels;
    this.#defaultIndex = def - 1;
  }

  /**
   * Index into `levels` for a request `priority`. 0 means the default level; so does a
   * priority beyond the last level — Triton's `InferenceRequest::SetPriority` maps any
   * `p == 0 || p > max_priority_level` to the default level rather than failing, and clients
   * written against Triton rely on that. Returns -1 for a value that is not a priority at
   * all (negative, fractional), which the caller rejects with INVALID_ARG.
   */
  indexFor(priority: number): number {
    if (!Number.isSafeInteger(priority) || priority < 0) return -1;
    if (priority === 0 || priority > this.levels.length || this.levels.length === 1) return this.#defaultIndex;
    return priority - 1;
  }
}
