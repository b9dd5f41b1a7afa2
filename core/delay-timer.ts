/**
 * A re-armable one-shot timer on the injected clock: the batchers' queue-delay timer. At most
 * one timer is pending; arming it for the time it is already armed for keeps it (no clock
 * call), arming it for another time replaces it.
 */
import type { Clock, TimerHandle } from './clock.ts';

/** One pending timer at a clock time, re-armed or cleared as a batcher's wait changes. */
export class DelayTimer {
  readonly #clock: Clock;
  readonly #onFire: (due: number) => void;
  #handle: TimerHandle | undefined = undefined;
  #at = Infinity;
  // Bound once, so arming the timer allocates no closure.
  readonly #fire = (): void => {
    const due = this.#at;
    this.#handle = undefined;
    this.#at = Infinity;
    // Timers may fire a hair before the clock reads `due` (Node's timers run on the event
    // loop's cached time); `onFire` gets `due` so it can treat that time as reached regardless.
    this.#onFire(due);
  };

  /** `onFire(due)` runs when the timer fires, with the clock time it was armed for. */
  constructor(clock: Clock, onFire: (due: number) => void) {
    this.#clock = clock;
    this.#onFire = onFire;
  }

  /** Fires at clock time `at` (at once if it has passed), replacing a timer armed for another time. */
  arm(at: number): void {
    if (this.#handle !== undefined) {
      if (this.#at === at) return;
      this.#clock.clearTimer(this.#handle);
    }
    this.#at = at;
    this.#handle = this.#clock.setTimer(this.#fire, Math.max(0, at - this.#clock.now()));
  }

  /** Cancels the pending timer, if any. */
  clear(): void {
    if (this.#handle === undefined) return;
    this.#clock.clearTimer(this.#handle);
    this.#handle = undefined;
    this.#at = Infinity;
  }
}
