/**
 * Triton's per-model-version statistics (COMPAT-NOTES §1.13, triton-extension-statistics.md)
 * and the cumulative counters the Prometheus exporter renders (§5.2).
 *
 * Who records what:
 * - schedulers call `recordExecution` once per executed batch (execution_count,
 *   inference_count, batch_stats), because only they know how requests were batched;
 * - the caller of `Scheduler.schedule` calls `recordSuccess` / `recordFailure` once per
 *   request, because only it knows when the request arrived (Triton's request duration runs
 *   from arrival to response) and whether shaping the response succeeded.
 *
 * Every duration is a JS number of nanoseconds. Cumulative totals stay exact up to 2^53 ns,
 * about 104 days of summed request time; beyond that they lose nanosecond precision rather
 * than wrap, which statistics consumers (rates, averages) do not notice.
 */
import type { FailureReason } from '../protocol/errors.ts';
import type { RequestTiming } from './scheduler.ts';

/** Triton's `duration_stat`: how often something happened and its total nanoseconds. */
export interface DurationStat {
  count: number;
  ns: number;
}

/** Triton's `$inference_stats`. */
export interface InferenceStats {
  success: DurationStat;
  fail: DurationStat;
  queue: DurationStat;
  compute_input: DurationStat;
  compute_infer: DurationStat;
  compute_output: DurationStat;
  cache_hit: DurationStat;
  cache_miss: DurationStat;
}

/** Triton's `$batch_stats`: one entry per executed batch size; each count = executions at that size. */
export interface BatchStats {
  batch_size: number;
  compute_input: DurationStat;
  compute_infer: DurationStat;
  compute_output: DurationStat;
}

/** Triton's `$model_stat`, exactly as `GET /v2/models/{m}/stats` returns it. */
export interface ModelStatistics {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: InferenceStats;
  /** Per-response statistics of decoupled models; infermesh serves no decoupled models. */
  response_stats: Record<string, never>;
  batch_stats: BatchStats[];
  /** Not measured (ONNX Runtime does not report it per model). */
  memory_usage: never[];
}

/** The cumulative counters behind Triton's `nv_inference_*` Prometheus families. */
export interface ModelCounters {
  /** `nv_inference_request_success`. */
  successCount: number;
  /** `nv_inference_request_failure{reason}`; all four reasons are always present. */
  failureCount: Record<FailureReason, number>;
  /** `nv_inference_count` (batch-expanded). */
  inferenceCount: number;
  /** `nv_inference_exec_count`. */
  execCount: number;
  /** `nv_inference_request_duration_us` × 1000. */
  requestNs: number;
  /** `nv_inference_queue_duration_us` × 1000. */
  queueNs: number;
  /** `nv_inference_compute_input_duration_us` × 1000. */
  computeInputNs: number;
  /** `nv_inference_compute_infer_duration_us` × 1000. */
  computeInferNs: number;
  /** `nv_inference_compute_output_duration_us` × 1000. */
  computeOutputNs: number;
  /** Busy time of all executions (each batch counted once), for measured throughput. */
  executionNs: number;
  /** `nv_cache_num_hits_per_model`. */
  cacheHitCount: number;
  /** `nv_cache_hit_duration_per_model` × 1000 (lookups that hit). */
  cacheHitNs: number;
  /** `nv_cache_num_misses_per_model`. */
  cacheMissCount: number;
  /** `nv_cache_miss_duration_per_model` × 1000 (lookup + insertion of misses). */
  cacheMissNs: number;
}

/** A mutable count + total pair. */
class Accum {
  count = 0;
  ns = 0;

  add(ns: number): void {
    this.count++;
    // A clock that steps backwards must not make a cumulative counter go down.
    this.ns += ns > 0 ? ns : 0;
  }

  toJSON(): DurationStat {
    return { count: this.count, ns: this.ns };
  }
}

/** The three compute durations of one batch size. */
class BatchAccum {
  readonly input = new Accum();
  readonly infer = new Accum();
  readonly output = new Accum();
}

/** Accumulates the statistics of one model version. Cheap enough to call on every request. */
export class ModelStats {
  #lastInference = 0;
  #inferenceCount = 0;
  #executionCount = 0;
  #executionNs = 0;
  readonly #success = new Accum();
  readonly #fail = new Accum();
  readonly #queue = new Accum();
  readonly #computeInput = new Accum();
  readonly #computeInfer = new Accum();
  readonly #computeOutput = new Accum();
  readonly #cacheHit = new Accum();
  readonly #cacheMiss = new Accum();
  readonly #failures: Record<FailureReason, number> = { REJECTED: 0, CANCELED: 0, BACKEND: 0, OTHER: 0 };
  readonly #batches = new Map<number, BatchAccum>();

  /**
   * One successful request: `totalNs` from arrival to response, `timing` as its scheduler
   * measured it, `epochMs` the wall-clock time (becomes `last_inference`). Keeps Triton's
   * invariant that queue and the three compute counts equal the success count.
   */
  recordSuccess(totalNs: number, timing: RequestTiming, epochMs: number): void {
    this.#success.add(totalNs);
    this.#queue.add(timing.queueNs);
    this.#computeInput.add(timing.computeInputNs);
    this.#computeInfer.add(timing.computeInferNs);
    this.#computeOutput.add(timing.computeOutputNs);
    if (epochMs > this.#lastInference) this.#lastInference = epochMs;
  }

  /**
   * One request answered from the response cache (Triton's `UpdateSuccessCacheHit`): it counts
   * in success and queue (queue = arrival to the lookup) and in cache_hit (the lookup), but not
   * in inference/execution counts or compute durations, so compute counts stay
   * success − cache_hit. `last_inference` is not moved, as in Triton (no model execution).
   */
  recordCacheHit(totalNs: number, queueNs: number, lookupNs: number): void {
    this.#success.add(totalNs);
    this.#queue.add(queueNs);
    this.#cacheHit.add(lookupNs);
  }

  /**
   * The cache side of a successful request that missed (Triton's `UpdateSuccessCacheMiss`):
   * `ns` = lookup + insertion. Record the request itself with `recordSuccess` (its total
   * includes these).
   */
  recordCacheMiss(ns: number): void {
    this.#cacheMiss.add(ns);
  }

  /** One failed request, `totalNs` from arrival to the error, counted under `reason`. */
  recordFailure(totalNs: number, reason: FailureReason): void {
    this.#fail.add(totalNs);
    this.#failures[reason in this.#failures ? reason : 'OTHER']++;
  }

  /**
   * One model execution of `batchSize` rows (the sum of its requests' batch sizes) with the
   * batch's compute durations: execution_count += 1, inference_count += batchSize, and the
   * batch_stats entry for that size.
   */
  recordExecution(batchSize: number, computeInputNs: number, computeInferNs: number, computeOutputNs: number): void {
    this.#executionCount++;
    this.#inferenceCount += batchSize;
    this.#executionNs += computeInputNs + computeInferNs + computeOutputNs;
    let b = this.#batches.get(batchSize);
    if (b === undefined) {
      b = new BatchAccum();
      this.#batches.set(batchSize, b);
    }
    b.input.add(computeInputNs);
    b.infer.add(computeInferNs);
    b.output.add(computeOutputNs);
  }

  /** The statistics object Triton returns for this version (`$model_stat`). */
  toJSON(name: string, version: string): ModelStatistics {
    const sizes = [...this.#batches.keys()].sort((a, b) => a - b);
    return {
      name,
      version,
      last_inference: this.#lastInference,
      inference_count: this.#inferenceCount,
      execution_count: this.#executionCount,
      inference_stats: {
        success: this.#success.toJSON(),
        fail: this.#fail.toJSON(),
        queue: this.#queue.toJSON(),
        compute_input: this.#computeInput.toJSON(),
        compute_infer: this.#computeInfer.toJSON(),
        compute_output: this.#computeOutput.toJSON(),
        cache_hit: this.#cacheHit.toJSON(),
        cache_miss: this.#cacheMiss.toJSON(),
      },
      response_stats: {},
      batch_stats: sizes.map((size) => {
        const b = this.#batches.get(size)!;
        return { batch_size: size, compute_input: b.input.toJSON(), compute_infer: b.infer.toJSON(), compute_output: b.output.toJSON() };
      }),
      memory_usage: [],
    };
  }

  /** A copy of the cumulative counters for the Prometheus exporter. */
  counters(): ModelCounters {
    return {
      successCount: this.#success.count,
      failureCount: { ...this.#failures },
      inferenceCount: this.#inferenceCount,
      execCount: this.#executionCount,
      requestNs: this.#success.ns,
      queueNs: this.#queue.ns,
      computeInputNs: this.#computeInput.ns,
      computeInferNs: this.#computeInfer.ns,
      computeOutputNs: this.#computeOutput.ns,
      executionNs: this.#executionNs,
      cacheHitCount: this.#cacheHit.count,
      cacheHitNs: this.#cacheHit.ns,
      cacheMissCount: this.#cacheMiss.count,
      cacheMissNs: this.#cacheMiss.ns,
    };
  }
}
