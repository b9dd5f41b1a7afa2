/**
 * `npm run bench:browser`: the throughput of onnxruntime-web in headless Chromium (WASM and
 * WebGPU) against onnxruntime-node, in one run, on the same model, batches and input bytes.
 *
 *   node bench/browser-bench.ts [--model-file PATH] [--seconds 3] [--batches 1,8,32] [--rounds 3]
 *                               [--threads N] [--providers wasm,webgpu] [--markdown FILE]
 *
 * Each side runs back-to-back `session.run` on a pre-built batch for `--seconds` per batch size
 * after a warm-up, reading the output back (as a server must), with the same thread count
 * (default: every core). Rounds interleave the sides; the table shows each side's best round
 * (other work on a shared machine only slows a round down), the notes the ratio within a round. The browser side runs in a Web Worker of a cross-origin isolated page
 * (COOP/COEP, so WASM gets its threads), like the contributor page does. Outputs are compared
 * with onnxruntime-node's (max |diff|) so a fast wrong answer cannot pass as a result.
 *
 * Headless Chromium on a machine without a GPU gives WebGPU through SwiftShader, a CPU
 * emulation of a GPU: its figure says what a GPU-less browser does, not what a GPU would.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import ort from 'onnxruntime-node';
import type { Page } from 'playwright-core';
import { BENCH_MODELS, inputData, modelPath } from './bench-models.ts';
import { describeMachine, machineInfo } from './machine-info.ts';
import { num, renderMarkdown, renderText, type Table } from './report-table.ts';
import { isOrtRuntimeFile, ortDistDir, PROJECT_ROOT } from '../node-host/contribute-bundle.ts';
import { ISOLATION_HEADERS } from '../node-host/contribute-route.ts';
import { launchChromium } from '../test/support/chromium.ts';
import type { BenchCell, BenchLoad, BenchMeasure, BenchReply } from './browser-bench.worker.ts';

const { values } = parseArgs({
  options: {
    'model-file': { type: 'string' },
    seconds: { type: 'string', default: '3' },
    batches: { type: 'string', default: '1,8,32' },
    threads: { type: 'string' },
    markdown: { type: 'string' },
    providers: { type: 'string', default: 'wasm,webgpu' },
    rounds: { type: 'string', default: '3' },
  },
});

const model = BENCH_MODELS.dense_mlp;
const input = model.inputs[0];
const width = input.dims[0];
const seconds = Number(values.seconds);
const batches = values.batches!.split(',').map(Number);
const threads = values.threads ? Number(values.threads) : availableParallelism();
const providers = values.providers!.split(',').filter(Boolean) as ('wasm' | 'webgpu')[];
const rounds = Number(values.rounds);
const file = values['model-file'] ?? modelPath(model.name);

if (!existsSync(file)) {
  process.stdout.write(`${file} is missing; generating the example models (npm run examples)\n`);
  execFileSync(process.execPath, [join(PROJECT_ROOT, 'scripts', 'make-example-models.ts'), '--quiet'], { stdio: 'inherit' });
}
const modelBytes = readFileSync(file);
const inputs: Record<number, Float32Array> = {};
for (const b of batches) inputs[b] = inputData(model, b)[0].data as Float32Array;

/** onnxruntime-node in this process, the same loop as the worker's. */
async function nodeMeasurer(): Promise<{ measure(batch: number): Promise<BenchCell>; release(): Promise<void> }> {
  const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  return {
    async measure(batch) {
      const feeds = { [input.name]: new ort.Tensor('float32', inputs[batch], [batch, width]) };
      const output = new Float32Array((await session.run(feeds))[session.outputNames[0]].data as Float32Array);
      const warmEnd = performance.now() + Math.min(1000, seconds * 250);
      while (performance.now() < warmEnd) await session.run(feeds);
      const times: number[] = [];
      const start = performance.now();
      let now = start;
      while (now < start + seconds * 1000 || times.length < 3) {
        const t = performance.now();
        await session.run(feeds);
        now = performance.now();
        times.push(now - t);
      }
      times.sort((a, b) => a - b);
      return { batch, runs: times.length, itemsPerSec: (batch * times.length) / ((now - start) / 1000), runP50Ms: times[Math.floor(times.length / 2)], output };
    },
    release: () => session.release(),
  };
}

/** The page: one module worker per provider, driven by postMessage from Node through page.evaluate. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>infermesh browser bench</title>
<script type="module">
const workers = {};
const call = (w, msg) => new Promise((resolve) => {
  w.onmessage = (e) => {
    const r = e.data;
    if (r.ok && r.type === 'cell') r.cell.output = Array.from(r.cell.output);
    resolve(r);
  };
  w.onerror = (e) => resolve({ ok: false, error: 'worker failed: ' + e.message });
  w.postMessage(msg);
});
globalThis.benchLoad = (job) => { workers[job.provider] = new Worker('/worker.js', { type: 'module' }); return call(workers[job.provider], job); };
globalThis.benchMeasure = (provider, job) => call(workers[provider], { ...job, input: new Float32Array(job.input) });
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

type Provider = 'wasm' | 'webgpu';
type PageApi = {
  benchLoad(job: BenchLoad): Promise<BenchReply>;
  benchMeasure(provider: Provider, job: Omit<BenchMeasure, 'input'> & { input: number[] }): Promise<BenchReply>;
};

/** Loads every provider's session in the page; returns what failed (provider → error). */
async function loadProviders(page: Page): Promise<{ loaded: Map<Provider, string>; failed: Map<Provider, string> }> {
  const loaded = new Map<Provider, string>();
  const failed = new Map<Provider, string>();
  for (const provider of providers) {
    const job: BenchLoad = { type: 'load', provider, modelUrl: '/model.onnx', ortBase: '/ort/', threads };
    const r = await page.evaluate((j) => (globalThis as unknown as PageApi).benchLoad(j), job);
    if (r.ok && r.type === 'loaded') loaded.set(provider, `adapter ${r.adapter}, session created in ${num(r.loadMs)} ms`);
    else failed.set(provider, r.ok ? 'unexpected reply' : r.error);
  }
  return { loaded, failed };
}

async function browserCell(page: Page, provider: Provider, batch: number): Promise<BenchCell> {
  const job = { type: 'measure' as const, inputName: input.name, width, batch, seconds, input: Array.from(inputs[batch]) };
  const r = await page.evaluate(([p, j]) => (globalThis as unknown as PageApi).benchMeasure(p, j), [provider, job] as const);
  if (!r.ok || r.type !== 'cell') throw new Error(`${provider} batch ${batch}: ${r.ok ? 'unexpected reply' : r.error}`);
  return { ...r.cell, output: Float32Array.from(r.cell.output as unknown as number[]) };
}

/**
 * The best round's cell: on a shared machine other work only ever slows a round down, so the
 * fastest round is the closest to what the side can do.
 */
function best(cells: BenchCell[]): BenchCell {
  return cells.reduce((a, b) => (b.itemsPerSec > a.itemsPerSec ? b : a));
}

/** Median of per-round ratios: each ratio compares two sides measured seconds apart. */
function medianRatio(side: BenchCell[], node: BenchCell[]): number {
  const r = side.map((c, i) => c.itemsPerSec / node[i].itemsPerSec).sort((a, b) => a - b);
  return r.length % 2 === 1 ? r[(r.length - 1) / 2] : (r[r.length / 2 - 1] + r[r.length / 2]) / 2;
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
  process.stdout.write(`browser bench: ${model.name} (${(modelBytes.byteLength / 2 ** 20).toFixed(1)} MiB), batches ${batches.join(',')}, ${seconds} s per cell, ${rounds} rounds, ${threads} threads\n`);
  process.stdout.write(`machine: ${describeMachine(machine)}\n`);

  const bundle = await build({
    entryPoints: [join(import.meta.dirname, 'browser-bench.worker.ts')], bundle: true, write: false, format: 'esm', platform: 'browser',
    target: 'es2022', minify: true, conditions: ['onnxruntime-web-use-extern-wasm'], logLevel: 'silent',
  });
  const { server, url } = await startPageServer(bundle.outputFiles[0].contents);
  const nodeSide = await nodeMeasurer();
  const browser = await launchChromium({ webgpu: true });
  const version = browser.version();
  const page = await browser.newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page] ${e.message}\n`));
  // cells[side][batch index] = one cell per round
  const cells = new Map<string, BenchCell[][]>();
  const add = (side: string, i: number, c: BenchCell) => {
    if (!cells.has(side)) cells.set(side, batches.map(() => []));
    cells.get(side)![i].push(c);
  };
  let notes: string[] = [];
  try {
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as { benchReady?: boolean }).benchReady === true);
    const { loaded, failed } = await loadProviders(page);
    notes = [...[...loaded].map(([p, d]) => `${p}: ${d}`), ...[...failed].map(([p, e]) => `${p}: FAILED: ${e}`)];
    // Interleaved: each round measures every side at each batch size back to back, so slow
    // drifts of the machine's load affect all sides alike; several rounds let the best one
    // stand for each side.
    for (let r = 1; r <= rounds; r++) {
      for (const [i, b] of batches.entries()) {
        process.stdout.write(`round ${r}/${rounds}, batch ${b}: onnxruntime-node`);
        add('node', i, await nodeSide.measure(b));
        for (const p of loaded.keys()) {
          process.stdout.write(`, ${p}`);
          add(p, i, await browserCell(page, p, b));
        }
        process.stdout.write('\n');
      }
    }
    if (failed.size > 0) process.exitCode = 1;
  } finally {
    await browser.close();
    await nodeSide.release();
    server.close();
  }

  const ortWebVersion = (JSON.parse(readFileSync(join(ortDistDir(), '..', 'package.json'), 'utf8')) as { version: string }).version;
  const measured = providers.filter((p) => cells.has(p));
  const table: Table = {
    headers: ['batch', 'onnxruntime-node items/s', 'p50 ms', ...measured.flatMap((p) => [`${p} items/s`, 'p50 ms', `${p}/node`, 'max |diff|'])],
    align: ['r', 'r', 'r', ...measured.flatMap(() => ['r', 'r', 'r', 'r'] as const)],
    rows: [],
  };
  const sameRound: string[] = [];
  for (const [i, b] of batches.entries()) {
    const nodeRounds = cells.get('node')![i];
    const n = best(nodeRounds);
    const row = [String(b), rate(n.itemsPerSec), num(n.runP50Ms, 2)];
    for (const p of measured) {
      const c = best(cells.get(p)![i]);
      row.push(rate(c.itemsPerSec), num(c.runP50Ms, 2), `${(c.itemsPerSec / n.itemsPerSec).toPrecision(2)}×`, maxAbsDiff(c.output, n.output).toExponential(1));
      sameRound.push(`${p}/node batch ${b}: ${medianRatio(cells.get(p)![i], nodeRounds).toPrecision(2)}×`);
    }
    table.rows.push(row);
  }
  const spread = [...cells].map(([side, perBatch]) => `${side} ${perBatch.map((cs) => `${rate(Math.min(...cs.map((c) => c.itemsPerSec)))}–${rate(Math.max(...cs.map((c) => c.itemsPerSec)))}`).join(' / ')}`);
  process.stdout.write('\n' + renderText(table) + '\n\n');
  notes.push(`items/s, p50 and ratios: each side's best of ${rounds} rounds; range over rounds (items/s, per batch size): ${spread.join('; ')}`);
  notes.push(`ratio within a round (median over rounds): ${sameRound.join(', ')}`);
  notes.push(`Chromium ${version}, onnxruntime-web ${ortWebVersion}, onnxruntime-node ${machine.onnxruntimeNode}; WebGPU in headless Chromium without a GPU is SwiftShader (CPU emulation), not a GPU.`);
  notes.push(`load average at the end ${loadavg()[0].toFixed(2)} (at the start ${machine.loadAvg1.toFixed(2)})`);
  process.stdout.write(notes.join('\n') + '\n');
  if (values.markdown) {
    await writeFile(values.markdown, `${renderMarkdown(table)}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n\nMachine: ${describeMachine(machine)}\n`);
    process.stdout.write(`wrote ${values.markdown}\n`);
  }
}

await main();
