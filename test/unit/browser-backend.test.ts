/**
 * The onnxruntime-web backends (browser-host/backend-ort-web.ts) against a fake worker port:
 * provider selection through the registry, one shared session per model version, the copy of
 * the model bytes the worker gets, cancellation, and error mapping. The real worker is
 * exercised in Chromium (test/browser/pages/worker-protocol.page.ts).
 */
import { describe, expect, test } from 'vitest';
import { BackendRegistry } from '../../core/backend-registry.ts';
import { silentLogger } from '../../core/logger.ts';
import type { ModelLoadInput } from '../../core/backend.ts';
import { InferError } from '../../protocol/errors.ts';
import { createOrtWebBackends, ORT_WEB_BACKEND_NAMES, type OrtWebWorkerPort } from '../../browser-host/backend-ort-web.ts';
import { toWorkerError, type WorkerInitResult } from '../../browser-host/worker-protocol.ts';

const READY_WEBGPU: WorkerInitResult = { provider: 'webgpu', reason: 'WebGPU on test', threads: 1, webgpu: { ok: true, reason: '' }, ortVersion: 'x' };
const READY_WASM: WorkerInitResult = { provider: 'wasm', reason: 'WASM: no adapter', threads: 1, webgpu: { ok: false, reason: 'no adapter here' }, ortVersion: 'x' };

function fakePort() {
  const calls: string[] = [];
  const loaded: Uint8Array[] = [];
  let next = 1;
  const port: OrtWebWorkerPort & { failRun?: unknown } = {
    async load(model, o) {
      calls.push(`load ${o.provider} ${o.label}`);
      loaded.push(model);
      return { handle: next++, signature: { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }] } };
    },
    async run(handle, inputs, transfer, outputNames) {
      calls.push(`run ${handle} ${transfer.length}`);
      if (port.failRun) throw port.failRun;
      return outputNames.map((n) => ({ name: n, datatype: 'FP32' as const, shape: inputs[0].dims, data: (inputs[0].data as Float32Array).map((v) => v + 1) }));
    },
    async dispose(handle) { calls.push(`dispose ${handle}`); },
  };
  return { port, calls, loaded };
}

function input(bytes: Uint8Array, instanceIndex = 0): ModelLoadInput {
  return { modelName: 'm', version: 1, bytes, parameters: {}, instanceIndex, logger: silentLogger };
}

describe('onnxruntime-web backends', () => {
  test('KIND_AUTO lands on WebGPU when the worker has it, on WASM with the reason when not', async () => {
    for (const [ready, device, refused] of [[READY_WEBGPU, 'webgpu', []], [READY_WASM, 'wasm', [{ backend: ORT_WEB_BACKEND_NAMES.webgpu, reason: 'WebGPU is not used in this tab: no adapter here' }]]] as const) {
      const registry = new BackendRegistry();
      for (const b of createOrtWebBackends({ port: fakePort().port, ready })) registry.register(b);
      const got = await registry.load('onnxruntime_onnx', 'KIND_AUTO', input(new Uint8Array(8)));
      expect(got.instance.device).toBe(device);
      expect(got.refused).toEqual(refused);
      // KIND_CPU never takes the GPU backend
      expect((await registry.load('onnxruntime_onnx', 'KIND_CPU', input(new Uint8Array(8)))).instance.device).toBe('wasm');
    }
  });

  test('instances of one version share one worker session; it is released with the last one', async () => {
    const { port, calls, loaded } = fakePort();
    const [webgpu] = createOrtWebBackends({ port, ready: READY_WEBGPU });
    const bytes = Uint8Array.of(1, 2, 3, 4);
    const a = await webgpu.load(input(bytes, 0));
    const b = await webgpu.load(input(bytes, 1));
    expect(calls).toEqual(['load webgpu model \'m\' version 1']);
    expect(loaded[0]).not.toBe(bytes); // the worker gets a copy it may own (transferred)
    expect(Array.from(loaded[0])).toEqual([1, 2, 3, 4]);
    await a.dispose();
    expect(calls).not.toContain('dispose 1');
    await b.dispose();
    expect(calls).toContain('dispose 1');
    await webgpu.load(input(bytes, 0)); // a reload creates a new session
    expect(calls.filter((c) => c.startsWith('load'))).toHaveLength(2);
  });

  test('runs pack and transfer the inputs; the outputs come back in order', async () => {
    const { port, calls } = fakePort();
    const [, wasm] = createOrtWebBackends({ port, ready: READY_WASM });
    const inst = await wasm.load(input(new Uint8Array(4)));
    const x = new Float32Array([1, 2, 3, 4]);
    const out = await inst.run([{ name: 'x', datatype: 'FP32', shape: [2, 2], data: x }], ['y']);
    expect(Array.from(out[0].data as Float32Array)).toEqual([2, 3, 4, 5]);
    expect(calls).toContain('run 1 1');
    expect(Array.from(x)).toEqual([1, 2, 3, 4]);
  });

  test('cancelled before running, worker errors keep their code, a dead worker is UNAVAILABLE, disposed refuses', async () => {
    const { port } = fakePort();
    const [, wasm] = createOrtWebBackends({ port, ready: READY_WASM });
    const inst = await wasm.load(input(new Uint8Array(4)));
    const x = [{ name: 'x', datatype: 'FP32' as const, shape: [1, 2], data: new Float32Array(2) }];
    await expect(inst.run(x, ['y'], { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'CANCELLED' });
    port.failRun = toWorkerError(new InferError('INTERNAL', 'onnxruntime-web failed to run m', 'BACKEND'));
    await expect(inst.run(x, ['y'])).rejects.toMatchObject({ name: 'InferError', code: 'INTERNAL', reason: 'BACKEND' });
    port.failRun = new Error('worker gone');
    await expect(inst.run(x, ['y'])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await inst.dispose();
    await expect(inst.run(x, ['y'])).rejects.toThrow(/instance was unloaded/);
  });

  test('a failed session load is not cached: the next load tries again', async () => {
    const { port } = fakePort();
    let fail = true;
    const load = port.load;
    port.load = (m, o) => (fail ? Promise.reject(toWorkerError(new InferError('INTERNAL', 'failed to load m: bad protobuf'))) : load(m, o));
    const [, wasm] = createOrtWebBackends({ port, ready: READY_WASM });
    const bytes = new Uint8Array(4);
    await expect(wasm.load(input(bytes))).rejects.toThrow(/bad protobuf/);
    fail = false;
    await expect(wasm.load(input(bytes))).resolves.toMatchObject({ device: 'wasm' });
  });
});
