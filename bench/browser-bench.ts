/**
 * `npm run bench:browser`: the throughput of onnxruntime-web in headless Chromium (WASM and
 * WebGPU) against onnxruntime-node, in one run, on the same model, batches and input bytes.
 *
 *   node bench/browser-bench.ts [--model-file PATH] [--seconds 3] [--batches 1,8,32] [--threads N] [--markdown FILE]
 *
 * Each side runs back-to-back `session.run` on a pre-built batch for `--seconds` per batch size
 * after a warm-up, reading the output back (as a server must), with the same thread count
 * (default: every core). The browser side runs in a Web Worker of a cross-origin isolated page
 * (COOP/COEP, so WASM gets its threads), like the contributor page does. Outputs are compared
 * with onnxruntime-node's (max |diff|) so a fast wrong answer cannot pass as a result.
 *
 * Headless Chromium on a machine without a GPU gives WebGPU through SwiftShader, a CPU
 * emulation of a GPU: its figure says what a GPU-less browser does, not what a GPU would.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import ort from 'onnxruntime-node';
import type { Browser } from 'playwright-core';
import { BENCH_MODELS, inputData, modelPath } from './bench-models.ts';
import { describeMachine, machineInfo } from './machine-info.ts';
import { num, renderMarkdown, renderText, type Table } from './report-table.ts';
import { isOrtRuntimeFile, ortDistDir, PROJECT_ROOT } from '../node-host/contribute-bundle.ts';
import { ISOLATION_HEADERS } from '../node-host/contribute-route.ts';
import { launchChromium } from '../test/support/chromium.ts';
import type { BenchCell, BenchJob, BenchReply } from './browser-bench.worker.ts';

const { values } = parseArgs({
  options: {
    'model-file': { type: 'string' },
    seconds: { type: 'string', default: '3' },
    batches: { type: 'string', default: '1,8,32' },
    threads: { type: 'string' },
    markdown: { type: 'string' },
    providers: { type: 'string', default: 'wasm,webgpu' },
  },
});

const model = BENCH_MODELS.dense_mlp;
const input = model.inputs[0];
const width = input.dims[0];
const seconds = Number(values.seconds);
const batches = values.batches!.split(',').map(Number);
const threads = values.threads ? Number(values.threads) : availableParallelism();
const providers = values.providers!.split(',') as ('wasm' | 'webgpu')[];
const file = values['model-file'] ?? modelPath(model.name);

if (!existsSync(file)) {
  process.stdout.write(`${file} is missing; generating the example models (npm run examples)\n`);
  execFileSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'make-example-models.ts'), '--quiet'], { stdio: 'inherit' });
}
const modelBytes = readFileSync(file);
const inputs: Record<number, Float32Array> = {};
for (const b of batches) inputs[b] = inputData(model, b)[0].data as Float32Array;

/** A cell measured with onnxruntime-node in this process (the same loop as the worker's). */
async function nodeCells(): Promise<BenchCell[]> {
  const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  const out: BenchCell[] = [];
  for (const batch of batches) {
    const feeds = { [input.name]: new ort.Tensor('float32', inputs[batch], [batch, width]) };
    const output = new Float32Array((await session.run(feeds))[session.outputNames[0]].data as Float32Array);
    const warmEnd = performance.now() + Math.min(1000, seconds * 250);
    while (performance.now() < warmEnd) await session.run(feeds);
    const times: number[] = [];
    const start = performance.now();
    let now = start;
    while (now < start + seconds * 1000 || times.length < 3) {
      const s = performance.now();
      await session.run(feeds);
      now = performance.now();
      times.push(now - s);
    }
    times.sort((a, b) => a - b);
    out.push({ batch, runs: times.length, itemsPerSec: (batch * times.length) / ((now - start) / 1000), runP50Ms: times[Math.floor(times.length / 2)], output });
  }
  await session.release();
  return out;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>infermesh browser bench</title>
<script type="module">
globalThis.bench = (job) => new Promise((resolve) => {
  const w = new Worker('/worker.js', { type: 'module' });
  w.onmessage = (e) => {
    w.terminate();
    const r = e.data;
    if (r.ok) for (const c of r.cells) c.output = Array.from(c.output);
    resolve(r);
  };
  w.onerror = (e) => { w.terminate(); resolve({ ok: false, error: 'worker failed: ' + e.message }); };
  job.inputs = Object.fromEntries(Object.entries(job.inputs).map(([k, v]) => [k, new Float32Array(v)]));
  w.postMessage(job);
});
globalThis.benchReady = true;
</script>`;

/** Serves the page, the bundled worker, onnxruntime-web's runtime and the model, cross-origin isolated. */
async function startPageServer(worker: Uint8Array): Promise<{ server: Server; url: string }> {
  const ortDir = ortDistDir();
  const server = createServer((req, res) => {
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
    const path = (req.url ?? '/').split('?')[0];
    const send = (type: string, body: Uint8Array | string) => { res.writeHead(200, { 'Content-Type': type }); res.end(body); };
    if (path === '/') return send('text/html; charset=utf-8', PAGE);
    if (path === '/worker.js') return send('text/javascript', worker);
    if (path === '/model.onnx') return send('application/octet-stream', modelBytes);
    const name = path.slice('/ort/'.length);
    if (path.startsWith('/ort/') && isOrtRuntimeFile(name)) return send(name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript', readFileSync(join(ortDir, name)));
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${addr.port}` };
}

async function browserCells(browser: Browser, url: string, provider: 'wasm' | 'webgpu'): Promise<BenchReply> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page] ${e.message}\n`));
  try {
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as { benchReady?: boolean }).benchReady === true);
    const job: Omit<BenchJob, 'inputs'> & { inputs: Record<number, number[]> } = {
      provider, modelUrl: '/model.onnx', ortBase: '/ort/', threads, inputName: input.name, width, batches, seconds,
      inputs: Object.fromEntries(batches.map((b) => [b, Array.from(inputs[b])])),
    };
    const reply = await page.evaluate((j) => (globalThis as unknown as { bench(j: unknown): Promise<BenchReply> }).bench(j), job);
    if (reply.ok) for (const c of reply.cells) c.output = Float32Array.from(c.output as unknown as number[]);
    return reply;
  } finally {
    await page.close();
  }
}

/** items/s with two significant digits below 10 (SwiftShader's WebGPU does well under one). */
function rate(v: number): string {
  return v < 10 ? v.toPrecision(2) : num(v);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function main(): Promise<void> {
  const machine = machineInfo();
  process.stdout.write(`browser bench: ${model.name} (${(modelBytes.byteLength / 2 ** 20).toFixed(1)} MiB), batches ${batches.join(',')}, ${seconds} s per cell, ${threads} threads\n`);
  process.stdout.write(`machine: ${describeMachine(machine)}\n`);

  const bundle = await build({
    entryPoints: [join(import.meta.dirname, 'browser-bench.worker.ts')], bundle: true, write: false, format: 'esm', platform: 'browser',
    target: 'es2022', minify: true, conditions: ['onnxruntime-web-use-extern-wasm'], logLevel: 'silent',
  });
  const { server, url } = await startPageServer(bundle.outputFiles[0].contents);

  process.stdout.write('measuring onnxruntime-node …\n');
  const nodeResult = await nodeCells();
  const results = new Map<string, BenchReply>();
  const browser = await launchChromium({ webgpu: true });
  const version = browser.version();
  try {
    for (const p of providers) {
      process.stdout.write(`measuring onnxruntime-web ${p} in Chromium ${version} …\n`);
      results.set(p, await browserCells(browser, url, p));
    }
  } finally {
    await browser.close();
    server.close();
  }

  const ortWebVersion = (JSON.parse(readFileSync(join(ortDistDir(), '..', 'package.json'), 'utf8')) as { version: string }).version;
  const table: Table = {
    headers: ['batch', 'onnxruntime-node items/s', 'p50 ms', ...providers.flatMap((p) => [`${p} items/s`, 'p50 ms', `${p}/node`, 'max |diff|'])],
    align: ['r', 'r', 'r', ...providers.flatMap(() => ['r', 'r', 'r', 'r'] as const)],
    rows: [],
  };
  for (const [i, n] of nodeResult.entries()) {
    const row = [String(n.batch), rate(n.itemsPerSec), num(n.runP50Ms, 2)];
    for (const p of providers) {
      const r = results.get(p)!;
      const c = r.ok ? r.cells[i] : undefined;
      row.push(c ? rate(c.itemsPerSec) : 'failed', c ? num(c.runP50Ms, 2) : '–', c ? `${(c.itemsPerSec / n.itemsPerSec).toPrecision(2)}×` : '–', c ? maxAbsDiff(c.output, n.output).toExponential(1) : '–');
    }
    table.rows.push(row);
  }
  process.stdout.write('\n' + renderText(table) + '\n\n');
  const notes: string[] = [];
  for (const p of providers) {
    const r = results.get(p)!;
    notes.push(r.ok ? `${p}: adapter ${r.adapter}, session created in ${num(r.loadMs)} ms` : `${p}: FAILED: ${r.error}`);
  }
  notes.push(`Chromium ${version}, onnxruntime-web ${ortWebVersion}, onnxruntime-node ${machine.onnxruntimeNode}; WebGPU in headless Chromium without a GPU is SwiftShader (CPU emulation).`);
  process.stdout.write(notes.join('\n') + '\n');
  if (values.markdown) {
    await writeFile(values.markdown, `${renderMarkdown(table)}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n\nMachine: ${describeMachine(machine)}\n`);
    process.stdout.write(`wrote ${values.markdown}\n`);
  }
  if ([...results.values()].some((r) => !r.ok)) process.exitCode = 1;
}

await main();
