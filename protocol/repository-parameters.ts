/**
 * Parameters of the model repository extension's load and unload requests (COMPAT-NOTES §1.12,
 * shared/reference/triton-extension-model_repository.md), read the same way from HTTP JSON
 * and from gRPC `ModelRepositoryParameter`s, with Triton's error texts:
 * - load: `config` (a string holding a JSON ModelConfig) and `file:<path>` (the file's bytes:
 *   base64 in HTTP JSON, `bytes_param` over gRPC); file overrides need `config`;
 * - unload: `unload_dependents` (boolean).
 */
import { invalidArg } from './errors.ts';

/** One parameter value as a transport carries it (gRPC's `ModelRepositoryParameter` oneof). */
export type RepositoryParameterValue =
  | { kind: 'string'; value: string }
  | { kind: 'bytes'; value: Uint8Array }
  | { kind: 'bool'; value: boolean }
  | { kind: 'int64'; value: bigint };

/** What a load request asks for. */
export interface LoadParameters {
  /** The `config` parameter: a JSON ModelConfig replacing the model's config. */
  configJson?: string;
  /** `file:` parameters by name (`file:1/model.onnx`); non-empty or absent. */
  files?: Map<string, Uint8Array>;
}

/** What an unload request asks for. */
export interface UnloadParameters {
  unloadDependents: boolean;
}

/** The prefix of file override parameters. */
export const FILE_PARAMETER_PREFIX = 'file:';

/**
 * Reads load parameters. Triton refuses a non-string `config` and a non-bytes file; an
 * unknown name is refused here too (Triton answers it with an opaque INTERNAL error).
 */
export function readLoadParameters(params: Iterable<readonly [string, RepositoryParameterValue]>): LoadParameters {
  const out: LoadParameters = {};
  for (const [name, p] of params) {
    if (name === 'config') {
      if (p.kind !== 'string') throw invalidArg("Config parameter 'config' must have string type for its value");
      out.configJson = p.value;
    } else if (name.startsWith(FILE_PARAMETER_PREFIX)) {
      if (p.kind !== 'bytes') throw invalidArg(`File parameter '${name}' must have bytes type for its value`);
      (out.files ??= new Map()).set(name, p.value);
    } else {
      throw invalidArg(`unknown load parameter '${name}': a load accepts 'config' (JSON model configuration) and '${FILE_PARAMETER_PREFIX}<version>/<file name>' (file content)`);
    }
  }
  return out;
}

/** Reads unload parameters; anything but `unload_dependents` is ignored, as Triton does. */
export function readUnloadParameters(params: Iterable<readonly [string, RepositoryParameterValue]>): UnloadParameters {
  for (const [name, p] of params) {
    if (name !== 'unload_dependents') continue;
    if (p.kind !== 'bool') throw invalidArg(`Unable to parse 'unload_dependents': expected a boolean, got ${p.kind}`);
    return { unloadDependents: p.value };
  }
  return { unloadDependents: false };
}

/**
 * The `parameters` object of an HTTP load/unload body as typed values: strings stay strings
 * except `file:` ones, which are base64 and become bytes; booleans and integers keep their type.
 * @param decodeBase64 the host's decoder (Node passes Buffer's, much faster for big models)
 */
export function httpRepositoryParameters(
  parameters: unknown,
  decodeBase64: (s: string) => Uint8Array = decodeBase64Portable,
): [string, RepositoryParameterValue][] {
  if (parameters === undefined || parameters === null) return [];
  if (typeof parameters !== 'object' || Array.isArray(parameters)) throw invalidArg("'parameters' must be a JSON object");
  const out: [string, RepositoryParameterValue][] = [];
  for (const [name, v] of Object.entries(parameters as Record<string, unknown>)) {
    if (typeof v === 'string') {
      out.push([name, name.startsWith(FILE_PARAMETER_PREFIX) ? { kind: 'bytes', value: decodeBase64Checked(name, v, decodeBase64) } : { kind: 'string', value: v }]);
    } else if (typeof v === 'boolean') {
      out.push([name, { kind: 'bool', value: v }]);
    } else if (typeof v === 'number' && Number.isSafeInteger(v)) {
      out.push([name, { kind: 'int64', value: BigInt(v) }]);
    } else {
      throw invalidArg(`parameter '${name}' must be a string, a boolean or an integer, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
    }
  }
  return out;
}

/** gRPC's `ModelRepositoryParameter` (one of its fields set), as the generated codec decodes it. */
export interface GrpcRepositoryParameter {
  boolParam?: boolean;
  int64Param?: bigint;
  stringParam?: string;
  bytesParam?: Uint8Array;
}

/** The `parameters` map of a gRPC RepositoryModelLoad/Unload request as typed values. */
export function grpcRepositoryParameters(parameters: ReadonlyMap<string, GrpcRepositoryParameter>): [string, RepositoryParameterValue][] {
  const out: [string, RepositoryParameterValue][] = [];
  for (const [name, p] of parameters) {
    if (p.stringParam !== undefined) out.push([name, { kind: 'string', value: p.stringParam }]);
    else if (p.bytesParam !== undefined) out.push([name, { kind: 'bytes', value: p.bytesParam }]);
    else if (p.boolParam !== undefined) out.push([name, { kind: 'bool', value: p.boolParam }]);
    else if (p.int64Param !== undefined) out.push([name, { kind: 'int64', value: p.int64Param }]);
    else throw invalidArg(`parameter '${name}' has no value (set one of bool_param, int64_param, string_param, bytes_param)`);
  }
  return out;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Checks that `s` is base64 before decoding: Triton's decoder skips characters outside the
 * alphabet, which turns a mistyped parameter into a silently corrupt model file.
 */
function decodeBase64Checked(name: string, s: string, decode: (s: string) => Uint8Array): Uint8Array {
  const compact = /\s/.test(s) ? s.replace(/\s+/g, '') : s;
  if (!BASE64.test(compact) || compact.length % 4 === 1) {
    throw invalidArg(`parameter '${name}' must hold the file's content in base64 (RFC 4648 standard alphabet), but it is not valid base64`);
  }
  return decode(compact);
}

/** A decoder that works in every runtime (atob); hosts may pass a faster one. */
export function decodeBase64Portable(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
