/**
 * The page ↔ onnxruntime-web worker contract in Node (the same checks also run in Chromium:
 * test/browser/pages/worker-protocol.page.ts): tensor packing for transfer, ORT type and
 * metadata mapping, errors across the boundary, the comlink port over a real MessageChannel
 * (buffers move, a dead worker fails calls instead of hanging), and the embedded probe model.
 */
import { describe, expect, test } from 'vitest';
import * as Comlink from 'comlink';
import { buildModel } from '../../scripts/onnx-builder.ts';
import { InferError } from '../../protocol/errors.ts';
import type { Tensor } from '../../protocol/tensor.ts';
import { comlinkPort } from '../../browser-host/ort-web-client.ts';
import {
  WEB_PROBE_MODEL_BASE64, fromOrtOutput, fromWorkerError, packInputs, packTensor, sessionSignature, toWorkerError, transferList,
  type OrtWebWorkerApi, type PackedTensor,
} from '../../browser-host/worker-protocol.ts';

const t = (name: string, datatype: Tensor['datatype'], shape: number[], data: Tensor['data']): Tensor => ({ name, datatype, shape, data });

describe('packing inputs for the worker', () => {
  test('each datatype maps to its onnxruntime-web type, on a buffer of its own', () => {
    const cases: [Tensor, string][] = [
      [t('a', 'FP32', [2], new Float32Array([1.5, -2])), 'float32'],
      [t('b', 'INT64', [1], new BigInt64Array([-5n])), 'int64'],
      [t('c', 'UINT64', [1], new BigUint64Array([2n ** 63n])), 'uint64'],
      [t('d', 'FP16', [1], new Uint16Array([0x3c00])), 'float16'],
      [t('e', 'INT8', [1], new Int8Array([-1])), 'int8'],
      [t('f', 'FP64', [1], new Float64Array([Math.PI])), 'float64'],
      [t('g', 'UINT8', [1], new Uint8Array([255])), 'uint8'],
    ];
    for (const [tensor, type] of cases) {
      const p = packTensor(tensor);
      expect(p.type).toBe(type);
      expect(Array.from(p.data as ArrayLike<unknown>)).toEqual(Array.from(tensor.data as ArrayLike<unknown>));
      expect((p.data as Float32Array).buffer).not.toBe((tensor.data as Float32Array).buffer);
      expect((p.data as Float32Array).constructor).toBe(tensor.data.constructor);
    }
  });

  test('a view into a larger buffer is copied exactly, and the owner keeps its bytes', () => {
    const big = new Float32Array(1000).map((_, i) => i);
    const view = new Float32Array(big.buffer, 40, 3);
    const { inputs, transfer } = packInputs([t('x', 'FP32', [3], view), t('y', 'FP32', [3], view)]);
    expect(Array.from(inputs[0].data as Float32Array)).toEqual([10, 11, 12]);
    expect((inputs[0].data as Float32Array).buffer.byteLength).toBe(12);
    expect(transfer).toHaveLength(2);
    expect(new Set(transfer).size).toBe(2);
    expect(big[10]).toBe(10);
  });

  test('BOOL is normalised to 0/1 and BYTES become strings; what ORT cannot carry is refused', () => {
    expect(Array.from(packTensor(t('b', 'BOOL', [3], Uint8Array.of(0, 1, 7))).data as Uint8Array)).toEqual([0, 1, 1]);
    const enc = new TextEncoder();
    expect(packTensor(t('s', 'BYTES', [2], [enc.encode('héllo'), enc.encode('')])).data).toEqual(['héllo', '']);
    expect(() => packTensor(t('s', 'BYTES', [1], [Uint8Array.of(0xff)]))).toThrow(/BYTES element 0 is not NUL-free UTF-8/);
    expect(() => packTensor(t('s', 'BYTES', [1], [Uint8Array.of(65, 0, 66)]))).toThrow(/not NUL-free/);
    try {
      packTensor(t('h', 'BF16', [1], new Uint16Array(1)));
      expect.unreachable();
    } catch (e) {
      expect((e as InferError).code).toBe('UNSUPPORTED');
    }
  });

  test('transfer lists name each ArrayBuffer once and never a SharedArrayBuffer', () => {
    const a = new Float32Array(4);
    const shared = new Float32Array(new SharedArrayBuffer(16));
    const bytes = [Uint8Array.of(1), Uint8Array.of(2)];
    expect(transferList([a, a.subarray(1), shared, ['text'], bytes])).toEqual([a.buffer, bytes[0].buffer, bytes[1].buffer]);
  });
});

describe('outputs and signatures from onnxruntime-web', () => {
  test('outputs keep their arrays; FP16 becomes raw 16-bit patterns; strings become bytes', () => {
    const data = new Float32Array([1, 2]);
    expect(fromOrtOutput('y', { type: 'float32', dims: [1, 2], data }).data).toBe(data);
    const f16 = new Uint16Array([0x3c00, 0xc000]);
    const asF16Like = { buffer: f16.buffer, byteOffset: 0, length: 2 }; // what a Float16Array exposes
    const out = fromOrtOutput('h', { type: 'float16', dims: [2], data: asF16Like });
    expect(out.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(out.data as Uint16Array)).toEqual([0x3c00, 0xc000]);
    expect(fromOrtOutput('s', { type: 'string', dims: [1], data: ['ok'] }).data).toEqual([new TextEncoder().encode('ok')]);
    expect(() => fromOrtOutput('q', { type: 'int4', dims: [1], data: new Uint8Array(1) })).toThrow(/ORT type 'int4'/);
  });

  test('signatures: symbolic dimensions become -1, non-tensors are refused', () => {
    expect(sessionSignature(
      [{ name: 'x', isTensor: true, type: 'float32', shape: ['batch', 512] }],
      [{ name: 'y', isTensor: true, type: 'int64', shape: [-1, 3] }],
    )).toEqual({ inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 512] }], outputs: [{ name: 'y', datatype: 'INT64', shape: [-1, 3] }] });
    expect(() => sessionSignature([{ name: 'seq', isTensor: false }], [])).toThrow(/input 'seq' is not a tensor/);
  });
});

describe('errors across the worker boundary', () => {
  test('an InferError keeps its code and reason through structured clone', () => {
    const wire = structuredClone(toWorkerError(new InferError('INVALID_ARG', 'input x: bad', 'OTHER')));
    const back = fromWorkerError(wire, 'model m');
    expect(back).toBeInstanceOf(InferError);
    expect([back.code, back.message]).toEqual(['INVALID_ARG', 'input x: bad']);
  });

  test('anything else (a crashed worker, a plain Error) becomes UNAVAILABLE so the mesh retries elsewhere', () => {
    const e = fromWorkerError(new Error('DataCloneError'), 'model m version 1');
    expect([e.code, e.message]).toEqual(['UNAVAILABLE', 'model m version 1: the onnxruntime-web worker failed (DataCloneError)']);
  });
});

describe('the comlink port over a real MessageChannel', () => {
  function fakeWorker(api: Partial<OrtWebWorkerApi>) {
    const { port1, port2 } = new MessageChannel();
    Comlink.expose(api, port2 as unknown as Comlink.Endpoint);
    return { endpoint: port1 as unknown as Comlink.Endpoint, close: () => { port1.close(); port2.close(); } };
  }

  test('inputs are transferred (the packed copies are detached), outputs come back', async () => {
    let seen: PackedTensor[] = [];
    const w = fakeWorker({
      async run(_h, inputs) {
        seen = inputs;
        const y = new Float32Array((inputs[0].data as Float32Array).map((v) => v * 2));
        return Comlink.transfer([{ name: 'y', datatype: 'FP32' as const, shape: [2], data: y }], [y.buffer]);
      },
    });
    try {
      const { port } = comlinkPort(w.endpoint);
      const original = new Float32Array([1, 2]);
      const packed = packInputs([t('x', 'FP32', [2], original)]);
      const out = await port.run(7, packed.inputs, packed.transfer, ['y']);
      expect(Array.from(out[0].data as Float32Array)).toEqual([2, 4]);
      expect((packed.inputs[0].data as Float32Array).byteLength).toBe(0); // moved, not copied
      expect(Array.from(original)).toEqual([1, 2]); // the caller's tensor is untouched
      expect(Array.from(seen[0].data as Float32Array)).toEqual([1, 2]);
    } finally {
      w.close();
    }
  });

  test('a worker error keeps its code; a dead worker fails pending calls instead of hanging', async () => {
    const w = fakeWorker({
      async dispose() { throw toWorkerError(new InferError('NOT_FOUND', 'no such session')); },
      load: () => new Promise(() => undefined),
    });
    try {
      const { port } = comlinkPort(w.endpoint);
      await expect(port.dispose(3)).rejects.toMatchObject({ name: 'InferError', code: 'NOT_FOUND' });
      const pending = port.load(new Uint8Array(4), { label: 'm', provider: 'wasm' });
      (w.endpoint as unknown as EventTarget).dispatchEvent(new Event('error'));
      await expect(pending).rejects.toMatchObject({ name: 'InferError', code: 'UNAVAILABLE' });
      await expect(port.dispose(1)).rejects.toThrow(/the onnxruntime-web worker stopped/);
    } finally {
      w.close();
    }
  });
});

test('the embedded probe model is y = x + x built by scripts/onnx-builder.ts', () => {
  const model = buildModel({
    graphName: 'probe', inputs: [{ name: 'x', elemType: 'FLOAT', shape: [1] }], outputs: [{ name: 'y', elemType: 'FLOAT', shape: [1] }],
    nodes: [{ opType: 'Add', inputs: ['x', 'x'], outputs: ['y'], name: 'add' }],
  });
  expect(Buffer.from(model).toString('base64')).toBe(WEB_PROBE_MODEL_BASE64);
});
