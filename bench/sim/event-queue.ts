/**
 * The simulation's event queue: a binary min-heap on (time, insertion order).
 *
 * Why insertion order breaks ties: events at the same simulated time must run in a fixed
 * order for the run to be deterministic (same seed, same table); a heap alone is not stable.
 */

/** An event: what to run and when (simulated ms). */
export interface SimEvent {
  /** Simulated time, ms. */
  readonly at: number;
  /** Tie-breaker: order of scheduling. */
  readonly seq: number;
  /** What happens. */
  readonly run: () => void;
}

/** A min-heap of events with a simulated clock that jumps from event to event. */
export class EventQueue {
  readonly #heap: SimEvent[] = [];
  #seq = 0;
  #now = 0;

  /** Current simulated time, ms. */
  get now(): number {
    return this.#now;
  }

  /** Events waiting. */
  get size(): number {
    return this.#heap.length;
  }

  /** Schedules `run` at absolute time `at` (never before now). */
  at(at: number, run: () => void): void {
    const ev: SimEvent = { at: Math.max(at, this.#now), seq: this.#seq++, run };
    const h = this.#heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(ev, h[parent])) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = ev;
  }

  /** Schedules `run` after `delay` ms. */
  after(delay: number, run: () => void): void {
    this.at(this.#now + delay, run);
  }

  /** Runs the earliest event; false when none is left. */
  step(): boolean {
    const h = this.#heap;
    if (h.length === 0) return false;
    const top = h[0];
    const last = h.pop() as SimEvent;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r], h[l]) ? r : l;
        if (!before(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    this.#now = top.at;
    top.run();
    return true;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
