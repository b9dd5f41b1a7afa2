/**
 * Building blocks shared by the server side (http-infer.ts) and the client side
 * (http-infer-client.ts) of the KServe v2 HTTP body codec: header-length and JSON-header
 * parsing, shape/datatype reading, blob decoding and tensor-entry encoding.
 * Specs: kserve-v2-required_api.md, triton-extension-binary_data.md, COMPAT-NOTES §1.5–§1.8.
 */
import { DATATYPES, DATATYPE_BYTE_SIZE, bytesOf, isDataType, viewTyped } from './datatypes.ts';
import type { DataType } from './datatypes.ts';
import { internal, invalidArg } from './errors.ts';
import type { InferError } from './errors.ts';
import type { Parameters } from './infer.ts';
import { limitExceeded } from './limits.ts';
import type { DecodeLimits } from './limits.ts';
import { bytesTensorByteSize, decodeBytesTensor, encodeBytesTensor } from './bytes-codec.ts';
import { tensorDataToJson } from './tensor-json.ts';
import type { TensorRole } from './tensor-json.ts';
import type { Tensor, TensorData } from './tensor.ts';
import { isJsonObject, showJson } from './infer-parameters.ts';

/** The HTTP header that gives the JSON header's byte length (binary extension). */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'Inference-Header-Content-Length';

/** A tensor that may carry `parameters` (response outputs: `binary_data_size`, …). */
export type TensorWithParameters = Tensor & { parameters?: Parameters };

/** An encoded HTTP body: write `chunks` in order; `chunks[0]` is the JSON header. */
export interface EncodedHttpBody {
  /**
   * `application/octet-stream` when any tensor travels as binary data, else
   * `application/json` (Triton `SetResponseHeader`, COMPAT-NOTES §1.8).
   */
  contentType: 'application/json' | 'application/octet-stream';
  /**
   * Byte length of the JSON header (`chunks[0]`). Send it as `Inference-Header-Content-Length`
   * when `contentType` is `application/octet-stream`; Triton omits the header otherwise.
   */
  headerLength: number;
  /** The JSON header followed by one blob per binary tensor, in tensor order. Views, not copies, where possible. */
  chunks: Uint8Array[];
}


const utf8 = new TextEncoder();
// fatal: malformed UTF-8 in the header is an error, not silently replaced text.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const VALID_DATATYPES = DATATYPES.join(', ');

/** Product of a validated shape, refusing more than `maxElements` without overflowing. */
export function checkedElementCount(shape: readonly number[], who: string, limits: DecodeLimits): number {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > limits.maxElements) {
      throw limitExceeded(`${who}: element count of shape ${formatShape(shape)}`, shape.reduce((a, b) => a * b, 1),
        'maxElements', limits.maxElements);
    }
  }
  return n;
}

/** Shape as Triton prints it: `[1,16]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Reads and validates `shape`: an array of at most `maxRank` non-negative safe integers. */
export function readShape(v: unknown, who: string, limits: DecodeLimits): number[] {
  if (!Array.isArray(v)) throw invalidArg(`Unable to parse 'shape': ${who} needs 'shape' as a JSON array, got ${showJson(v)}`);
  if (v.length > limits.maxRank) throw limitExceeded(`${who}: shape rank`, v.length, 'maxRank', limits.maxRank);
  for (let i = 0; i < v.length; i++) {
    const d = v[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw invalidArg(`Unable to parse 'shape': ${who} dimension ${i} must be a non-negative integer, got ${showJson(d)}`);
    }
  }
  return v as number[];
}

/** Reads and validates `datatype` against the closed list of protocol names. */
export function readDatatype(v: unknown, who: string): DataType {
  if (typeof v !== 'string') throw invalidArg(`Unable to parse 'datatype': ${who} needs a string 'datatype', got ${showJson(v)}`);
  if (!isDataType(v)) throw invalidArg(`invalid datatype '${v}' for ${who}; valid datatypes are ${VALID_DATATYPES}`);
  return v;
}

/** Parses the JSON header `body[0, headerLength)` into an object. */
export function parseJsonHeader(body: Uint8Array, headerLength: number, headerGiven: boolean, limits: DecodeLimits, kind: string): Record<string, unknown> {
  if (headerLength > limits.maxHeaderBytes) {
    throw limitExceeded(`${kind} JSON size in bytes`, headerLength, 'maxHeaderBytes', limits.maxHeaderBytes,
      ' (Triton: --http-max-input-size), or send large tensors as binary data');
  }
  if (headerLength === 0) throw invalidArg(`the ${kind} body is empty; expected an inference ${kind} JSON object`);
  const hint = headerGiven
    ? `; check that ${INFERENCE_HEADER_CONTENT_LENGTH} (${headerLength}) is the byte length of the JSON header`
    : `; if the body carries binary tensor data, give the JSON byte length in the ${INFERENCE_HEADER_CONTENT_LENGTH} header`;
  let text: string;
  try {
    text = strictUtf8.decode(body.subarray(0, headerLength));
  } catch {
    throw invalidArg(`failed to parse the ${kind} JSON: it is not valid UTF-8${hint}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw invalidArg(`failed to parse the ${kind} JSON: ${(e as Error).message}${hint}`);
  }
  if (!isJsonObject(json)) throw invalidArg(`the inference ${kind} must be a JSON object, got ${showJson(json)}`);
  return json;
}

/** Validates a header length against the body size (Triton `GetInferenceHeaderLength`). */
export function checkHeaderLength(headerLength: number, bodyLength: number): void {
  if (!Number.isSafeInteger(headerLength) || headerLength < 0 || headerLength > bodyLength) {
    throw invalidArg(
      `inference header size should be in range (0, ${bodyLength}), got: ${headerLength} `
      + `(${INFERENCE_HEADER_CONTENT_LENGTH} must be the byte length of the JSON header, at most the body length)`,
    );
  }
}

/** Decodes one binary blob of a fixed-size or BYTES tensor. */
export function decodeBlob(
  blob: Uint8Array, datatype: DataType, count: number, who: string, sizeMismatch: (expected: number) => InferError,
  limits: DecodeLimits,
): TensorData {
  if (datatype === 'BYTES') return decodeBytesTensor(blob, count, limits, who);
  const expected = count * DATATYPE_BYTE_SIZE[datatype];
  if (blob.byteLength !== expected) throw sizeMismatch(expected);
  // A view into the body when aligned, a copy otherwise (typed arrays need aligned offsets).
  return viewTyped(datatype, blob);
}

/** Checks that a tensor's data agrees with its shape and datatype before it is encoded. */
export function checkTensor(t: Tensor, role: TensorRole): number {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const isBytes = t.datatype === 'BYTES';
  const ok = isBytes
    ? Array.isArray(t.data)
    : !Array.isArray(t.data) && t.data.BYTES_PER_ELEMENT === DATATYPE_BYTE_SIZE[t.datatype];
  if (!ok || t.data.length !== count) {
    // Triton's text (http_server.cc `WriteDataToJsonCheck`).
    throw internal(`${role} tensor shape does not match size of ${role} for '${t.name}'`
      + ` (shape ${formatShape(t.shape)} of ${t.datatype}, data holds ${t.data.length} elements)`);
  }
  return count;
}

/** The binary form of a tensor's data: a view for fixed-size types, one serialization for BYTES. */
export function tensorBlob(t: Tensor): Uint8Array {
  return t.datatype === 'BYTES' ? encodeBytesTensor(t.data as Uint8Array[]) : bytesOf(t.data as Exclude<TensorData, Uint8Array[]>);
}

/** True when a parameters object has at least one key. */
export function nonEmpty(p: Parameters | undefined): p is Parameters {
  if (p === undefined) return false;
  for (const _ in p) return true;
  return false;
}

/**
 * The JSON text of one tensor entry. A binary tensor gets `binary_data_size` merged into its
 * parameters and its blob appended to `blobs`; a JSON tensor gets flat `data` (and loses a stale
 * `binary_data_size`).
 */
export function tensorEntry(t: TensorWithParameters, binary: boolean, role: TensorRole, blobs: Uint8Array[]): string {
  let s = `{"name":${JSON.stringify(t.name)},"datatype":"${t.datatype}","shape":[${t.shape.join(',')}]`;
  if (binary) {
    const blob = tensorBlob(t);
    blobs.push(blob);
    s += `,"parameters":${JSON.stringify({ ...t.parameters, binary_data_size: blob.byteLength })}}`;
  } else {
    if (nonEmpty(t.parameters)) {
      const { binary_data_size: _stale, ...rest } = t.parameters;
      if (nonEmpty(rest)) s += `,"parameters":${JSON.stringify(rest)}`;
    }
    s += `,"data":${tensorDataToJson(t.name, t.datatype, t.data, role)}}`;
  }
  return s;
}

/** Packs a JSON header and blobs into an {@link EncodedHttpBody} (header length in UTF-8 bytes). */
export function finishBody(json: string, blobs: Uint8Array[]): EncodedHttpBody {
  const header = utf8.encode(json);
  return {
    contentType: blobs.length > 0 ? 'application/octet-stream' : 'application/json',
    headerLength: header.byteLength,
    chunks: [header, ...blobs],
  };
}

/** Concatenates encoded chunks into one body (clients and tests; servers write the chunks as they are). */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** Serialized size of a tensor's binary data (BYTES: Σ 4 + length), e.g. for `binary_data_size`. */
export function tensorBinaryByteSize(t: Tensor): number {
  return t.datatype === 'BYTES' ? bytesTensorByteSize(t.data as Uint8Array[]) : (t.data as Exclude<TensorData, Uint8Array[]>).byteLength;
}

