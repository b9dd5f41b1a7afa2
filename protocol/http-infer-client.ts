/**
 * The client side of the KServe v2 HTTP inference body codec: what a Triton client does to
 * build a request body and read a response body. Used by tests, benchmarks and the mesh's
 * HTTP forwarding; re-exported by http-infer.ts.
 * Specs: kserve-v2-required_api.md, triton-extension-binary_data.md, COMPAT-NOTES §1.8.
 */
import { InferError, invalidArg } from './errors.ts';
import type { InferRequest, InferResponse, Parameters } from './infer.ts';
import { DEFAULT_DECODE_LIMITS } from './limits.ts';
import type { DecodeLimits } from './limits.ts';
import { jsonToTensorData } from './tensor-json.ts';
import type { TensorData } from './tensor.ts';
import { isJsonObject, showJson } from './infer-parameters.ts';
import {
  checkHeaderLength, checkTensor, checkedElementCount, decodeBlob, finishBody, formatShape, nonEmpty, parseJsonHeader,
  readDatatype, readShape, tensorEntry,
} from './http-body.ts';
import type { EncodedHttpBody, TensorWithParameters } from './http-body.ts';

/** Options of {@link encodeHttpInferRequest}. */
export interface HttpInferRequestEncodeOptions {
  /** Send every input as binary data (FP16/BF16 inputs are always binary: JSON cannot carry them). */
  binaryInputs: boolean;
  /**
   * Ask for binary (true) or JSON (false) outputs: sets `binary_data` on each requested output,
   * or `binary_data_output` when the request names no outputs. Undefined leaves the request's
   * parameters as they are.
   */
  binaryOutputs?: boolean;
}

/**
 * Encodes an inference request body as a Triton client would (the client side of
 * `decodeHttpInferRequest` in http-infer.ts; used by tests, benchmarks and the mesh's HTTP forwarding).
 * A stale `binary_data_size` in an input's parameters is replaced by the real size, or
 * dropped for JSON inputs.
 */
export function encodeHttpInferRequest(req: InferRequest, opts: HttpInferRequestEncodeOptions): EncodedHttpBody {
  const parameters: Parameters = { ...req.parameters };
  let outputs = req.outputs;
  if (opts.binaryOutputs !== undefined) {
    if (outputs) outputs = outputs.map((o) => ({ name: o.name, parameters: { ...o.parameters, binary_data: opts.binaryOutputs! } }));
    else parameters.binary_data_output = opts.binaryOutputs;
  }
  let json = '{';
  if (req.id !== undefined) json += `"id":${JSON.stringify(req.id)},`;
  if (nonEmpty(parameters)) json += `"parameters":${JSON.stringify(parameters)},`;
  json += '"inputs":[';
  const blobs: Uint8Array[] = [];
  for (let i = 0; i < req.inputs.length; i++) {
    const t = req.inputs[i];
    checkTensor(t, 'input');
    if (i > 0) json += ',';
    const binary = opts.binaryInputs || t.datatype === 'FP16' || t.datatype === 'BF16';
    json += tensorEntry(t, binary, 'input', blobs);
  }
  json += ']';
  if (outputs) {
    json += ',"outputs":[';
    json += outputs.map((o) => `{"name":${JSON.stringify(o.name)}${nonEmpty(o.parameters) ? `,"parameters":${JSON.stringify(o.parameters)}` : ''}}`).join(',');
    json += ']';
  }
  json += '}';
  return finishBody(json, blobs);
}

/**
 * Decodes an inference response body (the client side of {@link encodeHttpInferResponse}).
 * `headerLength` is the response's `Inference-Header-Content-Length`, undefined when absent.
 * JSON `null` in FP32/FP64 data reads as NaN (our encoder's spelling of non-finite values);
 * INT64/UINT64 JSON numbers beyond 2^53 have lost precision (request binary outputs for exact
 * values). Output `parameters` (e.g. `binary_data_size`) are kept on each output, typed as
 * {@link TensorWithParameters}.
 *
 * @throws InferError UNKNOWN carrying the server's message for an `{"error": ...}` body;
 *   INVALID_ARG for a malformed body.
 */
export function decodeHttpInferResponse(body: Uint8Array, headerLength?: number, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): InferResponse {
  const headerGiven = headerLength !== undefined;
  const hl = headerLength ?? body.byteLength;
  checkHeaderLength(hl, body.byteLength);
  const json = parseJsonHeader(body, hl, headerGiven, limits, 'response');
  if (typeof json.error === 'string' && !Object.hasOwn(json, 'outputs')) throw new InferError('UNKNOWN', json.error);
  if (typeof json.model_name !== 'string') throw invalidArg(`Unable to parse 'model_name': expected a string, got ${showJson(json.model_name)}`);
  const resp: InferResponse = {
    modelName: json.model_name,
    modelVersion: typeof json.model_version === 'string' ? json.model_version : '',
    outputs: [],
  };
  if (typeof json.id === 'string') resp.id = json.id;
  if (Object.hasOwn(json, 'parameters')) {
    if (!isJsonObject(json.parameters)) throw invalidArg(`Unable to parse 'parameters': expected a JSON object, got ${showJson(json.parameters)}`);
    resp.parameters = json.parameters as Parameters;
  }
  if (!Array.isArray(json.outputs)) throw invalidArg(`Unable to parse 'outputs': expected a JSON array, got ${showJson(json.outputs)}`);
  let offset = hl;
  for (let i = 0; i < json.outputs.length; i++) {
    const o: unknown = json.outputs[i];
    if (!isJsonObject(o) || typeof o.name !== 'string') throw invalidArg(`Unable to parse 'outputs': entry ${i} needs a string 'name'`);
    const who = `output '${o.name}'`;
    const datatype = readDatatype(o.datatype, who);
    const shape = readShape(o.shape, who, limits);
    const count = checkedElementCount(shape, who, limits);
    const params = Object.hasOwn(o, 'parameters') ? o.parameters : undefined;
    if (params !== undefined && !isJsonObject(params)) throw invalidArg(`Unable to parse 'parameters' of ${who}: expected a JSON object`);
    let data: TensorData;
    const size = params?.binary_data_size;
    if (size !== undefined) {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalidArg(`Unable to parse 'binary_data_size' of ${who}: got ${showJson(size)}`);
      if (size > body.byteLength - offset) {
        throw invalidArg(`unexpected size for ${who}, expecting ${size - (body.byteLength - offset)} additional bytes`);
      }
      const blob = body.subarray(offset, offset + size);
      offset += size;
      data = decodeBlob(blob, datatype, count, who, (expected) => invalidArg(
        `${who}: binary_data_size ${size} does not match shape ${formatShape(shape)} of ${datatype} (expected ${expected} bytes)`,
      ), limits);
    } else {
      data = jsonToTensorData(o.name, datatype, count, o.data, { role: 'output', limits, nullAsNaN: true });
    }
    const out: TensorWithParameters = { name: o.name, datatype, shape, data };
    if (params !== undefined) out.parameters = params as Parameters;
    resp.outputs.push(out);
  }
  if (offset !== body.byteLength) throw invalidArg(`unexpected additional output data: ${body.byteLength - offset} bytes after the last binary output`);
  return resp;
}
