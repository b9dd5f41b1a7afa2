/**
 * A manual Clock for scheduler tests (ARCHITECTURE-GUIDE §8: no sleeps as synchronisation).
 * Time moves only when a test calls `advance`; due timers then fire in due-time order
 * (ties in the order they were set), each seeing `now()` equal to its own due time.
 */
import type { Clock, TimerHandle } from '../../core/clock.ts';

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** A Clock whose time is advanced by hand. */
export class FakeClock implements Clock {
  #now: number;
  readonly #epochBase: number;
  #nextId = 1;
  #timers: FakeTimer[] = [];

  constructor(startMs = 0, epochBaseMs = 1_700_000_000_000) {
    this.#now = startMs;
    this.#epochBase = epochBaseMs;
  }

  now(): number {
    return this.#now;
  }

  epochMs(): number {
    return this.#epochBase + this.#now;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const t: FakeTimer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), fn };
    this.#timers.push(t);
    return t.id;
  }

  clearTimer(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  /** Timers set and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Due time of the earliest pending timer, or undefined. */
  get nextTimerAt(): number | undefined {
    let at: number | undefined;
    for (const t of this.#timers) if (at === undefined || t.at < at) at = t.at;
    return at;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way (including ones
   * set by the callbacks themselves) in due order.
   */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.#timers) if (t.at <= target && (next === undefined || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      if (next.at > this.#now) this.#now = next.at;
      next.fn();
    }
    this.#now = target;
  }
}
