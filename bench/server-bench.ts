/**
 * `npm run bench`: how close infermesh gets to onnxruntime-node's own ceiling, and how far
 * ahead of a hand-written node:http + ORT server, on the example models `dense_mlp`
 * (batch-friendly) and `simple` (Triton's quick-start model, all overhead), at concurrency
 * 1, 8 and 32 — measured like perf_analyzer's concurrency mode (COMPAT-NOTES §6.1):
 *
 *   (a) ORT in-process at its best batch size (ort-ceiling.ts, a child process)
 *   (b) bench/baseline-server.ts (a child process), KServe JSON, one session.run per request
 *   (c) infermesh via its CLI (a child process), JSON tensors
 *   (d) infermesh, binary tensors (Inference-Header-Content-Length, binary_data_output)
 *
 * plus infermesh's server-side split from its statistics extension, a per-request overhead
 * probe on `simple`, and the load generator's own cost (node:http vs fetch). Phases run one
 * server at a time so an idle server never shares the cores with a measured one. Every
 * child is killed on exit, error or Ctrl-C (child-processes.ts). See docs/PERFORMANCE.md.
 *
 *   node bench/server-bench.ts [--seconds 3] [--warmup 1] [--concurrency 1,8,32]
 *     [--models dense_mlp,simple] [--targets a,b,c,d] [--client http|fetch] [--retries 2]
 *     [--probe-requests 2000] [--intra-op-threads N] [--server-arg ARG ...]
 *     [--skip-client-check] [--pin-client CPU] [--with-mesh] [--markdown FILE] [--json FILE]
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_MODELS, MODEL_REPOSITORY, encodeBody, modelPath, type BenchModel, type BodyFormat } from './bench-models.ts';
import { FOREIGN_LIMIT, TARGET_LABEL, checkAnswer, quietBudget, runCell, waitQuietWithinBudget, type CellOptions, type CellResult, type ServerUnderTest, type Target } from './bench-cells.ts';
import {
  CEILING_MEANING, SHARED_CORES_NOTE, ceilingTable, clientCostTable, clientTable, goalLines, goals, probeTable, serverTable,
} from './bench-report.ts';
import { pinSelf, startNode, waitForLine, type Child } from './child-processes.ts';
import type { ClientKind } from './load-driver.ts';
import { describeMachine, machineInfo } from './machine-info.ts';
import type { CeilingResult } from './ort-ceiling.ts';
import { probeOverhead, type ProbeResult } from './overhead-probe.ts';
import { procAvailable } from './proc-cpu.ts';
import { num, renderMarkdown, renderText, type Table } from './report-table.ts';

const ROOT = join(import.meta.dirname, '..');
const INFERMESH_BIN = join(ROOT, 'node-host', 'bin.js');
const HELP = `usage: node bench/server-bench.ts [options]   (npm run bench -- [options])
  --seconds S            measurement window per cell (default 3)
  --warmup S             warm-up before each window (default 1)
  --concurrency LIST     outstanding requests per cell (default 1,8,32)
  --models LIST          dense_mlp,simple (default both)
  --targets LIST         a=ORT ceiling, b=baseline server, c=infermesh JSON, d=infermesh binary (default a,b,c,d)
  --client http|fetch    load-generator client (default http: node:http keep-alive Agent)
  --retries N            reruns of a cell that looks contended (default 2)
  --probe-requests N     requests of the per-request overhead probe on simple (default 2000; 0 = skip)
  --intra-op-threads N   ORT intra-op threads for all of (a), (b), (c), (d) (default: each one's default)
  --server-arg ARG       extra infermesh CLI argument (repeatable), e.g. --server-arg=--log-verbose --server-arg=1
  --with-mesh            let infermesh join its mesh (default: --no-mesh where the CLI has it)
  --skip-client-check    skip the node:http vs fetch cost comparison
  --pin-client CPU       Linux: run the load generator on that CPU only, and the ceiling and servers on the others
                         (an experiment: no core sharing between client and server, but fewer cores for the server)
  --markdown FILE        also write the tables as Markdown
  --json FILE            also write every measurement as JSON`;

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '1,8,32' },
    models: { type: 'string', default: 'dense_mlp,simple' },
    targets: { type: 'string', default: 'a,b,c,d' },
    client: { type: 'string', default: 'http' },
    retries: { type: 'string', default: '2' },
    'probe-requests': { type: 'string', default: '2000' },
    'intra-op-threads': { type: 'string' },
    'server-arg': { type: 'string', multiple: true, default: [] },
    'skip-client-check': { type: 'boolean', default: false },
    'pin-client': { type: 'string' },
    'with-mesh': { type: 'boolean', default: false },
    markdown: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const positive = (name: string, v: string) => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${name} must be a positive number, got '${v}'`);
  return n;
};
const models: BenchModel[] = list(args.models).map((m) => {
  const model = BENCH_MODELS[m];
  if (!model) throw new Error(`unknown model '${m}' (known: ${Object.keys(BENCH_MODELS).join(', ')})`);
  return model;
});
const concurrencies = list(args.concurrency).map((c) => Math.round(positive('concurrency', c)));
const targets = new Set(list(args.targets) as Target[]);
for (const t of targets) if (!(t in TARGET_LABEL)) throw new Error(`unknown target '${t}' (a, b, c, d)`);
if (args.client !== 'http' && args.client !== 'fetch') throw new Error(`--client must be http or fetch, got '${args.client}'`);
const cellOptions: CellOptions = {
  warmupMs: positive('warmup', args.warmup) * 1000,
  windowMs: positive('seconds', args.seconds) * 1000,
  retries: Math.max(0, Math.round(Number(args.retries))),
  client: args.client,
};
const intraOp = args['intra-op-threads'];
/** With --pin-client, the CPUs the measured side (ceiling, servers) may use. */
const serverCpus = (() => {
  if (args['pin-client'] === undefined) return undefined;
  const pin = Number(args['pin-client']);
  const others = Array.from({ length: availableParallelism() }, (_, i) => i).filter((i) => i !== pin);
  if (!Number.isInteger(pin) || others.length === availableParallelism() || others.length === 0) {
    throw new Error(`--pin-client must name one of CPUs 0..${availableParallelism() - 1} and leave at least one for the server`);
  }
  return others.join(',');
})();
const probeRequests = Math.max(0, Math.round(Number(args['probe-requests'])));

const results: CellResult[] = [];
const ceilings: Record<string, (CeilingResult & { when: string })[]> = {};
const probes: { format: string; result: ProbeResult }[] = [];
const clientCost: { client: ClientKind; r: CellResult }[] = [];
let infermeshCommand: string | undefined;
const serverTargets = (['b', 'c', 'd'] as const).filter((t) => targets.has(t)).length;
const totalCells = (targets.has('a') ? models.length * (serverTargets > 0 ? 2 : 1) : 0) + models.length * concurrencies.length * serverTargets;
let cellNo = 0;

function progress(line: string): void {
  cellNo++;
  console.log(`[${String(cellNo).padStart(2)}/${totalCells}] ${line}`);
}

function cellLine(r: CellResult): string {
  const cpu = r.cpu ? `  cores bench ${num(r.cpu.bench, 2)} server ${num(r.cpu.server, 2)} other ${num(r.cpu.foreign, 2)}` : '';
  const srv = r.server ? `  overhead ${num(r.server.overheadUs, 1)} µs avg batch ${num(r.server.avgBatch, 1)}` : '';
  return `${r.model.padEnd(9)} ${TARGET_LABEL[r.target].padEnd(34)} c=${String(r.concurrency).padEnd(3)}`
    + `${num(r.throughput).padStart(8)} infer/s  p50 ${num(r.p50Us).padStart(7)} µs  p99 ${num(r.p99Us).padStart(7)} µs`
    + `  spread ${num(r.spreadPct)}%${r.attempts > 1 ? ` (${r.attempts} windows)` : ''}${r.noisy ? ' NOISY' : ''}`
    + `${(r.waitedS ?? 0) > 1 ? ` (waited ${num(r.waitedS)} s for a quiet machine)` : ''}${cpu}${srv}`
    + (r.errors ? `  ${r.errors} errors: ${r.firstError}` : '');
}

/** The example models are generated, and dense_mlp's 42 MB file is not committed. */
async function ensureModels(): Promise<void> {
  const gen = startNode([join(ROOT, 'scripts', 'make-example-models.ts'), '--quiet'], 'make-example-models');
  const code = await gen.exited;
  if (code !== 0) throw new Error(`scripts/make-example-models.ts failed (${code}):\n${gen.stderr()}`);
}

/**
 * (a): one child per model, so its ORT threads are gone before any server runs. Measured
 * before the servers and again after them: this VM's speed drifts (batch-1 dense_mlp runs
 * took 1.0 ms or 2.0 ms at different times with no other process busy — neighbours on the
 * host), and a ratio to a ceiling taken minutes earlier would hide that.
 */
async function runCeilings(when: 'before' | 'after'): Promise<void> {
  for (const model of models) {
    const extra = intraOp === undefined ? [] : ['--intra-op-threads', intraOp];
    await waitQuietWithinBudget();
    // The child may retry a contended batch size once, after waiting for quiet at most this long.
    const quietMs = String(Math.max(0, Math.min(quietBudget.perWaitMs, quietBudget.leftMs)));
    const child = startNode([join(import.meta.dirname, 'ort-ceiling.ts'), '--model', model.name, '--seconds', String(cellOptions.windowMs / 1000),
      '--quiet-ms', quietMs, ...extra], 'ORT ceiling', serverCpus);
    const code = await child.exited;
    if (code !== 0) throw new Error(`ort-ceiling.ts ${model.name} failed (${code}):\n${child.stderr()}`);
    const c = JSON.parse(child.stdout().trim().split('\n').pop()!) as CeilingResult;
    (ceilings[model.name] ??= []).push({ when, ...c });
    quietBudget.leftMs -= c.waitedMs;
    progress(`${model.name.padEnd(9)} ${TARGET_LABEL.a} (${when}): ` + c.batches.map((b) => `batch ${b.batch} ${num(b.itemsPerSec)} items/s (run p50 ${num(b.runP50Us)} µs, ${num(b.cores, 2)} cores, other ${num(b.foreignCores, 2)})`).join('; '));
  }
}

/** The (a) rows: the higher of the two ceiling runs (a ceiling is a maximum), for every concurrency. */
function ceilingRows(): CellResult[] {
  const rows: CellResult[] = [];
  for (const model of models) {
    const runs = ceilings[model.name];
    if (!runs?.length) continue;
    const c = runs.reduce((x, y) => (y.best.itemsPerSec > x.best.itemsPerSec ? y : x));
    const foreign = Math.max(...c.batches.map((b) => b.foreignCores ?? 0));
    for (const concurrency of concurrencies) {
      rows.push({
        model: model.name, target: 'a', concurrency, throughput: c.best.itemsPerSec, p50Us: c.best.runP50Us, p99Us: c.best.runP99Us,
        errors: 0, attempts: runs.length, noisy: foreign > FOREIGN_LIMIT, note: `[batch ${c.best.batch}, ${c.when}]`,
      });
    }
  }
  return rows;
}

/** Runs `body` against a started server and stops the server whatever happens. */
async function withServer(child: Child, ready: RegExp, label: string, hasStats: boolean, body: (s: ServerUnderTest) => Promise<void>): Promise<void> {
  try {
    const baseUrl = await waitForLine(child, ready, label);
    await body({ pid: child.pid, baseUrl, hasStats });
  } finally {
    await child.stop();
  }
}

async function measureTarget(server: ServerUnderTest, model: BenchModel, target: Target, format: BodyFormat): Promise<void> {
  const body = encodeBody(model, format);
  await checkAnswer(model, server, body, `${model.name} ${TARGET_LABEL[target]}`);
  for (const concurrency of concurrencies) {
    const r = await runCell(model, target, concurrency, server, body, cellOptions);
    results.push(r);
    progress(cellLine(r));
  }
}

async function runBaseline(): Promise<void> {
  const extra = intraOp === undefined ? [] : ['--intra-op-threads', intraOp];
  const child = startNode([join(import.meta.dirname, 'baseline-server.ts'), '--host', '127.0.0.1', '--port', '0',
    ...models.flatMap((m) => ['--model', `${m.name}=${modelPath(m.name)}`]), ...extra], 'baseline server', serverCpus);
  await withServer(child, /baseline listening url=(\S+)/, 'baseline server', false, async (server) => {
    for (const model of models) await measureTarget(server, model, 'b', 'json');
  });
}

/**
 * Builds that have the mesh join it from `serve` unless told `--no-mesh` (listening on
 * 0.0.0.0); the bench measures the HTTP server alone, on 127.0.0.1 only. Older builds
 * without the flag would reject it, hence the look at `--help`. `--with-mesh` leaves the
 * mesh on (add its options with `--server-arg`).
 */
function meshOffArgs(): string[] {
  const help = execFileSync(process.execPath, [INFERMESH_BIN, '--help'], { encoding: 'utf8' });
  return help.includes('--no-mesh') ? ['--no-mesh'] : [];
}

async function runInfermesh(): Promise<void> {
  const extra = intraOp === undefined ? [] : ['--backend-config', `onnxruntime,intra-op-threads=${intraOp}`];
  const meshOff = args['with-mesh'] ? [] : meshOffArgs();
  const serveArgs = ['serve', '--model-repository', MODEL_REPOSITORY,
    '--host', '127.0.0.1', '--http-port', '0', '--grpc-port', '0', '--allow-metrics', 'false',
    // Only the measured models: idle ones would still hold worker threads and ORT pools.
    '--model-control-mode', 'explicit', ...models.flatMap((m) => ['--load-model', m.name]), ...meshOff, ...extra, ...args['server-arg']];
  infermeshCommand = `node node-host/bin.js ${serveArgs.join(' ').replace(MODEL_REPOSITORY, 'examples/models')}`;
  console.log(`      starting ${infermeshCommand}`);
  const child = startNode([INFERMESH_BIN, ...serveArgs], 'infermesh', serverCpus);
  await withServer(child, /HTTP service listening url=(\S+)\/v2/, 'infermesh', true, async (server) => {
    for (const model of models) {
      if (targets.has('c')) await measureTarget(server, model, 'c', 'json');
      if (targets.has('d')) await measureTarget(server, model, 'd', 'binary');
    }
    const simple = models.find((m) => m.name === 'simple');
    if (simple && probeRequests > 0) {
      for (const format of ['binary', 'json'] as const) {
        const result = await probeOverhead(server.baseUrl, 'simple', encodeBody(simple, format), probeRequests, 4 * cellOptions.windowMs);
        probes.push({ format, result });
        console.log(`      probe simple ${format}: ${result.samples} requests one at a time, server overhead p50 ${num(result.overheadUs.p50, 1)} µs `
          + `p99 ${num(result.overheadUs.p99, 1)} µs, client p50 ${num(result.clientUs.p50)} µs of which outside the server's clock ${num(result.clientMinusServerUs.p50)} µs`);
      }
    }
    if (simple && !args['skip-client-check']) {
      // What the load generator itself costs per request, with each client library.
      const body = encodeBody(simple, 'binary');
      for (const client of ['http', 'fetch'] as const) {
        for (const concurrency of [1, 32]) {
          const r = await runCell(simple, 'd', concurrency, server, body, { ...cellOptions, client, retries: 0 });
          clientCost.push({ client, r });
          console.log(`      client check ${client.padEnd(5)} c=${String(concurrency).padEnd(3)} ${num(r.throughput).padStart(7)} infer/s, bench CPU ${num(r.clientCpuUsPerRequest, 1)} µs/request`);
        }
      }
    }
  });
}

function section(title: string, tables: { caption?: string; table: Table }[], out: { text: string[]; md: string[] }): void {
  out.text.push('', `== ${title} ==`);
  out.md.push('', `## ${title}`);
  for (const { caption, table } of tables) {
    if (table.rows.length === 0) continue;
    if (caption) { out.text.push('', caption); out.md.push('', `${caption}`); }
    out.text.push(renderText(table));
    out.md.push('', renderMarkdown(table));
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  const command = `node bench/server-bench.ts ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`infermesh server benchmark — ${describeMachine(machine)}`);
  console.log(`window ${cellOptions.windowMs / 1000} s after ${cellOptions.warmupMs / 1000} s warm-up per cell, client ${cellOptions.client}, closed loop on 127.0.0.1`);
  console.log(SHARED_CORES_NOTE(machine.cores));
  if (serverCpus !== undefined) {
    pinSelf(args['pin-client']!);
    console.log(`pinned: load generator on CPU ${args['pin-client']}, ceiling and servers on CPU ${serverCpus}`);
  }
  if (!procAvailable) console.log('(no /proc here: CPU split and contention checks are off)');
  await ensureModels();
  if (targets.has('a')) await runCeilings('before');
  if (targets.has('b')) await runBaseline();
  if (targets.has('c') || targets.has('d')) await runInfermesh();
  if (targets.has('a') && serverTargets > 0) await runCeilings('after');
  results.unshift(...ceilingRows());

  const out = { text: [] as string[], md: [`# infermesh server benchmark`, '', `Machine: ${describeMachine(machine)}.`, '', `Command: \`${command}\``, '', SHARED_CORES_NOTE(machine.cores), '', CEILING_MEANING] };
  if (serverCpus !== undefined) out.md.push('', `Pinned: load generator on CPU ${args['pin-client']}, ceiling and servers on CPU ${serverCpus}.`);
  if (infermeshCommand) out.md.push('', `infermesh ran as: \`${infermeshCommand}\``);
  for (const model of models) {
    const tables: { caption?: string; table: Table }[] = [
      { caption: 'Client side (closed loop; spread = throughput variation across the window\'s thirds)', table: clientTable(results, model.name, procAvailable) },
      { caption: 'infermesh server side (statistics extension, averages per request over the window)', table: serverTable(results, model.name) },
    ];
    if (ceilings[model.name]) tables.push({ caption: 'Ceiling (a) by batch size, measured before and after the servers', table: ceilingTable(ceilings[model.name]) });
    section(model.name, tables, out);
  }
  if (probes.length) {
    section('Per-request server overhead, simple, c=1 (one request at a time, statistics read after each)', [{ table: probeTable(probes) }], out);
  }
  if (clientCost.length) section('Load-generator client cost (simple, infermesh binary)', [{ table: clientCostTable(clientCost) }], out);
  const gs = goals(results, probes.find((p) => p.format === 'binary')?.result);
  const lines = goalLines(gs);
  out.text.push('', '== Goals ==', ...lines, '', CEILING_MEANING);
  out.md.push('', '## Goals', '', ...lines.map((l) => `- ${l}`));
  console.log(out.text.join('\n'));
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (args.markdown) writeFileSync(args.markdown, out.md.join('\n') + '\n');
  if (args.json) writeFileSync(args.json, JSON.stringify({ machine, command, infermeshCommand, options: cellOptions, results, ceilings, probes, clientCost, goals: gs }, null, 2) + '\n');
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exitCode = 1;
});
