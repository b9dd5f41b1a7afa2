/**
 * A counting limit on concurrent work with a FIFO wait list: the ensemble scheduler keeps one
 * per step for `ensemble_scheduling.max_inflight_requests` (Triton: "a global limit on the
 * number of concurrent inflight requests permitted at each ensemble step across all
 * concurrent ensemble requests"; when reached, scheduling to that step waits for capacity).
 */
import { cancelledError } from './scheduler-errors.ts';

interface Waiter {
  grant: () => void;
  fail: (e: unknown) => void;
}

export class InflightLimit {
  /** 0 = unlimited (Triton's default for max_inflight_requests). */
  readonly limit: number;
  #busy = 0;
  readonly #waiters: Waiter[] = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Holders right now. */
  get busy(): number {
    return this.#busy;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Resolves once the caller holds a slot (at once while under the limit). Rejects with
   * CANCELLED if `signal` aborts first; the caller then holds nothing. Every resolved acquire
   * must be paired with one `release`.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(cancelledError());
    if (this.limit === 0 || this.#busy < this.limit) {
      this.#busy++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(cancelledError());
      };
      const waiter: Waiter = {
        grant: () => { signal?.removeEventListener('abort', onAbort); resolve(); },
        fail: (e) => { signal?.removeEventListener('abort', onAbort); reject(e); },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Gives a slot back; the longest waiter (if any) gets it. */
  release(): void {
    const next = this.#waiters.shift();
    // The slot passes straight to the next waiter, so busy stays the same.
    if (next) next.grant();
    else this.#busy = Math.max(0, this.#busy - 1);
  }

  /** Rejects every waiter with `error` (the scheduler is closing). Holders are unaffected. */
  failWaiting(error: unknown): void {
    for (const w of this.#waiters.splice(0)) w.fail(error);
  }
}
