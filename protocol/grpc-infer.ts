/**
 * What the gRPC frontend adds to the shared infer codec (protocol/mesh-infer-codec.ts):
 * Triton's strict typing of `InferParameter`s (COMPAT-NOTES §2.4), the refusal of shared-memory
 * tensors (not implemented), and the `ModelStreamInferResponse` envelope of `ModelStreamInfer`
 * with its `triton_final_response` parameter and in-band `error_message` (§2.5).
 *
 * Requests decode in two steps so a stream can name a failed request in its error response:
 * {@link parseGrpcInferRequest} (the protobuf message; fails only on malformed bytes) and
 * {@link grpcInferRequestFromProto} (checks, then the same conversion the mesh uses).
 */
import { invalidArg, unsupported } from './errors.ts';
import type { InferRequest, InferResponse } from './infer.ts';
import { InferParameter, ModelInferRequest, ModelStreamInferResponse } from './inference-pb.ts';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from './limits.ts';
import { inferRequestFromProto, inferResponseFromProto, inferResponseToProto, parseModelInferRequest } from './mesh-infer-codec.ts';
import { TRITON_PARAMETER_PREFIX, TRITON_PREFIX_MESSAGE } from './infer-parameters.ts';

/** `triton_*` request parameters a gRPC client may send (Triton's stream handler reads them). */
export const GRPC_TRITON_PARAMETERS: ReadonlySet<string> = new Set(['triton_enable_empty_final_response']);

/** The response parameter that marks the last response of a request on a stream (§2.5). */
export const FINAL_RESPONSE_PARAMETER = 'triton_final_response';

type Choice = 'bool' | 'int64' | 'string' | 'double' | 'uint64';

function choiceOf(p: InferParameter | undefined): Choice | undefined {
  if (p === undefined) return undefined;
  if (p.boolParam !== undefined) return 'bool';
  if (p.int64Param !== undefined) return 'int64';
  if (p.stringParam !== undefined) return 'string';
  if (p.doubleParam !== undefined) return 'double';
  if (p.uint64Param !== undefined) return 'uint64';
  return undefined;
}

/** Request-level keys with a fixed type, and Triton's wording of what it expects. */
const TYPED: Readonly<Record<string, readonly [readonly Choice[], string]>> = {
  sequence_id: [['int64', 'string'], 'int64_param or string_param'],
  sequence_start: [['bool'], 'bool_param'],
  sequence_end: [['bool'], 'bool_param'],
  priority: [['int64', 'uint64'], 'int64_param or uint64_param'],
  timeout: [['int64'], 'int64_param'],
  triton_enable_empty_final_response: [['bool'], 'bool_param'],
};

/** Custom parameters: what Triton's gRPC handler passes on to the backend (§2.4). */
const CUSTOM: readonly Choice[] = ['bool', 'int64', 'string', 'double'];

/**
 * Checks a request's parameters as Triton's gRPC frontend types them (§2.4): the reserved
 * keys by type, `triton_*` keys refused except {@link GRPC_TRITON_PARAMETERS}, custom values
 * bool/int64/string/double; per tensor, shared memory refused and `classification` an
 * int64 > 0.
 * @throws InferError INVALID_ARG (or UNSUPPORTED for shared memory) naming the key.
 */
export function checkGrpcInferParameters(msg: ModelInferRequest): void {
  for (const [key, p] of msg.parameters) {
    const choice = choiceOf(p);
    const typed = Object.hasOwn(TYPED, key) ? TYPED[key] : undefined;
    if (typed) {
      if (choice === undefined || !typed[0].includes(choice)) {
        throw invalidArg(`invalid value type for '${key}' parameter, expected ${typed[1]}.`);
      }
      if ((key === 'priority' || key === 'timeout') && choice === 'int64' && p.int64Param! < 0n) {
        throw invalidArg(`invalid value for '${key}' parameter: ${p.int64Param} is negative; it must be >= 0.`);
      }
      continue;
    }
    if (key.startsWith(TRITON_PARAMETER_PREFIX)) throw invalidArg(TRITON_PREFIX_MESSAGE);
    if (choice === undefined || !CUSTOM.includes(choice)) {
      throw invalidArg(`invalid value type for '${key}' parameter, expected int64_param, bool_param, double_param or string_param.`);
    }
  }
  const noShm = (params: Map<string, InferParameter>, who: string) => {
    for (const key of params.keys()) {
      if (key.startsWith('shared_memory_')) {
        throw unsupported(`${who} uses '${key}', but infermesh does not implement shared memory (system_shared_memory and cuda_shared_memory are not in its extensions); send the tensor in raw_input_contents or contents`);
      }
    }
  };
  for (const t of msg.inputs) noShm(t.parameters, `input '${t.name}'`);
  for (const o of msg.outputs) {
    noShm(o.parameters, `output '${o.name}'`);
    const c = o.parameters.get('classification');
    if (c !== undefined && (choiceOf(c) !== 'int64' || c.int64Param! < 1n)) {
      throw invalidArg(`invalid value for 'classification' of output '${o.name}': expected an int64_param > 0 (the number of top classes)`);
    }
  }
}

/**
 * Parses `ModelInferRequest` bytes (the ModelInfer / ModelStreamInfer request) within `limits`.
 * @throws InferError INVALID_ARG for malformed or over-limit bytes.
 */
export function parseGrpcInferRequest(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): ModelInferRequest {
  return parseModelInferRequest(bytes, limits);
}

/**
 * A parsed gRPC request → InferRequest: {@link checkGrpcInferParameters}, then the mesh's
 * conversion ({@link inferRequestFromProto}); the accepted `triton_*` keys are consumed here
 * and not passed on to the model.
 * @throws InferError saying what is wrong.
 */
export function grpcInferRequestFromProto(msg: ModelInferRequest, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): InferRequest {
  checkGrpcInferParameters(msg);
  const req = inferRequestFromProto(msg, limits);
  for (const k of GRPC_TRITON_PARAMETERS) delete req.parameters[k];
  return req;
}

/** Both steps: bytes → InferRequest (what ModelInfer does). */
export function decodeGrpcInferRequest(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): InferRequest {
  return grpcInferRequestFromProto(parseGrpcInferRequest(bytes, limits), limits);
}

/** A stream response carrying one complete answer (`triton_final_response: true`). */
export function encodeStreamInferResponse(res: InferResponse): Uint8Array {
  const inferResponse = inferResponseToProto(res);
  inferResponse.parameters.set(FINAL_RESPONSE_PARAMETER, { boolParam: true });
  return ModelStreamInferResponse.encode({ errorMessage: '', inferResponse });
}

/**
 * A stream response reporting one failed request in-band (the stream stays open), naming the
 * request by id, model and version as Triton does so the client can tell which one failed.
 */
export function encodeStreamInferError(message: string, request?: { id?: string; modelName?: string; modelVersion?: string }): Uint8Array {
  return ModelStreamInferResponse.encode({
    errorMessage: message || 'request failed without a message',
    inferResponse: {
      id: request?.id ?? '', modelName: request?.modelName ?? '', modelVersion: request?.modelVersion ?? '',
      parameters: new Map([[FINAL_RESPONSE_PARAMETER, { boolParam: true }]]), outputs: [], rawOutputContents: [],
    },
  });
}

/** One decoded `ModelStreamInferResponse`: an answer or an in-band error, and the final flag. */
export type StreamInferResult =
  | { response: InferResponse; error?: undefined; final: boolean; id: string }
  | { error: string; response?: undefined; final: boolean; id: string };

/**
 * Decodes a `ModelStreamInferResponse` (client side).
 * @throws InferError INVALID_ARG when it is malformed or over the limits.
 */
export function decodeStreamInferResponse(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): StreamInferResult {
  let msg: ModelStreamInferResponse;
  try {
    msg = ModelStreamInferResponse.decode(bytes, { limits: { inferResponse: { outputs: limits.maxOutputs, rawOutputContents: limits.maxOutputs, parameters: limits.maxParameters } } });
  } catch (e) {
    throw invalidArg(`ModelStreamInferResponse is not a valid protobuf message (${(e as Error).message})`);
  }
  const inner = msg.inferResponse;
  const final = inner?.parameters.get(FINAL_RESPONSE_PARAMETER)?.boolParam === true;
  const id = inner?.id ?? '';
  if (msg.errorMessage !== '') return { error: msg.errorMessage, final, id };
  if (inner === undefined) throw invalidArg('ModelStreamInferResponse carries neither an error_message nor an infer_response');
  const response = inferResponseFromProto(inner, limits);
  if (response.parameters) delete response.parameters[FINAL_RESPONSE_PARAMETER];
  if (response.parameters && Object.keys(response.parameters).length === 0) delete response.parameters;
  return { response, final, id };
}
