/**
 * The key of the response cache: every byte of a request that can change its answer, plus a
 * 32-bit hash of those bytes to find the bucket (COMPAT-NOTES §3.8).
 *
 * Triton hashes model name, version, and each input's name and bytes into one 64-bit value
 * and trusts it (`core/src/cache_manager.cc` `TritonCache::Hash`): a collision returns another
 * request's answer, and two requests that differ only in shape, datatype, requested outputs
 * or `classification` share an entry. infermesh keys on all of those too and keeps the key
 * bytes, so a hit is confirmed by a full comparison: a collision only costs a bucket walk.
 *
 * Why not SHA-256: core cannot import node:crypto, and WebCrypto's `crypto.subtle.digest`
 * is asynchronous (a microtask hop per request and a copy into the digest). A fast word-wise
 * hash plus the full comparison is synchronous, cheaper, and exact.
 */
import type { InferRequest, Parameters, ParamValue } from '../protocol/infer.ts';
import { bytesOf, type TypedTensorArray } from '../protocol/datatypes.ts';
import { BYTES_LENGTH_PREFIX } from '../protocol/bytes-codec.ts';

/** A request's cache identity: its key bytes (4-byte aligned) and their hash. */
export interface CacheKey {
  readonly bytes: Uint8Array;
  readonly hash: number;
}

/**
 * Request-level parameters that never change the answer: scheduling (`priority`, `timeout`),
 * transport encoding (`binary_data_output`) and forwarded HTTP `headers`. Every other
 * parameter is part of the key, because a backend may read it.
 */
const ANSWER_NEUTRAL_REQUEST_PARAMETERS: ReadonlySet<string> = new Set(['priority', 'timeout', 'binary_data_output', 'headers']);

/** Output parameters that only choose the encoding (`binary_data`); `classification` changes the answer. */
const ANSWER_NEUTRAL_OUTPUT_PARAMETERS: ReadonlySet<string> = new Set(['binary_data']);

const encoder = new TextEncoder();

/** Parameters that matter for the answer, sorted by key so their order in the request does not. */
function keyedParameters(p: Parameters | undefined, neutral: ReadonlySet<string>): [string, ParamValue][] {
  if (p === undefined) return [];
  const out: [string, ParamValue][] = [];
  for (const k of Object.keys(p)) if (!neutral.has(k)) out.push([k, p[k]]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Serialized size of an input's contents: typed bytes, or BYTES elements with their length prefixes. */
function dataByteLength(data: TypedTensorArray | Uint8Array[]): number {
  if (!Array.isArray(data)) return data.byteLength;
  let n = data.length * BYTES_LENGTH_PREFIX;
  for (const el of data) n += el.byteLength;
  return n;
}

/**
 * Builds the key of `req` as served by one loaded model version. `scope` names that version
 * uniquely (model, version and which load of it), so a reload never answers from the old
 * model's entries.
 *
 * Layout: 4-byte header length, UTF-8 JSON header (scope, answer-relevant request and output
 * parameters, requested outputs in order, each input's name, datatype, shape and byte size,
 * inputs sorted by name), then each input's bytes in the same order, zero-padded to 4 bytes.
 * The header fixes every length, so two different requests cannot produce the same bytes.
 */
export function responseCacheKey(scope: string, req: InferRequest): CacheKey {
  const inputs = req.inputs.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const sizes = inputs.map((t) => dataByteLength(t.data));
  const header = encoder.encode(JSON.stringify([
    scope,
    keyedParameters(req.parameters, ANSWER_NEUTRAL_REQUEST_PARAMETERS),
    req.outputs?.map((o) => [o.name, keyedParameters(o.parameters, ANSWER_NEUTRAL_OUTPUT_PARAMETERS)]) ?? null,
    inputs.map((t, i) => [t.name, t.datatype, t.shape, sizes[i]]),
  ]));
  let total = 4 + header.byteLength;
  for (const s of sizes) total += s;
  const bytes = new Uint8Array((total + 3) & ~3);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, header.byteLength, true);
  bytes.set(header, 4);
  let off = 4 + header.byteLength;
  for (const t of inputs) {
    if (Array.isArray(t.data)) {
      for (const el of t.data) {
        view.setUint32(off, el.byteLength, true);
        bytes.set(el, off + BYTES_LENGTH_PREFIX);
        off += BYTES_LENGTH_PREFIX + el.byteLength;
      }
    } else {
      bytes.set(bytesOf(t.data), off);
      off += t.data.byteLength;
    }
  }
  return { bytes, hash: hashWords(new Uint32Array(bytes.buffer, 0, bytes.byteLength >>> 2)) };
}

/**
 * MurmurHash3 (x86, 32-bit) over 32-bit words: one multiply-rotate-multiply per word, so a
 * megabyte hashes in well under a millisecond. Only picks the bucket; equality is decided by
 * `sameKey`, so its quality only affects bucket lengths.
 */
export function hashWords(words: Uint32Array, seed = 0x9747b28c): number {
  let h = seed | 0;
  for (let i = 0; i < words.length; i++) {
    let k = Math.imul(words[i], 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= words.length << 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** True when two keys hold the same bytes (compared a word at a time; both are 4-byte aligned). */
export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.byteLength !== b.byteLength) return false;
  const wa = new Uint32Array(a.buffer, a.byteOffset, a.byteLength >>> 2);
  const wb = new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
  for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return false;
  return true;
}
