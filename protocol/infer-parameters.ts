/**
 * Validation of KServe v2 `$parameters` objects as Triton's HTTP frontend types them
 * (kserve-v2-required_api.md "Parameters"; triton-extension-parameters.md; COMPAT-NOTES
 * §1.8 and §1.10; Triton server/src/http_server.cc `ParseJsonTritonParams`).
 *
 * Validation happens in place: the parsed JSON object is returned as the Parameters value
 * (no copy, and no risk of a `"__proto__"` key turning into a prototype on a fresh object).
 */
import { invalidArg } from './errors.ts';
import { limitExceeded } from './limits.ts';
import type { DecodeLimits } from './limits.ts';
import type { Parameters } from './infer.ts';

/** Request-level keys Triton reserves (server/src/common.h `kReservedParameterKeys`), besides `triton_*`. */
export const RESERVED_PARAMETER_KEYS = [
  'sequence_id', 'sequence_start', 'sequence_end', 'priority', 'timeout', 'headers', 'binary_data_output',
] as const;

/** Prefix of keys reserved for Triton itself; refused in HTTP request parameters. */
export const TRITON_PARAMETER_PREFIX = 'triton_';

/** Triton's exact refusal of a `triton_*` request parameter. */
export const TRITON_PREFIX_MESSAGE =
  "parameter keys starting with 'triton_' are reserved for Triton usage and should not be specified.";

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short rendering of a JSON value for error messages. */
export function showJson(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/**
 * True for a JSON number that is a valid uint64. Values above 2^53 have already been rounded
 * by JSON.parse; they are accepted (as Triton would accept the exact value) but are not exact.
 */
export function isUint64Number(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 64;
}

type Check = (v: unknown) => boolean;
const isBool: Check = (v) => typeof v === 'boolean';
const isString: Check = (v) => typeof v === 'string';
const isSequenceId: Check = (v) => isUint64Number(v) || typeof v === 'string';

/** Typed reserved keys per level: key → [check, what the value must be]. */
const REQUEST_TYPED: Readonly<Record<string, readonly [Check, string]>> = {
  sequence_id: [isSequenceId, 'an unsigned integer or a string'],
  sequence_start: [isBool, 'a boolean'],
  sequence_end: [isBool, 'a boolean'],
  priority: [isUint64Number, 'an unsigned integer'],
  timeout: [isUint64Number, 'an unsigned integer (microseconds)'],
  binary_data_output: [isBool, 'a boolean'],
};

const INPUT_TYPED: Readonly<Record<string, readonly [Check, string]>> = {
  binary_data_size: [isUint64Number, 'an unsigned integer (bytes)'],
  shared_memory_region: [isString, 'a string'],
  shared_memory_offset: [isUint64Number, 'an unsigned integer'],
  shared_memory_byte_size: [isUint64Number, 'an unsigned integer'],
};

const OUTPUT_TYPED: Readonly<Record<string, readonly [Check, string]>> = {
  binary_data: [isBool, 'a boolean'],
  // Triton's text for this one is "Unable to set", not "Unable to parse".
  classification: [isUint64Number, 'an unsigned integer (the number of top classes)'],
  shared_memory_region: [isString, 'a string'],
  shared_memory_offset: [isUint64Number, 'an unsigned integer'],
  shared_memory_byte_size: [isUint64Number, 'an unsigned integer'],
};

function validate(
  value: unknown,
  owner: string,
  typed: Readonly<Record<string, readonly [Check, string]>>,
  rejectTritonPrefix: boolean,
  limits: Pick<DecodeLimits, 'maxParameters'>,
): Parameters {
  if (!isJsonObject(value)) {
    throw invalidArg(`Unable to parse 'parameters'${owner}: expected a JSON object, got ${showJson(value)}`);
  }
  const keys = Object.keys(value);
  if (keys.length > limits.maxParameters) {
    throw limitExceeded(`number of parameters${owner}`, keys.length, 'maxParameters', limits.maxParameters);
  }
  for (const key of keys) {
    const v = value[key];
    const rule = Object.hasOwn(typed, key) ? typed[key] : undefined;
    if (rule) {
      if (!rule[0](v)) {
        const verb = key === 'classification' ? 'set' : 'parse';
        throw invalidArg(`Unable to ${verb} '${key}'${owner}: expected ${rule[1]}, got ${showJson(v)}`);
      }
      continue;
    }
    if (rejectTritonPrefix && key.startsWith(TRITON_PARAMETER_PREFIX)) throw invalidArg(TRITON_PREFIX_MESSAGE);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw invalidArg(
        `parameter '${key}'${owner} has invalid type. It should be either 'int', 'bool', or 'string'. (got ${showJson(v)})`,
      );
    }
  }
  return value as Parameters;
}

/**
 * Validates request-level `parameters`: reserved keys typed as Triton parses them
 * (`sequence_id` uint64 or string; `sequence_start`, `sequence_end`, `binary_data_output`
 * bool; `priority`, `timeout` uint64), `triton_*` keys refused, custom values
 * string/number/boolean.
 * @throws InferError INVALID_ARG naming the key.
 */
export function validateRequestParameters(value: unknown, limits: Pick<DecodeLimits, 'maxParameters'>): Parameters {
  return validate(value, '', REQUEST_TYPED, true, limits);
}

/**
 * Validates one input's `parameters`: `binary_data_size` uint64, `shared_memory_*` typed,
 * other values string/number/boolean. `triton_*` keys are not refused here: Triton only
 * checks them at request level.
 * @throws InferError INVALID_ARG naming the key and the input.
 */
export function validateInputParameters(value: unknown, inputName: string, limits: Pick<DecodeLimits, 'maxParameters'>): Parameters {
  return validate(value, ` of input '${inputName}'`, INPUT_TYPED, false, limits);
}

/**
 * Validates one requested output's `parameters`: `binary_data` bool, `classification` uint64,
 * `shared_memory_*` typed, other values string/number/boolean.
 * @throws InferError INVALID_ARG naming the key and the output.
 */
export function validateOutputParameters(value: unknown, outputName: string, limits: Pick<DecodeLimits, 'maxParameters'>): Parameters {
  return validate(value, ` of output '${outputName}'`, OUTPUT_TYPED, false, limits);
}
