/**
 * One measurement cell (model × target × concurrency) against a running server: the load
 * window, the server statistics around it, the CPU split, and a rerun when the window
 * looks contended. Plus the answer check each target must pass before it is measured.
 */
import { decodeHttpInferResponse } from '../protocol/http-infer.ts';
import type { TypedTensorArray } from '../protocol/datatypes.ts';
import { inputData, type BenchModel, type EncodedBody } from './bench-models.ts';
import type { ClientKind, LoadResult } from './load-driver.ts';
import { runLoad } from './load-runner.ts';
import { cpuSnapshot, cpuUsage, waitForQuiet, type CpuUsage } from './proc-cpu.ts';
import { fetchStats, serverTiming, type ServerTiming } from './server-stats.ts';

/** The four rows of the brief: ceiling, hand-written baseline, infermesh JSON, infermesh binary. */
export type Target = 'a' | 'b' | 'c' | 'd';

export const TARGET_LABEL: Record<Target, string> = {
  a: '(a) ORT in-process ceiling',
  b: '(b) node:http+ORT baseline, JSON',
  c: '(c) infermesh, JSON',
  d: '(d) infermesh, binary',
};

/** Who used the cores during a window, in cores (1.0 = one core busy). */
export interface CpuSplit {
  bench: number;
  server: number;
  serverMain: number;
  serverOrt: number;
  foreign: number;
}

export interface CellResult {
  model: string;
  target: Target;
  concurrency: number;
  throughput: number;
  p50Us: number;
  p99Us: number;
  /** (max − min) / mean of the window's slice throughputs, in %. */
  spreadPct?: number;
  errors: number;
  firstError?: string;
  cpu?: CpuSplit;
  server?: ServerTiming;
  /** Bench CPU per completed request, µs: what the load generator costs. */
  clientCpuUsPerRequest?: number;
  /** Windows run for this cell (more than one when the first looked contended). */
  attempts: number;
  /** Still contended after the reruns. */
  noisy: boolean;
  /** Seconds spent waiting for other processes to go quiet before the kept window. */
  waitedS?: number;
  /** Free text shown with the row (the ceiling's batch size). */
  note?: string;
}

/** A running server under test. */
export interface ServerUnderTest {
  pid: number;
  baseUrl: string;
  /** Whether it has the statistics extension (infermesh does, the baseline does not). */
  hasStats: boolean;
}

export interface CellOptions {
  warmupMs: number;
  windowMs: number;
  retries: number;
  client: ClientKind;
}

/**
 * How long the whole run may wait for other processes to go quiet: up to 10 s before any
 * one window, 90 s in all, so a colleague's long job makes the run noisy (and says so)
 * instead of endless. Once spent, contended cells are not rerun either.
 */
export const quietBudget = { leftMs: 90_000, perWaitMs: 10_000 };

/** Waits for a quiet machine within the budget; returns the seconds waited. */
export async function waitQuietWithinBudget(): Promise<number> {
  const max = Math.min(quietBudget.perWaitMs, quietBudget.leftMs);
  if (max <= 0) return 0;
  const { waitedS } = await waitForQuiet(FOREIGN_LIMIT, max);
  quietBudget.leftMs -= waitedS * 1000;
  return waitedS;
}

/**
 * A window is contended when other processes took this many cores on average — the one
 * kind of noise a rerun can fix. Throughput wandering between the window's thirds is shown
 * (spread) but not rerun on: with no foreign load it is the server's own behaviour (GC
 * pauses, batch sizes alternating), unless it is as large as SPREAD_LIMIT_PCT.
 */
export const FOREIGN_LIMIT = 0.1;
const SPREAD_LIMIT_PCT = 25;

function split(u: CpuUsage | undefined): CpuSplit | undefined {
  if (!u) return undefined;
  const s = u.procs.server;
  return {
    bench: u.procs.bench?.total ?? 0,
    server: s?.total ?? 0,
    serverMain: s?.threads.main ?? 0,
    serverOrt: s?.threads.ort ?? 0,
    foreign: u.foreign,
  };
}

function spread(load: LoadResult): number {
  const t = load.sliceThroughput;
  const mean = t.reduce((a, b) => a + b, 0) / t.length;
  return mean > 0 ? ((Math.max(...t) - Math.min(...t)) / mean) * 100 : 0;
}

const isNoisy = (r: CellResult) => (r.cpu?.foreign ?? 0) > FOREIGN_LIMIT || (r.spreadPct ?? 0) > SPREAD_LIMIT_PCT;

/** Measures one cell; reruns it (up to `retries` times) while it looks contended and keeps the least contended window. */
export async function runCell(model: BenchModel, target: Target, concurrency: number, server: ServerUnderTest, body: EncodedBody, opts: CellOptions): Promise<CellResult> {
  let best: CellResult | undefined;
  for (let attempt = 1; attempt <= opts.retries + 1; attempt++) {
    const waitedS = await waitQuietWithinBudget();
    const snap = async () => {
      const cpu = cpuSnapshot({ bench: process.pid, server: server.pid });
      return { cpu, stats: server.hasStats ? await fetchStats(server.baseUrl, model.name) : undefined };
    };
    const { load, start, end } = await runLoad({
      url: `${server.baseUrl}/v2/models/${model.name}/infer`,
      body: body.body, headers: body.headers, concurrency,
      warmupMs: opts.warmupMs, windowMs: opts.windowMs, slices: 3, client: opts.client,
      maxSamples: 2_000_000, requestTimeoutMs: 30_000,
    }, { onStart: snap, onEnd: snap });
    const usage = cpuUsage(start.cpu, end.cpu);
    const r: CellResult = {
      model: model.name, target, concurrency,
      throughput: load.throughput, p50Us: load.latencyUs.p50, p99Us: load.latencyUs.p99,
      spreadPct: spread(load), errors: load.errors, firstError: load.firstError,
      cpu: split(usage),
      server: start.stats && end.stats ? serverTiming(start.stats, end.stats) : undefined,
      clientCpuUsPerRequest: usage && load.completed > 0 ? (usage.procs.bench.total * usage.seconds * 1e6) / load.completed : undefined,
      attempts: attempt, noisy: false, waitedS,
    };
    r.noisy = isNoisy(r);
    if (load.errors > 0 && load.completed === 0) throw new Error(`${model.name} ${TARGET_LABEL[target]} c=${concurrency}: every request failed: ${load.firstError}`);
    if (!best || (r.cpu?.foreign ?? 0) + (r.spreadPct ?? 0) / 100 < (best.cpu?.foreign ?? 0) + (best.spreadPct ?? 0) / 100) best = { ...r };
    best.attempts = attempt;
    if (!r.noisy || quietBudget.leftMs <= 0) break;
  }
  return best!;
}

/** Outputs of the first answer per model, so every target's answer is compared with it. */
const reference = new Map<string, Map<string, Float64Array>>();

/**
 * Sends one request and checks the answer: `simple` must return the exact sum and
 * difference, `dense_mlp` the same numbers as the first target checked (to FP32 noise).
 * A benchmark of wrong answers would be worthless.
 */
export async function checkAnswer(model: BenchModel, server: ServerUnderTest, body: EncodedBody, label: string): Promise<void> {
  const res = await fetch(`${server.baseUrl}/v2/models/${model.name}/infer`, { method: 'POST', headers: body.headers, body: body.body as Uint8Array<ArrayBuffer> });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${label}: HTTP ${res.status}: ${new TextDecoder().decode(bytes)}`);
  const hl = res.headers.get('inference-header-content-length');
  const resp = decodeHttpInferResponse(bytes, hl === null ? undefined : Number(hl));
  const got = new Map(resp.outputs.map((o) => [o.name, Float64Array.from(o.data as Exclude<TypedTensorArray, BigInt64Array | BigUint64Array>)]));
  for (const name of model.outputs) if (!got.has(name)) throw new Error(`${label}: answer lacks output ${name}`);
  if (model.name === 'simple') {
    const [a, b] = inputData(model, 1).map((x) => x.data);
    for (let i = 0; i < a.length; i++) {
      if (got.get('OUTPUT0')![i] !== a[i] + b[i] || got.get('OUTPUT1')![i] !== a[i] - b[i]) throw new Error(`${label}: wrong sum/difference at ${i}`);
    }
    return;
  }
  const ref = reference.get(model.name);
  if (!ref) { reference.set(model.name, got); return; }
  for (const [name, want] of ref) {
    const have = got.get(name)!;
    if (have.length !== want.length) throw new Error(`${label}: output ${name} has ${have.length} values, expected ${want.length}`);
    for (let i = 0; i < want.length; i++) {
      if (!(Math.abs(have[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) throw new Error(`${label}: output ${name}[${i}] = ${have[i]}, expected ${want[i]}`);
    }
  }
}
