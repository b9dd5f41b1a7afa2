/**
 * Typed inference requests/responses ⇄ the gRPC `inference.ModelInferRequest/Response`
 * messages (COMPAT-NOTES §2.2–2.3), and their mesh envelopes (`MeshInferRequest`,
 * `MeshInferResponse` in mesh.proto). One codec serves the mesh's infer stream protocol and the
 * gRPC frontend (ARCHITECTURE-GUIDE §4).
 *
 * Tensor data always travels as raw contents on encode: `raw_input_contents` one entry per
 * input in `inputs` order, `raw_output_contents` index-aligned with `outputs` (what Triton
 * sends and what third-party clients read); row-major little-endian, BYTES elements 4-byte
 * length-prefixed (COMPAT-NOTES §1.7). Decoding also accepts typed `contents` per input, as
 * Triton's gRPC frontend does, but never both kinds in one request.
 *
 * Every decoder enforces {@link DecodeLimits}: the message size (`maxBodyBytes`) before
 * parsing, entry counts while parsing (protons limits, so a hostile message cannot make the
 * decoder allocate unbounded arrays), and rank, element counts and data sizes afterwards.
 * Decoded raw tensors are views into the message bytes where alignment allows (no copy).
 */
import { DATATYPE_BYTE_SIZE, bytesOf, isDataType, viewTyped } from './datatypes.ts';
import type { DataType, TypedTensorArray } from './datatypes.ts';
import { ERROR_CODES, InferError, invalidArg } from './errors.ts';
import type { ErrorCode, FailureReason, WireError } from './errors.ts';
import type { InferInput, InferRequest, InferResponse, Parameters, ParamValue, RequestedOutput } from './infer.ts';
import { DEFAULT_DECODE_LIMITS, limitExceeded } from './limits.ts';
import type { DecodeLimits } from './limits.ts';
import { decodeBytesTensor, encodeBytesTensor } from './bytes-codec.ts';
import { checkedElementCount, formatShape } from './http-body.ts';
import type { Tensor, TensorData } from './tensor.ts';
import { InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse } from './inference-pb.ts';
import { MeshInferRequest, MeshInferResponse } from './mesh-pb.ts';

/** A request as it travels on an infer stream: the request plus its deadline and trace id. */
export interface MeshInferRequestEnvelope {
  request: InferRequest;
  /** Absolute deadline, unix milliseconds; undefined = none. */
  deadlineUnixMs?: number;
  /** Mesh-level id for logs across hops (the user's id is `request.id`). */
  traceId?: string;
}

/** Input parameters that only frame HTTP bodies; meaningless (and misleading) once data is raw. */
const HTTP_FRAMING_PARAMETERS = new Set(['binary_data_size']);

const FAILURE_REASONS: readonly FailureReason[] = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'];

// ---- parameters -------------------------------------------------------------------------------

/**
 * A parameter value → `InferParameter`. Integers (safe ones) go as `int64_param`, other
 * numbers as `double_param`, as Triton's HTTP→gRPC mapping types JSON numbers.
 */
export function paramToProto(v: ParamValue): InferParameter {
  if (typeof v === 'boolean') return { boolParam: v };
  if (typeof v === 'string') return { stringParam: v };
  // A large sequence_id (see parametersFromProto): its uint64 bit pattern as int64, as Triton's C++ client sends it.
  if (typeof v === 'bigint') return { int64Param: BigInt.asIntN(64, v) };
  return Number.isSafeInteger(v) ? { int64Param: BigInt(v) } : { doubleParam: v };
}

/** Parameters → the protobuf map (undefined → empty map). */
export function parametersToProto(p: Parameters | undefined, skip?: ReadonlySet<string>): Map<string, InferParameter> {
  const m = new Map<string, InferParameter>();
  if (p) for (const [k, v] of Object.entries(p)) if (!skip?.has(k)) m.set(k, paramToProto(v));
  return m;
}

/**
 * A 64-bit integer as a ParamValue: a number when exact, else its decimal string (infer.ts) —
 * except `sequence_id`, which stays numeric as its uint64 value (a bigint): a decimal string
 * would be a string id, a different sequence, and refused by a model with a UINT64 CORRID.
 */
function int64Value(v: bigint, sequenceId: boolean): ParamValue {
  if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return sequenceId ? BigInt.asUintN(64, v) : v.toString();
}

/**
 * The protobuf parameter map → Parameters.
 * @param owner names the owner in errors, e.g. ` of input 'x'`; empty for a request's own
 *   parameters (only there is `sequence_id` kept numeric, see int64Value).
 * @throws InferError INVALID_ARG for a parameter with no value set.
 */
export function parametersFromProto(m: Map<string, InferParameter>, owner = ''): Parameters {
  // A null-prototype object: a peer-chosen key such as "__proto__" stays a plain key.
  const out: Parameters = Object.create(null) as Parameters;
  for (const [k, p] of m) {
    if (p === undefined) throw invalidArg(`parameter '${k}'${owner} has no value; set one of bool, int64, string, double or uint64`);
    if (p.boolParam !== undefined) out[k] = p.boolParam;
    else if (p.int64Param !== undefined) out[k] = int64Value(p.int64Param, k === 'sequence_id' && owner === '');
    else if (p.stringParam !== undefined) out[k] = p.stringParam;
    else if (p.doubleParam !== undefined) out[k] = p.doubleParam;
    else if (p.uint64Param !== undefined) out[k] = int64Value(p.uint64Param, k === 'sequence_id' && owner === '');
    else throw invalidArg(`parameter '${k}'${owner} has no value; set one of bool, int64, string, double or uint64`);
  }
  return out;
}

// ---- tensors ----------------------------------------------------------------------------------

/** The raw (binary) form of tensor data: a view for typed arrays, length-prefixed for BYTES. */
export function tensorRawBytes(t: Tensor): Uint8Array<ArrayBuffer> {
  const raw = t.datatype === 'BYTES' ? encodeBytesTensor(t.data as Uint8Array[]) : bytesOf(t.data as TypedTensorArray);
  return raw as Uint8Array<ArrayBuffer>;
}

/** A shape as protobuf int64s (bigint: protons mis-encodes negative JS numbers, see inference.proto). */
function shapeToProto(shape: readonly number[], who: string): bigint[] {
  return shape.map((d, i) => {
    if (!Number.isSafeInteger(d)) throw invalidArg(`${who}: shape dimension ${i} must be an integer, got ${d}`);
    return BigInt(d);
  });
}

/** A decoded int64 shape as numbers; values outside the safe range become non-integers that checkShape refuses. */
function shapeFromProto(shape: readonly bigint[]): number[] {
  return shape.map(Number);
}

/** Checks a decoded shape: at most `maxRank` dims, each a non-negative safe integer, and the element bound. */
function checkShape(shape: number[], who: string, limits: DecodeLimits): number {
  if (shape.length > limits.maxRank) throw limitExceeded(`${who}: shape rank`, shape.length, 'maxRank', limits.maxRank);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isSafeInteger(d) || d < 0) {
      throw invalidArg(`${who}: shape ${formatShape(shape)} dimension ${i} must be a non-negative integer, got ${d}`);
    }
  }
  return checkedElementCount(shape, who, limits);
}

function checkDatatype(dt: string, who: string): DataType {
  if (!isDataType(dt)) {
    throw invalidArg(`${who}: unknown datatype '${dt}'; use one of the KServe v2 names (BOOL, INT32, FP32, BYTES, …)`);
  }
  return dt;
}

/** Raw bytes → tensor data, checking the size against the shape. */
function fromRaw(raw: Uint8Array, dt: DataType, count: number, shape: number[], who: string, limits: DecodeLimits): TensorData {
  if (dt === 'BYTES') return decodeBytesTensor(raw, count, limits, who);
  const need = count * DATATYPE_BYTE_SIZE[dt];
  if (raw.byteLength !== need) {
    throw invalidArg(
      `${who}: raw content has ${raw.byteLength} bytes but shape ${formatShape(shape)} of ${dt} needs ${need} `
      + `(${count} elements × ${DATATYPE_BYTE_SIZE[dt]} bytes); send exactly one raw entry per tensor, row-major, unpadded`,
    );
  }
  return viewTyped(dt, raw);
}

/** Integer range per typed-contents datatype, so INT8 300 is refused instead of wrapping. */
const INT_RANGE: Partial<Record<DataType, readonly [number, number]>> = {
  INT8: [-128, 127], INT16: [-32768, 32767], UINT8: [0, 255], UINT16: [0, 65535],
};

/** Typed `contents` → tensor data (Triton's gRPC typed form; FP16/BF16 have none). */
function fromContents(c: InferTensorContents, dt: DataType, count: number, who: string, limits: DecodeLimits): TensorData {
  const pick = (): { values: ArrayLike<unknown>; field: string } => {
    switch (dt) {
      case 'BOOL': return { values: c.boolContents, field: 'bool_contents' };
      case 'INT8': case 'INT16': case 'INT32': return { values: c.intContents, field: 'int_contents' };
      case 'INT64': return { values: c.int64Contents, field: 'int64_contents' };
      case 'UINT8': case 'UINT16': case 'UINT32': return { values: c.uintContents, field: 'uint_contents' };
      case 'UINT64': return { values: c.uint64Contents, field: 'uint64_contents' };
      case 'FP32': return { values: c.fp32Contents, field: 'fp32_contents' };
      case 'FP64': return { values: c.fp64Contents, field: 'fp64_contents' };
      case 'BYTES': return { values: c.bytesContents, field: 'bytes_contents' };
      default: throw invalidArg(`${who}: ${dt} has no typed contents field; send it in raw_input_contents`);
    }
  };
  const { values, field } = pick();
  if (values.length !== count) {
    throw invalidArg(`${who}: ${field} holds ${values.length} elements but the shape needs ${count}`);
  }
  const range = INT_RANGE[dt];
  if (range) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (v < range[0] || v > range[1]) throw invalidArg(`${who}: ${field}[${i}] = ${v} is out of range for ${dt}`);
    }
  }
  switch (dt) {
    case 'BOOL': return Uint8Array.from(c.boolContents, (b) => (b ? 1 : 0));
    case 'INT8': return Int8Array.from(c.intContents);
    case 'INT16': return Int16Array.from(c.intContents);
    case 'INT32': return Int32Array.from(c.intContents);
    case 'INT64': return BigInt64Array.from(c.int64Contents);
    case 'UINT8': return Uint8Array.from(c.uintContents);
    case 'UINT16': return Uint16Array.from(c.uintContents);
    case 'UINT32': return Uint32Array.from(c.uintContents);
    case 'UINT64': return BigUint64Array.from(c.uint64Contents);
    case 'FP32': return Float32Array.from(c.fp32Contents);
    case 'FP64': return Float64Array.from(c.fp64Contents);
    default: {
      for (let i = 0; i < c.bytesContents.length; i++) {
        const n = c.bytesContents[i].byteLength;
        if (n > limits.maxBytesElementBytes) throw limitExceeded(`${who}: BYTES element ${i} length`, n, 'maxBytesElementBytes', limits.maxBytesElementBytes);
      }
      return c.bytesContents;
    }
  }
}

// ---- protons decode limits --------------------------------------------------------------------

const CONTENT_FIELDS = [
  'boolContents', 'intContents', 'int64Contents', 'uintContents', 'uint64Contents', 'fp32Contents', 'fp64Contents', 'bytesContents',
] as const;

/** Entry-count limits protons checks while parsing (before the arrays can grow). */
function protonsLimits(limits: DecodeLimits, side: 'request' | 'response') {
  const contents = Object.fromEntries(CONTENT_FIELDS.map((f) => [f, limits.maxElements]));
  const tensor = { shape: limits.maxRank, parameters: limits.maxParameters, contents };
  return side === 'request'
    ? {
      parameters: limits.maxParameters, inputs: limits.maxInputs, outputs: limits.maxOutputs, rawInputContents: limits.maxInputs,
      inputs$: tensor, outputs$: { parameters: limits.maxParameters },
    }
    : { parameters: limits.maxParameters, outputs: limits.maxOutputs, rawOutputContents: limits.maxOutputs, outputs$: tensor };
}

/** Which decode limit bounds a repeated/map protobuf field (for protons' limit errors). */
const FIELD_LIMIT: Record<string, keyof DecodeLimits> = {
  inputs: 'maxInputs', rawInputContents: 'maxInputs', outputs: 'maxOutputs', rawOutputContents: 'maxOutputs',
  shape: 'maxRank', parameters: 'maxParameters',
  ...Object.fromEntries(CONTENT_FIELDS.map((f) => [f, 'maxElements'])),
};

/** Runs a protons decode, turning its errors (limits, truncation) into INVALID_ARG. */
function protobufDecode<T>(what: string, limits: DecodeLimits, bytes: Uint8Array, decode: () => T): T {
  if (bytes.byteLength > limits.maxBodyBytes) {
    throw limitExceeded(`${what} size in bytes`, bytes.byteLength, 'maxBodyBytes', limits.maxBodyBytes);
  }
  try {
    return decode();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const field = msg.match(/field "(\w+)" had too many elements/)?.[1];
    const limit = field === undefined ? undefined : FIELD_LIMIT[field];
    if (limit !== undefined) {
      throw invalidArg(
        `${what}: field '${field}' has more than ${limits[limit]} entries, over the decode limit '${limit}'; `
        + `raise '${limit}' in the server's decode limits`,
      );
    }
    throw invalidArg(`${what} is not a valid protobuf message (${msg}); check that the sender speaks this protocol version`);
  }
}

// ---- requests ---------------------------------------------------------------------------------

/** InferRequest → `ModelInferRequest` with one raw_input_contents entry per input, in order. */
export function inferRequestToProto(req: InferRequest): ModelInferRequest {
  const inputs: ModelInferRequest.InferInputTensor[] = req.inputs.map((i) => ({
    name: i.name, datatype: i.datatype, shape: shapeToProto(i.shape, `input '${i.name}'`),
    parameters: parametersToProto(i.parameters, HTTP_FRAMING_PARAMETERS),
  }));
  const outputs: ModelInferRequest.InferRequestedOutputTensor[] = (req.outputs ?? []).map((o) => ({
    name: o.name, parameters: parametersToProto(o.parameters),
  }));
  return {
    modelName: req.modelName, modelVersion: req.modelVersion ?? '', id: req.id ?? '',
    parameters: parametersToProto(req.parameters), inputs, outputs, rawInputContents: req.inputs.map(tensorRawBytes),
  };
}

/**
 * A parsed `ModelInferRequest` → InferRequest, with Triton's raw-contents rules (COMPAT-NOTES
 * §2.3): an input with typed `contents` uses them, any other input takes the next raw entry;
 * mixing typed contents with raw entries, missing or surplus raw entries are INVALID_ARG.
 * No `outputs` means "all outputs" (undefined), as over HTTP.
 * @throws InferError INVALID_ARG saying what is wrong.
 */
export function inferRequestFromProto(msg: ModelInferRequest, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): InferRequest {
  const model = msg.modelName;
  if (model === '') throw invalidArg('ModelInferRequest has an empty model_name; name the model to run');
  if (msg.inputs.length > limits.maxInputs) throw limitExceeded('number of inputs', msg.inputs.length, 'maxInputs', limits.maxInputs);
  if (msg.outputs.length > limits.maxOutputs) throw limitExceeded('number of outputs', msg.outputs.length, 'maxOutputs', limits.maxOutputs);
  const raw = msg.rawInputContents;
  let next = 0;
  const inputs: InferInput[] = msg.inputs.map((t) => {
    const who = `input '${t.name}'`;
    if (t.name === '') throw invalidArg(`an input of the request for model '${model}' has an empty name`);
    const datatype = checkDatatype(t.datatype, who);
    const shape = shapeFromProto(t.shape);
    const count = checkShape(shape, who, limits);
    let data: TensorData;
    if (t.contents !== undefined) {
      if (raw.length > 0) {
        throw invalidArg(`contents field must not be specified when using raw_input_contents for '${t.name}' for model '${model}'`);
      }
      data = fromContents(t.contents, datatype, count, who, limits);
    } else {
      const bytes = raw[next++];
      if (bytes === undefined) throw invalidArg(`unable to find data for input tensor '${t.name}' for model '${model}'`);
      data = fromRaw(bytes, datatype, count, shape, who, limits);
    }
    const input: InferInput = { name: t.name, datatype, shape, data };
    if (t.parameters.size > 0) input.parameters = parametersFromProto(t.parameters, ` of ${who}`);
    return input;
  });
  if (next < raw.length) {
    throw invalidArg(
      `raw_input_contents has ${raw.length} entries but the request's inputs use ${next}; send exactly one raw entry per input, in input order`,
    );
  }
  const req: InferRequest = { modelName: model, parameters: parametersFromProto(msg.parameters), inputs };
  if (msg.modelVersion !== '') req.modelVersion = msg.modelVersion;
  if (msg.id !== '') req.id = msg.id;
  if (msg.outputs.length > 0) {
    req.outputs = msg.outputs.map((o): RequestedOutput => {
      if (o.name === '') throw invalidArg(`a requested output of the request for model '${model}' has an empty name`);
      const out: RequestedOutput = { name: o.name };
      if (o.parameters.size > 0) out.parameters = parametersFromProto(o.parameters, ` of output '${o.name}'`);
      return out;
    });
  }
  return req;
}

/** Serialises an InferRequest as a `ModelInferRequest` (the gRPC ModelInfer body). */
export function encodeModelInferRequest(req: InferRequest): Uint8Array {
  return ModelInferRequest.encode(inferRequestToProto(req));
}

/**
 * Parses `ModelInferRequest` bytes into the protobuf message within `limits` (size first,
 * entry counts while parsing) without converting it: the gRPC frontend checks the typed
 * parameters (protocol/grpc-infer.ts) before {@link inferRequestFromProto}.
 * @throws InferError INVALID_ARG for malformed or over-limit input.
 */
export function parseModelInferRequest(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): ModelInferRequest {
  return protobufDecode('ModelInferRequest', limits, bytes,
    () => ModelInferRequest.decode(bytes, { limits: protonsLimits(limits, 'request') }));
}

/**
 * Parses `ModelInferRequest` bytes within `limits`.
 * @throws InferError INVALID_ARG for malformed or over-limit input.
 */
export function decodeModelInferRequest(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): InferRequest {
  return inferRequestFromProto(parseModelInferRequest(bytes, limits), limits);
}

// ---- responses --------------------------------------------------------------------------------

/** InferResponse → `ModelInferResponse`, always with raw_output_contents index-aligned with outputs. */
export function inferResponseToProto(res: InferResponse): ModelInferResponse {
  return {
    modelName: res.modelName, modelVersion: res.modelVersion, id: res.id ?? '',
    parameters: parametersToProto(res.parameters),
    outputs: res.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: shapeToProto(o.shape, `output '${o.name}'`), parameters: new Map() })),
    rawOutputContents: res.outputs.map(tensorRawBytes),
  };
}

/**
 * A parsed `ModelInferResponse` → InferResponse. Reads `raw_output_contents[i]` for output i
 * and falls back to typed `contents` (as Triton's Python client does).
 * @throws InferError INVALID_ARG saying what is wrong.
 */
export function inferResponseFromProto(msg: ModelInferResponse, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): InferResponse {
  if (msg.outputs.length > limits.maxOutputs) throw limitExceeded('number of outputs', msg.outputs.length, 'maxOutputs', limits.maxOutputs);
  const raw = msg.rawOutputContents;
  if (raw.length > 0 && raw.length !== msg.outputs.length) {
    throw invalidArg(`ModelInferResponse has ${msg.outputs.length} outputs but ${raw.length} raw_output_contents; they must be index-aligned`);
  }
  const outputs: Tensor[] = msg.outputs.map((t, i) => {
    const who = `output '${t.name}'`;
    const datatype = checkDatatype(t.datatype, who);
    const shape = shapeFromProto(t.shape);
    const count = checkShape(shape, who, limits);
    let data: TensorData;
    if (raw.length > 0) data = fromRaw(raw[i], datatype, count, shape, who, limits);
    else if (t.contents !== undefined) data = fromContents(t.contents, datatype, count, who, limits);
    else throw invalidArg(`${who} of model '${msg.modelName}' has neither raw_output_contents nor contents`);
    return { name: t.name, datatype, shape, data };
  });
  const res: InferResponse = { modelName: msg.modelName, modelVersion: msg.modelVersion, outputs };
  if (msg.id !== '') res.id = msg.id;
  if (msg.parameters.size > 0) res.parameters = parametersFromProto(msg.parameters, ' of the response');
  return res;
}

/** Serialises an InferResponse as a `ModelInferResponse`. */
export function encodeModelInferResponse(res: InferResponse): Uint8Array {
  return ModelInferResponse.encode(inferResponseToProto(res));
}

/**
 * Parses `ModelInferResponse` bytes within `limits`.
 * @throws InferError INVALID_ARG for malformed or over-limit input.
 */
export function decodeModelInferResponse(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): InferResponse {
  const msg = protobufDecode('ModelInferResponse', limits, bytes,
    () => ModelInferResponse.decode(bytes, { limits: protonsLimits(limits, 'response') }));
  return inferResponseFromProto(msg, limits);
}

// ---- mesh envelopes ---------------------------------------------------------------------------

/** Serialises a request for an infer stream (`MeshInferRequest`). */
export function encodeMeshInferRequest(env: MeshInferRequestEnvelope): Uint8Array {
  return MeshInferRequest.encode({
    request: inferRequestToProto(env.request), deadlineUnixMs: env.deadlineUnixMs ?? 0, traceId: env.traceId ?? '',
  });
}

/**
 * Parses a `MeshInferRequest` frame within `limits`.
 * @throws InferError INVALID_ARG for malformed or over-limit input.
 */
export function decodeMeshInferRequest(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): MeshInferRequestEnvelope {
  const msg = protobufDecode('MeshInferRequest', limits, bytes,
    () => MeshInferRequest.decode(bytes, { limits: { request: protonsLimits(limits, 'request') } }));
  if (msg.request === undefined) throw invalidArg('MeshInferRequest carries no request; the sender must set field 1');
  const env: MeshInferRequestEnvelope = { request: inferRequestFromProto(msg.request, limits) };
  if (msg.deadlineUnixMs > 0) env.deadlineUnixMs = msg.deadlineUnixMs;
  if (msg.traceId !== '') env.traceId = msg.traceId;
  return env;
}

/** Serialises the answer to one mesh request: a response, or an error (any thrown value or WireError). */
export function encodeMeshInferResponse(result: { response: InferResponse } | { error: WireError }): Uint8Array {
  if ('response' in result) return MeshInferResponse.encode({ response: inferResponseToProto(result.response) });
  const { code, message, reason } = result.error;
  return MeshInferResponse.encode({ error: { code, message, reason } });
}

/** A MeshError from a peer → InferError; unknown code/reason names read as UNKNOWN/OTHER. */
export function meshErrorToInferError(e: { code: string; message: string; reason: string }): InferError {
  const code = (ERROR_CODES as readonly string[]).includes(e.code) ? (e.code as ErrorCode) : 'UNKNOWN';
  const reason = (FAILURE_REASONS as readonly string[]).includes(e.reason) ? (e.reason as FailureReason) : 'OTHER';
  return new InferError(code, e.message || `peer reported ${e.code || 'an error'} without a message`, reason);
}

/** What a peer answered to one mesh request: a response, or its error as an InferError. */
export type MeshInferResult = { response: InferResponse; error?: undefined } | { error: InferError; response?: undefined };

/**
 * Parses a `MeshInferResponse` frame within `limits`. A peer's error comes back as a value
 * (with the peer's code/message/reason), so callers can tell it from a malformed frame.
 * @throws InferError INVALID_ARG when the frame is malformed or over the limits.
 */
export function decodeMeshInferResult(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): MeshInferResult {
  const msg = protobufDecode('MeshInferResponse', limits, bytes,
    () => MeshInferResponse.decode(bytes, { limits: { response: protonsLimits(limits, 'response') } }));
  if (msg.error !== undefined) return { error: meshErrorToInferError(msg.error) };
  if (msg.response === undefined) throw invalidArg('MeshInferResponse carries neither a response nor an error');
  return { response: inferResponseFromProto(msg.response, limits) };
}

/**
 * Parses a `MeshInferResponse` frame within `limits`.
 * @returns the response when the peer answered one.
 * @throws InferError with the peer's code/message/reason when it answered an error, or
 *   INVALID_ARG when the frame is malformed.
 */
export function decodeMeshInferResponse(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): InferResponse {
  const r = decodeMeshInferResult(bytes, limits);
  if (r.error !== undefined) throw r.error;
  return r.response;
}
