/**
 * The Node host's clock. `setTimeout` rounds delays up to whole milliseconds and fires late by
 * up to a millisecond more, so a dynamic batcher's `max_queue_delay_microseconds: 500` waited
 * ~1.1 ms (measured in docs/PERFORMANCE.md). This clock sleeps with setTimeout until about a
 * millisecond before the deadline and finishes with setImmediate turns, which let I/O through
 * between checks: sub-millisecond delays are honoured to within a few tens of microseconds, at
 * the cost of a busy event loop during that last millisecond only.
 */
import type { Clock, TimerHandle } from '../core/clock.ts';

/** Below this much remaining time the timer stops sleeping and checks every loop turn. */
const SPIN_MS = 1.2;

interface PreciseTimer {
  cancelled: boolean;
  timeout?: ReturnType<typeof setTimeout>;
  immediate?: ReturnType<typeof setImmediate>;
}

export const nodeClock: Clock = {
  now: () => performance.now(),
  epochMs: () => Date.now(),
  setTimer(fn: () => void, ms: number): TimerHandle {
    const t: PreciseTimer = { cancelled: false };
    const due = performance.now() + ms;
    const check = () => {
      if (t.cancelled) return;
      const left = due - performance.now();
      if (left <= 0) fn();
      else if (left > SPIN_MS) t.timeout = setTimeout(check, left - SPIN_MS);
      else t.immediate = setImmediate(check);
    };
    check();
    return t;
  },
  clearTimer(handle: TimerHandle): void {
    const t = handle as PreciseTimer;
    t.cancelled = true;
    if (t.timeout !== undefined) clearTimeout(t.timeout);
    if (t.immediate !== undefined) clearImmediate(t.immediate);
  },
};
