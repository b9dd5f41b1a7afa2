/**
 * The sequence request parameters (`sequence_id`, `sequence_start`, `sequence_end`;
 * triton-extension-sequence.md, COMPAT-NOTES §1.10 and §2.4) read from a decoded request, and
 * the helpers that name a sequence in keys and messages. Shared by the core (request
 * validation, the sequence batcher) and the mesh (sequence affinity).
 *
 * Id types: a uint64 travels as a JSON number on HTTP and as `int64_param`/`uint64_param` on
 * gRPC and the mesh (a negative int64 is read as its uint64 bit pattern, as Triton's gRPC
 * frontend does); the codecs give a `sequence_id` beyond ±2^53 as a bigint (its uint64 value,
 * protocol/infer.ts `ParamValue`), so it stays numeric. A string id is any string. So one
 * sequence keeps one representation on one path, and its key stays the same on every request.
 */
import { invalidArg } from '../protocol/errors.ts';
import type { Parameters } from '../protocol/infer.ts';
import type { SequenceFlags } from './scheduler.ts';

/** 2^64: sequence ids are uint64 (Triton's correlation id). */
const UINT64_LIMIT = 1n << 64n;

/**
 * The sequence parameters of a request, or undefined when it is not in a sequence (no
 * `sequence_id`, or 0, or ""). Start/end without an id are returned as undefined too: the
 * sequence batcher then answers Triton's "must specify a non-zero or non-empty correlation ID",
 * and other schedulers ignore them, as Triton's do.
 * @throws InferError INVALID_ARG when a parameter has the wrong type.
 */
export function sequenceFlagsOf(parameters: Parameters | undefined): SequenceFlags | undefined {
  if (parameters === undefined) return undefined;
  const raw = parameters.sequence_id;
  const start = flag(parameters, 'sequence_start');
  const end = flag(parameters, 'sequence_end');
  if (raw === undefined) return undefined;
  let id: bigint | string;
  if (typeof raw === 'number') {
    if (!Number.isInteger(raw) || raw < -(2 ** 63) || raw >= 2 ** 64) {
      throw invalidArg(`parameter 'sequence_id' must be an unsigned 64-bit integer or a string, got ${raw}`);
    }
    // gRPC carries the id as int64_param; Triton reads a negative one as its uint64 bit pattern.
    // (HTTP refuses negative ids before they get here.)
    id = BigInt.asUintN(64, BigInt(raw));
    if (id === 0n) return undefined;
  } else if (typeof raw === 'bigint') {
    if (raw < -(1n << 63n) || raw >= UINT64_LIMIT) {
      throw invalidArg(`parameter 'sequence_id' must be an unsigned 64-bit integer or a string, got ${raw}`);
    }
    id = BigInt.asUintN(64, raw);
    if (id === 0n) return undefined;
  } else if (typeof raw === 'string') {
    if (raw === '') return undefined;
    id = raw;
  } else {
    throw invalidArg(`parameter 'sequence_id' must be an unsigned 64-bit integer or a string, got ${typeof raw}`);
  }
  return { id, start, end };
}

function flag(parameters: Parameters, key: 'sequence_start' | 'sequence_end'): boolean {
  const v = parameters[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw invalidArg(`parameter '${key}' must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * A map key for a sequence id: numbers and strings never collide ("42" the string and 42 the
 * number are different sequences, as in Triton).
 */
export function sequenceKey(id: bigint | string): string {
  return typeof id === 'bigint' ? `n${id}` : `s${id}`;
}

/** A sequence id as Triton prints it in messages: the number, or the string as given. */
export function formatSequenceId(id: bigint | string): string {
  return typeof id === 'bigint' ? id.toString() : id;
}

/**
 * The id as a uint64 for a numeric CORRID control, or undefined when it is a string that is not
 * a decimal uint64 (an HTTP client may send a large id as its decimal string).
 */
export function sequenceIdAsUint64(id: bigint | string): bigint | undefined {
  if (typeof id === 'bigint') return id;
  if (!/^[0-9]{1,20}$/.test(id)) return undefined;
  const n = BigInt(id);
  return n < UINT64_LIMIT ? n : undefined;
}
