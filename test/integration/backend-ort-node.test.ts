/**
 * The onnxruntime-node backends on real ONNX Runtime: every example model loads through the
 * Backend interface and computes what an independent JS computation says it should;
 * signatures, datatype conversions, availability errors and the error paths; and the worker
 * thread each session runs in: a free event loop, abort, crash and dispose.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, ModelInstance, ModelLoadInput } from '../../core/backend.ts';
import { silentLogger, type LogFields, type Logger } from '../../core/logger.ts';
import type { DataType } from '../../protocol/datatypes.ts';
import type { Tensor } from '../../protocol/tensor.ts';
import {
  crashOrtInstanceForTests, CUDA_NOT_INSTALLED, createOrtNodeBackends, ORT_BACKEND_NAMES, PROBE_MODEL_BASE64, type OrtNodeBackendsInit,
} from '../../node-host/backend-ort-node.ts';
import { liveOrtWorkerCount } from '../../node-host/ort-worker-client.ts';
import {
  ALL_TYPES, copiedFiles, DENSE_MLP_WIDTHS, denseMlpModel, EXAMPLES_DIR, FIXTURES_DIR, generatedFiles, probeModel, SILERO_VAD_SOURCE,
} from '../../scripts/example-models.ts';
import { decodeModel } from '../../scripts/onnx-builder.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const abs = (rel: string) => join(ROOT, rel);

function backendsWith(extra: Partial<OrtNodeBackendsInit> = {}): Map<string, Backend> {
  return new Map(createOrtNodeBackends({ logger: silentLogger, intraOpNumThreads: 1, ...extra }).map((b) => [b.name, b]));
}

function loadInput(modelName: string, bytes: Uint8Array, more: Partial<ModelLoadInput> = {}): ModelLoadInput {
  return { modelName, version: 1, bytes, parameters: {}, instanceIndex: 0, logger: silentLogger, ...more };
}

/** Reads a model the example repository holds, or builds it when it is git-ignored and absent. */
function exampleBytes(rel: string, build?: () => Uint8Array): { bytes: Uint8Array; path?: string } {
  if (existsSync(abs(rel))) return { bytes: readFileSync(abs(rel)), path: abs(rel) };
  if (!build) throw new Error(`${rel} is missing: run node scripts/make-example-models.ts`);
  return { bytes: build() };
}

/** Expects `p` to reject with an InferError of `code`, returning it for further checks. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<Error & { code: string; reason: string }> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e, 'expected a rejection').toBeDefined();
  expect((e as Error).name).toBe('InferError');
  expect((e as { code: string }).code).toBe(code);
  return e as Error & { code: string; reason: string };
}

const cpuBackends = backendsWith();
const cpu = cpuBackends.get(ORT_BACKEND_NAMES.cpu)!;
const instances: ModelInstance[] = [];
async function load(name: string, bytes: Uint8Array, more: Partial<ModelLoadInput> = {}): Promise<ModelInstance> {
  const inst = await cpu.load(loadInput(name, bytes, more));
  instances.push(inst);
  return inst;
}

beforeAll(async () => {
  await cpu.init();
});
afterAll(async () => {
  await Promise.all(instances.map((i) => i.dispose()));
  // Every session worker and probe worker this file started has exited: none leaks.
  expect(liveOrtWorkerCount()).toBe(0);
});

describe('backend objects', () => {
  it('are cuda > webgpu > cpu, serving ONNX platforms from model.onnx', () => {
    const list = createOrtNodeBackends({ logger: silentLogger });
    expect(list.map((b) => [b.name, b.deviceClass, b.priority])).toEqual([
      ['onnxruntime-cuda', 'gpu', 30], ['onnxruntime-webgpu', 'gpu', 20], ['onnxruntime-cpu', 'cpu', 10],
    ]);
    for (const b of list) {
      expect(b.platforms).toEqual(['onnxruntime_onnx', 'onnxruntime']);
      expect(b.defaultModelFilename).toBe('model.onnx');
    }
  });

  it('embed the probe model the generator produces', () => {
    expect(Buffer.from(probeModel()).toString('base64')).toBe(PROBE_MODEL_BASE64);
  });
});

describe('example repository', () => {
  it('committed files are what the generator writes (run node scripts/make-example-models.ts)', () => {
    for (const f of generatedFiles().filter((g) => !g.gitIgnored)) {
      expect(existsSync(abs(f.path)), `${f.path} exists`).toBe(true);
      expect(Buffer.compare(readFileSync(abs(f.path)), f.contents()), `${f.path} is up to date`).toBe(0);
    }
  });

  it('keeps every committed model under the 5 MB git limit', () => {
    for (const f of generatedFiles().filter((g) => !g.gitIgnored)) expect(f.contents().byteLength).toBeLessThan(5e6);
  });

  it('autocomplete_add has no config.pbtxt, simple and dense_mlp have one', () => {
    expect(existsSync(abs(`${EXAMPLES_DIR}/autocomplete_add/config.pbtxt`))).toBe(false);
    expect(readFileSync(abs(`${EXAMPLES_DIR}/simple/config.pbtxt`), 'utf8')).toMatch(/^name: "simple"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\n/);
    expect(readFileSync(abs(`${EXAMPLES_DIR}/dense_mlp/config.pbtxt`), 'utf8')).toMatch(/dynamic_batching \{/);
  });
});

describe('simple (INT32 add/sub, Triton quick-start model)', () => {
  let inst: ModelInstance;
  beforeAll(async () => {
    const { bytes } = exampleBytes(`${EXAMPLES_DIR}/simple/1/model.onnx`);
    inst = await load('simple', bytes);
  });

  it('reports its signature with a dynamic batch dimension', () => {
    expect(inst.device).toBe('cpu');
    expect(inst.signature).toEqual({
      inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] }, { name: 'INPUT1', datatype: 'INT32', shape: [-1, 16] }],
      outputs: [{ name: 'OUTPUT0', datatype: 'INT32', shape: [-1, 16] }, { name: 'OUTPUT1', datatype: 'INT32', shape: [-1, 16] }],
    });
  });

  it('adds and subtracts a batch, outputs in the requested order', async () => {
    const batch = 3;
    // Views at a non-zero offset of a larger buffer: the backend passes typed arrays to ORT
    // without copying, so it must respect byteOffset.
    const backing = new Int32Array(2 * batch * 16 + 5);
    const a = backing.subarray(1, 1 + batch * 16);
    const b = backing.subarray(5 + batch * 16, 5 + 2 * batch * 16);
    for (let i = 0; i < a.length; i++) { a[i] = i * 7 - 100; b[i] = 3 - i * i; }
    const [out1, out0] = await inst.run([
      { name: 'INPUT0', datatype: 'INT32', shape: [batch, 16], data: a },
      { name: 'INPUT1', datatype: 'INT32', shape: [batch, 16], data: b },
    ], ['OUTPUT1', 'OUTPUT0']);
    // Inputs are copied to the worker, never transferred: the caller's buffer stays usable.
    expect(backing.byteLength).toBe((2 * batch * 16 + 5) * 4);
    expect(a[1]).toBe(7 - 100);
    expect(out0.name).toBe('OUTPUT0');
    expect(out1.name).toBe('OUTPUT1');
    expect(out0.shape).toEqual([batch, 16]);
    expect(out0.datatype).toBe('INT32');
    expect(out0.data).toBeInstanceOf(Int32Array);
    for (let i = 0; i < a.length; i++) {
      expect(out0.data[i]).toBe((i * 7 - 100) + (3 - i * i));
      expect(out1.data[i]).toBe((i * 7 - 100) - (3 - i * i));
    }
  });

  it('turns a wrong input name into INTERNAL/BACKEND naming the model and ORT\'s reason', async () => {
    const e = await rejectsWith(inst.run([
      { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: new Int32Array(16) },
      { name: 'WRONG', datatype: 'INT32', shape: [1, 16], data: new Int32Array(16) },
    ], ['OUTPUT0']), 'INTERNAL');
    expect(e.reason).toBe('BACKEND');
    expect(e.message).toContain("'simple' version 1");
    // ORT's own words: it looks for each model input among the feeds.
    expect(e.message).toMatch(/'INPUT1' is missing/);
  });

  it('turns an ORT type mismatch into INTERNAL with ORT\'s message', async () => {
    const x = new Float32Array(16);
    const e = await rejectsWith(inst.run([
      { name: 'INPUT0', datatype: 'FP32', shape: [1, 16], data: x },
      { name: 'INPUT1', datatype: 'FP32', shape: [1, 16], data: x },
    ], ['OUTPUT0']), 'INTERNAL');
    expect(e.message).toMatch(/'simple'.*tensor\(float\).*tensor\(int32\)|'simple'.*int32.*float/s);
  });

  it('turns an unknown output name into INTERNAL', async () => {
    const x = new Int32Array(16);
    const e = await rejectsWith(inst.run([
      { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: x },
      { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: x },
    ], ['OUTPUT9']), 'INTERNAL');
    expect(e.message).toContain("'simple'");
  });

  it('refuses a request whose signal is already aborted', async () => {
    const x = new Int32Array(16);
    const ac = new AbortController();
    ac.abort();
    await rejectsWith(inst.run([
      { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: x },
      { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: x },
    ], ['OUTPUT0'], { signal: ac.signal }), 'CANCELLED');
  });
});

describe('dense_mlp (FP32 MLP)', () => {
  const rel = `${EXAMPLES_DIR}/dense_mlp/1/model.onnx`;
  const { bytes, path } = exampleBytes(rel, denseMlpModel);
  let inst: ModelInstance;
  beforeAll(async () => {
    // Through the path when the file exists, as the file-system model source does.
    inst = await load('dense_mlp', bytes, { path });
  });

  it('reports input [-1, 512] and output [-1, 512]', () => {
    const n = DENSE_MLP_WIDTHS[0];
    expect(inst.signature).toEqual({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, n] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, DENSE_MLP_WIDTHS[DENSE_MLP_WIDTHS.length - 1]] }],
    });
  });

  it('matches a plain JS forward pass over the weights the file holds (tol 1e-4)', async () => {
    const model = decodeModel(bytes);
    expect(model.opTypes).toEqual(['Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm']);
    const batch = 2;
    const n = DENSE_MLP_WIDTHS[0];
    const x = new Float32Array(batch * n);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 0.8;

    // Reference in float64: Gemm(A, W[in,out], b) = A·W + b; Relu = max(0, ·).
    let act: Float64Array = Float64Array.from(x);
    let width: number = n;
    for (const node of model.nodes) {
      if (node.opType === 'Relu') { act = act.map((v) => (v > 0 ? v : 0)); continue; }
      const w = model.initializers.get(node.inputs[1])!;
      const b = model.initializers.get(node.inputs[2])!;
      const [inSize, outSize] = w.dims;
      expect(inSize).toBe(width);
      const next = new Float64Array(batch * outSize);
      for (let r = 0; r < batch; r++) {
        for (let o = 0; o < outSize; o++) next[r * outSize + o] = b.values[o];
        for (let k = 0; k < inSize; k++) {
          const a = act[r * inSize + k];
          if (a === 0) continue;
          const row = k * outSize;
          for (let o = 0; o < outSize; o++) next[r * outSize + o] += a * w.values[row + o];
        }
      }
      act = next;
      width = outSize;
    }

    const [out] = await inst.run([{ name: 'input', datatype: 'FP32', shape: [batch, n], data: x }], ['output']);
    expect(out.shape).toEqual([batch, width]);
    expect(out.data).toBeInstanceOf(Float32Array);
    let maxErr = 0;
    let maxAbs = 0;
    for (let i = 0; i < act.length; i++) {
      maxErr = Math.max(maxErr, Math.abs((out.data[i] as number) - act[i]) / Math.max(1, Math.abs(act[i])));
      maxAbs = Math.max(maxAbs, Math.abs(act[i]));
    }
    expect(maxAbs).toBeGreaterThan(0.1); // outputs are not trivially zero
    expect(maxErr).toBeLessThan(1e-4);
  });

  it('gives each batch row the result it gets alone', async () => {
    const n = DENSE_MLP_WIDTHS[0];
    const x = new Float32Array(4 * n).map((_, i) => Math.cos(i));
    const [all] = await inst.run([{ name: 'input', datatype: 'FP32', shape: [4, n], data: x }], ['output']);
    const [third] = await inst.run([{ name: 'input', datatype: 'FP32', shape: [1, n], data: x.subarray(2 * n, 3 * n) }], ['output']);
    const w = third.data.length;
    for (let i = 0; i < w; i++) expect(third.data[i]).toBeCloseTo(all.data[2 * w + i] as number, 4);
  });
});

describe('autocomplete_add (no config.pbtxt)', () => {
  it('exposes x, y → sum with a dynamic first dimension and adds', async () => {
    const { bytes } = exampleBytes(`${EXAMPLES_DIR}/autocomplete_add/1/model.onnx`);
    const inst = await load('autocomplete_add', bytes);
    expect(inst.signature).toEqual({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }, { name: 'y', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'sum', datatype: 'FP32', shape: [-1, 4] }],
    });
    const x = Float32Array.from([1, 2, 3, 4, 0.5, -1, 1e6, -0]);
    const y = Float32Array.from([10, 20, 30, 40, 0.25, 1, 1, 0]);
    const [sum] = await inst.run([
      { name: 'x', datatype: 'FP32', shape: [2, 4], data: x },
      { name: 'y', datatype: 'FP32', shape: [2, 4], data: y },
    ], ['sum']);
    expect(sum.shape).toEqual([2, 4]);
    expect(Array.from(sum.data as Float32Array)).toEqual([11, 22, 33, 44, 0.75, 0, 1000001, 0]);
  });
});

describe('datatype conversion (all_types fixture)', () => {
  let inst: ModelInstance;
  const bytesOf = (s: string) => new TextEncoder().encode(s);
  const strings = ['héllo', '', '日本語', 'tab\there'];
  const n = strings.length;
  const inputs: Record<string, Tensor['data']> = {
    BOOL: Uint8Array.from([1, 0, 2, 1]), // 2 is "true" too: the backend normalises it
    UINT8: Uint8Array.from([0, 1, 200, 255]),
    UINT16: Uint16Array.from([0, 1, 40000, 65535]),
    UINT32: Uint32Array.from([0, 1, 3e9, 4294967295]),
    UINT64: BigUint64Array.from([0n, 1n, 2n ** 63n, 2n ** 64n - 1n]),
    INT8: Int8Array.from([-128, -1, 0, 127]),
    INT16: Int16Array.from([-32768, -1, 0, 32767]),
    INT32: Int32Array.from([-2147483648, -1, 0, 2147483647]),
    INT64: BigInt64Array.from([-(2n ** 63n), -1n, 2n ** 53n + 1n, 2n ** 63n - 1n]),
    FP16: Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001]), // 1, -2, 65504, smallest subnormal
    FP32: Float32Array.from([0, -1.5, 3.4e38, 1e-45]),
    FP64: Float64Array.from([0, -1.5, 1.7e308, 5e-324]),
    BYTES: strings.map(bytesOf),
  };
  const feeds = () => ALL_TYPES.map(([dt]): Tensor => ({ name: `in_${dt}`, datatype: dt as DataType, shape: [n], data: inputs[dt] }));

  beforeAll(async () => {
    inst = await load('all_types', readFileSync(abs(`${FIXTURES_DIR}/all_types/1/model.onnx`)));
  });

  it('maps every ORT type to its KServe datatype in the signature', () => {
    expect(inst.signature.inputs).toEqual(ALL_TYPES.map(([dt]) => ({ name: `in_${dt}`, datatype: dt, shape: [-1] })));
    expect(inst.signature.outputs.at(-1)).toEqual({ name: 'not_BOOL', datatype: 'BOOL', shape: [-1] });
  });

  it('round-trips every datatype through ORT with the protocol typed arrays', async () => {
    const outNames = ALL_TYPES.map(([dt]) => `out_${dt}`);
    const outs = await inst.run(feeds(), outNames);
    const expectedCtor: Record<string, unknown> = {
      BOOL: Uint8Array, UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array, UINT64: BigUint64Array,
      INT8: Int8Array, INT16: Int16Array, INT32: Int32Array, INT64: BigInt64Array, FP16: Uint16Array,
      FP32: Float32Array, FP64: Float64Array,
    };
    for (const [i, [dt]] of ALL_TYPES.entries()) {
      const o = outs[i];
      expect(o.name).toBe(`out_${dt}`);
      expect(o.datatype).toBe(dt);
      expect(o.shape).toEqual([n]);
      if (dt === 'BYTES') {
        expect((o.data as Uint8Array[]).map((b) => new TextDecoder().decode(b))).toEqual(strings);
        expect(o.data[0]).toBeInstanceOf(Uint8Array);
      } else if (dt === 'BOOL') {
        expect(Array.from(o.data as Uint8Array)).toEqual([1, 0, 1, 1]);
      } else {
        expect(o.data.constructor, dt).toBe(expectedCtor[dt]);
        expect(Array.from(o.data as ArrayLike<unknown>), dt).toEqual(Array.from(inputs[dt] as ArrayLike<unknown>));
      }
    }
  });

  it('takes Node Buffers as inputs without detaching them (pooled, or views of a larger one)', async () => {
    const pooled = Buffer.from([0, 1, 200, 255]); // a slice of Node's shared 8 KiB pool
    const big = Buffer.alloc(8192);
    const view = big.subarray(100, 104);
    view.set([1, 0, 2, 1]);
    const f = feeds().map((t) => (t.datatype === 'UINT8' ? { ...t, data: pooled } : t.datatype === 'BOOL' ? { ...t, data: view } : t));
    const [u8, not] = await inst.run(f, ['out_UINT8', 'not_BOOL']);
    expect(Array.from(u8.data as Uint8Array)).toEqual([0, 1, 200, 255]);
    expect(Array.from(not.data as Uint8Array)).toEqual([0, 1, 0, 0]);
    expect(big.byteLength).toBe(8192);
    expect(Array.from(view)).toEqual([1, 0, 2, 1]); // BOOL normalisation works on a copy
    expect(pooled.buffer.byteLength).toBeGreaterThan(0);
  });

  it('computes Not on BOOL', async () => {
    const [not] = await inst.run(feeds(), ['not_BOOL']);
    expect(not.datatype).toBe('BOOL');
    expect(Array.from(not.data as Uint8Array)).toEqual([0, 1, 0, 0]);
  });

  it('refuses BYTES that ORT strings cannot carry (not UTF-8, or holding NUL) with INVALID_ARG', async () => {
    for (const bad of [Uint8Array.from([0xff, 0xfe]), bytesOf('a\u0000b')]) {
      const f = feeds().map((t) => (t.datatype === 'BYTES' ? { ...t, data: [bytesOf('ok'), bad, bytesOf(''), bytesOf('')] } : t));
      const e = await rejectsWith(inst.run(f, ['out_BYTES']), 'INVALID_ARG');
      expect(e.message).toMatch(/in_BYTES.*element 1.*UTF-8/);
    }
  });

  it('refuses BF16 with UNSUPPORTED', async () => {
    const bf = feeds().map((t) => (t.datatype === 'FP16' ? { ...t, datatype: 'BF16' as const } : t));
    await rejectsWith(inst.run(bf, ['out_FP16']), 'UNSUPPORTED');
  });
});

describe('silero_vad (third-party model from @ricky0123/vad-web)', () => {
  const copied = copiedFiles().find((f) => f.path.includes('silero_vad'))!;
  // The example copy when the generator has run, the package file otherwise.
  const file = existsSync(abs(copied.path)) ? abs(copied.path) : abs(SILERO_VAD_SOURCE);

  it('loads, reports its stateful signature and gives a probability in [0, 1]', async () => {
    const inst = await load('silero_vad', readFileSync(file));
    expect(inst.signature).toEqual({
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [-1, -1] },
        { name: 'sr', datatype: 'INT64', shape: [] },
        { name: 'h', datatype: 'FP32', shape: [2, -1, 64] },
        { name: 'c', datatype: 'FP32', shape: [2, -1, 64] },
      ],
      outputs: [
        { name: 'output', datatype: 'FP32', shape: [-1, 1] },
        { name: 'hn', datatype: 'FP32', shape: [2, -1, 64] },
        { name: 'cn', datatype: 'FP32', shape: [2, -1, 64] },
      ],
    });
    // 512 samples at 16 kHz of a voiced-like signal (a 180 Hz tone with harmonics).
    const audio = new Float32Array(512).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 180 * i) / 16000) + 0.1 * Math.sin((2 * Math.PI * 540 * i) / 16000));
    let h: Float32Array<ArrayBufferLike> = new Float32Array(2 * 64);
    let c: Float32Array<ArrayBufferLike> = new Float32Array(2 * 64);
    for (let chunk = 0; chunk < 3; chunk++) {
      const [p, hn, cn] = await inst.run([
        { name: 'input', datatype: 'FP32', shape: [1, 512], data: audio },
        { name: 'sr', datatype: 'INT64', shape: [], data: BigInt64Array.from([16000n]) },
        { name: 'h', datatype: 'FP32', shape: [2, 1, 64], data: h },
        { name: 'c', datatype: 'FP32', shape: [2, 1, 64], data: c },
      ], ['output', 'hn', 'cn']);
      expect(p.shape).toEqual([1, 1]);
      expect(hn.shape).toEqual([2, 1, 64]);
      expect(cn.shape).toEqual([2, 1, 64]);
      const prob = p.data[0] as number;
      expect(prob).toBeGreaterThanOrEqual(0);
      expect(prob).toBeLessThanOrEqual(1);
      expect((hn.data as Float32Array).some((v) => v !== 0)).toBe(true);
      h = hn.data as Float32Array;
      c = cn.data as Float32Array;
    }
  });
});

describe('load errors', () => {
  it('reports bytes that are not an ONNX model as INTERNAL naming the model', async () => {
    const e = await rejectsWith(cpu.load(loadInput('garbage', new TextEncoder().encode('not a model'))), 'INTERNAL');
    expect(e.message).toContain("'garbage' version 1");
  });

  it('checks Triton ORT backend parameters and applies valid ones', async () => {
    const bytes = readFileSync(abs(`${EXAMPLES_DIR}/simple/1/model.onnx`));
    const e = await rejectsWith(cpu.load(loadInput('simple', bytes, { parameters: { intra_op_thread_count: 'many' } })), 'INVALID_ARG');
    expect(e.message).toContain('intra_op_thread_count');
    await rejectsWith(cpu.load(loadInput('simple', bytes, { parameters: { execution_mode: '2' } })), 'INVALID_ARG');
    const ok = await load('simple', bytes, { parameters: { intra_op_thread_count: '1', execution_mode: '1', inter_op_thread_count: '1', enable_mem_arena: 'false' } });
    expect(ok.signature.inputs).toHaveLength(2);
  });

  it('refuses to run after dispose', async () => {
    const inst = await cpu.load(loadInput('simple', readFileSync(abs(`${EXAMPLES_DIR}/simple/1/model.onnx`))));
    await inst.dispose();
    await inst.dispose(); // idempotent
    await rejectsWith(inst.run([], ['OUTPUT0']), 'UNAVAILABLE');
  });
});

describe('GPU backends', () => {
  let emptyBinDir: string;
  beforeAll(() => { emptyBinDir = mkdtempSync(join(tmpdir(), 'ort-bin-')); });
  afterAll(() => rmSync(emptyBinDir, { recursive: true, force: true }));

  const realCudaLib = (() => {
    try {
      const dir = join(ROOT, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch);
      return existsSync(join(dir, 'libonnxruntime_providers_cuda.so')) || existsSync(join(dir, 'onnxruntime_providers_cuda.dll'));
    } catch { return false; }
  })();

  it.skipIf(realCudaLib)('CUDA init on this machine says how to install the provider', async () => {
    const cuda = backendsWith().get(ORT_BACKEND_NAMES.cuda)!;
    const e = await cuda.init().then(() => undefined, (err: Error) => err);
    expect(e).toBeInstanceOf(Error);
    expect(e!.message).toContain('npm run setup:cuda');
    expect(e!.message).toContain(CUDA_NOT_INSTALLED);
    // A failed init is remembered: the second call gives the same reason without retrying.
    await expect(cuda.init()).rejects.toThrow(e!.message);
  });

  it('CUDA init says so when an NVIDIA GPU is present but the provider is missing', async () => {
    const cuda = backendsWith({ host: { platform: 'linux', arch: 'x64', binaryDir: emptyBinDir, nvidiaGpuEvidence: () => '/proc/driver/nvidia/version' } }).get(ORT_BACKEND_NAMES.cuda)!;
    await expect(cuda.init()).rejects.toThrow(/^an NVIDIA GPU is present \(\/proc\/driver\/nvidia\/version\) but the CUDA execution provider is not installed: run `npm run setup:cuda`/);
  });

  it('CUDA init without GPU evidence says no GPU is visible either', async () => {
    const cuda = backendsWith({ host: { platform: 'linux', arch: 'x64', binaryDir: emptyBinDir, nvidiaGpuEvidence: () => undefined } }).get(ORT_BACKEND_NAMES.cuda)!;
    await expect(cuda.init()).rejects.toThrow(/^CUDA execution provider is not installed.*no NVIDIA GPU is visible/);
  });

  it('CUDA init names platforms onnxruntime-node has no CUDA build for', async () => {
    const cuda = backendsWith({ host: { platform: 'darwin', arch: 'arm64', binaryDir: emptyBinDir, nvidiaGpuEvidence: () => undefined } }).get(ORT_BACKEND_NAMES.cuda)!;
    await expect(cuda.init()).rejects.toThrow(/no CUDA build for darwin\/arm64/);
  });

  it('WebGPU is opt-in', async () => {
    const webgpu = backendsWith().get(ORT_BACKEND_NAMES.webgpu)!;
    await expect(webgpu.init()).rejects.toThrow(/opt-in/);
  });

  it('WebGPU, when enabled, either runs simple or says how to get a Vulkan driver', async () => {
    const webgpu = backendsWith({ enableWebGpu: true }).get(ORT_BACKEND_NAMES.webgpu)!;
    const failure = await webgpu.init().then(() => undefined, (err: Error) => err);
    if (failure) {
      expect(failure.message).toMatch(/^WebGPU execution provider could not start: .+VK_ICD_FILENAMES=/s);
      return;
    }
    const inst = await webgpu.load(loadInput('simple', readFileSync(abs(`${EXAMPLES_DIR}/simple/1/model.onnx`))));
    instances.push(inst);
    expect(inst.device).toBe('webgpu');
    const x = Int32Array.from({ length: 16 }, (_, i) => i);
    const [o] = await inst.run([
      { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: x },
      { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: x },
    ], ['OUTPUT0']);
    expect(Array.from(o.data as Int32Array)).toEqual(Array.from(x, (v) => 2 * v));
  });
});

/** A logger that keeps what it is told, to check what the backend reports. */
function recordingLogger(): Logger & { lines: { level: string; msg: string; fields: LogFields }[] } {
  const lines: { level: string; msg: string; fields: LogFields }[] = [];
  const make = (bound: LogFields): Logger => ({
    debug: (msg, f) => lines.push({ level: 'debug', msg, fields: { ...bound, ...f } }),
    info: (msg, f) => lines.push({ level: 'info', msg, fields: { ...bound, ...f } }),
    warn: (msg, f) => lines.push({ level: 'warn', msg, fields: { ...bound, ...f } }),
    error: (msg, f) => lines.push({ level: 'error', msg, fields: { ...bound, ...f } }),
    child: (f) => make({ ...bound, ...f }),
  });
  return Object.assign(make({}), { lines });
}

describe('worker threads (one per instance)', () => {
  const { bytes: denseBytes, path: densePath } = exampleBytes(`${EXAMPLES_DIR}/dense_mlp/1/model.onnx`, denseMlpModel);
  const simpleBytes = readFileSync(abs(`${EXAMPLES_DIR}/simple/1/model.onnx`));
  const width = DENSE_MLP_WIDTHS[0];
  const denseInput = (batch: number): Tensor[] => [
    { name: 'input', datatype: 'FP32', shape: [batch, width], data: new Float32Array(batch * width).map((_, i) => Math.sin(i * 0.01)) },
  ];
  const simpleInputs = (): Tensor[] => {
    const x = Int32Array.from({ length: 16 }, (_, i) => i);
    return [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: x }, { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: x }];
  };

  let dense: ModelInstance;
  beforeAll(async () => {
    dense = await load('dense_mlp', denseBytes, { path: densePath });
    await dense.run(denseInput(8), ['output']); // first run allocates
  });

  it('keeps the event loop free while a session computes', async () => {
    // In-process, onnxruntime-node blocks this thread for the whole run, so the largest gap
    // between 1 ms ticks would be the run itself. A bound relative to the run (not a fixed
    // number of ms) keeps the test meaningful on a loaded 2-core machine.
    let last = performance.now();
    let maxGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 1);
    try {
      await new Promise((r) => setTimeout(r, 5));
      last = performance.now();
      maxGap = 0;
      ticks = 0;
      const t0 = performance.now();
      await dense.run(denseInput(256), ['output']);
      const runMs = performance.now() - t0;
      expect(runMs, 'the run must be long enough to tell blocking from not').toBeGreaterThan(20);
      expect(ticks).toBeGreaterThan(3);
      expect(maxGap).toBeLessThan(runMs / 2);
    } finally {
      clearInterval(timer);
    }
  });

  it('runs two instances of one model side by side, each answering its own requests', async () => {
    const other = await load('dense_mlp', denseBytes, { path: densePath, instanceIndex: 1 });
    const a = denseInput(16);
    const b: Tensor[] = [{ ...a[0], data: (a[0].data as Float32Array).map((v) => -v) }];
    const [alone] = await dense.run(b, ['output']);
    const [[ra], [rb]] = await Promise.all([dense.run(a, ['output']), other.run(b, ['output'])]);
    expect(ra.shape).toEqual([16, width]);
    expect(Array.from(rb.data as Float32Array)).toEqual(Array.from(alone.data as Float32Array));
    expect(Array.from(ra.data as Float32Array)).not.toEqual(Array.from(rb.data as Float32Array));
  });

  it('rejects at once when aborted during a run, and drops the late result', async () => {
    const ac = new AbortController();
    const running = dense.run(denseInput(256), ['output'], { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 5)); // the worker is computing now
    let settledAt = 0;
    const outcome = running.then(() => 'resolved', (err: unknown) => err).finally(() => { settledAt = performance.now(); });
    const abortedAt = performance.now();
    ac.abort();
    const e = await outcome as Error & { code: string; reason: string };
    expect(e.name).toBe('InferError');
    expect(e.code).toBe('CANCELLED');
    expect(e.reason).toBe('CANCELED');
    expect(e.message).toContain("'dense_mlp' version 1");
    // Without waiting for the batch-256 run (tens of ms) to finish.
    expect(settledAt - abortedAt).toBeLessThan(10);
    // The abandoned run's answer arrives later and must not be taken for this one's.
    const [one] = await dense.run(denseInput(1), ['output']);
    expect(one.shape).toEqual([1, width]);
  });

  it('finishes runs sent before dispose, refuses later ones, and ends the worker', async () => {
    const before = liveOrtWorkerCount();
    const inst = await cpu.load(loadInput('simple', simpleBytes));
    expect(liveOrtWorkerCount()).toBe(before + 1);
    const pending = inst.run(simpleInputs(), ['OUTPUT0']);
    const disposed = inst.dispose();
    await rejectsWith(inst.run(simpleInputs(), ['OUTPUT0']), 'UNAVAILABLE');
    const [out] = await pending;
    expect(Array.from(out.data as Int32Array)).toEqual(Array.from({ length: 16 }, (_, i) => 2 * i));
    await disposed;
    expect(liveOrtWorkerCount()).toBe(before);
  });

  for (const how of ['exit', 'throw'] as const) {
    it(`fails pending and later runs UNAVAILABLE when the worker dies (${how}), and logs it`, async () => {
      const logger = recordingLogger();
      const inst = await cpu.load(loadInput('simple', simpleBytes, { logger }));
      crashOrtInstanceForTests(inst, how);
      // Sent after the crash request, so the worker is gone before answering them.
      const pending = [inst.run(simpleInputs(), ['OUTPUT0']), inst.run(simpleInputs(), ['OUTPUT1'])];
      for (const p of pending) {
        const e = await rejectsWith(p, 'UNAVAILABLE');
        expect(e.message).toContain("model 'simple' version 1");
        expect(e.message).toMatch(how === 'exit' ? /worker exited with code 70/ : /worker crashed: crash requested by a test/);
      }
      const later = await rejectsWith(inst.run(simpleInputs(), ['OUTPUT0']), 'UNAVAILABLE');
      expect(later.message).toContain("model 'simple' version 1");
      const logged = logger.lines.filter((l) => l.level === 'error');
      expect(logged).toHaveLength(1);
      expect(logged[0].msg).toBe('onnxruntime worker died');
      expect(logged[0].fields.failedRequests).toBe(2);
      await inst.dispose(); // nothing to release, still resolves
    });
  }
});
