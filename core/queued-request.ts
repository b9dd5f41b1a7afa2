/**
 * One request inside a scheduler: its promise, its place in a queue, its abort listener and
 * its queue timeout. Shared by the default scheduler and the dynamic batcher.
 *
 * The entry is its own queue node (no wrapper) and its own abort listener (`handleEvent`),
 * so queuing a request allocates this object and its promise, and nothing per tick.
 */
import type { TimerHandle } from './clock.ts';
import type { QueueNode, LinkedQueue } from './queue.ts';
import type { ScheduledRequest, ScheduledResult } from './scheduler.ts';

/** Where an entry is in its life. */
export type EntryState = 'queued' | 'executing' | 'settled';

/** What an entry calls back into its scheduler. */
export interface EntryOwner {
  /** The request's signal aborted (while queued or executing). */
  cancel(entry: QueuedRequest): void;
}

/** A request waiting in, or executing from, a scheduler. */
export class QueuedRequest implements QueueNode<QueuedRequest>, EventListenerObject {
  prev: QueuedRequest | null = null;
  next: QueuedRequest | null = null;
  queue: LinkedQueue<QueuedRequest> | null = null;

  readonly request: ScheduledRequest;
  /** Clock time (ms) it entered the scheduler; queue time and max_queue_delay run from here. */
  readonly enqueuedAt: number;
  /** Rows it adds to a batch: its batch size, at least 1 (as Triton counts). */
  readonly weight: number;
  readonly promise: Promise<ScheduledResult>;
  state: EntryState = 'queued';
  /** Clock time (ms) its queue timeout expires; Infinity when it has none. */
  deadline = Infinity;
  /** Timer that rejects it at `deadline` (REJECT policies only). */
  timer: TimerHandle | undefined = undefined;

  #resolve!: (r: ScheduledResult) => void;
  #reject!: (e: unknown) => void;
  readonly #owner: EntryOwner;

  constructor(request: ScheduledRequest, enqueuedAt: number, owner: EntryOwner) {
    this.request = request;
    this.enqueuedAt = enqueuedAt;
    this.weight = request.batchSize > 1 ? request.batchSize : 1;
    this.#owner = owner;
    this.promise = new Promise<ScheduledResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    request.signal?.addEventListener('abort', this);
  }

  /** AbortSignal listener (EventListenerObject), so no closure is allocated per request. */
  handleEvent(): void {
    if (this.state !== 'settled') this.#owner.cancel(this);
  }

  /** Answers the request; ignored when it was already answered (e.g. cancelled meanwhile). */
  succeed(result: ScheduledResult): void {
    if (this.state === 'settled') return;
    this.#finish();
    this.#resolve(result);
  }

  /** Fails the request; ignored when it was already answered. */
  fail(error: unknown): void {
    if (this.state === 'settled') return;
    this.#finish();
    this.#reject(error);
  }

  #finish(): void {
    this.state = 'settled';
    this.request.signal?.removeEventListener('abort', this);
  }
}
