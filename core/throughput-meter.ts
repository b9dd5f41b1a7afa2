/**
 * Measured throughput of one served model version, the figure hosts advertise to the mesh
 * (ARCHITECTURE-GUIDE §7: advertise what you measured, not hardware specs — browsers cannot
 * even report VRAM). Throughput = items executed per second of instance busy time, times the
 * number of instances, smoothed with an exponentially weighted moving average so one odd
 * batch does not swing routing.
 */

/** Default smoothing: each new sample moves the estimate 30 % of the way. */
export const DEFAULT_THROUGHPUT_ALPHA = 0.3;

/** The cumulative figures the meter reads (a subset of ModelStats counters). */
export interface ExecutionTotals {
  inferenceCount: number;
  executionNs: number;
}

export class ThroughputMeter {
  readonly #alpha: number;
  readonly #instances: number;
  #estimate: number;
  #lastItems = 0;
  #lastNs = 0;

  /**
   * `instances` run concurrently, so capacity is per-instance speed × instances. `initial` is
   * the estimate before anything ran (0 = unknown).
   */
  constructor(init: { instances: number; alpha?: number; initial?: number }) {
    this.#instances = Math.max(1, init.instances);
    this.#alpha = init.alpha ?? DEFAULT_THROUGHPUT_ALPHA;
    this.#estimate = init.initial ?? 0;
  }

  /** Items per second the model can serve (0 while unknown). */
  get itemsPerSecond(): number {
    return this.#estimate;
  }

  /** Folds in what ran since the last call; returns the new estimate. Idle periods keep it. */
  update(totals: ExecutionTotals): number {
    const items = totals.inferenceCount - this.#lastItems;
    const ns = totals.executionNs - this.#lastNs;
    this.#lastItems = totals.inferenceCount;
    this.#lastNs = totals.executionNs;
    if (items <= 0 || ns <= 0) return this.#estimate;
    const sample = (items / (ns / 1e9)) * this.#instances;
    this.#estimate = this.#estimate === 0 ? sample : this.#estimate + this.#alpha * (sample - this.#estimate);
    return this.#estimate;
  }
}
