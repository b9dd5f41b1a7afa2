/**
 * The errors schedulers answer with, with Triton's texts where Triton has one
 * (COMPAT-NOTES §1.10 "Queue errors"), and the normalisation of backend failures.
 */
import { InferError, isInferError } from '../protocol/errors.ts';

/** Queue of the request's priority level is full (Triton `src/scheduler_utils.cc`). */
export function queueFullError(): InferError {
  return new InferError('UNAVAILABLE', 'Exceeds maximum queue size', 'REJECTED');
}

/** Queue timeout with action REJECT (Triton `src/dynamic_batch_scheduler.cc`). */
export function timeoutExpiredError(): InferError {
  return new InferError('UNAVAILABLE', 'Request timeout expired', 'REJECTED');
}

/** The request's AbortSignal fired before it was answered. */
export function cancelledError(): InferError {
  return new InferError('CANCELLED', 'Request was cancelled', 'CANCELED');
}

/**
 * The scheduler is closed (model unloading, server stopping). Counted as REJECTED: the
 * scheduler turned the request away, as with a full queue.
 */
export function closedError(reason: string): InferError {
  return new InferError('UNAVAILABLE', reason, 'REJECTED');
}

/**
 * A failure during execution, as every request of the batch receives it: an InferError keeps
 * its code and message, counted as BACKEND unless it already names a reason; anything else
 * becomes INTERNAL with its message (so a human can act on it), reason BACKEND.
 */
export function executionError(e: unknown): InferError {
  if (isInferError(e)) return e.reason === 'OTHER' ? new InferError(e.code, e.message, 'BACKEND') : e;
  const message = typeof e === 'object' && e !== null && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  return new InferError('INTERNAL', message || 'model execution failed', 'BACKEND');
}
