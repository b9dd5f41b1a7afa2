/**
 * The closed table of error codes, mapped to Triton's HTTP statuses (COMPAT-NOTES §1.11) and
 * gRPC status codes (§2.6), plus the set the mesh router may retry elsewhere.
 *
 * Code tells errors apart by `.name` and `.code`, never `instanceof`: errors that cross a
 * worker (comlink) or a peer lose their class.
 */

export const ERROR_CODES = [
  'INVALID_ARG', 'NOT_FOUND', 'UNAVAILABLE', 'UNSUPPORTED', 'INTERNAL', 'UNKNOWN',
  'ALREADY_EXISTS', 'CANCELLED', 'DEADLINE_EXCEEDED', 'OVERLOADED',
] as const;

/** One of infermesh's error codes (Triton's TRITONSERVER_Error codes plus two mesh codes). */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * HTTP status per code. Triton: INTERNAL 500, NOT_FOUND 404, UNAVAILABLE 503, UNSUPPORTED 501,
 * everything else 400. DEADLINE_EXCEEDED and OVERLOADED are infermesh's own (Triton reports
 * queue timeouts and full queues as UNAVAILABLE), so they get the statuses a proxy would use.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARG: 400, NOT_FOUND: 404, UNAVAILABLE: 503, UNSUPPORTED: 501, INTERNAL: 500,
  UNKNOWN: 400, ALREADY_EXISTS: 400, CANCELLED: 400, DEADLINE_EXCEEDED: 504, OVERLOADED: 503,
};

/** gRPC canonical status numbers per code (grpc/status.h). */
export const GRPC_STATUS: Readonly<Record<ErrorCode, number>> = {
  CANCELLED: 1, UNKNOWN: 2, INVALID_ARG: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5,
  ALREADY_EXISTS: 6, OVERLOADED: 8, UNSUPPORTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
};

/** Codes after which the mesh router may send the same request to another host. */
export const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['UNAVAILABLE', 'OVERLOADED']);

/**
 * Why a request failed, as Triton's `nv_inference_request_failure{reason=...}` counts it:
 * REJECTED (queue full / queue timeout), CANCELED, BACKEND (execution failed), OTHER.
 */
export type FailureReason = 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';

/** An error with a protocol code. The message says what was wrong and what to do. */
export class InferError extends Error {
  override name = 'InferError' as const;
  readonly code: ErrorCode;
  readonly reason: FailureReason;

  constructor(code: ErrorCode, message: string, reason: FailureReason = 'OTHER') {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

/** Shorthand constructors, so call sites read as the error they raise. */
export const invalidArg = (msg: string) => new InferError('INVALID_ARG', msg);
export const notFound = (msg: string) => new InferError('NOT_FOUND', msg);
export const unavailable = (msg: string, reason: FailureReason = 'OTHER') => new InferError('UNAVAILABLE', msg, reason);
export const unsupported = (msg: string) => new InferError('UNSUPPORTED', msg);
export const internal = (msg: string) => new InferError('INTERNAL', msg);

/** The plain form of an error as it travels on any wire. */
export interface WireError {
  code: ErrorCode;
  message: string;
  reason: FailureReason;
}

/** True for anything shaped like an InferError (checked by name and code, not class). */
export function isInferError(e: unknown): e is InferError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'InferError'
    && (ERROR_CODES as readonly string[]).includes((e as { code?: string }).code ?? '');
}

/**
 * Normalises anything thrown into a WireError. Unknown errors become INTERNAL with their
 * message kept (so a human can act on it); AbortError becomes CANCELLED.
 */
export function toWireError(e: unknown): WireError {
  if (isInferError(e)) return { code: e.code, message: e.message, reason: e.reason };
  if (typeof e === 'object' && e !== null) {
    const name = (e as { name?: unknown }).name;
    const message = String((e as { message?: unknown }).message ?? e);
    if (name === 'AbortError') return { code: 'CANCELLED', message: message || 'request cancelled', reason: 'CANCELED' };
    if (name === 'TimeoutError') return { code: 'DEADLINE_EXCEEDED', message, reason: 'OTHER' };
    return { code: 'INTERNAL', message, reason: 'OTHER' };
  }
  return { code: 'INTERNAL', message: String(e), reason: 'OTHER' };
}
