/**
 * What a JS model may write as a tensor and what it gets told when it is wrong
 * (node-host/js-model-tensors.ts), tensor packing for postMessage, error codes of model
 * errors, and the signature a JS model's config gives (node-host/backend-js.ts).
 */
import { describe, expect, test } from 'vitest';
import { signatureFromConfig } from '../../node-host/backend-js.ts';
import { bytesToStrings, modelWireError, packTensors, toTensor } from '../../node-host/js-model-tensors.ts';
import { InferError } from '../../protocol/errors.ts';
import type { ModelConfig } from '../../core/model-config.ts';
import type { Tensor } from '../../protocol/tensor.ts';

const W = "model 'm' version 1: output";
const enc = (s: string) => new TextEncoder().encode(s);

function expectModelError(f: () => unknown, message: string): void {
  let caught: unknown;
  try { f(); } catch (e) { caught = e; }
  expect(caught, 'expected a throw').toBeInstanceOf(InferError);
  expect((caught as InferError).code).toBe('INTERNAL');
  expect((caught as InferError).reason).toBe('BACKEND');
  expect((caught as InferError).message).toBe(message);
}

describe('toTensor', () => {
  test('typed arrays say their datatype; shape defaults to [length]', () => {
    const f = new Float32Array([1, 2, 3]);
    expect(toTensor({ name: 'a', data: f }, W)).toEqual({ name: 'a', datatype: 'FP32', shape: [3], data: f });
    expect(toTensor({ name: 'b', data: new BigInt64Array([5n]) }, W).datatype).toBe('INT64');
    expect(toTensor({ name: 'c', data: new Int32Array(4), shape: [2, 2] }, W).shape).toEqual([2, 2]);
    expect(toTensor({ name: 'd', data: ['x', enc('y')] }, W)).toEqual({ name: 'd', datatype: 'BYTES', shape: [2], data: [enc('x'), enc('y')] });
    expect(toTensor({ name: 'e', data: [true, false] }, W)).toEqual({ name: 'e', datatype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) });
  });

  test('plain arrays are converted to the given or expected datatype', () => {
    expect(toTensor({ name: 'a', datatype: 'INT64', data: [1, 2n] }, W).data).toEqual(BigInt64Array.from([1n, 2n]));
    expect(toTensor({ name: 'a', data: [1.5, 2] }, W, { datatype: 'FP64' }).data).toEqual(Float64Array.from([1.5, 2]));
    expect(toTensor({ name: 'a', datatype: 'BOOL', data: Uint8Array.from([0, 7]) }, W).data).toEqual(Uint8Array.from([0, 1]));
    expect(toTensor({ name: 'a', datatype: 'FP32', data: new Float64Array([0.5]) }, W).data).toEqual(Float32Array.from([0.5]));
    // An output given in an object map gets its name from the key.
    expect(toTensor({ shape: [1], data: [3] }, W, { name: 'Y', datatype: 'INT32' })).toEqual({ name: 'Y', datatype: 'INT32', shape: [1], data: Int32Array.from([3]) });
  });

  test('mistakes are INTERNAL (the model is wrong) with a message naming the tensor and the fix', () => {
    expectModelError(() => toTensor(42, W), `${W}: expected a tensor object { name, datatype, shape, data }, got number 42`);
    expectModelError(() => toTensor({ data: [1] }, W), `${W}: the tensor has no name; give it a 'name' string`);
    expectModelError(() => toTensor({ name: 'a', data: 'abc' }, W), `${W} 'a': 'data' must be a typed array or an array, got the string "abc"`);
    expectModelError(() => toTensor({ name: 'a', datatype: 'FLOAT', data: [1] }, W), `${W} 'a': datatype "FLOAT" is not one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES, BF16`);
    expectModelError(() => toTensor({ name: 'a', datatype: 'INT32', data: [1] }, W, { datatype: 'FP32' }), `${W} 'a': datatype INT32, but the config declares FP32`);
    expectModelError(() => toTensor({ name: 'a', data: [1, 2] }, W), `${W} 'a': give a 'datatype' (BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES, BF16); it cannot be told from an array of 2`);
    expectModelError(() => toTensor({ name: 'a', data: [1, 2], shape: [3] }, W, { datatype: 'FP32' }), `${W} 'a': shape [3] holds 3 element(s) but data has 2`);
    expectModelError(() => toTensor({ name: 'a', data: [1], shape: [-1] }, W, { datatype: 'FP32' }), `${W} 'a': 'shape' must be an array of non-negative integers, got an array of 1`);
    expectModelError(() => toTensor({ name: 'a', datatype: 'INT64', data: [1.5] }, W), `${W} 'a': INT64 element 0 must be a bigint or a safe integer, got number 1.5`);
    expectModelError(() => toTensor({ name: 'a', datatype: 'INT32', data: ['x'] }, W), `${W} 'a': INT32 element 0 must be a number, got the string "x"`);
    expectModelError(() => toTensor({ name: 'a', datatype: 'BYTES', data: [1] }, W), `${W} 'a': BYTES element 0 must be a string or a Uint8Array, got number 1`);
    expectModelError(() => toTensor({ name: 'a', datatype: 'FP16', data: [1] }, W), `${W} 'a': FP16 data must be a Uint16Array of raw 16-bit patterns, got an array of 1`);
  });
});

describe('packTensors', () => {
  test('copies views into buffers of their own (BYTES into one) and lists them for transfer', () => {
    const big = new Float32Array(1024);
    big.set([7, 8], 10);
    const body = enc('..hello..world..');
    const tensors: Tensor[] = [
      { name: 'f', datatype: 'FP32', shape: [2], data: big.subarray(10, 12) },
      { name: 's', datatype: 'BYTES', shape: [2], data: [body.subarray(2, 7), body.subarray(9, 14)] },
    ];
    const { tensors: out, transfer } = packTensors(tensors);
    expect(Array.from(out[0].data as Float32Array)).toEqual([7, 8]);
    expect((out[0].data as Float32Array).buffer.byteLength).toBe(8);
    expect(bytesToStrings(out[1], 'x')).toEqual(['hello', 'world']);
    expect((out[1].data as Uint8Array[])[0].buffer.byteLength).toBe(10);
    expect(transfer).toHaveLength(2);
    // Transferring the copies leaves the originals intact.
    structuredClone(out, { transfer });
    expect(big[10]).toBe(7);
    expect(new TextDecoder().decode(body)).toBe('..hello..world..');
  });
});

describe('modelWireError', () => {
  test('keeps infermesh codes, anything else is INTERNAL; counted as BACKEND; prefixed once', () => {
    expect(modelWireError(new InferError('NOT_FOUND', 'no model x'), 'p: ')).toEqual({ code: 'NOT_FOUND', message: 'p: no model x', reason: 'BACKEND' });
    expect(modelWireError({ code: 'INVALID_ARG', message: 'bad' }, 'p: ')).toEqual({ code: 'INVALID_ARG', message: 'p: bad', reason: 'BACKEND' });
    expect(modelWireError(Object.assign(new Error('fs'), { code: 'ENOENT' }), 'p: ').code).toBe('INTERNAL');
    expect(modelWireError('plain string', 'p: ').message).toBe('p: plain string');
    expect(modelWireError(new Error('p: already prefixed'), 'p: ').message).toBe('p: already prefixed');
  });
});

describe('signatureFromConfig', () => {
  const cfg = (c: Partial<ModelConfig>) => c;

  test('inputs and outputs come from the config, with the batch dimension and reshape applied', () => {
    const sig = signatureFromConfig(cfg({
      max_batch_size: 4,
      input: [{ name: 'T', data_type: 'TYPE_STRING', dims: [1] } as ModelConfig['input'][0]],
      output: [{ name: 'S', data_type: 'TYPE_FP32', dims: [1], reshape: { shape: [] as number[] } } as ModelConfig['output'][0]],
    }), 'm');
    expect(sig).toEqual({ inputs: [{ name: 'T', datatype: 'BYTES', shape: [-1, 1] }], outputs: [{ name: 'S', datatype: 'FP32', shape: [-1] }] });
  });

  test('a config without inputs, outputs or a data_type says what to write', () => {
    expect(() => signatureFromConfig(cfg({ output: [] }), 'm')).toThrow(/config.pbtxt of 'm' has no inputs; a JavaScript model declares its tensors in config.pbtxt, e\.g\. input \[/);
    expect(() => signatureFromConfig(cfg({ input: [{ name: 'T', data_type: 'TYPE_FP32', dims: [1] } as ModelConfig['input'][0]] }), 'm')).toThrow(/has no outputs/);
    expect(() => signatureFromConfig(cfg({
      input: [{ name: 'T', dims: [1] } as unknown as ModelConfig['input'][0]],
      output: [{ name: 'S', data_type: 'TYPE_FP32', dims: [1] } as ModelConfig['output'][0]],
    }), 'm')).toThrow("config.pbtxt of 'm': input 'T' has no data_type");
  });
});
