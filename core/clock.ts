/**
 * Time as the core sees it. Injected so batcher and scheduler tests run on a fake clock
 * without sleeps (ARCHITECTURE-GUIDE §8).
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

export interface Clock {
  /** Monotonic time in milliseconds (fractional, µs resolution or better). */
  now(): number;
  /** Wall-clock time in milliseconds since the epoch (for `last_inference`). */
  epochMs(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** The real clock: `performance.now()` and `setTimeout`, available in Node and browsers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  epochMs: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Milliseconds (fractional) → integer nanoseconds, the unit of Triton's statistics. */
export function msToNs(ms: number): number {
  return Math.round(ms * 1e6);
}
