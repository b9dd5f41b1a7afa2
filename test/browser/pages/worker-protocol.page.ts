/**
 * Browser-side unit tests of the page ↔ onnxruntime-web worker protocol, run in real headless
 * Chromium by test/browser/worker-protocol.test.ts (harness and results protocol:
 * test/support/browser-unit.ts). The page is cross-origin isolated and the real bundled worker
 * is at the config's `workerUrl`, onnxruntime-web's runtime at `ortBase`.
 *
 * What only a browser can show: the worker really starts and picks WebGPU or WASM with a
 * reason; tensors of every datatype round-trip through a real session; inputs are transferred
 * (detached on the page's side), not copied; WebGPU and WASM agree with a JS reference within
 * 1e-4; worker errors keep their codes; a crashing worker fails calls instead of hanging; the
 * Cache Storage cache verifies what it returns.
 */
import { buildModel, type OnnxElemType } from '../../../scripts/onnx-builder.ts';
import { BackendRegistry } from '../../../core/backend-registry.ts';
import { silentLogger } from '../../../core/logger.ts';
import type { DataType } from '../../../protocol/datatypes.ts';
import type { Tensor } from '../../../protocol/tensor.ts';
import { createOrtWebBackends, type OrtWebWorkerPort } from '../../../browser-host/backend-ort-web.ts';
import { BLOB_CACHE_NAME, CacheStorageBlobCache } from '../../../browser-host/blob-cache.ts';
import { detectFeatures } from '../../../browser-host/feature-detect.ts';
import { comlinkPort, startOrtWebWorker, type OrtWebClient } from '../../../browser-host/ort-web-client.ts';
import { packInputs, packTensor, transferList, DEFAULT_MAX_WASM_THREADS } from '../../../browser-host/worker-protocol.ts';
import { sha256Hex } from '../../../mesh/blob-protocol.ts';

const config = JSON.parse(document.getElementById('infermesh-config')!.textContent!) as { ortBase: string; workerUrl: string };
const out = document.getElementById('infermesh-test')!;

// ---- a tiny sequential runner ---------------------------------------------------------------

const tests: [string, () => Promise<void>][] = [];
const test = (name: string, fn: () => Promise<void>) => { tests.push([name, fn]); };

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}
function same(a: unknown, b: unknown, what: string): void {
  const s = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : ArrayBuffer.isView(x) ? Array.from(x as unknown as ArrayLike<unknown>) : x));
  if (s(a) !== s(b)) throw new Error(`${what}: got ${s(a)}, expected ${s(b)}`);
}
async function rejects(p: Promise<unknown>, match: { code?: string; message?: RegExp }, what: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (match.code !== undefined && err.code !== match.code) throw new Error(`${what}: code ${err.code} (${err.message}), expected ${match.code}`);
    if (match.message && !match.message.test(err.message ?? '')) throw new Error(`${what}: message '${err.message}' does not match ${match.message}`);
    return;
  }
  throw new Error(`${what}: expected a rejection`);
}

// ---- models built here (scripts/onnx-builder.ts runs in the browser too) --------------------

/** Identity per datatype: input `in_<t>` → output `out_<t>`, shape [2]. */
const IDENTITY_TYPES: [string, OnnxElemType, DataType, () => Tensor['data']][] = [
  ['fp32', 'FLOAT', 'FP32', () => new Float32Array([1.5, -2.25])],
  ['fp64', 'DOUBLE', 'FP64', () => new Float64Array([Math.PI, -1e300])],
  ['fp16', 'FLOAT16', 'FP16', () => new Uint16Array([0x3c00, 0xc000])],
  ['i8', 'INT8', 'INT8', () => new Int8Array([-128, 127])],
  ['u8', 'UINT8', 'UINT8', () => new Uint8Array([0, 255])],
  ['i16', 'INT16', 'INT16', () => new Int16Array([-32768, 32767])],
  ['u16', 'UINT16', 'UINT16', () => new Uint16Array([0, 65535])],
  ['i32', 'INT32', 'INT32', () => new Int32Array([-(2 ** 31), 2 ** 31 - 1])],
  ['u32', 'UINT32', 'UINT32', () => new Uint32Array([0, 2 ** 32 - 1])],
  ['i64', 'INT64', 'INT64', () => new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n])],
  ['u64', 'UINT64', 'UINT64', () => new BigUint64Array([0n, 2n ** 64n - 1n])],
  ['bool', 'BOOL', 'BOOL', () => Uint8Array.of(0, 1)],
  ['str', 'STRING', 'BYTES', () => [new TextEncoder().encode('héllo'), new TextEncoder().encode('')]],
];

function identityModel(): Uint8Array {
  return buildModel({
    graphName: 'all_types',
    inputs: IDENTITY_TYPES.map(([n, t]) => ({ name: `in_${n}`, elemType: t, shape: [2] })),
    outputs: IDENTITY_TYPES.map(([n, t]) => ({ name: `out_${n}`, elemType: t, shape: [2] })),
    nodes: IDENTITY_TYPES.map(([n]) => ({ opType: 'Identity', inputs: [`in_${n}`], outputs: [`out_${n}`] })),
  });
}

const GEMM_IN = 16;
const GEMM_OUT = 8;
/** Deterministic weights in [-1, 1). */
function weights(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}
const W = weights(GEMM_IN * GEMM_OUT, 7);
const B = weights(GEMM_OUT, 11);

/** y = relu(x · W + b), x [batch, 16], W [16, 8]. */
function gemmModel(): Uint8Array {
  const raw = (a: Float32Array) => new Uint8Array(a.buffer.slice(0));
  return buildModel({
    graphName: 'gemm',
    inputs: [{ name: 'x', elemType: 'FLOAT', shape: ['batch', GEMM_IN] }],
    outputs: [{ name: 'y', elemType: 'FLOAT', shape: ['batch', GEMM_OUT] }],
    initializers: [{ name: 'W', elemType: 'FLOAT', dims: [GEMM_IN, GEMM_OUT], raw: raw(W) }, { name: 'b', elemType: 'FLOAT', dims: [GEMM_OUT], raw: raw(B) }],
    nodes: [{ opType: 'Gemm', inputs: ['x', 'W', 'b'], outputs: ['h'] }, { opType: 'Relu', inputs: ['h'], outputs: ['y'] }],
  });
}

function gemmReference(x: Float32Array, batch: number): Float32Array {
  const y = new Float32Array(batch * GEMM_OUT);
  for (let r = 0; r < batch; r++) {
    for (let j = 0; j < GEMM_OUT; j++) {
      let acc = B[j];
      for (let k = 0; k < GEMM_IN; k++) acc += x[r * GEMM_IN + k] * W[k * GEMM_OUT + j];
      y[r * GEMM_OUT + j] = Math.max(0, acc);
    }
  }
  return y;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return a.length === b.length ? d : Infinity;
}

// ---- tests ----------------------------------------------------------------------------------

let client: OrtWebClient | undefined;
const worker = (): OrtWebClient => { check(client, 'the worker started'); return client; };

test('pure protocol: packing copies onto own buffers, transfer lists skip SharedArrayBuffer (page is isolated)', async () => {
  check(crossOriginIsolated, 'the test page must be cross-origin isolated');
  const big = new Float32Array(64).map((_, i) => i);
  const p = packTensor({ name: 'x', datatype: 'FP32', shape: [2], data: big.subarray(4, 6) });
  same(p.data, [4, 5], 'packed values');
  check((p.data as Float32Array).buffer.byteLength === 8, 'a packed view owns exactly its bytes');
  const shared = new Float32Array(new SharedArrayBuffer(8));
  same(transferList([shared, p.data as Float32Array]).length, 1, 'only the ArrayBuffer is transferable');
});

test('feature detection sees the isolated page, its threads and (with --enable-unsafe-webgpu) an adapter', async () => {
  const f = await detectFeatures();
  check(f.crossOriginIsolated && f.sharedArrayBuffer, 'isolated with SharedArrayBuffer');
  check(f.webgpu || f.webgpuReason.length > 0, 'either an adapter or a reason');
});

test('the real worker starts, picks a provider with a reason, and uses WASM threads', async () => {
  const f = await detectFeatures();
  client = await startOrtWebWorker({ workerUrl: config.workerUrl, ortBase: config.ortBase, provider: 'auto' });
  const r = worker().ready;
  console.log(`[infermesh-test] provider ${r.provider}: ${r.reason}`);
  check(r.reason.length > 10, `a reason is given: '${r.reason}'`);
  if (f.webgpu && !f.softwareAdapter) same(r.provider, 'webgpu', `a hardware adapter exists (${f.adapter}), so auto picks WebGPU (reason: ${r.reason}; webgpu: ${r.webgpu.reason})`);
  if (f.webgpu && f.softwareAdapter) {
    // SwiftShader here: WebGPU on the CPU is ~1,000x slower than WASM, so auto takes WASM and says why.
    same(r.provider, 'wasm', `only a software adapter (${f.adapter}), so auto picks WASM (reason: ${r.reason})`);
    check(/emulates a GPU on the CPU/.test(r.reason), `the reason names the software adapter: '${r.reason}'`);
  }
  same(r.threads, Math.min(DEFAULT_MAX_WASM_THREADS, navigator.hardwareConcurrency), 'WASM threads on an isolated page');
  check(/^1\.\d+/.test(r.ortVersion), `onnxruntime-web version: ${r.ortVersion}`);
});

test('every datatype round-trips through a real WASM session exactly', async () => {
  const { handle, signature } = await worker().port.load(identityModel(), { label: 'all_types', provider: 'wasm' });
  same(signature.inputs.map((s) => s.datatype), IDENTITY_TYPES.map(([, , d]) => d), 'signature datatypes');
  const inputs = IDENTITY_TYPES.map(([n, , d, data]) => ({ name: `in_${n}`, datatype: d, shape: [2], data: data() }));
  const packed = packInputs(inputs);
  const outs = await worker().port.run(handle, packed.inputs, packed.transfer, IDENTITY_TYPES.map(([n]) => `out_${n}`));
  for (const [i, [n]] of IDENTITY_TYPES.entries()) {
    same(outs[i].datatype, inputs[i].datatype, `out_${n} datatype`);
    same(outs[i].data, inputs[i].data, `out_${n} values`);
  }
  await worker().port.dispose(handle);
});

test('inputs are transferred to the worker (detached here), never copied; outputs own their buffers', async () => {
  const { handle } = await worker().port.load(gemmModel(), { label: 'gemm', provider: 'wasm' });
  const x = weights(3 * GEMM_IN, 3);
  const packed = packInputs([{ name: 'x', datatype: 'FP32', shape: [3, GEMM_IN], data: x }]);
  const [y] = await worker().port.run(handle, packed.inputs, packed.transfer, ['y']);
  same((packed.inputs[0].data as Float32Array).byteLength, 0, 'the packed input buffer moved to the worker');
  same(x.byteLength, 3 * GEMM_IN * 4, 'the caller\'s own tensor is untouched');
  const data = y.data as Float32Array;
  same(data.buffer.byteLength, data.byteLength, 'the output arrived on a buffer of its own');
  await worker().port.dispose(handle);
});

test('WebGPU and WASM both match a JS reference within 1e-4, through the core backend registry', async () => {
  const providers = worker().ready.provider === 'webgpu' ? ['webgpu', 'wasm'] as const : ['wasm'] as const;
  const registry = new BackendRegistry();
  for (const b of createOrtWebBackends({ port: worker().port, ready: worker().ready })) registry.register(b);
  const bytes = gemmModel();
  for (const p of providers) {
    const loaded = await registry.load('onnxruntime_onnx', p === 'webgpu' ? 'KIND_GPU' : 'KIND_CPU', { modelName: 'gemm', version: 1, bytes, parameters: {}, instanceIndex: 0, logger: silentLogger });
    same(loaded.instance.device, p, 'device');
    for (const batch of [1, 5, 32]) {
      const x = weights(batch * GEMM_IN, batch);
      const [y] = await loaded.instance.run([{ name: 'x', datatype: 'FP32', shape: [batch, GEMM_IN], data: x }], ['y']);
      same(y.shape, [batch, GEMM_OUT], `${p} batch ${batch} shape`);
      const d = maxDiff(y.data as Float32Array, gemmReference(x, batch));
      check(d <= 1e-4, `${p} batch ${batch}: max |diff| ${d} > 1e-4`);
    }
    await loaded.instance.dispose();
  }
});

test('instances of one version share one worker session', async () => {
  let loads = 0;
  const counting: OrtWebWorkerPort = { ...worker().port, load: (m, o) => { loads++; return worker().port.load(m, o); } };
  const [, wasm] = createOrtWebBackends({ port: counting, ready: worker().ready });
  const bytes = gemmModel();
  const input = (i: number) => ({ modelName: 'gemm', version: 1, bytes, parameters: {}, instanceIndex: i, logger: silentLogger });
  const [a, b] = await Promise.all([wasm.load(input(0)), wasm.load(input(1))]);
  same(loads, 1, 'one session for two instances');
  const x = weights(GEMM_IN, 5);
  const [ya, yb] = await Promise.all([a.run([{ name: 'x', datatype: 'FP32', shape: [1, GEMM_IN], data: x }], ['y']), b.run([{ name: 'x', datatype: 'FP32', shape: [1, GEMM_IN], data: x }], ['y'])]);
  same(ya[0].data, yb[0].data, 'both instances answer');
  await a.dispose();
  await b.dispose();
});

test('worker errors keep their codes: bad model, unknown handle, wrong input', async () => {
  await rejects(worker().port.load(new Uint8Array([1, 2, 3]), { label: "model 'junk' version 1", provider: 'wasm' }), { code: 'INTERNAL', message: /failed to load model 'junk' version 1 with onnxruntime-web \(wasm\)/ }, 'garbage bytes');
  await rejects(worker().port.run(9999, [], [], ['y']), { code: 'UNAVAILABLE', message: /session 9999 is not open/ }, 'unknown handle');
  const { handle } = await worker().port.load(gemmModel(), { label: 'gemm', provider: 'wasm' });
  const packed = packInputs([{ name: 'x', datatype: 'INT32', shape: [1, GEMM_IN], data: new Int32Array(GEMM_IN) }]);
  await rejects(worker().port.run(handle, packed.inputs, packed.transfer, ['y']), { code: 'INTERNAL', message: /onnxruntime-web failed to run gemm/ }, 'wrong input type');
  await worker().port.dispose(handle);
  await rejects(worker().port.run(handle, [], [], ['y']), { code: 'UNAVAILABLE' }, 'a disposed session');
});

test('a worker that crashes fails pending calls with UNAVAILABLE instead of hanging', async () => {
  const src = "self.onmessage = () => { setTimeout(() => { throw new Error('simulated crash'); }); };";
  const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
  const crashing = new Worker(url, { type: 'module' });
  const { port } = comlinkPort(crashing);
  const started = performance.now();
  await rejects(port.dispose(1), { code: 'UNAVAILABLE', message: /the onnxruntime-web worker stopped: .*simulated crash/ }, 'crash');
  check(performance.now() - started < 10_000, 'failed promptly');
  crashing.terminate();
  URL.revokeObjectURL(url);
});

test('forcing WASM gives WASM with the reason', async () => {
  const w = await startOrtWebWorker({ workerUrl: config.workerUrl, ortBase: config.ortBase, provider: 'wasm' });
  same([w.ready.provider, w.ready.reason.startsWith('WASM, as requested')], ['wasm', true], 'forced wasm');
  w.terminate();
});

test('a worker pointed at missing ORT files fails with a reason, not a hang', async () => {
  await rejects(startOrtWebWorker({ workerUrl: config.workerUrl, ortBase: '/contribute/no-such-dir/', provider: 'wasm' }), { code: 'UNAVAILABLE', message: /WASM probe failed/ }, 'bad ortBase');
});

test('the Cache Storage cache returns verified bytes and drops a corrupt entry', async () => {
  await caches.delete(BLOB_CACHE_NAME);
  const store = await caches.open(BLOB_CACHE_NAME);
  const cache = new CacheStorageBlobCache(store, location.origin);
  const bytes = new TextEncoder().encode('model bytes');
  const h = await sha256Hex(bytes);
  await cache.put(h, bytes);
  same(await cache.get(h), bytes, 'cached bytes');
  await store.put(`${location.origin}/.infermesh-blob/${h}`, new Response('tampered'));
  same(await cache.get(h), undefined, 'a corrupt entry is a miss');
  same(await store.match(`${location.origin}/.infermesh-blob/${h}`), undefined, 'and is deleted');
  await caches.delete(BLOB_CACHE_NAME);
});

// ---- run ------------------------------------------------------------------------------------

const passed: string[] = [];
const failed: { name: string; error: string }[] = [];
for (const [name, fn] of tests) {
  try {
    await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 60 s')), 60_000))]);
    passed.push(name);
  } catch (e) {
    failed.push({ name, error: e instanceof Error ? e.message : String((e as { message?: unknown })?.message ?? e) });
  }
  out.textContent = `${passed.length} passed, ${failed.length} failed\n${failed.map((f) => `✗ ${f.name}: ${f.error}`).join('\n')}`;
}
client?.terminate();
(globalThis as { __testResults?: unknown }).__testResults = { done: true, passed, failed };
