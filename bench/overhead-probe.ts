/**
 * Per-request server overhead without touching the product: the statistics extension only
 * gives sums, so this probe sends one request at a time and reads the statistics after
 * each. With nothing else in flight, the delta between two snapshots is exactly one
 * request, and its `success − queue − compute` is that request's overhead — a distribution
 * (p50, p99) rather than perf_analyzer's average. The extra GET between requests makes this
 * a concurrency-1, non-steady-state measurement; it is reported next to the window averages.
 */
import { Agent, request as httpRequest } from 'node:http';
import type { EncodedBody } from './bench-models.ts';
import { parseStats, serverTiming, type StatsSnapshot } from './server-stats.ts';

/** Distribution summary in µs. */
export interface Dist { p50: number; p90: number; p99: number; mean: number }

export interface ProbeResult {
  samples: number;
  /** Sample whose delta was not exactly one request (should be 0). */
  discarded: number;
  overheadUs: Dist;
  requestUs: Dist;
  queueUs: Dist;
  computeUs: Dist;
  clientUs: Dist;
  /** Client latency minus server request time: HTTP, body codec, loopback, client. */
  clientMinusServerUs: Dist;
}

function dist(values: number[]): Dist {
  const s = [...values].sort((a, b) => a - b);
  const p = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))] ?? NaN;
  return { p50: p(50), p90: p(90), p99: p(99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** Sends one request on `agent`; resolves with the status and body text. */
function call(agent: Agent, url: URL, method: string, body?: EncodedBody): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = body ? { ...body.headers, 'Content-Length': String(body.body.byteLength) } : {};
    const req = httpRequest({ agent, hostname: url.hostname, port: url.port, path: url.pathname, method, headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: method === 'GET' ? Buffer.concat(chunks).toString('utf8') : '' }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('probe request timed out')));
    req.on('error', reject);
    req.end(body ? Buffer.from(body.body.buffer, body.body.byteOffset, body.body.byteLength) : undefined);
  });
}

/** Runs `warmup` unmeasured then up to `count` measured requests, stopping after `maxMs`. */
export async function probeOverhead(baseUrl: string, model: string, body: EncodedBody, count: number, maxMs: number, warmup = 200): Promise<ProbeResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const inferUrl = new URL(`${baseUrl}/v2/models/${encodeURIComponent(model)}/infer`);
  const statsUrl = new URL(`${baseUrl}/v2/models/${encodeURIComponent(model)}/stats`);
  const stats = async (): Promise<StatsSnapshot> => {
    const r = await call(agent, statsUrl, 'GET');
    if (r.status !== 200) throw new Error(`stats: HTTP ${r.status}`);
    return parseStats(JSON.parse(r.text));
  };
  try {
    for (let i = 0; i < warmup; i++) await call(agent, inferUrl, 'POST', body);
    const cols = { overhead: [] as number[], request: [] as number[], queue: [] as number[], compute: [] as number[], client: [] as number[], gap: [] as number[] };
    let discarded = 0;
    let before = await stats();
    const end = performance.now() + maxMs;
    while (cols.client.length < count && performance.now() < end) {
      const t0 = performance.now();
      const r = await call(agent, inferUrl, 'POST', body);
      const clientUs = (performance.now() - t0) * 1000;
      if (r.status !== 200) throw new Error(`probe infer: HTTP ${r.status}`);
      const after = await stats();
      const t = serverTiming(before, after);
      before = after;
      if (t.requests !== 1) { discarded++; continue; }
      cols.overhead.push(t.overheadUs);
      cols.request.push(t.requestUs);
      cols.queue.push(t.queueUs);
      cols.compute.push(t.computeInputUs + t.computeInferUs + t.computeOutputUs);
      cols.client.push(clientUs);
      cols.gap.push(clientUs - t.requestUs);
    }
    return {
      samples: cols.client.length, discarded,
      overheadUs: dist(cols.overhead), requestUs: dist(cols.request), queueUs: dist(cols.queue),
      computeUs: dist(cols.compute), clientUs: dist(cols.client), clientMinusServerUs: dist(cols.gap),
    };
  } finally {
    agent.destroy();
  }
}
