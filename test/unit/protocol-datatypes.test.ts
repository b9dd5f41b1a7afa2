/**
 * Datatypes and JSON tensor data (protocol/datatypes.ts, protocol/tensor-json.ts,
 * protocol/limits.ts): every datatype's JSON round trip, ranges, wrong element types, nested
 * and flat data, depth and size limits (COMPAT-NOTES §1.5, §1.6).
 */
import { describe, expect, it } from 'vitest';
import {
  DATATYPES, DATATYPE_BYTE_SIZE, allocTyped, bytesOf, configTypeToDataType, dataTypeToConfigType, isDataType, viewTyped,
} from '../../protocol/datatypes.ts';
import type { DataType } from '../../protocol/datatypes.ts';
import { DEFAULT_DECODE_LIMITS, resolveDecodeLimits } from '../../protocol/limits.ts';
import { jsonToTensorData, tensorDataToJson } from '../../protocol/tensor-json.ts';
import { expectInferError } from '../support/expect-infer-error.ts';


const utf8 = new TextEncoder();
/** The elements of decoded tensor data as a plain array. */
const arr = (d: unknown): unknown[] => Array.from(d as ArrayLike<unknown>);

describe('datatypes', () => {
  it('lists the 14 protocol names and refuses STRING and lower case', () => {
    expect(DATATYPES).toHaveLength(14);
    for (const dt of DATATYPES) expect(isDataType(dt)).toBe(true);
    expect(isDataType('STRING')).toBe(false);
    expect(isDataType('fp32')).toBe(false);
    expect(isDataType(3)).toBe(false);
  });

  it('maps config enums to protocol names and back', () => {
    expect(configTypeToDataType('TYPE_STRING')).toBe('BYTES');
    expect(configTypeToDataType('TYPE_FP32')).toBe('FP32');
    expect(configTypeToDataType('TYPE_INVALID')).toBeUndefined();
    for (const dt of DATATYPES) expect(configTypeToDataType(dataTypeToConfigType(dt))).toBe(dt);
  });

  it('views aligned bytes without copying and copies unaligned ones', () => {
    const backing = new Uint8Array(12);
    new DataView(backing.buffer).setFloat32(4, 1.5, true);
    const aligned = viewTyped('FP32', backing.subarray(4, 8));
    expect(aligned).toBeInstanceOf(Float32Array);
    expect(aligned[0]).toBe(1.5);
    expect(aligned.buffer).toBe(backing.buffer);

    const odd = new Uint8Array(9);
    new DataView(odd.buffer).setFloat32(1, -2.25, true);
    const unaligned = viewTyped('FP32', odd.subarray(1, 5));
    expect(unaligned[0]).toBe(-2.25);
    expect(unaligned.buffer).not.toBe(odd.buffer);
    expect(() => viewTyped('FP32', odd.subarray(0, 3))).toThrow(RangeError);
  });

  it('gives the byte view of typed data', () => {
    const f = new Float32Array([1]);
    expect([...bytesOf(f)]).toEqual([0x00, 0x00, 0x80, 0x3f]); // COMPAT-NOTES §1.7: FP32 1.0
  });
});

describe('decode limits', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_DECODE_LIMITS.maxJsonDepth).toBe(100);
    expect(DEFAULT_DECODE_LIMITS.maxJsonInputBytes).toBe(64 * 1024 * 1024);
    expect(DEFAULT_DECODE_LIMITS.maxBodyBytes).toBe(256 * 1024 * 1024);
    expect(DEFAULT_DECODE_LIMITS.maxRank).toBe(32);
    expect(Object.isFrozen(DEFAULT_DECODE_LIMITS)).toBe(true);
  });

  it('merges overrides and refuses non-positive or fractional values', () => {
    const l = resolveDecodeLimits({ maxRank: 4 });
    expect(l.maxRank).toBe(4);
    expect(l.maxInputs).toBe(DEFAULT_DECODE_LIMITS.maxInputs);
    expectInferError(() => resolveDecodeLimits({ maxInputs: 0 }), 'INVALID_ARG', "'maxInputs'");
    expectInferError(() => resolveDecodeLimits({ maxElements: 1.5 }), 'INVALID_ARG', "'maxElements'");
  });
});

/** One JSON round trip: decode `json` for `dt`, check it, encode back and compare the text. */
function roundTrip(dt: DataType, json: unknown[], expected: ArrayLike<unknown>, text: string) {
  const data = jsonToTensorData('x', dt, expected.length, json);
  expect(Array.from(data as ArrayLike<unknown>)).toEqual(Array.from(expected));
  expect(tensorDataToJson('x', dt, data)).toBe(text);
}

describe('JSON tensor data: every datatype', () => {
  it('BOOL needs true/false and becomes 1/0 bytes', () => {
    const d = jsonToTensorData('x', 'BOOL', 3, [true, false, true]);
    expect(d).toBeInstanceOf(Uint8Array);
    roundTrip('BOOL', [true, false, true], [1, 0, 1], '[true,false,true]');
    expectInferError(() => jsonToTensorData('x', 'BOOL', 1, [1]), 'INVALID_ARG', "input 'x' element 0", 'true or false', 'got 1');
    expectInferError(() => jsonToTensorData('x', 'BOOL', 1, ['true']), 'INVALID_ARG', 'got "true"');
  });

  const intCases: [DataType, number, number, Function][] = [
    ['UINT8', 0, 255, Uint8Array], ['UINT16', 0, 65535, Uint16Array], ['UINT32', 0, 4294967295, Uint32Array],
    ['INT8', -128, 127, Int8Array], ['INT16', -32768, 32767, Int16Array], ['INT32', -2147483648, 2147483647, Int32Array],
  ];
  for (const [dt, min, max, ctor] of intCases) {
    it(`${dt} accepts [${min}, ${max}] and refuses values outside, fractions and non-numbers`, () => {
      const d = jsonToTensorData('x', dt, 3, [min, 0, max]);
      expect(d).toBeInstanceOf(ctor);
      roundTrip(dt, [min, 0, max], [min, 0, max], `[${min},0,${max}]`);
      expectInferError(() => jsonToTensorData('x', dt, 1, [max + 1]), 'INVALID_ARG', 'element 0', dt, `got ${max + 1}`);
      expectInferError(() => jsonToTensorData('x', dt, 1, [min - 1]), 'INVALID_ARG', `got ${min - 1}`);
      expectInferError(() => jsonToTensorData('x', dt, 2, [1, 1.5]), 'INVALID_ARG', 'element 1', 'got 1.5');
      expectInferError(() => jsonToTensorData('x', dt, 1, ['7']), 'INVALID_ARG', 'got "7"');
      expectInferError(() => jsonToTensorData('x', dt, 1, [true]), 'INVALID_ARG', 'got true');
      expectInferError(() => jsonToTensorData('x', dt, 1, [null]), 'INVALID_ARG', 'got null');
    });
  }

  it('UINT* refuses negative numbers with a message saying non-negative', () => {
    expectInferError(() => jsonToTensorData('x', 'UINT32', 1, [-1]), 'INVALID_ARG', 'non-negative');
  });

  it('INT64 becomes BigInt64Array; exact within 2^53, range-checked at ±2^63', () => {
    const d = jsonToTensorData('x', 'INT64', 4, [-(2 ** 53) + 1, -1, 0, 2 ** 53 - 1]);
    expect(d).toBeInstanceOf(BigInt64Array);
    expect(Array.from(d as BigInt64Array)).toEqual([-(2n ** 53n) + 1n, -1n, 0n, 2n ** 53n - 1n]);
    expect(tensorDataToJson('x', 'INT64', d)).toBe('[-9007199254740991,-1,0,9007199254740991]');
    // -2^63 is exactly representable and in range; 2^63 (what 9223372036854775807 parses to) is not.
    expect((jsonToTensorData('x', 'INT64', 1, [-(2 ** 63)]) as BigInt64Array)[0]).toBe(-(2n ** 63n));
    expectInferError(() => jsonToTensorData('x', 'INT64', 1, [JSON.parse('9223372036854775807')]), 'INVALID_ARG', '2^63-1');
    expectInferError(() => jsonToTensorData('x', 'INT64', 1, [0.5]), 'INVALID_ARG', 'got 0.5');
  });

  it('INT64 output writes exact decimal literals beyond 2^53 (as Triton does)', () => {
    const d = new BigInt64Array([9223372036854775807n, -9223372036854775808n]);
    expect(tensorDataToJson('x', 'INT64', d)).toBe('[9223372036854775807,-9223372036854775808]');
  });

  it('UINT64 becomes BigUint64Array and refuses negatives and >= 2^64', () => {
    const d = jsonToTensorData('x', 'UINT64', 2, [0, 2 ** 60]);
    expect(d).toBeInstanceOf(BigUint64Array);
    expect(Array.from(d as BigUint64Array)).toEqual([0n, 2n ** 60n]);
    expect(tensorDataToJson('x', 'UINT64', new BigUint64Array([18446744073709551615n]))).toBe('[18446744073709551615]');
    expectInferError(() => jsonToTensorData('x', 'UINT64', 1, [-1]), 'INVALID_ARG', 'non-negative');
    expectInferError(() => jsonToTensorData('x', 'UINT64', 1, [2 ** 64]), 'INVALID_ARG', '2^64-1');
  });

  it('FP32 rounds to float32 and writes the double value of each float', () => {
    const d = jsonToTensorData('x', 'FP32', 3, [1, 0.1, -2.5e10]);
    expect(d).toBeInstanceOf(Float32Array);
    expect(d[1]).toBe(Math.fround(0.1));
    expect(tensorDataToJson('x', 'FP32', d)).toBe('[1,0.10000000149011612,-24999999488]');
    expectInferError(() => jsonToTensorData('x', 'FP32', 1, ['1.0']), 'INVALID_ARG', 'a JSON number', 'got "1.0"');
    expectInferError(() => jsonToTensorData('x', 'FP32', 1, [null]), 'INVALID_ARG', 'got null');
  });

  it('FP64 keeps full precision', () => {
    roundTrip('FP64', [0.1, 1e-300, -1.7976931348623157e308], [0.1, 1e-300, -1.7976931348623157e308],
      '[0.1,1e-300,-1.7976931348623157e+308]');
    expect(JSON.parse(tensorDataToJson('x', 'FP64', new Float64Array([1e21, 1e-7])))).toEqual([1e21, 1e-7]);
  });

  it('non-finite floats are written as null and read back as NaN only when allowed', () => {
    const text = tensorDataToJson('x', 'FP32', new Float32Array([1, NaN, Infinity, -Infinity]));
    expect(text).toBe('[1,null,null,null]');
    const back = jsonToTensorData('x', 'FP32', 4, JSON.parse(text), { nullAsNaN: true });
    expect(Number.isNaN(back[1])).toBe(true);
    expect(back[0]).toBe(1);
    expectInferError(() => jsonToTensorData('x', 'FP64', 1, [null]), 'INVALID_ARG');
  });

  it('FP16 and BF16 are refused in JSON with Triton\'s message, both directions', () => {
    expectInferError(() => jsonToTensorData('x', 'FP16', 1, [1]), 'INVALID_ARG',
      'receiving FP16 data via JSON is not supported. Please use the binary data format for input', "'x'");
    expectInferError(() => jsonToTensorData('x', 'BF16', 1, [1]), 'INVALID_ARG', 'receiving BF16 data via JSON is not supported');
    expectInferError(() => tensorDataToJson('y', 'FP16', new Uint16Array(1)), 'INVALID_ARG',
      'sending FP16 data via JSON is not supported. Please use the binary data format for output', "'y'");
    expectInferError(() => tensorDataToJson('y', 'BF16', new Uint16Array(1)), 'INVALID_ARG', 'sending BF16 data via JSON');
  });

  it('BYTES are JSON strings, UTF-8 encoded per element', () => {
    const d = jsonToTensorData('x', 'BYTES', 3, ['ab', '', 'é✓']) as Uint8Array[];
    expect(d.map((e) => Array.from(e))).toEqual([[0x61, 0x62], [], [0xc3, 0xa9, 0xe2, 0x9c, 0x93]]);
    expect(tensorDataToJson('x', 'BYTES', d)).toBe('["ab","","é✓"]');
    expect(tensorDataToJson('x', 'BYTES', [utf8.encode('a"\\\n')])).toBe('["a\\"\\\\\\n"]');
    expectInferError(() => jsonToTensorData('x', 'BYTES', 1, [5]), 'INVALID_ARG', 'a JSON string', 'got 5');
  });

  it('BYTES output that is not UTF-8 is refused with a hint to use binary output', () => {
    expectInferError(() => tensorDataToJson('y', 'BYTES', [new Uint8Array([0xff, 0xfe])]), 'INVALID_ARG',
      "output 'y' element 0 is not valid UTF-8", 'binary_data');
  });

  it('covers every datatype (none left untested)', () => {
    const tested = new Set(['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES', 'BF16']);
    expect(new Set(DATATYPES)).toEqual(tested);
  });

  it('encodes every fixed-size type from alloc\'d data as a JSON array of the right length', () => {
    for (const dt of DATATYPES) {
      if (dt === 'BYTES' || dt === 'FP16' || dt === 'BF16') continue;
      const text = tensorDataToJson('x', dt, allocTyped(dt, 3));
      const parsed = JSON.parse(text) as unknown[];
      expect(parsed).toHaveLength(3);
      expect(parsed[0]).toBe(dt === 'BOOL' ? false : 0);
      expect(DATATYPE_BYTE_SIZE[dt]).toBe(allocTyped(dt, 1).BYTES_PER_ELEMENT);
    }
  });
});

describe('JSON tensor data: shape and nesting', () => {
  it('accepts flat and naturally nested data alike (row-major)', () => {
    const flat = jsonToTensorData('x', 'INT32', 4, [1, 2, 4, 5]);
    const nested = jsonToTensorData('x', 'INT32', 4, [[1, 2], [4, 5]]);
    expect(arr(nested)).toEqual([1, 2, 4, 5]);
    expect(arr(flat)).toEqual(arr(nested));
    // FP32 nested data takes the general path and must give the same values.
    expect(arr(jsonToTensorData('x', 'FP32', 4, [[[1], [2]], [[3], [4]]]))).toEqual([1, 2, 3, 4]);
    // Mixed nesting is flattened the way Triton's recursive reader does.
    expect(arr(jsonToTensorData('x', 'FP32', 3, [1, [2, [3]]]))).toEqual([1, 2, 3]);
    expect(arr(jsonToTensorData('x', 'BOOL', 2, [[true], [false]]))).toEqual([1, 0]);
  });

  it('refuses data with fewer or more elements than the shape, naming the input and both counts', () => {
    expectInferError(() => jsonToTensorData('in0', 'INT32', 16, [1, 2, 3]), 'INVALID_ARG',
      "Unable to parse 'data': Shape does not match true shape of 'data' field", "input 'in0'", '16 elements', 'holds 3');
    expectInferError(() => jsonToTensorData('in0', 'INT32', 2, [[1, 2], [3]]), 'INVALID_ARG', 'holds 3');
    expectInferError(() => jsonToTensorData('in0', 'FP32', 2, [1, 2, 3]), 'INVALID_ARG', 'Shape does not match true shape');
    expectInferError(() => jsonToTensorData('in0', 'BYTES', 1, ['a', 'b']), 'INVALID_ARG', 'Shape does not match true shape');
    expectInferError(() => jsonToTensorData('in0', 'FP32', 0, [1]), 'INVALID_ARG', 'holds 1');
  });

  it('accepts an empty tensor', () => {
    expect(jsonToTensorData('x', 'FP32', 0, [])).toHaveLength(0);
    expect(jsonToTensorData('x', 'BYTES', 0, [[]])).toEqual([]);
    expect(tensorDataToJson('x', 'FP32', new Float32Array(0))).toBe('[]');
  });

  it('refuses data that is not an array', () => {
    expectInferError(() => jsonToTensorData('x', 'FP32', 1, 1), 'INVALID_ARG', "Unable to parse 'data'", 'JSON array');
    expectInferError(() => jsonToTensorData('x', 'FP32', 1, { a: 1 }), 'INVALID_ARG', "input 'x'");
  });

  it('allows nesting to depth 100 and refuses 101 (HTTP_MAX_JSON_NESTING_DEPTH)', () => {
    const nest = (depth: number): unknown[] => {
      let v: unknown[] = [1];
      for (let i = 1; i < depth; i++) v = [v];
      return v;
    };
    expect(arr(jsonToTensorData('x', 'INT32', 1, nest(100)))).toEqual([1]);
    expectInferError(() => jsonToTensorData('x', 'INT32', 1, nest(101)), 'INVALID_ARG', "'maxJsonDepth'", '(100)');
    expectInferError(() => jsonToTensorData('x', 'INT32', 1, nest(4), { limits: { ...DEFAULT_DECODE_LIMITS, maxJsonDepth: 3 } }),
      'INVALID_ARG', "'maxJsonDepth'");
  });

  it('enforces the JSON-decoded size limit before allocating (fixed types) and while reading (BYTES)', () => {
    const limits = { ...DEFAULT_DECODE_LIMITS, maxJsonInputBytes: 16 };
    expect(jsonToTensorData('x', 'FP32', 4, [1, 2, 3, 4], { limits })).toHaveLength(4);
    // A huge shape with tiny data is refused by size, not by a 4 GB allocation.
    expectInferError(() => jsonToTensorData('x', 'FP32', 5, [1, 2, 3, 4, 5], { limits }), 'INVALID_ARG',
      "'maxJsonInputBytes'", '(20)', '--http-max-input-size');
    expectInferError(() => jsonToTensorData('x', 'FP64', 1e9, [1]), 'INVALID_ARG', "'maxJsonInputBytes'");
    // BYTES: 4 + length per element, as Triton counts. 'abcdef' + 'ghijkl' = 20 > 16.
    expect(jsonToTensorData('x', 'BYTES', 2, ['abcd', 'efgh'], { limits })).toHaveLength(2);
    expectInferError(() => jsonToTensorData('x', 'BYTES', 2, ['abcdef', 'ghijkl'], { limits }), 'INVALID_ARG', "'maxJsonInputBytes'");
  });

  it('enforces the BYTES element length limit', () => {
    const limits = { ...DEFAULT_DECODE_LIMITS, maxBytesElementBytes: 3 };
    expect(jsonToTensorData('x', 'BYTES', 1, ['abc'], { limits })).toHaveLength(1);
    expectInferError(() => jsonToTensorData('x', 'BYTES', 1, ['abcd'], { limits }), 'INVALID_ARG', "'maxBytesElementBytes'", '(4)');
  });

  it('uses the role in messages', () => {
    expectInferError(() => jsonToTensorData('o', 'INT8', 1, [1000], { role: 'output' }), 'INVALID_ARG', "output 'o'");
  });

  it('refuses data whose representation does not match its datatype when encoding', () => {
    expectInferError(() => tensorDataToJson('x', 'BYTES', new Uint8Array(1)), 'INTERNAL');
    expectInferError(() => tensorDataToJson('x', 'FP32', [new Uint8Array(1)]), 'INTERNAL');
  });
});
