/**
 * The serialized form of a BYTES tensor: every element is a 4-byte unsigned little-endian
 * length followed by that many bytes, elements concatenated in row-major order with no
 * terminator or padding. Used by the HTTP binary extension, gRPC `raw_*_contents`, warm-up
 * files and the mesh (triton-extension-binary_data.md "Binary Tensor Request";
 * COMPAT-NOTES §1.7). Worked example: `["ab", ""]` → `02 00 00 00 61 62 00 00 00 00`.
 */
import { invalidArg } from './errors.ts';
import { DEFAULT_DECODE_LIMITS, limitExceeded } from './limits.ts';
import type { DecodeLimits } from './limits.ts';

/** Bytes of the length prefix before every element. */
export const BYTES_LENGTH_PREFIX = 4;

/** Largest element the 4-byte length prefix can describe (2^32 - 1). */
export const MAX_BYTES_ELEMENT_LENGTH = 0xffff_ffff;

/** Serialized size of `elements`: Σ (4 + length). */
export function bytesTensorByteSize(elements: readonly Uint8Array[]): number {
  let n = elements.length * BYTES_LENGTH_PREFIX;
  for (let i = 0; i < elements.length; i++) n += elements[i].byteLength;
  return n;
}

/**
 * Serializes BYTES elements into one freshly allocated buffer (one allocation, one copy of
 * each element).
 * @throws InferError INVALID_ARG when an element is longer than 2^32 - 1 bytes.
 */
export function encodeBytesTensor(elements: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(bytesTensorByteSize(elements));
  const view = new DataView(out.buffer);
  let off = 0;
  for (let i = 0; i < elements.length; i++) {
    const el = elements[i];
    if (el.byteLength > MAX_BYTES_ELEMENT_LENGTH) {
      throw invalidArg(`BYTES element ${i} is ${el.byteLength} bytes; the 4-byte length prefix allows at most ${MAX_BYTES_ELEMENT_LENGTH}`);
    }
    view.setUint32(off, el.byteLength, true);
    off += BYTES_LENGTH_PREFIX;
    out.set(el, off);
    off += el.byteLength;
  }
  return out;
}

/**
 * Parses serialized BYTES data holding exactly `expectedCount` elements. The returned elements
 * are views into `buf` (no copy), so they keep `buf`'s memory alive and see later writes to it.
 *
 * @param what names the tensor in error messages, e.g. `input 'x'`.
 * @throws InferError INVALID_ARG on a truncated prefix or element, fewer or more elements than
 *   expected, trailing bytes, or an element longer than `limits.maxBytesElementBytes`.
 */
export function decodeBytesTensor(
  buf: Uint8Array,
  expectedCount: number,
  limits: Pick<DecodeLimits, 'maxBytesElementBytes'> = DEFAULT_DECODE_LIMITS,
  what = 'BYTES tensor',
): Uint8Array[] {
  // Every element needs at least its prefix: refuse before allocating the result array, so a
  // shape claiming 2^28 elements cannot be paired with a 10-byte body.
  if (expectedCount * BYTES_LENGTH_PREFIX > buf.byteLength) {
    throw invalidArg(
      `${what}: BYTES data of ${buf.byteLength} bytes cannot hold ${expectedCount} elements `
      + `(each needs at least a ${BYTES_LENGTH_PREFIX}-byte length prefix)`,
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Array<Uint8Array>(expectedCount);
  const end = buf.byteLength;
  let off = 0;
  for (let i = 0; i < expectedCount; i++) {
    if (off === end) {
      throw invalidArg(`${what}: BYTES data holds ${i} elements but the shape needs ${expectedCount}`);
    }
    if (off + BYTES_LENGTH_PREFIX > end) {
      throw invalidArg(
        `${what}: BYTES data truncated: element ${i} needs a ${BYTES_LENGTH_PREFIX}-byte length prefix at offset ${off} `
        + `but only ${end - off} bytes remain (expected ${expectedCount} elements)`,
      );
    }
    const len = view.getUint32(off, true);
    off += BYTES_LENGTH_PREFIX;
    if (len > limits.maxBytesElementBytes) {
      throw limitExceeded(`${what}: BYTES element ${i} length`, len, 'maxBytesElementBytes', limits.maxBytesElementBytes);
    }
    if (off + len > end) {
      throw invalidArg(
        `${what}: BYTES data truncated: element ${i} declares ${len} bytes at offset ${off} but only ${end - off} bytes remain`,
      );
    }
    out[i] = buf.subarray(off, off + len);
    off += len;
  }
  if (off !== end) {
    throw invalidArg(
      `${what}: BYTES data has ${end - off} trailing bytes after the ${expectedCount} expected elements `
      + `(the shape and the data disagree on the element count)`,
    );
  }
  return out;
}

/**
 * Counts the elements of serialized BYTES data without materialising them (for a raw binary
 * request whose shape must be deduced, or to validate before decoding).
 * @throws InferError INVALID_ARG on a truncated element.
 */
export function countBytesElements(buf: Uint8Array, what = 'BYTES tensor'): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  let n = 0;
  while (off < buf.byteLength) {
    if (off + BYTES_LENGTH_PREFIX > buf.byteLength) {
      throw invalidArg(`${what}: BYTES data truncated: ${buf.byteLength - off} bytes left where a ${BYTES_LENGTH_PREFIX}-byte length prefix is needed`);
    }
    const len = view.getUint32(off, true);
    off += BYTES_LENGTH_PREFIX + len;
    if (off > buf.byteLength) throw invalidArg(`${what}: BYTES data truncated: element ${n} declares ${len} bytes past the end`);
    n++;
  }
  return n;
}
