/**
 * Runs in a Web Worker of the browser benchmark page (bench/browser-bench.ts bundles it with
 * esbuild): onnxruntime-web on one execution provider, back-to-back `session.run` on a
 * pre-built batch, the same loop bench/browser-bench.ts runs with onnxruntime-node. A worker,
 * because that is where the contributor page runs its sessions too (browser-host/ort-web.worker.ts).
 *
 * Messages in: {@link BenchLoad} once, then {@link BenchMeasure} per cell; out: {@link BenchReply}.
 */
import * as ort from 'onnxruntime-web';

/** Creates the session (first message). */
export interface BenchLoad {
  type: 'load';
  provider: 'wasm' | 'webgpu';
  modelUrl: string;
  ortBase: string;
  threads: number;
}

/** Measures one batch size on the loaded session. */
export interface BenchMeasure {
  type: 'measure';
  inputName: string;
  width: number;
  batch: number;
  seconds: number;
  /** Row-major FP32 input, the same bytes the Node side uses. */
  input: Float32Array;
}

/** One batch size's result. */
export interface BenchCell {
  batch: number;
  runs: number;
  itemsPerSec: number;
  runP50Ms: number;
  /** The first run's output, to compare with onnxruntime-node. */
  output: Float32Array;
}

export type BenchReply =
  | { ok: true; type: 'loaded'; adapter: string; loadMs: number }
  | { ok: true; type: 'cell'; cell: BenchCell }
  | { ok: false; error: string };

let session: ort.InferenceSession | undefined;

async function load(job: BenchLoad): Promise<BenchReply> {
  ort.env.wasm.wasmPaths = new URL(job.ortBase, self.location.href).href;
  ort.env.wasm.numThreads = job.threads;
  let adapter = 'none';
  if (job.provider === 'webgpu') {
    const gpu = (self.navigator as { gpu?: { requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string } } | null> } }).gpu;
    const a = await gpu?.requestAdapter();
    if (!a) return { ok: false, error: 'no WebGPU adapter in this browser (launch Chromium with --enable-unsafe-webgpu)' };
    adapter = `${a.info?.vendor ?? '?'} ${a.info?.architecture ?? ''}`.trim();
  }
  const t0 = performance.now();
  const bytes = new Uint8Array(await (await fetch(job.modelUrl)).arrayBuffer());
  session = await ort.InferenceSession.create(bytes, { executionProviders: [job.provider], graphOptimizationLevel: 'all' });
  return { ok: true, type: 'loaded', adapter, loadMs: performance.now() - t0 };
}

async function measure(job: BenchMeasure): Promise<BenchReply> {
  const s = session;
  if (!s) return { ok: false, error: 'measure before load' };
  const feeds = { [job.inputName]: new ort.Tensor('float32', job.input, [job.batch, job.width]) };
  const first = await s.run(feeds);
  const output = new Float32Array((await first[s.outputNames[0]].getData()) as Float32Array);
  // Warm-up: shader compilation (WebGPU) and arena growth happen on the first runs.
  const warmEnd = performance.now() + Math.min(1000, job.seconds * 250);
  while (performance.now() < warmEnd) await s.run(feeds);
  const times: number[] = [];
  const start = performance.now();
  const end = start + job.seconds * 1000;
  let now = start;
  // At least 3 runs: a slow provider still gives a figure, not a single sample.
  while (now < end || times.length < 3) {
    const t = performance.now();
    const out = await s.run(feeds);
    // WebGPU outputs live on the GPU only when asked to; read back like a server must.
    await out[s.outputNames[0]].getData();
    now = performance.now();
    times.push(now - t);
  }
  times.sort((a, b) => a - b);
  return { ok: true, type: 'cell', cell: { batch: job.batch, runs: times.length, itemsPerSec: (job.batch * times.length) / ((now - start) / 1000), runP50Ms: times[Math.floor(times.length / 2)], output } };
}

self.onmessage = (e: MessageEvent<BenchLoad | BenchMeasure>) => {
  (e.data.type === 'load' ? load(e.data) : measure(e.data)).then(
    (r) => self.postMessage(r),
    (err: unknown) => self.postMessage({ ok: false, error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) } satisfies BenchReply),
  );
};
