import { describe, expect, test } from 'vitest';
import { concatBatch, splitBatch } from '../../core/batch-tensors.ts';
import { outputUnion, sameBatchShape, selectOutputs } from '../../core/batch-key.ts';
import type { Tensor } from '../../protocol/tensor.ts';
import { req } from '../support/scheduler-fixtures.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('concatBatch', () => {
  test('one request passes its tensors through untouched (zero copy)', () => {
    const r = req(1, { batch: 2, extraInputs: 1 });
    const out = concatBatch([r.inputs], ['INPUT1', 'INPUT0']);
    expect(out[0]).toBe(r.inputs[1]);
    expect(out[1]).toBe(r.inputs[0]);
  });

  test('typed inputs are concatenated along dim 0, by name, in inputNames order', () => {
    const a = req(1, { batch: 1, dims: [3], extraInputs: 1 });
    const b = req(2, { batch: 2, dims: [3], extraInputs: 1 });
    b.inputs.reverse(); // inputs may come in any order
    const [i0, i1] = concatBatch([a.inputs, b.inputs], ['INPUT0', 'INPUT1']);
    expect(i0.name).toBe('INPUT0');
    expect(i0.shape).toEqual([3, 3]);
    expect(i0.data).toBeInstanceOf(Float32Array);
    expect(Array.from(i0.data as Float32Array)).toEqual([1000, 1001, 1002, 2000, 2001, 2002, 2003, 2004, 2005]);
    expect(i1.shape).toEqual([3, 3]);
    expect(Array.from(i1.data as Float32Array)).toEqual([1500, 1501, 1502, 2500, 2501, 2502, 2503, 2504, 2505]);
    // A new allocation: the requests' own buffers are not written.
    expect(i0.data).not.toBe(a.inputs[0].data);
  });

  test('INT64 keeps BigInt64Array', () => {
    const [t] = concatBatch([req(1, { dtype: 'INT64', dims: [1] }).inputs, req(2, { dtype: 'INT64', dims: [1] }).inputs], ['INPUT0']);
    expect(t.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(t.data as BigInt64Array)).toEqual([1000n, 2000n]);
  });

  test('BYTES elements are concatenated as an array', () => {
    const a: Tensor = { name: 'S', datatype: 'BYTES', shape: [1, 2], data: [enc('a'), enc('b')] };
    const b: Tensor = { name: 'S', datatype: 'BYTES', shape: [2, 2], data: [enc('c'), enc('d'), enc('e'), enc('f')] };
    const [t] = concatBatch([[a], [b]], ['S']);
    expect(t.shape).toEqual([3, 2]);
    expect((t.data as Uint8Array[]).map(dec)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect((t.data as Uint8Array[])[2]).toBe((b.data as Uint8Array[])[0]);
  });

  test('mismatched rows or a missing input is an INTERNAL error', () => {
    expect(() => concatBatch([req(1, { dims: [2] }).inputs, req(2, { dims: [3] }).inputs], ['INPUT0'])).toThrow(/INPUT0/);
    expect(() => concatBatch([req(1).inputs, req(2).inputs], ['NOPE'])).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => concatBatch([req(1).inputs, req(2, { dtype: 'INT32' }).inputs], ['INPUT0'])).toThrow(/INT32/);
  });
});

describe('splitBatch', () => {
  test('slices along dim 0 into subarray views that share the batch buffer', () => {
    const data = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const out: Tensor = { name: 'OUTPUT0', datatype: 'FP32', shape: [3, 2, 2], data };
    const parts = splitBatch([out], [1, 2]);
    expect(parts).toHaveLength(2);
    expect(parts[0][0].shape).toEqual([1, 2, 2]);
    expect(Array.from(parts[0][0].data as Float32Array)).toEqual([0, 1, 2, 3]);
    expect(parts[1][0].shape).toEqual([2, 2, 2]);
    expect(Array.from(parts[1][0].data as Float32Array)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expect((parts[1][0].data as Float32Array).buffer).toBe(data.buffer);
    expect(out.shape).toEqual([3, 2, 2]); // the batch output is not mutated
  });

  test('BYTES outputs are sliced', () => {
    const out: Tensor = { name: 'S', datatype: 'BYTES', shape: [3], data: [enc('x'), enc('y'), enc('z')] };
    const parts = splitBatch([out], [2, 1]);
    expect((parts[0][0].data as Uint8Array[]).map(dec)).toEqual(['x', 'y']);
    expect((parts[1][0].data as Uint8Array[]).map(dec)).toEqual(['z']);
  });

  test('one request gets the outputs untouched', () => {
    const out: Tensor = { name: 'O', datatype: 'INT32', shape: [2, 1], data: Int32Array.from([5, 6]) };
    const parts = splitBatch([out], [2]);
    expect(parts[0][0]).toBe(out);
  });

  test('an output whose leading dim is not the batch total is INTERNAL, naming the output', () => {
    const bad: Tensor = { name: 'SCORES', datatype: 'FP32', shape: [4], data: new Float32Array(4) };
    let err: unknown;
    try {
      splitBatch([bad], [1, 2]);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ name: 'InferError', code: 'INTERNAL', reason: 'BACKEND' });
    expect((err as Error).message).toMatch(/'SCORES'.*max_batch_size > 0/);
    // Checked for a single request too.
    expect(() => splitBatch([bad], [3])).toThrow(/SCORES/);
  });

  test('data that does not fill the shape is INTERNAL', () => {
    const bad: Tensor = { name: 'O', datatype: 'FP32', shape: [2, 3], data: new Float32Array(5) };
    expect(() => splitBatch([bad], [1, 1])).toThrow(/'O' holds 5/);
  });
});

describe('batch key and output subsets', () => {
  test('equal non-batch dims and datatypes batch together; batch sizes may differ', () => {
    expect(sameBatchShape(req(1, { batch: 1 }), req(2, { batch: 3 }))).toBe(true);
    expect(sameBatchShape(req(1, { dims: [2] }), req(2, { dims: [3] }))).toBe(false);
    expect(sameBatchShape(req(1), req(2, { dtype: 'INT32' }))).toBe(false);
    expect(sameBatchShape(req(1), req(2, { extraInputs: 1 }))).toBe(false);
    expect(sameBatchShape(req(1, { dims: [2] }), req(2, { dims: [2, 1] }))).toBe(false);
    const swapped = req(2, { extraInputs: 1 });
    swapped.inputs.reverse();
    expect(sameBatchShape(req(1, { extraInputs: 1 }), swapped)).toBe(true);
  });

  test('output union keeps first-seen order and is the first list itself when all agree', () => {
    const a = req(1, { outputs: ['B', 'A'] });
    const b = req(2, { outputs: ['B', 'A'] });
    expect(outputUnion([a, b])).toBe(a.outputNames);
    const c = req(3, { outputs: ['C', 'A'] });
    expect(outputUnion([a, c, b])).toEqual(['B', 'A', 'C']);
  });

  test('selectOutputs picks each request its own subset in its own order', () => {
    const t = (name: string): Tensor => ({ name, datatype: 'FP32', shape: [1], data: new Float32Array(1) });
    const all = [t('B'), t('A'), t('C')];
    expect(selectOutputs(all, ['B', 'A', 'C'], ['C', 'B']).map((x) => x.name)).toEqual(['C', 'B']);
    expect(selectOutputs(all, ['B', 'A', 'C'], ['B', 'A', 'C'])).toBe(all);
  });
});
