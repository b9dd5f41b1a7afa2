/**
 * The callers of a scheduler's `drain()`, answered once the scheduler is idle. The scheduler
 * says what idle means (`isIdle`) and calls `check()` after anything that may have made it
 * idle (a request answered, cancelled, expired or closed).
 */

/** Promises that resolve the next time their owner is idle. */
export class DrainWaiters {
  readonly #isIdle: () => boolean;
  #waiters: (() => void)[] = [];

  constructor(isIdle: () => boolean) {
    this.#isIdle = isIdle;
  }

  /** Resolves once the owner is idle: at once if it is now. */
  wait(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Resolves every waiter if the owner is idle now. Cheap when nobody waits (it runs per batch). */
  check(): void {
    if (this.#waiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
