/**
 * Bounds every protocol decoder enforces on input from a user or a peer
 * (ARCHITECTURE-GUIDE §4: "Input from a user or a peer is never trusted unbounded"; modelled
 * on gossipsub's `DecodeRPCLimits`). A decoder checks a bound *before* it allocates what the
 * bound protects, so a 40-byte header cannot make the server allocate gigabytes.
 */
import { invalidArg } from './errors.ts';
import type { InferError } from './errors.ts';

/** Upper bounds applied while decoding one request. All values are positive integers. */
export interface DecodeLimits {
  /** Whole HTTP body (JSON header plus binary blobs), in bytes. */
  maxBodyBytes: number;
  /** JSON header (the whole body when there is no Inference-Header-Content-Length), in bytes. */
  maxHeaderBytes: number;
  /** Entries in `inputs`. */
  maxInputs: number;
  /** Entries in `outputs`. */
  maxOutputs: number;
  /** Dimensions of one tensor shape. */
  maxRank: number;
  /** Elements of one tensor (product of its shape). */
  maxElements: number;
  /** Nesting depth of one tensor's JSON `data` array. */
  maxJsonDepth: number;
  /** Decoded size of one input sent as JSON `data` (element bytes; BYTES counts 4 + length per element). */
  maxJsonInputBytes: number;
  /** Length of one BYTES element, in bytes. */
  maxBytesElementBytes: number;
  /** Keys in one `parameters` object (request, input or output level). */
  maxParameters: number;
}

const MiB = 1024 * 1024;

/**
 * 256 MiB: large enough for a batch of full-HD FP32 images, small enough that a handful of
 * concurrent requests cannot exhaust a Node heap. Hosts may raise it for large-tensor models.
 */
export const DEFAULT_MAX_BODY_BYTES = 256 * MiB;

/**
 * 64 MiB: Triton caps JSON request size with `--http-max-input-size` (default 1 << 26,
 * COMPAT-NOTES §1.5); JSON beyond that should be sent as binary tensor data instead.
 */
export const DEFAULT_MAX_HEADER_BYTES = 64 * MiB;

/** 1024: no real model has more tensors; bounds per-request bookkeeping. */
export const DEFAULT_MAX_INPUTS = 1024;

/** 1024: as for inputs. */
export const DEFAULT_MAX_OUTPUTS = 1024;

/**
 * 32: Triton itself has no fixed bound (ONNX allows deep ranks) but nothing sane goes past
 * 8; 32 leaves ample head-room while keeping shape arithmetic and error messages small.
 */
export const DEFAULT_MAX_RANK = 32;

/**
 * 2^28 elements: equal to the default body size, so no fixed-size tensor that fits in a body
 * is refused, while a shape alone (e.g. `[1e12]` with empty data) cannot trigger a huge
 * allocation before its data is checked.
 */
export const DEFAULT_MAX_ELEMENTS = 1 << 28;

/** 100: Triton's `HTTP_MAX_JSON_NESTING_DEPTH` (server/src/common.h, COMPAT-NOTES §1.5). */
export const DEFAULT_MAX_JSON_DEPTH = 100;

/** 64 MiB: Triton's `HTTP_DEFAULT_MAX_INPUT_SIZE` per JSON-decoded input (COMPAT-NOTES §1.5). */
export const DEFAULT_MAX_JSON_INPUT_BYTES = 64 * MiB;

/**
 * 64 MiB: the wire format allows up to 2^32 - 1 bytes per BYTES element, but one element that
 * large is a file upload, not a tensor; 64 MiB still fits any image or document prompt.
 */
export const DEFAULT_MAX_BYTES_ELEMENT_BYTES = 64 * MiB;

/** 256 keys: far above what any client sends, bounds work spent on parameter validation. */
export const DEFAULT_MAX_PARAMETERS = 256;

/** The limits used when a caller passes none. Frozen: merge with {@link resolveDecodeLimits}. */
export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
  maxInputs: DEFAULT_MAX_INPUTS,
  maxOutputs: DEFAULT_MAX_OUTPUTS,
  maxRank: DEFAULT_MAX_RANK,
  maxElements: DEFAULT_MAX_ELEMENTS,
  maxJsonDepth: DEFAULT_MAX_JSON_DEPTH,
  maxJsonInputBytes: DEFAULT_MAX_JSON_INPUT_BYTES,
  maxBytesElementBytes: DEFAULT_MAX_BYTES_ELEMENT_BYTES,
  maxParameters: DEFAULT_MAX_PARAMETERS,
});

/**
 * Merges `overrides` onto {@link DEFAULT_DECODE_LIMITS} and validates the result once (every
 * value a positive safe integer), so decoders never re-check their configuration.
 * @throws InferError INVALID_ARG naming the bad limit.
 */
export function resolveDecodeLimits(overrides: Partial<DecodeLimits> = {}): DecodeLimits {
  const merged: DecodeLimits = { ...DEFAULT_DECODE_LIMITS };
  for (const key of Object.keys(DEFAULT_DECODE_LIMITS) as (keyof DecodeLimits)[]) {
    const v = overrides[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw invalidArg(`decode limit '${key}' must be a positive integer, got ${String(v)}`);
    }
    merged[key] = v;
  }
  return merged;
}

/**
 * The error for an exceeded limit. It names the limit and how to raise it, so an operator can
 * act on it without reading code: `request body bytes (300) exceeds the decode limit
 * 'maxBodyBytes' (200); raise 'maxBodyBytes' in the server's decode limits`.
 */
export function limitExceeded(what: string, actual: number, limit: keyof DecodeLimits, max: number, hint = ''): InferError {
  return invalidArg(
    `${what} (${actual}) exceeds the decode limit '${limit}' (${max}); raise '${limit}' in the server's decode limits${hint}`,
  );
}
