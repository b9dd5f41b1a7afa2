/**
 * A closed-loop concurrency driver, like perf_analyzer's concurrency mode (COMPAT-NOTES §6.1):
 * N loops, each sending the next request as soon as its previous answer has arrived, so
 * exactly N requests are outstanding at all times. It runs inside load-driver.worker.ts so
 * that its event loop serves nothing but the load (see runLoad in load-runner.ts).
 *
 * Counting: a request belongs to the measurement window when its answer *completes* inside
 * it. That estimates throughput without bias (perf_analyzer keeps only requests that both
 * start and end in the window, which drops up to N·latency worth of requests per window).
 */
import { Agent, request as httpRequest } from 'node:http';
import { grpcSender } from './load-grpc-sender.ts';

/** Which client library sends the requests (`grpc`: ModelInfer over @grpc/grpc-js, `url` is host:port). */
export type ClientKind = 'http' | 'fetch' | 'grpc';

/** What one cell asks of the driver. */
export interface LoadSpec {
  /** Full infer URL on 127.0.0.1. */
  url: string;
  body: Uint8Array;
  headers: Record<string, string>;
  concurrency: number;
  warmupMs: number;
  windowMs: number;
  /** The window is split into this many equal slices to judge stability (throughput per slice). */
  slices: number;
  client: ClientKind;
  /** Latency samples kept at most (the count goes on beyond it). */
  maxSamples: number;
  /** A request idle this long fails (node:http socket timeout). */
  requestTimeoutMs: number;
  /**
   * Loop i sends loopBodies[i] in turn, round and round, instead of `body` (sequences: START,
   * middle…, END). Answers may then differ in length, so the length check is off.
   */
  loopBodies?: Uint8Array[][];
  /** Every request writes a fresh counter (FP32, little-endian) at this byte offset of `body`: all requests differ. */
  counterOffset?: number;
  /** The counter's first value minus one (default 0): cells that must not repeat each other's requests start apart. */
  counterBase?: number;
}

/** What the driver reports for one cell. */
export interface LoadResult {
  concurrency: number;
  windowMs: number;
  /** Successful answers completed inside the window. */
  completed: number;
  /** Failures during warm-up and window (HTTP status ≠ 200, wrong body length, socket errors). */
  errors: number;
  firstError?: string;
  throughput: number;
  /** Throughput of each slice of the window. */
  sliceThroughput: number[];
  latencyUs: { p50: number; p90: number; p99: number; mean: number; max: number };
  /** Body length of the answers (all successful answers must have it). */
  responseBytes: number;
}

/** Events the driver emits while it runs (the worker forwards them to the main thread). */
export type LoadEvent = { type: 'window-start' } | { type: 'window-end' };

/** Sends loop `loop`'s next request; resolves with the answer's length in bytes. */
export type Send = (loop: number) => Promise<number>;

/** The body loop `loop` sends next: `body`, a fresh copy with a new counter, or the loop's next body. */
export function bodySource(spec: LoadSpec): (loop: number) => Buffer {
  const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (spec.loopBodies) {
    const bodies = spec.loopBodies.map((l) => l.map(asBuffer));
    const cursor = new Array<number>(bodies.length).fill(0);
    return (loop) => { const l = bodies[loop % bodies.length]; return l[cursor[loop % bodies.length]++ % l.length]; };
  }
  const fixed = asBuffer(spec.body);
  if (spec.counterOffset === undefined) return () => fixed;
  const offset = spec.counterOffset;
  let counter = spec.counterBase ?? 0;
  return () => { const b = Buffer.from(fixed); b.writeFloatLE(++counter, offset); return b; };
}

/** node:http with a keep-alive Agent holding exactly `concurrency` sockets. */
function httpSender(spec: LoadSpec): { send: Send; close: () => void } {
  const url = new URL(spec.url);
  const agent = new Agent({ keepAlive: true, maxSockets: spec.concurrency, maxFreeSockets: spec.concurrency });
  const nextBody = bodySource(spec);
  const options = { agent, hostname: url.hostname, port: url.port, path: url.pathname, method: 'POST', timeout: spec.requestTimeoutMs };
  // Request options per body length, built once: the common case (one body) costs no per-request object.
  const byLength = new Map<number, typeof options & { headers: Record<string, string> }>();
  const optionsFor = (n: number) => byLength.get(n) ?? byLength.set(n, { ...options, headers: { ...spec.headers, 'Content-Length': String(n) } }).get(n)!;
  const send: Send = (loop) => new Promise<number>((resolve, reject) => {
    const body = nextBody(loop);
    const req = httpRequest(optionsFor(body.byteLength), (res) => {
      let n = 0;
      const failed = res.statusCode !== 200;
      const errorChunks: Buffer[] = [];
      res.on('data', (c: Buffer) => { n += c.length; if (failed) errorChunks.push(c); });
      res.on('end', () => failed
        ? reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(errorChunks).toString('utf8').slice(0, 300)}`))
        : resolve(n));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${spec.requestTimeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
  return { send, close: () => agent.destroy() };
}

/** The global fetch (undici inside Node), which pools keep-alive connections by itself. */
function fetchSender(spec: LoadSpec): { send: Send; close: () => void } {
  const nextBody = bodySource(spec);
  const send: Send = async (loop) => {
    const res = await fetch(spec.url, { method: 'POST', headers: spec.headers, body: nextBody(loop) as Uint8Array<ArrayBuffer> });
    const buf = await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${new TextDecoder().decode(buf).slice(0, 300)}`);
    return buf.byteLength;
  };
  return { send, close: () => {} };
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs warm-up then one measurement window; `emit` marks the window's start and end. */
export async function driveLoad(spec: LoadSpec, emit: (e: LoadEvent) => void): Promise<LoadResult> {
  const { send, close } = spec.client === 'http' ? httpSender(spec) : spec.client === 'grpc' ? grpcSender(spec) : fetchSender(spec);
  const samples = new Float64Array(spec.maxSamples);
  const sliceCounts = new Array<number>(spec.slices).fill(0);
  let sampleCount = 0;
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  let responseBytes = -1;
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let stopped = false;

  const fail = (message: string) => { errors++; firstError ??= message; };

  const loop = async (_: unknown, i: number) => {
    while (!stopped) {
      const t0 = performance.now();
      let length: number;
      try {
        length = await send(i);
      } catch (e) {
        fail((e as Error).message);
        // A dead server answers at once; do not spin on it.
        await sleep(10);
        continue;
      }
      const t1 = performance.now();
      // Every answer to the same request has the same length; a different one is a wrong answer.
      if (responseBytes < 0 || spec.loopBodies) responseBytes = length;
      else if (length !== responseBytes) { fail(`answer of ${length} bytes, expected ${responseBytes}`); continue; }
      if (t1 < windowStart || t1 >= windowEnd) continue;
      completed++;
      sliceCounts[Math.min(spec.slices - 1, Math.floor(((t1 - windowStart) / spec.windowMs) * spec.slices))]++;
      if (sampleCount < samples.length) samples[sampleCount++] = (t1 - t0) * 1000;
    }
  };

  const loops = Array.from({ length: spec.concurrency }, loop);
  await sleep(spec.warmupMs);
  windowStart = performance.now();
  windowEnd = windowStart + spec.windowMs;
  emit({ type: 'window-start' });
  await sleep(spec.windowMs);
  // The timer may fire late on a busy loop; completions are judged by windowEnd, not by it.
  while (performance.now() < windowEnd) await sleep(1);
  emit({ type: 'window-end' });
  stopped = true;
  await Promise.all(loops);
  close();

  const sorted = samples.slice(0, sampleCount).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    concurrency: spec.concurrency,
    windowMs: spec.windowMs,
    completed,
    errors,
    firstError,
    throughput: completed / (spec.windowMs / 1000),
    sliceThroughput: sliceCounts.map((n) => n / (spec.windowMs / 1000 / spec.slices)),
    latencyUs: {
      p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99),
      mean: sorted.length ? sum / sorted.length : NaN, max: sorted.length ? sorted[sorted.length - 1] : NaN,
    },
    responseBytes,
  };
}
