/**
 * The in-flight and quiet-period bookkeeping of a graceful drain, shared by the HTTP and gRPC
 * endpoints: a listener may close only once nothing is in flight and nothing has arrived for a
 * quiet period, since closing it earlier resets connections still in the kernel's accept
 * queue, i.e. requests a client has already sent.
 */

/**
 * How long the listener must see no new connection or request before a drain closes it:
 * connections already in the kernel's accept queue are accepted within a few loop turns.
 */
export const DRAIN_QUIET_MS = 250;

/** Counts requests in flight and remembers when the last arrival was, for `settle`. */
export class DrainTracker {
  #inflight = 0;
  #onIdle: (() => void)[] = [];
  /** When the last connection, call or request arrived (performance.now ms). */
  #lastActivity = 0;

  /** Requests received and not yet answered. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Something arrived that is not itself a request in flight (a connection, a stream): restarts the quiet period. */
  touch(): void {
    this.#lastActivity = performance.now();
  }

  /** A request arrived: in flight until its `end()`. */
  begin(): void {
    this.#lastActivity = performance.now();
    this.#inflight++;
  }

  /** A request begun with `begin()` was answered (or its connection closed). */
  end(): void {
    if (--this.#inflight === 0 && this.#onIdle.length > 0) for (const f of this.#onIdle.splice(0)) f();
  }

  /**
   * Resolves once nothing is in flight and nothing has arrived for `quietMs`, or at `deadline`
   * (a performance.now time) at the latest.
   */
  async settle(deadline: number, quietMs: number): Promise<void> {
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) return;
      if (this.#inflight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          this.#onIdle.push(() => { clearTimeout(timer); resolve(); });
        });
        continue;
      }
      const quietFor = performance.now() - this.#lastActivity;
      if (quietFor >= quietMs) return;
      await new Promise((r) => setTimeout(r, Math.min(quietMs - quietFor, left)));
    }
  }
}
