/**
 * The server side of the KServe v2 HTTP inference body codec with Triton's binary tensor data
 * extension. No I/O: the HTTP host hands over the body bytes and the
 * `Inference-Header-Content-Length` value and writes back the chunks this module returns.
 * The client side (encode requests, decode responses) lives in http-infer-client.ts and is
 * re-exported here, so `http-infer.ts` is the one import for the HTTP codec.
 *
 * Specs: kserve-v2-required_api.md "Inference Request JSON Object", "Inference Response JSON
 * Object", "Tensor Data"; triton-extension-binary_data.md; COMPAT-NOTES §1.5, §1.7, §1.8,
 * §1.10, §1.11. Error texts follow Triton's server/src/http_server.cc where Triton has one, so
 * clients and scripts matching on them keep working.
 */
import { DATATYPE_BYTE_SIZE } from './datatypes.ts';
import type { DataType } from './datatypes.ts';
import { invalidArg, unsupported } from './errors.ts';
import type { InferInput, InferRequest, InferResponse, RequestedOutput } from './infer.ts';
import { DEFAULT_DECODE_LIMITS, limitExceeded } from './limits.ts';
import type { DecodeLimits } from './limits.ts';
import { countBytesElements } from './bytes-codec.ts';
import { jsonToTensorData } from './tensor-json.ts';
import type { TensorData } from './tensor.ts';
import {
  isJsonObject, showJson, validateInputParameters, validateOutputParameters, validateRequestParameters,
} from './infer-parameters.ts';
import {
  INFERENCE_HEADER_CONTENT_LENGTH, checkHeaderLength, checkTensor, checkedElementCount, decodeBlob, finishBody, formatShape,
  nonEmpty, parseJsonHeader, readDatatype, readShape, tensorEntry,
} from './http-body.ts';
import type { EncodedHttpBody, TensorWithParameters } from './http-body.ts';

export { INFERENCE_HEADER_CONTENT_LENGTH, concatChunks, tensorBinaryByteSize } from './http-body.ts';
export type { EncodedHttpBody, TensorWithParameters } from './http-body.ts';
export { decodeHttpInferResponse, encodeHttpInferRequest } from './http-infer-client.ts';
export type { HttpInferRequestEncodeOptions } from './http-infer-client.ts';

/** The model input a raw binary request (`Inference-Header-Content-Length: 0`) feeds. */
export interface RawInputSpec {
  name: string;
  datatype: DataType;
  /**
   * The full request shape (batch dimension included, as 1, for batching models). At most one
   * dimension may be -1: it is deduced from the body size (BYTES: from the element count).
   */
  shape: readonly number[];
}

/** Options of {@link decodeHttpInferRequest}. */
export interface HttpInferDecodeOptions {
  /** Model name from the URL (used in Triton's error texts). */
  modelName: string;
  /** Model version from the URL, if any. */
  modelVersion?: string;
  /**
   * The `Inference-Header-Content-Length` value; undefined when the header is absent (then the
   * whole body is JSON, as in Triton's `GetInferenceHeaderLength`). 0 = raw binary request.
   */
  headerLength?: number;
  /** Bounds (default {@link DEFAULT_DECODE_LIMITS}); build custom ones with `resolveDecodeLimits`. */
  limits?: DecodeLimits;
  /**
   * For a raw binary request: the model's single input, resolved by the caller from the model
   * config. Leave undefined when the model does not qualify (not exactly one input, or more
   * than one variable dimension) and the decoder refuses the request.
   */
  rawInput?: RawInputSpec;
}

/** Decodes a raw binary request body (`Inference-Header-Content-Length: 0`). */
function decodeRawRequest(body: Uint8Array, opts: HttpInferDecodeOptions, limits: DecodeLimits): InferRequest {
  const model = opts.modelName;
  const spec = opts.rawInput;
  if (!spec) {
    throw invalidArg(
      `model '${model}' cannot take a raw binary request (${INFERENCE_HEADER_CONTENT_LENGTH}: 0): that needs a model with `
      + 'exactly one input and at most one variable-size dimension (BYTES: shape [1]); send a JSON inference header instead',
    );
  }
  const who = `input '${spec.name}'`;
  const variable = spec.shape.filter((d) => d === -1).length;
  if (variable > 1 || spec.shape.some((d) => d < -1 || !Number.isSafeInteger(d))) {
    throw invalidArg(`raw binary request: ${who} of model '${model}' has shape ${formatShape(spec.shape)}; at most one dimension may be -1`);
  }
  const known = spec.shape.reduce((n, d) => (d === -1 ? n : n * d), 1);
  let total: number;
  if (spec.datatype === 'BYTES') {
    total = countBytesElements(body, who);
  } else {
    const size = DATATYPE_BYTE_SIZE[spec.datatype];
    if (body.byteLength % size !== 0) {
      throw invalidArg(`raw binary request: ${body.byteLength} bytes is not a whole number of ${spec.datatype} elements for ${who} of model '${model}'`);
    }
    total = body.byteLength / size;
  }
  const shape = spec.shape.map((d) => (d === -1 ? (known === 0 ? 0 : total / known) : d));
  if (variable === 1 && known !== 0 && total % known !== 0) {
    throw invalidArg(`raw binary request: ${total} elements do not fill shape ${formatShape(spec.shape)} for ${who} of model '${model}'`);
  }
  if (shape.length > limits.maxRank) throw limitExceeded(`${who}: shape rank`, shape.length, 'maxRank', limits.maxRank);
  const count = checkedElementCount(shape, who, limits);
  const data = decodeBlob(body, spec.datatype, count, who, (expected) => invalidArg(
    `input byte size mismatch for input '${spec.name}' for model '${model}'. Expected ${expected}, got ${body.byteLength}`,
  ), limits);
  const req: InferRequest = {
    modelName: model,
    // Triton returns every output of a raw request as binary (triton-extension-binary_data.md
    // "Raw Binary Request"); saying so with the request-level parameter lets
    // binaryOutputNames() treat both kinds of request alike.
    parameters: { binary_data_output: true },
    inputs: [{ name: spec.name, datatype: spec.datatype, shape, data }],
  };
  if (opts.modelVersion !== undefined) req.modelVersion = opts.modelVersion;
  return req;
}

/**
 * Triton's content-type check (`ValidateInputContentType`): exactly one of `data`,
 * `parameters.binary_data_size`, `parameters.shared_memory_region`.
 */
function checkInputContentType(input: Record<string, unknown>, name: string | undefined): 'data' | 'binary' | 'shm' {
  const hasData = Object.hasOwn(input, 'data');
  const params = input.parameters;
  const hasBinary = isJsonObject(params) && Object.hasOwn(params, 'binary_data_size');
  const hasShm = isJsonObject(params) && Object.hasOwn(params, 'shared_memory_region');
  const n = Number(hasData) + Number(hasBinary) + Number(hasShm);
  if (n !== 1) {
    let msg = "Input must set only one of the following fields: 'data', 'binary_data_size' in 'parameters', "
      + "'shared_memory_region' in 'parameters'. But";
    if (n === 0) msg += ' no field is set';
    else msg += ` set${hasData ? " 'data'" : ''}${hasBinary ? " 'binary_data_size'" : ''}${hasShm ? " 'shared_memory_region'" : ''}`;
    if (name !== undefined) msg += ` (input '${name}')`;
    throw invalidArg(msg);
  }
  return hasData ? 'data' : hasBinary ? 'binary' : 'shm';
}

/**
 * Decodes a KServe v2 HTTP inference request body: the JSON header (the first `headerLength`
 * bytes, or the whole body without the header) followed by the binary blobs of the inputs that
 * declare `parameters.binary_data_size`, in input order (triton-extension-binary_data.md).
 * With `headerLength === 0` the whole body is the raw data of `opts.rawInput`.
 *
 * Binary data of fixed-size types becomes a typed-array view into `body` when its offset is
 * aligned (a copy otherwise); BYTES elements are views into `body`. The request therefore keeps
 * `body` alive; the caller must not reuse that memory while the request is in flight.
 *
 * Request-level parameters are kept as sent (validated); reserved keys are typed
 * (`sequence_id` number or string, `priority`/`timeout` numbers, flags booleans). A
 * `sequence_id` above 2^53 sent as a JSON number loses precision: clients should send such ids
 * as strings.
 *
 * @throws InferError INVALID_ARG with Triton's wording for protocol errors and a message naming
 *   the limit for exceeded bounds; UNSUPPORTED for shared-memory inputs/outputs.
 */
export function decodeHttpInferRequest(body: Uint8Array, opts: HttpInferDecodeOptions): InferRequest {
  const limits = opts.limits ?? DEFAULT_DECODE_LIMITS;
  const model = opts.modelName;
  if (body.byteLength > limits.maxBodyBytes) {
    throw limitExceeded('request body size in bytes', body.byteLength, 'maxBodyBytes', limits.maxBodyBytes);
  }
  const headerGiven = opts.headerLength !== undefined;
  const headerLength = opts.headerLength ?? body.byteLength;
  checkHeaderLength(headerLength, body.byteLength);
  if (headerGiven && headerLength === 0) return decodeRawRequest(body, opts, limits);

  const json = parseJsonHeader(body, headerLength, headerGiven, limits, 'request');

  const req: InferRequest = { modelName: model, parameters: {}, inputs: [] };
  if (opts.modelVersion !== undefined) req.modelVersion = opts.modelVersion;

  if (Object.hasOwn(json, 'id')) {
    if (typeof json.id !== 'string') throw invalidArg(`Unable to parse 'id': expected a string, got ${showJson(json.id)}`);
    req.id = json.id;
  }
  if (Object.hasOwn(json, 'parameters')) req.parameters = validateRequestParameters(json.parameters, limits);

  // Inputs, consuming binary blobs in order after the header.
  const inputsJson = json.inputs;
  if (!Array.isArray(inputsJson)) {
    throw invalidArg(`Unable to parse 'inputs': expected a JSON array, got ${showJson(inputsJson)}`);
  }
  if (inputsJson.length > limits.maxInputs) throw limitExceeded('number of inputs', inputsJson.length, 'maxInputs', limits.maxInputs);
  let offset = headerLength;
  const seen = new Set<string>();
  for (let i = 0; i < inputsJson.length; i++) {
    const input: unknown = inputsJson[i];
    if (!isJsonObject(input)) throw invalidArg(`Unable to parse 'inputs': entry ${i} must be a JSON object, got ${showJson(input)}`);
    const kind = checkInputContentType(input, typeof input.name === 'string' ? input.name : undefined);
    if (typeof input.name !== 'string') {
      throw invalidArg(`Unable to parse 'name': inputs[${i}] needs a string 'name', got ${showJson(input.name)}`);
    }
    const name = input.name;
    const who = `input '${name}'`;
    if (seen.has(name)) throw invalidArg(`${who} appears more than once in the request to model '${model}'`);
    seen.add(name);
    const datatype = readDatatype(input.datatype, who);
    const shape = readShape(input.shape, who, limits);
    const count = checkedElementCount(shape, who, limits);
    const parameters = Object.hasOwn(input, 'parameters') ? validateInputParameters(input.parameters, name, limits) : undefined;

    let data: TensorData;
    if (kind === 'shm') {
      throw unsupported(`${who}: 'shared_memory_region' is not supported by this server (no shared-memory extension); send the data as JSON 'data' or binary data`);
    } else if (kind === 'binary') {
      const size = parameters!.binary_data_size as number;
      if (size > 0 && !headerGiven) {
        throw invalidArg(
          "must specify valid 'Infer-Header-Content-Length' in request header and 'binary_data_size' when passing inputs in "
          + `binary data format (the header is named ${INFERENCE_HEADER_CONTENT_LENGTH})`,
        );
      }
      const available = body.byteLength - offset;
      if (size > available) {
        throw invalidArg(`unexpected size for input '${name}', expecting ${size - available} additional bytes for model '${model}'`);
      }
      const blob = body.subarray(offset, offset + size);
      offset += size;
      data = decodeBlob(blob, datatype, count, who, (expected) => invalidArg(
        `input byte size mismatch for input '${name}' for model '${model}'. Expected ${expected}, got ${size}`,
      ), limits);
    } else {
      data = jsonToTensorData(name, datatype, count, input.data, { role: 'input', limits });
    }
    const decoded: InferInput = { name, datatype, shape, data };
    if (parameters !== undefined) decoded.parameters = parameters;
    req.inputs.push(decoded);
  }
  if (offset !== body.byteLength) {
    throw invalidArg(
      `unexpected additional input data for model '${model}' (${body.byteLength - offset} bytes after the last binary input; `
      + "each binary input's 'binary_data_size' must match its data)",
    );
  }

  if (Object.hasOwn(json, 'outputs')) {
    const outputsJson = json.outputs;
    if (!Array.isArray(outputsJson)) throw invalidArg(`Unable to parse 'outputs': expected a JSON array, got ${showJson(outputsJson)}`);
    if (outputsJson.length > limits.maxOutputs) throw limitExceeded('number of outputs', outputsJson.length, 'maxOutputs', limits.maxOutputs);
    const outputs: RequestedOutput[] = [];
    const seenOut = new Set<string>();
    for (let i = 0; i < outputsJson.length; i++) {
      const o: unknown = outputsJson[i];
      if (!isJsonObject(o)) throw invalidArg(`Unable to parse 'outputs': entry ${i} must be a JSON object, got ${showJson(o)}`);
      if (typeof o.name !== 'string') throw invalidArg(`Unable to parse 'name': outputs[${i}] needs a string 'name', got ${showJson(o.name)}`);
      const name = o.name;
      if (seenOut.has(name)) throw invalidArg(`output '${name}' is requested more than once in the request to model '${model}'`);
      seenOut.add(name);
      const out: RequestedOutput = { name };
      if (Object.hasOwn(o, 'parameters')) {
        out.parameters = validateOutputParameters(o.parameters, name, limits);
        if (Object.hasOwn(out.parameters, 'shared_memory_region')) {
          throw unsupported(`output '${name}': 'shared_memory_region' is not supported by this server (no shared-memory extension)`);
        }
      }
      outputs.push(out);
    }
    req.outputs = outputs;
  }
  return req;
}

/**
 * Which outputs to send as binary data: the request-level `binary_data_output` is the default,
 * overridden per requested output by `binary_data` (triton-extension-binary_data.md). When the
 * request names no outputs, every name in `allOutputNames` gets the default. A raw binary
 * request is decoded with `binary_data_output: true`, so all its outputs are binary.
 *
 * Note: this follows the extension's text. Triton's implementation treats a *requested*
 * output without `binary_data` as JSON even when `binary_data_output` is true; Triton's own
 * clients always set `binary_data` per requested output, so they see no difference.
 */
export function binaryOutputNames(req: InferRequest, allOutputNames: readonly string[]): Set<string> {
  const byDefault = req.parameters?.binary_data_output === true;
  const names = new Set<string>();
  if (req.outputs) {
    for (const o of req.outputs) {
      const own = o.parameters?.binary_data;
      if (own === undefined ? byDefault : own === true) names.add(o.name);
    }
  } else if (byDefault) {
    for (const n of allOutputNames) names.add(n);
  }
  return names;
}

/**
 * Encodes an inference response body (kserve-v2-required_api.md "Inference Response JSON
 * Object", Triton `FinalizeResponse`): `model_name` and `model_version` always, `id` only when
 * non-empty, `parameters` only when non-empty, outputs in `resp.outputs` order. Outputs named in
 * `binaryOutputs` carry `"parameters":{"binary_data_size":N}` (merged with their own
 * parameters) and no `data`, and their blobs follow the JSON in output order; the others carry
 * flat `data`. The HTTP server writes `chunks` as they are: fixed-size blobs are views of the
 * output tensors, not copies.
 *
 * @throws InferError INVALID_ARG for FP16/BF16 or non-UTF-8 BYTES outputs requested as JSON;
 *   INTERNAL when an output's data does not match its shape.
 */
export function encodeHttpInferResponse(resp: InferResponse, opts: { binaryOutputs: ReadonlySet<string> }): EncodedHttpBody {
  let json = `{"model_name":${JSON.stringify(resp.modelName)},"model_version":${JSON.stringify(resp.modelVersion)}`;
  if (resp.id) json += `,"id":${JSON.stringify(resp.id)}`;
  if (nonEmpty(resp.parameters)) json += `,"parameters":${JSON.stringify(resp.parameters)}`;
  json += ',"outputs":[';
  const blobs: Uint8Array[] = [];
  for (let i = 0; i < resp.outputs.length; i++) {
    const t = resp.outputs[i] as TensorWithParameters;
    checkTensor(t, 'output');
    if (i > 0) json += ',';
    json += tensorEntry(t, opts.binaryOutputs.has(t.name), 'output', blobs);
  }
  json += ']}';
  return finishBody(json, blobs);
}

/** The body of every error response: `{"error":"<message>"}` (COMPAT-NOTES §1.11). */
export function encodeErrorBody(message: string): string {
  return JSON.stringify({ error: message });
}
