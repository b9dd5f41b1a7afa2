/**
 * The BYTES element codec (protocol/bytes-codec.ts): uint32 little-endian length + bytes per
 * element (triton-extension-binary_data.md; COMPAT-NOTES §1.7 worked example).
 */
import { describe, expect, it } from 'vitest';
import {
  BYTES_LENGTH_PREFIX, bytesTensorByteSize, countBytesElements, decodeBytesTensor, encodeBytesTensor,
} from '../../protocol/bytes-codec.ts';
import { DEFAULT_DECODE_LIMITS } from '../../protocol/limits.ts';
import { expectInferError } from '../support/expect-infer-error.ts';


const utf8 = new TextEncoder();
const text = new TextDecoder();
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

describe('BYTES codec', () => {
  it('encodes the COMPAT-NOTES §1.7 worked example ["ab", ""] to 10 exact bytes', () => {
    const elements = [utf8.encode('ab'), new Uint8Array(0)];
    const buf = encodeBytesTensor(elements);
    expect(hex(buf)).toBe('02 00 00 00 61 62 00 00 00 00');
    expect(buf.byteLength).toBe(10);
    expect(bytesTensorByteSize(elements)).toBe(10);
  });

  it('decodes the worked example back', () => {
    const buf = new Uint8Array([2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0]);
    const out = decodeBytesTensor(buf, 2);
    expect(out.map((e) => text.decode(e))).toEqual(['ab', '']);
  });

  it('writes the length little-endian (a 258-byte element has prefix 02 01 00 00)', () => {
    const buf = encodeBytesTensor([new Uint8Array(258).fill(7)]);
    expect(hex(buf.subarray(0, 4))).toBe('02 01 00 00');
    expect(buf.byteLength).toBe(262);
    expect(decodeBytesTensor(buf, 1)[0]).toEqual(new Uint8Array(258).fill(7));
  });

  it('round-trips arbitrary binary and UTF-8 elements', () => {
    const elements = [utf8.encode('héllo ✓'), new Uint8Array([0, 255, 0x80]), new Uint8Array(0), utf8.encode('x')];
    const back = decodeBytesTensor(encodeBytesTensor(elements), elements.length);
    expect(back).toEqual(elements);
    expect(countBytesElements(encodeBytesTensor(elements))).toBe(4);
  });

  it('returns views into the buffer (no copy), also when the buffer is a slice of a larger one', () => {
    const inner = encodeBytesTensor([utf8.encode('abc'), utf8.encode('de')]);
    const outer = new Uint8Array(inner.byteLength + 5);
    outer.set(inner, 3);
    const slice = outer.subarray(3, 3 + inner.byteLength);
    const out = decodeBytesTensor(slice, 2);
    expect(out.map((e) => text.decode(e))).toEqual(['abc', 'de']);
    expect(out[0].buffer).toBe(outer.buffer);
    expect(out[0].byteOffset).toBe(3 + BYTES_LENGTH_PREFIX);
    expect(out[1].byteOffset).toBe(3 + 4 + 3 + 4);
  });

  it('decodes zero elements from an empty buffer', () => {
    expect(decodeBytesTensor(new Uint8Array(0), 0)).toEqual([]);
    expect(encodeBytesTensor([])).toHaveLength(0);
    expect(countBytesElements(new Uint8Array(0))).toBe(0);
  });

  it('refuses a truncated length prefix', () => {
    // One full element, then 3 stray bytes where the second 4-byte prefix should be.
    const buf = new Uint8Array([1, 0, 0, 0, 0x61, 9, 9, 0, 0]);
    expectInferError(() => decodeBytesTensor(buf.subarray(0, 8), 2, DEFAULT_DECODE_LIMITS, "input 'x'"), 'INVALID_ARG',
      "input 'x'", 'truncated', 'element 1', '4-byte length prefix', 'only 3 bytes remain');
  });

  it('refuses a truncated element body', () => {
    const buf = new Uint8Array([5, 0, 0, 0, 0x61, 0x62]);
    expectInferError(() => decodeBytesTensor(buf, 1), 'INVALID_ARG', 'truncated', 'element 0 declares 5 bytes', 'only 2 bytes remain');
  });

  it('refuses trailing bytes after the expected elements', () => {
    const buf = encodeBytesTensor([utf8.encode('a'), utf8.encode('b')]);
    expectInferError(() => decodeBytesTensor(buf, 1), 'INVALID_ARG', '5 trailing bytes', '1 expected elements');
  });

  it('refuses data holding fewer elements than the shape needs', () => {
    const buf = encodeBytesTensor([utf8.encode('abcdefgh'), utf8.encode('ijklmnop')]);
    expectInferError(() => decodeBytesTensor(buf, 3), 'INVALID_ARG', 'holds 2 elements but the shape needs 3');
  });

  it('refuses an element count the buffer cannot possibly hold before allocating', () => {
    expectInferError(() => decodeBytesTensor(new Uint8Array(10), 1 << 28), 'INVALID_ARG', 'cannot hold 268435456 elements');
  });

  it('enforces maxBytesElementBytes, naming the limit', () => {
    const buf = encodeBytesTensor([new Uint8Array(5)]);
    expect(decodeBytesTensor(buf, 1, { maxBytesElementBytes: 5 })).toHaveLength(1);
    expectInferError(() => decodeBytesTensor(buf, 1, { maxBytesElementBytes: 4 }), 'INVALID_ARG', "'maxBytesElementBytes'", '(5)', '(4)');
  });

  it('refuses a huge declared length without reading past the end', () => {
    const buf = new Uint8Array([0xff, 0xff, 0xff, 0xff, 1]);
    expectInferError(() => decodeBytesTensor(buf, 1, { maxBytesElementBytes: 2 ** 32 }), 'INVALID_ARG', 'declares 4294967295 bytes');
  });

  it('counts elements and reports truncation', () => {
    expect(countBytesElements(new Uint8Array([2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0]))).toBe(2);
    expectInferError(() => countBytesElements(new Uint8Array([2, 0, 0, 0, 0x61])), 'INVALID_ARG', 'truncated');
    expectInferError(() => countBytesElements(new Uint8Array([0, 0])), 'INVALID_ARG', 'truncated');
  });
});
