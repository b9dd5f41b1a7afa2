/**
 * The contract between the inference server and a model's scheduler (default, dynamic
 * batcher; later sequence batcher and ensemble). Requests reaching a scheduler are already
 * validated against the model config.
 */
import type { Tensor } from '../protocol/tensor.ts';
import type { Parameters } from '../protocol/infer.ts';

/** A validated request as a scheduler sees it. */
export interface ScheduledRequest {
  /** Inputs with full shapes (leading batch dim when the model batches), in any order. */
  inputs: Tensor[];
  /** Outputs to compute for this request (already resolved: never empty). */
  outputNames: string[];
  /** Leading dimension when max_batch_size > 0, else 1. */
  batchSize: number;
  /** Request `priority` parameter; 0 = the model's default level. */
  priority: number;
  /** Request `timeout` parameter in microseconds, when given. */
  timeoutUs?: number;
  /** Aborting removes a queued request (CANCELLED); an executing one completes but is discarded. */
  signal?: AbortSignal;
  /**
   * The request's own parameters, for schedulers that pass the request on: the ensemble
   * scheduler forwards them to its steps (sequence ids, priority, custom parameters).
   */
  parameters?: Parameters;
  /**
   * Sequence membership from the `sequence_id` / `sequence_start` / `sequence_end` parameters
   * (core/sequence-params.ts); undefined when the id is absent, 0 or "" (not in a sequence).
   */
  sequence?: SequenceFlags;
}

/** A request's place in a sequence (triton-extension-sequence.md). */
export interface SequenceFlags {
  /** The correlation id: a uint64 as bigint, or a string id. Never 0n or "". */
  id: bigint | string;
  /** First request of the sequence (resets implicit state, sets the START control). */
  start: boolean;
  /** Last request of the sequence (its slot is freed once it has run). */
  end: boolean;
}

/** Where time went for one request, in nanoseconds (Triton's statistics units). */
export interface RequestTiming {
  queueNs: number;
  computeInputNs: number;
  computeInferNs: number;
  computeOutputNs: number;
}

/** A scheduler's answer for one request. */
export interface ScheduledResult {
  /** The requested outputs, in the order of `outputNames`. */
  outputs: Tensor[];
  timing: RequestTiming;
}

export interface Scheduler {
  /** Queues a request; resolves with its outputs or rejects with an InferError. */
  schedule(request: ScheduledRequest): Promise<ScheduledResult>;
  /** Requests waiting for an instance (Triton's `nv_inference_pending_request_count`). */
  readonly pendingCount: number;
  /** Resolves when nothing is queued or executing. New requests may still arrive. */
  drain(): Promise<void>;
  /** Rejects everything still queued with UNAVAILABLE and refuses new requests. */
  close(reason: string): void;
}
