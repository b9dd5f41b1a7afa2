/**
 * KServe v2 HTTP inference codec (protocol/http-infer.ts) with Triton's binary tensor data
 * extension: request decoding with every error path and limit, raw binary requests, output
 * selection, response encoding, and client/server round trips.
 * Specs: kserve-v2-required_api.md, triton-extension-binary_data.md, COMPAT-NOTES §1.5–§1.11.
 */
import { describe, expect, it } from 'vitest';
import { encodeBytesTensor } from '../../protocol/bytes-codec.ts';
import { DATATYPES } from '../../protocol/datatypes.ts';
import type { DataType } from '../../protocol/datatypes.ts';
import {
  binaryOutputNames, concatChunks, decodeHttpInferRequest, decodeHttpInferResponse, encodeErrorBody,
  encodeHttpInferRequest, encodeHttpInferResponse, tensorBinaryByteSize,
} from '../../protocol/http-infer.ts';
import type { HttpInferDecodeOptions, TensorWithParameters } from '../../protocol/http-infer.ts';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import { DEFAULT_DECODE_LIMITS } from '../../protocol/limits.ts';
import type { DecodeLimits } from '../../protocol/limits.ts';
import type { Tensor, TensorData } from '../../protocol/tensor.ts';
import { expectInferError } from '../support/expect-infer-error.ts';

const utf8 = new TextEncoder();
const text = new TextDecoder();


/** A request body: JSON header (object or literal text) then blobs; headerLength = JSON bytes. */
function makeBody(header: object | string, ...blobs: Uint8Array[]): { body: Uint8Array; headerLength: number } {
  const json = utf8.encode(typeof header === 'string' ? header : JSON.stringify(header));
  return { body: concatChunks([json, ...blobs]), headerLength: json.byteLength };
}

/** Decodes a JSON-only request for model 'm'. */
function decodeJson(header: object | string, opts: Partial<HttpInferDecodeOptions> = {}): InferRequest {
  const { body } = makeBody(header);
  return decodeHttpInferRequest(body, { modelName: 'm', ...opts });
}

/** Decodes a request with binary blobs (header length given) for model 'm'. */
function decodeBin(header: object | string, blobs: Uint8Array[], opts: Partial<HttpInferDecodeOptions> = {}): InferRequest {
  const { body, headerLength } = makeBody(header, ...blobs);
  return decodeHttpInferRequest(body, { modelName: 'm', headerLength, ...opts });
}

const f32bytes = (...vals: number[]) => new Uint8Array(new Float32Array(vals).buffer);
const values = (d: TensorData) => (Array.isArray(d) ? d.map((e) => text.decode(e)) : Array.from(d as ArrayLike<unknown>));
const limitsWith = (l: Partial<DecodeLimits>): DecodeLimits => ({ ...DEFAULT_DECODE_LIMITS, ...l });

describe('decodeHttpInferRequest: JSON requests', () => {
  it('decodes the KServe example request (id, two inputs, one requested output)', () => {
    const req = decodeJson({
      id: '42',
      inputs: [
        { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
        { name: 'input1', shape: [3], datatype: 'BOOL', data: [true, false, true] },
      ],
      outputs: [{ name: 'output0' }],
    }, { modelVersion: '3' });
    expect(req.modelName).toBe('m');
    expect(req.modelVersion).toBe('3');
    expect(req.id).toBe('42');
    expect(req.parameters).toEqual({});
    expect(req.inputs.map((i) => [i.name, i.datatype, i.shape])).toEqual([['input0', 'UINT32', [2, 2]], ['input1', 'BOOL', [3]]]);
    expect(req.inputs[0].data).toBeInstanceOf(Uint32Array);
    expect(values(req.inputs[0].data)).toEqual([1, 2, 3, 4]);
    expect(values(req.inputs[1].data)).toEqual([1, 0, 1]);
    expect(req.outputs).toEqual([{ name: 'output0' }]);
  });

  it('leaves id, modelVersion and outputs unset when absent (outputs undefined = all outputs)', () => {
    const req = decodeJson({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] });
    expect(req.id).toBeUndefined();
    expect(req.modelVersion).toBeUndefined();
    expect(req.outputs).toBeUndefined();
    expect(req.inputs[0].parameters).toBeUndefined();
  });

  it('accepts nested data in the natural shape', () => {
    const req = decodeJson({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'INT32', data: [[1, 2], [4, 5]] }] });
    expect(values(req.inputs[0].data)).toEqual([1, 2, 4, 5]);
  });

  it('decodes JSON BYTES inputs as UTF-8 elements', () => {
    const req = decodeJson({ inputs: [{ name: 's', shape: [2], datatype: 'BYTES', data: ['ab', 'é'] }] });
    expect(values(req.inputs[0].data)).toEqual(['ab', 'é']);
  });

  it('accepts an empty tensor and an empty inputs array', () => {
    expect(decodeJson({ inputs: [{ name: 'x', shape: [0, 3], datatype: 'FP32', data: [] }] }).inputs[0].data).toHaveLength(0);
    expect(decodeJson({ inputs: [] }).inputs).toEqual([]);
  });

  it('ignores the body\'s model_name and unknown top-level fields', () => {
    const req = decodeJson({ model_name: 'other', extra: { deep: [[[1]]] }, inputs: [] });
    expect(req.modelName).toBe('m');
    // Deep nesting outside 'data' is parsed iteratively by JSON.parse and then ignored: no crash.
    const deep = `{"extra":${'['.repeat(100_000)}${']'.repeat(100_000)},"inputs":[]}`;
    expect(decodeJson(deep).inputs).toEqual([]);
  });

  it('keeps per-input and per-output parameters', () => {
    const req = decodeJson({
      inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1], parameters: { note: 'hi', scale: 2 } }],
      outputs: [{ name: 'y', parameters: { binary_data: true, classification: 3 } }],
    });
    expect(req.inputs[0].parameters).toEqual({ note: 'hi', scale: 2 });
    expect(req.outputs).toEqual([{ name: 'y', parameters: { binary_data: true, classification: 3 } }]);
  });
});

describe('decodeHttpInferRequest: binary tensor data extension', () => {
  it('decodes the worked example of triton-extension-binary_data.md byte for byte', () => {
    // The exact JSON of the extension document (whitespace and "model_name" included).
    const header = `{
  "model_name" : "mymodel",
  "inputs" : [
    {
      "name" : "input0",
      "shape" : [ 2, 2 ],
      "datatype" : "UINT32",
      "parameters" : {
        "binary_data_size" : 16
      }
    },
    {
      "name" : "input1",
      "shape" : [ 3 ],
      "datatype" : "BOOL",
      "parameters" : {
        "binary_data_size" : 3
      }
    }
  ],
  "outputs" : [
    {
      "name" : "output0",
      "parameters" : {
        "binary_data" : true
      }
    }
  ]
}`;
    const input0 = new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    const input1 = new Uint8Array([1, 0, 1]);
    const { body, headerLength } = makeBody(header, input0, input1);
    expect(body.byteLength - headerLength).toBe(19); // "the total size of the binary data is 19 bytes"
    const req = decodeHttpInferRequest(body, { modelName: 'mymodel', headerLength });
    expect(req.modelName).toBe('mymodel');
    expect(req.inputs[0]).toMatchObject({ name: 'input0', datatype: 'UINT32', shape: [2, 2], parameters: { binary_data_size: 16 } });
    expect(req.inputs[0].data).toBeInstanceOf(Uint32Array);
    expect(values(req.inputs[0].data)).toEqual([1, 2, 3, 4294967295]);
    expect(req.inputs[1].data).toBeInstanceOf(Uint8Array);
    expect(values(req.inputs[1].data)).toEqual([1, 0, 1]);
    expect(binaryOutputNames(req, ['output0', 'output1'])).toEqual(new Set(['output0']));
  });

  it('mixes JSON and binary inputs, taking blobs in input order', () => {
    const bytes = encodeBytesTensor([utf8.encode('ab'), new Uint8Array(0)]);
    const req = decodeBin({
      inputs: [
        { name: 'a', shape: [2], datatype: 'INT32', data: [7, 8] },
        { name: 'b', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
        { name: 'c', shape: [1], datatype: 'BYTES', data: ['json'] },
        { name: 'd', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: 10 } },
        { name: 'e', shape: [1], datatype: 'INT64', parameters: { binary_data_size: 8 } },
      ],
    }, [f32bytes(1.5, -2), bytes, new Uint8Array(new BigInt64Array([-(2n ** 62n) - 3n]).buffer)]);
    expect(req.inputs.map((i) => values(i.data))).toEqual([[7, 8], [1.5, -2], ['json'], ['ab', ''], [-(2n ** 62n) - 3n]]);
  });

  it('views aligned binary data without copying, even in a slice of a larger buffer', () => {
    // Pad the header with spaces so the blob starts at a multiple of 4 inside the body.
    let header = JSON.stringify({ inputs: [{ name: 'x', shape: [3], datatype: 'FP32', parameters: { binary_data_size: 12 } }] });
    while ((header.length + 8) % 4 !== 0) header += ' ';
    const { body: inner, headerLength } = makeBody(header, f32bytes(1, 2, 3));
    const outer = new Uint8Array(inner.byteLength + 16);
    outer.set(inner, 8); // body.byteOffset 8: blob at absolute offset 8 + headerLength, aligned
    const body = outer.subarray(8, 8 + inner.byteLength);
    const req = decodeHttpInferRequest(body, { modelName: 'm', headerLength });
    const data = req.inputs[0].data as Float32Array;
    expect(Array.from(data)).toEqual([1, 2, 3]);
    expect(data.buffer).toBe(outer.buffer);
    expect(data.byteOffset).toBe(8 + headerLength);
    outer[8 + headerLength + 3] = 0x40; // writes through: proof of a view (0x3f800000 → 0x40800000)
    expect(data[0]).toBe(4);
  });

  it('copies unaligned binary data and still decodes correct values', () => {
    let header = JSON.stringify({ inputs: [{ name: 'x', shape: [2], datatype: 'FP64', parameters: { binary_data_size: 16 } }] });
    if (header.length % 8 === 0) header += ' ';
    const blob = new Uint8Array(new Float64Array([Math.PI, -0.5]).buffer);
    const { body, headerLength } = makeBody(header, blob);
    expect(headerLength % 8).not.toBe(0);
    const data = decodeHttpInferRequest(body, { modelName: 'm', headerLength }).inputs[0].data as Float64Array;
    expect(Array.from(data)).toEqual([Math.PI, -0.5]);
    expect(data.buffer).not.toBe(body.buffer);
  });

  it('accepts FP16 and BF16 as binary (raw 16-bit patterns)', () => {
    const req = decodeBin({
      inputs: [
        { name: 'h', shape: [2], datatype: 'FP16', parameters: { binary_data_size: 4 } },
        { name: 'b', shape: [1], datatype: 'BF16', parameters: { binary_data_size: 2 } },
      ],
    }, [new Uint8Array([0x00, 0x3c, 0x00, 0xc0]), new Uint8Array([0x80, 0x3f])]);
    expect(req.inputs[0].data).toBeInstanceOf(Uint16Array);
    expect(values(req.inputs[0].data)).toEqual([0x3c00, 0xc000]); // FP16 1.0, -2.0
    expect(values(req.inputs[1].data)).toEqual([0x3f80]); // BF16 1.0
  });

  it('accepts binary_data_size 0 for an empty tensor, even without the header', () => {
    const req = decodeJson({ inputs: [{ name: 'x', shape: [0], datatype: 'FP32', parameters: { binary_data_size: 0 } }] });
    expect(req.inputs[0].data).toHaveLength(0);
  });
});

describe('decodeHttpInferRequest: content-type and binary errors (Triton texts)', () => {
  const ONE_OF = "Input must set only one of the following fields: 'data', 'binary_data_size' in 'parameters', "
    + "'shared_memory_region' in 'parameters'. But";

  it('refuses an input with both data and binary_data_size', () => {
    expectInferError(() => decodeBin({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1], parameters: { binary_data_size: 4 } }] },
      [f32bytes(1)]), 'INVALID_ARG', `${ONE_OF} set 'data' 'binary_data_size'`, "input 'x'");
  });

  it('refuses an input with no content', () => {
    expectInferError(() => decodeJson({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32' }] }), 'INVALID_ARG', `${ONE_OF} no field is set`);
  });

  it('refuses data plus shared_memory_region with Triton\'s text, and a shared-memory input as UNSUPPORTED', () => {
    expectInferError(() => decodeJson({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1], parameters: { shared_memory_region: 'r' } }] }),
      'INVALID_ARG', `${ONE_OF} set 'data' 'shared_memory_region'`);
    expectInferError(() => decodeJson({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { shared_memory_region: 'r' } }] }),
      'UNSUPPORTED', 'shared_memory_region');
  });

  it('refuses binary inputs without Inference-Header-Content-Length', () => {
    // Header absent: the whole body is JSON, and that JSON declares binary data.
    const { body } = makeBody({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } }] });
    expectInferError(() => decodeHttpInferRequest(body, { modelName: 'm' }), 'INVALID_ARG',
      "must specify valid 'Infer-Header-Content-Length' in request header and 'binary_data_size' when passing inputs in binary data format");
  });

  it('refuses short binary data, saying how many bytes are missing', () => {
    expectInferError(() => decodeBin({
      inputs: [
        { name: 'a', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } },
        { name: 'x', shape: [4], datatype: 'FP32', parameters: { binary_data_size: 16 } },
      ],
    }, [f32bytes(1), new Uint8Array(13)]), 'INVALID_ARG', "unexpected size for input 'x', expecting 3 additional bytes for model 'm'");
  });

  it('refuses leftover bytes after the last binary input', () => {
    expectInferError(() => decodeBin({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } }] },
      [f32bytes(1), new Uint8Array(2)]), 'INVALID_ARG', "unexpected additional input data for model 'm'", '2 bytes');
    // Also when every input is JSON but a header length leaves bytes over.
    expectInferError(() => decodeBin({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }, [new Uint8Array(1)]),
      'INVALID_ARG', "unexpected additional input data for model 'm'");
  });

  it('refuses a binary size that does not match the shape (Triton core text)', () => {
    expectInferError(() => decodeBin({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: 12 } }] },
      [new Uint8Array(12)]), 'INVALID_ARG', "input byte size mismatch for input 'x' for model 'm'. Expected 16, got 12");
  });

  it('refuses malformed binary BYTES data', () => {
    expectInferError(() => decodeBin({ inputs: [{ name: 's', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: 9 } }] },
      [new Uint8Array([1, 0, 0, 0, 0x61, 9, 0, 0, 0])]), 'INVALID_ARG', "input 's'", 'truncated');
    expectInferError(() => decodeBin({ inputs: [{ name: 's', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 10 } }] },
      [encodeBytesTensor([utf8.encode('ab'), new Uint8Array(0)])]), 'INVALID_ARG', "input 's'", 'trailing bytes');
  });

  it('refuses binary_data_size that is not an unsigned integer', () => {
    for (const bad of [-1, 1.5, '4', null]) {
      expectInferError(() => decodeBin({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: bad } }] },
        [f32bytes(1)]), 'INVALID_ARG', "Unable to parse 'binary_data_size' of input 'x'");
    }
  });
});

describe('decodeHttpInferRequest: header length and JSON errors', () => {
  const { body, headerLength } = makeBody({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } }] }, f32bytes(1));

  it('refuses a header length outside [0, body length]', () => {
    for (const bad of [body.byteLength + 1, -1, 2.5, Number.NaN]) {
      expectInferError(() => decodeHttpInferRequest(body, { modelName: 'm', headerLength: bad }), 'INVALID_ARG',
        `inference header size should be in range (0, ${body.byteLength}), got: ${bad}`);
    }
  });

  it('reports a header length that cuts the JSON short as a JSON error with position and a hint', () => {
    const msg = expectInferError(() => decodeHttpInferRequest(body, { modelName: 'm', headerLength: headerLength - 2 }), 'INVALID_ARG',
      'failed to parse the request JSON', 'Inference-Header-Content-Length');
    expect(msg).toMatch(/position|end of JSON/);
  });

  it('reports malformed JSON with the parser position', () => {
    expectInferError(() => decodeJson('{"inputs": 1,}'), 'INVALID_ARG', 'failed to parse the request JSON', 'at position 13');
    expectInferError(() => decodeJson('{"inputs": [1,}'), 'INVALID_ARG', 'failed to parse the request JSON', "Unexpected token '}'");
  });

  it('hints at the header when a binary body is sent without it', () => {
    expectInferError(() => decodeHttpInferRequest(body, { modelName: 'm' }), 'INVALID_ARG',
      'failed to parse the request JSON', 'give the JSON byte length in the Inference-Header-Content-Length header');
  });

  it('refuses invalid UTF-8, a non-object body and an empty body', () => {
    expectInferError(() => decodeHttpInferRequest(new Uint8Array([0x7b, 0xff, 0x7d]), { modelName: 'm' }), 'INVALID_ARG', 'not valid UTF-8');
    expectInferError(() => decodeJson('[1,2]'), 'INVALID_ARG', 'must be a JSON object');
    expectInferError(() => decodeJson('null'), 'INVALID_ARG', 'must be a JSON object');
    expectInferError(() => decodeHttpInferRequest(new Uint8Array(0), { modelName: 'm' }), 'INVALID_ARG', 'body is empty');
  });

  it('counts the header length in bytes, not characters (non-ASCII names)', () => {
    const req = decodeBin({ id: 'ü✓', inputs: [{ name: 'é', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } }] }, [f32bytes(9)]);
    expect(req.id).toBe('ü✓');
    expect(req.inputs[0].name).toBe('é');
    expect(values(req.inputs[0].data)).toEqual([9]);
  });
});

describe('decodeHttpInferRequest: structure errors', () => {
  const ok = { name: 'x', shape: [1], datatype: 'FP32', data: [1] };

  it('requires id to be a string', () => {
    expectInferError(() => decodeJson({ id: 42, inputs: [ok] }), 'INVALID_ARG', "Unable to parse 'id'", 'got 42');
  });

  it('requires inputs to be an array of objects with a string name', () => {
    expectInferError(() => decodeJson({}), 'INVALID_ARG', "Unable to parse 'inputs'");
    expectInferError(() => decodeJson({ inputs: {} }), 'INVALID_ARG', "Unable to parse 'inputs'");
    expectInferError(() => decodeJson({ inputs: [5] }), 'INVALID_ARG', "Unable to parse 'inputs'", 'entry 0');
    expectInferError(() => decodeJson({ inputs: [{ ...ok, name: 3 }] }), 'INVALID_ARG', "Unable to parse 'name'", 'inputs[0]');
  });

  it('refuses duplicate input and output names', () => {
    expectInferError(() => decodeJson({ inputs: [ok, ok] }), 'INVALID_ARG', "input 'x' appears more than once");
    expectInferError(() => decodeJson({ inputs: [ok], outputs: [{ name: 'y' }, { name: 'y' }] }), 'INVALID_ARG', "output 'y' is requested more than once");
  });

  it('validates the datatype and lists the valid names', () => {
    const msg = expectInferError(() => decodeJson({ inputs: [{ ...ok, datatype: 'STRING' }] }), 'INVALID_ARG',
      "invalid datatype 'STRING' for input 'x'", 'valid datatypes are');
    for (const dt of DATATYPES) expect(msg).toContain(dt);
    expectInferError(() => decodeJson({ inputs: [{ ...ok, datatype: 'fp32' }] }), 'INVALID_ARG', "invalid datatype 'fp32'");
    expectInferError(() => decodeJson({ inputs: [{ name: 'x', shape: [1], data: [1] }] }), 'INVALID_ARG', "Unable to parse 'datatype'", "input 'x'");
  });

  it('requires shape to be an array of non-negative integers', () => {
    expectInferError(() => decodeJson({ inputs: [{ ...ok, shape: 1 }] }), 'INVALID_ARG', "Unable to parse 'shape'", "input 'x'");
    expectInferError(() => decodeJson({ inputs: [{ name: 'x', datatype: 'FP32', data: [1] }] }), 'INVALID_ARG', "Unable to parse 'shape'");
    for (const bad of [-1, 1.5, '1', null]) {
      expectInferError(() => decodeJson({ inputs: [{ ...ok, shape: [1, bad] }] }), 'INVALID_ARG', "Unable to parse 'shape'", 'dimension 1', 'non-negative integer');
    }
  });

  it('requires the data element count to equal the product of the shape', () => {
    expectInferError(() => decodeJson({ inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: [1, 2, 3] }] }), 'INVALID_ARG',
      "Unable to parse 'data': Shape does not match true shape of 'data' field", "input 'INPUT0'");
    expectInferError(() => decodeJson({ inputs: [{ ...ok, shape: [3] }] }), 'INVALID_ARG', 'Shape does not match true shape');
  });

  it('refuses FP16/BF16 JSON data with Triton\'s message', () => {
    expectInferError(() => decodeJson({ inputs: [{ name: 'x', shape: [1], datatype: 'FP16', data: [1] }] }), 'INVALID_ARG',
      "receiving FP16 data via JSON is not supported. Please use the binary data format for input 'x'");
    expectInferError(() => decodeJson({ inputs: [{ name: 'x', shape: [1], datatype: 'BF16', data: [1] }] }), 'INVALID_ARG',
      'receiving BF16 data via JSON is not supported');
  });

  it('requires outputs to be an array of objects with a string name', () => {
    expectInferError(() => decodeJson({ inputs: [ok], outputs: {} }), 'INVALID_ARG', "Unable to parse 'outputs'");
    expectInferError(() => decodeJson({ inputs: [ok], outputs: null }), 'INVALID_ARG', "Unable to parse 'outputs'");
    expectInferError(() => decodeJson({ inputs: [ok], outputs: ['y'] }), 'INVALID_ARG', "Unable to parse 'outputs'", 'entry 0');
    expectInferError(() => decodeJson({ inputs: [ok], outputs: [{ parameters: {} }] }), 'INVALID_ARG', "Unable to parse 'name'", 'outputs[0]');
  });

  it('refuses shared-memory outputs as UNSUPPORTED', () => {
    expectInferError(() => decodeJson({ inputs: [ok], outputs: [{ name: 'y', parameters: { shared_memory_region: 'r' } }] }),
      'UNSUPPORTED', "output 'y'", 'shared_memory_region');
  });
});

describe('decodeHttpInferRequest: parameters', () => {
  const inputs = [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }];

  it('accepts the reserved keys with their types and custom string/number/bool values', () => {
    const parameters = {
      sequence_id: 12, sequence_start: true, sequence_end: false, priority: 1, timeout: 5000, binary_data_output: true,
      custom_s: 'v', custom_i: -3, custom_d: 0.5, custom_b: false, headers: 'h',
    };
    expect(decodeJson({ parameters, inputs }).parameters).toEqual(parameters);
    expect(decodeJson({ parameters: { sequence_id: 'abc' }, inputs }).parameters.sequence_id).toBe('abc');
  });

  it('refuses keys starting with triton_ with Triton\'s exact message', () => {
    expectInferError(() => decodeJson({ parameters: { triton_enable_empty_final_response: true }, inputs }), 'INVALID_ARG',
      "parameter keys starting with 'triton_' are reserved for Triton usage and should not be specified.");
  });

  const wrong: [string, unknown, string][] = [
    ['sequence_id', true, 'an unsigned integer or a string'],
    ['sequence_id', -1, 'an unsigned integer or a string'],
    ['sequence_id', 1.5, 'an unsigned integer or a string'],
    ['sequence_start', 'true', 'a boolean'],
    ['sequence_end', 1, 'a boolean'],
    ['priority', -1, 'an unsigned integer'],
    ['priority', '1', 'an unsigned integer'],
    ['timeout', 1.5, 'an unsigned integer'],
    ['binary_data_output', 'yes', 'a boolean'],
  ];
  for (const [key, value, expected] of wrong) {
    it(`refuses ${key} = ${JSON.stringify(value)}, naming the key`, () => {
      expectInferError(() => decodeJson({ parameters: { [key]: value }, inputs }), 'INVALID_ARG', `Unable to parse '${key}'`, expected);
    });
  }

  it('refuses custom values that are not string, number or boolean, naming the key', () => {
    expectInferError(() => decodeJson({ parameters: { mine: { a: 1 } }, inputs }), 'INVALID_ARG',
      "parameter 'mine' has invalid type. It should be either 'int', 'bool', or 'string'.");
    expectInferError(() => decodeJson({ parameters: { mine: null }, inputs }), 'INVALID_ARG', "parameter 'mine'");
    expectInferError(() => decodeJson({ parameters: { mine: [1] }, inputs }), 'INVALID_ARG', "parameter 'mine'");
  });

  it('refuses parameters that are not an object', () => {
    expectInferError(() => decodeJson({ parameters: [1], inputs }), 'INVALID_ARG', "Unable to parse 'parameters'");
    expectInferError(() => decodeJson({ parameters: 'x', inputs }), 'INVALID_ARG', "Unable to parse 'parameters'");
  });

  it('validates input and output parameters, naming the tensor', () => {
    expectInferError(() => decodeJson({ inputs: [{ ...inputs[0], parameters: { k: {} } }] }), 'INVALID_ARG', "parameter 'k' of input 'x' has invalid type");
    expectInferError(() => decodeJson({ inputs: [{ ...inputs[0], parameters: 3 }] }), 'INVALID_ARG', "Unable to parse 'parameters' of input 'x'");
    expectInferError(() => decodeJson({ inputs, outputs: [{ name: 'y', parameters: { binary_data: 'true' } }] }), 'INVALID_ARG',
      "Unable to parse 'binary_data' of output 'y'");
    expectInferError(() => decodeJson({ inputs, outputs: [{ name: 'y', parameters: { classification: -2 } }] }), 'INVALID_ARG',
      "Unable to set 'classification' of output 'y'");
    expectInferError(() => decodeJson({ inputs, outputs: [{ name: 'y', parameters: { k: [1] } }] }), 'INVALID_ARG', "parameter 'k' of output 'y'");
  });

  it('keeps a "__proto__" key as a plain parameter without touching prototypes', () => {
    const req = decodeJson('{"parameters":{"__proto__":"x"},"inputs":[]}');
    expect(Object.keys(req.parameters)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(req.parameters)).toBe(Object.prototype);
  });
});

describe('decodeHttpInferRequest: limits', () => {
  const one = { name: 'x', shape: [1], datatype: 'FP32', data: [1] };

  it('maxBodyBytes', () => {
    const { body } = makeBody({ inputs: [one] });
    expect(() => decodeHttpInferRequest(body, { modelName: 'm', limits: limitsWith({ maxBodyBytes: body.byteLength }) })).not.toThrow();
    expectInferError(() => decodeHttpInferRequest(body, { modelName: 'm', limits: limitsWith({ maxBodyBytes: body.byteLength - 1 }) }),
      'INVALID_ARG', "'maxBodyBytes'", `(${body.byteLength})`, 'raise');
  });

  it('maxHeaderBytes', () => {
    const { body, headerLength } = makeBody({ inputs: [{ ...one, data: undefined, parameters: { binary_data_size: 4 } }] }, f32bytes(1));
    expect(() => decodeHttpInferRequest(body, { modelName: 'm', headerLength, limits: limitsWith({ maxHeaderBytes: headerLength }) })).not.toThrow();
    expectInferError(() => decodeHttpInferRequest(body, { modelName: 'm', headerLength, limits: limitsWith({ maxHeaderBytes: headerLength - 1 }) }),
      'INVALID_ARG', "'maxHeaderBytes'");
  });

  it('maxInputs and maxOutputs', () => {
    const two = { inputs: [one, { ...one, name: 'y' }], outputs: [{ name: 'a' }, { name: 'b' }] };
    expect(decodeJson(two, { limits: limitsWith({ maxInputs: 2, maxOutputs: 2 }) }).inputs).toHaveLength(2);
    expectInferError(() => decodeJson(two, { limits: limitsWith({ maxInputs: 1 }) }), 'INVALID_ARG', "'maxInputs'", '(2)');
    expectInferError(() => decodeJson(two, { limits: limitsWith({ maxOutputs: 1 }) }), 'INVALID_ARG', "'maxOutputs'");
  });

  it('maxRank', () => {
    const deep = { inputs: [{ ...one, shape: [1, 1, 1, 1] }] };
    expect(decodeJson(deep, { limits: limitsWith({ maxRank: 4 }) }).inputs[0].shape).toEqual([1, 1, 1, 1]);
    expectInferError(() => decodeJson(deep, { limits: limitsWith({ maxRank: 3 }) }), 'INVALID_ARG', "'maxRank'", "input 'x'");
    expectInferError(() => decodeJson({ inputs: [{ ...one, shape: new Array(33).fill(1) }] }), 'INVALID_ARG', "'maxRank'", '(32)');
  });

  it('maxElements, before any allocation, without overflow on huge shapes', () => {
    expectInferError(() => decodeJson({ inputs: [{ ...one, shape: [4] , data: [1, 2, 3, 4] }] }, { limits: limitsWith({ maxElements: 3 }) }),
      'INVALID_ARG', "'maxElements'", "input 'x'");
    expectInferError(() => decodeJson({ inputs: [{ ...one, shape: [2 ** 40, 2 ** 40], data: [1] }] }), 'INVALID_ARG', "'maxElements'");
    expectInferError(() => decodeBin({ inputs: [{ name: 'x', shape: [1 << 29], datatype: 'BOOL', parameters: { binary_data_size: 1 } }] },
      [new Uint8Array(1)]), 'INVALID_ARG', "'maxElements'");
    // A zero dimension makes any shape empty.
    expect(decodeJson({ inputs: [{ ...one, shape: [2 ** 40, 0], data: [] }] }).inputs[0].data).toHaveLength(0);
  });

  it('maxParameters at every level', () => {
    const limits = limitsWith({ maxParameters: 1 });
    expect(decodeJson({ parameters: { a: 1 }, inputs: [one] }, { limits }).parameters).toEqual({ a: 1 });
    expectInferError(() => decodeJson({ parameters: { a: 1, b: 2 }, inputs: [one] }, { limits }), 'INVALID_ARG', "'maxParameters'");
    expectInferError(() => decodeJson({ inputs: [{ ...one, parameters: { a: 1, b: 2 } }] }, { limits }), 'INVALID_ARG', "'maxParameters'", "input 'x'");
    expectInferError(() => decodeJson({ inputs: [one], outputs: [{ name: 'y', parameters: { a: 1, b: 2 } }] }, { limits }), 'INVALID_ARG',
      "'maxParameters'", "output 'y'");
  });

  it('maxJsonInputBytes (Triton --http-max-input-size) and maxJsonDepth on request data', () => {
    const four = { inputs: [{ ...one, shape: [4], data: [1, 2, 3, 4] }] };
    expect(decodeJson(four, { limits: limitsWith({ maxJsonInputBytes: 16 }) }).inputs[0].data).toHaveLength(4);
    expectInferError(() => decodeJson(four, { limits: limitsWith({ maxJsonInputBytes: 15 }) }), 'INVALID_ARG', "'maxJsonInputBytes'", '--http-max-input-size');
    expectInferError(() => decodeJson({ inputs: [{ ...one, data: [[[1]]] }] }, { limits: limitsWith({ maxJsonDepth: 2 }) }), 'INVALID_ARG', "'maxJsonDepth'");
  });

  it('maxBytesElementBytes on binary BYTES inputs', () => {
    const blob = encodeBytesTensor([new Uint8Array(6)]);
    const header = { inputs: [{ name: 's', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: blob.byteLength } }] };
    expect(decodeBin(header, [blob], { limits: limitsWith({ maxBytesElementBytes: 6 }) }).inputs[0].data).toHaveLength(1);
    expectInferError(() => decodeBin(header, [blob], { limits: limitsWith({ maxBytesElementBytes: 5 }) }), 'INVALID_ARG', "'maxBytesElementBytes'");
  });
});

describe('decodeHttpInferRequest: raw binary request (Inference-Header-Content-Length: 0)', () => {
  it('feeds the whole body to the single input, deducing the -1 dimension', () => {
    const body = f32bytes(1, 2, 3, 4);
    const req = decodeHttpInferRequest(body, { modelName: 'm', modelVersion: '2', headerLength: 0, rawInput: { name: 'in', datatype: 'FP32', shape: [1, -1] } });
    expect(req.modelVersion).toBe('2');
    expect(req.inputs).toHaveLength(1);
    expect(req.inputs[0]).toMatchObject({ name: 'in', datatype: 'FP32', shape: [1, 4] });
    expect(values(req.inputs[0].data)).toEqual([1, 2, 3, 4]);
    expect(req.parameters.binary_data_output).toBe(true);
    expect(binaryOutputNames(req, ['o0', 'o1'])).toEqual(new Set(['o0', 'o1']));
  });

  it('takes a BYTES input of shape [1]', () => {
    const req = decodeHttpInferRequest(encodeBytesTensor([utf8.encode('hello')]), {
      modelName: 'm', headerLength: 0, rawInput: { name: 's', datatype: 'BYTES', shape: [1] },
    });
    expect(values(req.inputs[0].data)).toEqual(['hello']);
  });

  it('checks the size against a fixed shape', () => {
    expectInferError(() => decodeHttpInferRequest(f32bytes(1, 2, 3), { modelName: 'm', headerLength: 0, rawInput: { name: 'in', datatype: 'FP32', shape: [4] } }),
      'INVALID_ARG', "input byte size mismatch for input 'in' for model 'm'. Expected 16, got 12");
    expectInferError(() => decodeHttpInferRequest(new Uint8Array(6), { modelName: 'm', headerLength: 0, rawInput: { name: 'in', datatype: 'FP32', shape: [-1] } }),
      'INVALID_ARG', 'not a whole number of FP32 elements');
    expectInferError(() => decodeHttpInferRequest(f32bytes(1, 2, 3), { modelName: 'm', headerLength: 0, rawInput: { name: 'in', datatype: 'FP32', shape: [2, -1] } }),
      'INVALID_ARG', 'do not fill shape');
  });

  it('refuses a model that does not qualify, and shapes with two variable dimensions', () => {
    expectInferError(() => decodeHttpInferRequest(f32bytes(1), { modelName: 'm', headerLength: 0 }), 'INVALID_ARG',
      "model 'm' cannot take a raw binary request", 'exactly one input');
    expectInferError(() => decodeHttpInferRequest(f32bytes(1), { modelName: 'm', headerLength: 0, rawInput: { name: 'in', datatype: 'FP32', shape: [-1, -1] } }),
      'INVALID_ARG', 'at most one dimension may be -1');
  });
});

describe('binaryOutputNames', () => {
  const base: InferRequest = { modelName: 'm', parameters: {}, inputs: [] };
  it('is empty by default (JSON outputs)', () => {
    expect(binaryOutputNames(base, ['a', 'b'])).toEqual(new Set());
  });
  it('binary_data_output makes every model output binary when none is named', () => {
    expect(binaryOutputNames({ ...base, parameters: { binary_data_output: true } }, ['a', 'b'])).toEqual(new Set(['a', 'b']));
  });
  it('per-output binary_data overrides the request default both ways', () => {
    const req: InferRequest = {
      ...base,
      parameters: { binary_data_output: true },
      outputs: [{ name: 'a' }, { name: 'b', parameters: { binary_data: false } }],
    };
    expect(binaryOutputNames(req, ['a', 'b', 'c'])).toEqual(new Set(['a']));
    const req2: InferRequest = { ...base, outputs: [{ name: 'a', parameters: { binary_data: true } }, { name: 'b' }] };
    expect(binaryOutputNames(req2, ['a', 'b'])).toEqual(new Set(['a']));
  });
});

describe('encodeHttpInferResponse', () => {
  const f32 = (name: string, shape: number[], vals: number[]): Tensor => ({ name, datatype: 'FP32', shape, data: new Float32Array(vals) });

  it('writes a JSON-only response: model_name and model_version always, flat data, no id/parameters when empty', () => {
    const resp: InferResponse = { modelName: 'm', modelVersion: '1', id: '', parameters: {}, outputs: [f32('output0', [3, 2], [1, 1.5, 2, 2.5, 3, 3.5])] };
    const enc = encodeHttpInferResponse(resp, { binaryOutputs: new Set() });
    expect(enc.contentType).toBe('application/json');
    expect(enc.chunks).toHaveLength(1);
    expect(enc.headerLength).toBe(enc.chunks[0].byteLength);
    const json = JSON.parse(text.decode(enc.chunks[0]));
    expect(json).toEqual({
      model_name: 'm', model_version: '1',
      outputs: [{ name: 'output0', datatype: 'FP32', shape: [3, 2], data: [1, 1.5, 2, 2.5, 3, 3.5] }],
    });
    expect('id' in json).toBe(false);
    expect('parameters' in json).toBe(false);
  });

  it('echoes a non-empty id and non-empty response parameters', () => {
    const enc = encodeHttpInferResponse({ modelName: 'm', modelVersion: '2', id: '42', parameters: { p: 1 }, outputs: [] }, { binaryOutputs: new Set() });
    expect(JSON.parse(text.decode(enc.chunks[0]))).toEqual({ model_name: 'm', model_version: '2', id: '42', parameters: { p: 1 }, outputs: [] });
  });

  it('writes the extension\'s example binary response: binary_data_size 24, no data, blob after the JSON', () => {
    const t = f32('output0', [3, 2], [1, 2, 3, 4, 5, 6]);
    const enc = encodeHttpInferResponse({ modelName: 'mymodel', modelVersion: '1', outputs: [t] }, { binaryOutputs: new Set(['output0']) });
    expect(enc.contentType).toBe('application/octet-stream');
    expect(enc.chunks).toHaveLength(2);
    const json = JSON.parse(text.decode(enc.chunks[0]));
    expect(json.outputs).toEqual([{ name: 'output0', datatype: 'FP32', shape: [3, 2], parameters: { binary_data_size: 24 } }]);
    expect(enc.chunks[1].byteLength).toBe(24);
    // A view of the tensor's memory: no copy.
    expect(enc.chunks[1].buffer).toBe((t.data as Float32Array).buffer);
    const body = concatChunks(enc.chunks);
    expect(body.byteLength).toBe(enc.headerLength + 24);
    expect(Array.from(new Float32Array(body.slice(enc.headerLength).buffer))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('puts blobs in output order, merges output parameters, and counts the header in bytes', () => {
    const outputs: TensorWithParameters[] = [
      { ...f32('a✓', [1], [7]), parameters: { note: 'x' } },
      { name: 'b', datatype: 'INT32', shape: [2], data: new Int32Array([1, 2]) },
      { name: 'c', datatype: 'BYTES', shape: [2], data: [utf8.encode('ab'), new Uint8Array(0)] },
    ];
    const enc = encodeHttpInferResponse({ modelName: 'mödel', modelVersion: '1', outputs }, { binaryOutputs: new Set(['a✓', 'c']) });
    const headerText = text.decode(enc.chunks[0]);
    expect(enc.headerLength).toBe(utf8.encode(headerText).byteLength);
    expect(enc.headerLength).toBeGreaterThan(headerText.length); // non-ASCII: bytes > characters
    const json = JSON.parse(headerText);
    expect(json.outputs[0].parameters).toEqual({ note: 'x', binary_data_size: 4 });
    expect(json.outputs[1]).toEqual({ name: 'b', datatype: 'INT32', shape: [2], data: [1, 2] });
    expect(json.outputs[2].parameters).toEqual({ binary_data_size: 10 });
    expect(enc.chunks.map((c) => c.byteLength)).toEqual([enc.headerLength, 4, 10]);
    expect(Array.from(enc.chunks[2])).toEqual([2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0]);
  });

  it('writes output parameters on JSON outputs too, dropping a stale binary_data_size', () => {
    const t: TensorWithParameters = { ...f32('a', [1], [1]), parameters: { binary_data_size: 4, k: 'v' } };
    const json = JSON.parse(text.decode(encodeHttpInferResponse({ modelName: 'm', modelVersion: '1', outputs: [t] }, { binaryOutputs: new Set() }).chunks[0]));
    expect(json.outputs[0]).toEqual({ name: 'a', datatype: 'FP32', shape: [1], parameters: { k: 'v' }, data: [1] });
  });

  it('refuses output data that does not match the shape (Triton text, INTERNAL)', () => {
    expectInferError(() => encodeHttpInferResponse({ modelName: 'm', modelVersion: '1', outputs: [f32('o', [3], [1, 2])] }, { binaryOutputs: new Set() }),
      'INTERNAL', "output tensor shape does not match size of output for 'o'");
    expectInferError(() => encodeHttpInferResponse({ modelName: 'm', modelVersion: '1', outputs: [{ name: 'o', datatype: 'FP64', shape: [1], data: new Float32Array(1) }] },
      { binaryOutputs: new Set(['o']) }), 'INTERNAL', "'o'");
  });

  it('refuses FP16 outputs as JSON but sends them as binary', () => {
    const h: Tensor = { name: 'h', datatype: 'FP16', shape: [1], data: new Uint16Array([0x3c00]) };
    expectInferError(() => encodeHttpInferResponse({ modelName: 'm', modelVersion: '1', outputs: [h] }, { binaryOutputs: new Set() }), 'INVALID_ARG',
      "sending FP16 data via JSON is not supported. Please use the binary data format for output 'h'");
    const enc = encodeHttpInferResponse({ modelName: 'm', modelVersion: '1', outputs: [h] }, { binaryOutputs: new Set(['h']) });
    expect(Array.from(enc.chunks[1])).toEqual([0x00, 0x3c]);
  });
});

/** A tensor of `dt` with three representative values. */
function sample(dt: DataType): Tensor {
  const shape = [3];
  switch (dt) {
    case 'BOOL': return { name: dt, datatype: dt, shape, data: new Uint8Array([1, 0, 1]) };
    case 'UINT8': return { name: dt, datatype: dt, shape, data: new Uint8Array([0, 128, 255]) };
    case 'UINT16': return { name: dt, datatype: dt, shape, data: new Uint16Array([0, 1, 65535]) };
    case 'UINT32': return { name: dt, datatype: dt, shape, data: new Uint32Array([0, 1, 4294967295]) };
    case 'UINT64': return { name: dt, datatype: dt, shape, data: new BigUint64Array([0n, 1n, 2n ** 53n]) };
    case 'INT8': return { name: dt, datatype: dt, shape, data: new Int8Array([-128, 0, 127]) };
    case 'INT16': return { name: dt, datatype: dt, shape, data: new Int16Array([-32768, 0, 32767]) };
    case 'INT32': return { name: dt, datatype: dt, shape, data: new Int32Array([-2147483648, 0, 2147483647]) };
    case 'INT64': return { name: dt, datatype: dt, shape, data: new BigInt64Array([-(2n ** 53n), 0n, 2n ** 53n]) };
    case 'FP16': return { name: dt, datatype: dt, shape, data: new Uint16Array([0x3c00, 0, 0xc000]) };
    case 'BF16': return { name: dt, datatype: dt, shape, data: new Uint16Array([0x3f80, 0, 0xc000]) };
    case 'FP32': return { name: dt, datatype: dt, shape, data: new Float32Array([-1.5, 0, 3.25]) };
    case 'FP64': return { name: dt, datatype: dt, shape, data: new Float64Array([Math.PI, 0, -1e300]) };
    case 'BYTES': return { name: dt, datatype: dt, shape, data: [utf8.encode('ab'), new Uint8Array(0), utf8.encode('✓')] };
  }
}

describe('client encode → server decode round trips', () => {
  for (const binaryInputs of [false, true]) {
    it(`every datatype survives encodeHttpInferRequest → decodeHttpInferRequest (binaryInputs: ${binaryInputs})`, () => {
      const req: InferRequest = {
        modelName: 'm', id: 'r1', parameters: { sequence_id: 'seq', priority: 2, custom: 'c' },
        inputs: DATATYPES.map(sample), outputs: [{ name: 'out', parameters: { classification: 2 } }],
      };
      const enc = encodeHttpInferRequest(req, { binaryInputs, binaryOutputs: true });
      // FP16 and BF16 always travel as binary, so the body is never pure JSON here.
      expect(enc.contentType).toBe('application/octet-stream');
      expect(enc.chunks).toHaveLength(1 + (binaryInputs ? DATATYPES.length : 2));
      const back = decodeHttpInferRequest(concatChunks(enc.chunks), { modelName: 'm', headerLength: enc.headerLength });
      expect(back.id).toBe('r1');
      expect(back.parameters).toEqual({ sequence_id: 'seq', priority: 2, custom: 'c' });
      expect(back.outputs).toEqual([{ name: 'out', parameters: { classification: 2, binary_data: true } }]);
      expect(back.inputs.map((i) => i.name)).toEqual([...DATATYPES]);
      for (let i = 0; i < DATATYPES.length; i++) {
        const sent = req.inputs[i];
        const got = back.inputs[i];
        expect(got.datatype).toBe(sent.datatype);
        expect(got.shape).toEqual(sent.shape);
        expect(values(got.data)).toEqual(values(sent.data));
        if (!Array.isArray(sent.data)) expect(got.data.constructor).toBe(sent.data.constructor);
        const isBinary = binaryInputs || sent.datatype === 'FP16' || sent.datatype === 'BF16';
        expect(got.parameters?.binary_data_size).toBe(isBinary ? tensorBinaryByteSize(sent) : undefined);
      }
    });
  }

  it('sends a pure JSON body when nothing is binary, and binary_data_output when no output is named', () => {
    const req: InferRequest = { modelName: 'm', parameters: {}, inputs: [sample('FP32')] };
    const enc = encodeHttpInferRequest(req, { binaryInputs: false, binaryOutputs: true });
    expect(enc.contentType).toBe('application/json');
    expect(enc.chunks).toHaveLength(1);
    const back = decodeHttpInferRequest(enc.chunks[0], { modelName: 'm' });
    expect(back.parameters).toEqual({ binary_data_output: true });
    expect(binaryOutputNames(back, ['x', 'y'])).toEqual(new Set(['x', 'y']));
  });

  it('drops a stale binary_data_size from a JSON input and replaces it on a binary one', () => {
    const t = { ...sample('INT32'), parameters: { binary_data_size: 999, keep: true } };
    const req: InferRequest = { modelName: 'm', parameters: {}, inputs: [t] };
    const asJson = decodeHttpInferRequest(concatChunks(encodeHttpInferRequest(req, { binaryInputs: false }).chunks), { modelName: 'm' });
    expect(asJson.inputs[0].parameters).toEqual({ keep: true });
    const enc = encodeHttpInferRequest(req, { binaryInputs: true });
    const asBin = decodeHttpInferRequest(concatChunks(enc.chunks), { modelName: 'm', headerLength: enc.headerLength });
    expect(asBin.inputs[0].parameters).toEqual({ keep: true, binary_data_size: 12 });
  });
});

describe('server encode → client decode round trips (decodeHttpInferResponse)', () => {
  const outputs = DATATYPES.map(sample);
  const jsonable = outputs.filter((t) => t.datatype !== 'FP16' && t.datatype !== 'BF16');

  it('every datatype survives as binary', () => {
    const enc = encodeHttpInferResponse({ modelName: 'm', modelVersion: '7', id: 'q', outputs }, { binaryOutputs: new Set(DATATYPES) });
    const resp = decodeHttpInferResponse(concatChunks(enc.chunks), enc.headerLength);
    expect(resp).toMatchObject({ modelName: 'm', modelVersion: '7', id: 'q' });
    expect(resp.outputs.map((o) => values(o.data))).toEqual(outputs.map((o) => values(o.data)));
    expect((resp.outputs[0] as TensorWithParameters).parameters).toEqual({ binary_data_size: 3 });
  });

  it('every JSON-capable datatype survives as JSON', () => {
    const enc = encodeHttpInferResponse({ modelName: 'm', modelVersion: '7', outputs: jsonable }, { binaryOutputs: new Set() });
    expect(enc.contentType).toBe('application/json');
    const resp = decodeHttpInferResponse(enc.chunks[0]);
    expect(resp.outputs.map((o) => values(o.data))).toEqual(jsonable.map((o) => values(o.data)));
    expect(resp.outputs.map((o) => o.data.constructor)).toEqual(jsonable.map((o) => o.data.constructor));
  });

  it('reads null as NaN in client-decoded float outputs', () => {
    const enc = encodeHttpInferResponse({ modelName: 'm', modelVersion: '1', outputs: [{ name: 'f', datatype: 'FP32', shape: [2], data: new Float32Array([NaN, 1]) }] },
      { binaryOutputs: new Set() });
    const d = decodeHttpInferResponse(enc.chunks[0]).outputs[0].data as Float32Array;
    expect(Number.isNaN(d[0])).toBe(true);
    expect(d[1]).toBe(1);
  });

  it('turns an error body into an InferError carrying the server\'s message', () => {
    expectInferError(() => decodeHttpInferResponse(utf8.encode(encodeErrorBody('boom'))), 'UNKNOWN', 'boom');
  });

  it('refuses short or leftover binary output data', () => {
    const enc = encodeHttpInferResponse({ modelName: 'm', modelVersion: '1', outputs: [sample('FP32')] }, { binaryOutputs: new Set(['FP32']) });
    const body = concatChunks(enc.chunks);
    expectInferError(() => decodeHttpInferResponse(body.subarray(0, body.byteLength - 1), enc.headerLength), 'INVALID_ARG', 'expecting 1 additional bytes');
    expectInferError(() => decodeHttpInferResponse(concatChunks([body, new Uint8Array(2)]), enc.headerLength), 'INVALID_ARG', 'unexpected additional output data');
  });
});

describe('encodeErrorBody', () => {
  it('writes {"error": message} with JSON escaping', () => {
    expect(encodeErrorBody('bad')).toBe('{"error":"bad"}');
    const msg = 'quote " backslash \\ newline \n';
    expect(JSON.parse(encodeErrorBody(msg))).toEqual({ error: msg });
  });
});
