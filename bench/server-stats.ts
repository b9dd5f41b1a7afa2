/**
 * Server-side timing from Triton's statistics extension (`GET /v2/models/{m}/stats`,
 * COMPAT-NOTES §1.13), read the way perf_analyzer reads it (§6.1): the delta between two
 * snapshots, averaged per successful request, and
 * overhead = request − queue − compute input − compute infer − compute output.
 *
 * infermesh's request clock runs from the core's `infer()` call to its answer, so — as in
 * Triton, whose clock starts after the HTTP frontend has parsed the request — HTTP reading,
 * body decoding and response encoding are outside it; `clientMinusServer` in the probe
 * makes that outside part visible.
 */

interface DurationStat { count: number; ns: number }

/** The counters the bench needs from one model's `model_stats` entry. */
export interface StatsSnapshot {
  inferenceCount: number;
  executionCount: number;
  success: DurationStat;
  queue: DurationStat;
  computeInput: DurationStat;
  computeInfer: DurationStat;
  computeOutput: DurationStat;
}

/** Per-request averages over a window, in µs. */
export interface ServerTiming {
  requests: number;
  /** Inferences per model execution: how well the dynamic batcher filled batches. */
  avgBatch: number;
  requestUs: number;
  overheadUs: number;
  queueUs: number;
  computeInputUs: number;
  computeInferUs: number;
  computeOutputUs: number;
}

/** Reads one model's statistics. */
export async function fetchStats(baseUrl: string, model: string): Promise<StatsSnapshot> {
  const res = await fetch(`${baseUrl}/v2/models/${encodeURIComponent(model)}/stats`);
  if (res.status !== 200) throw new Error(`GET stats of ${model}: HTTP ${res.status} ${await res.text()}`);
  return parseStats(await res.json());
}

/** Picks the fields perf_analyzer uses out of a statistics response. */
export function parseStats(body: unknown): StatsSnapshot {
  const s = (body as { model_stats: Record<string, never>[] }).model_stats[0] as unknown as {
    inference_count: number; execution_count: number;
    inference_stats: Record<'success' | 'queue' | 'compute_input' | 'compute_infer' | 'compute_output', DurationStat>;
  };
  const i = s.inference_stats;
  return {
    inferenceCount: s.inference_count, executionCount: s.execution_count,
    success: i.success, queue: i.queue, computeInput: i.compute_input, computeInfer: i.compute_infer, computeOutput: i.compute_output,
  };
}

/** Per-request averages between two snapshots (perf_analyzer's `ReportServerSideStats`). */
export function serverTiming(a: StatsSnapshot, b: StatsSnapshot): ServerTiming {
  const d = (k: 'success' | 'queue' | 'computeInput' | 'computeInfer' | 'computeOutput') => ({
    count: b[k].count - a[k].count, ns: b[k].ns - a[k].ns,
  });
  const avgUs = (x: DurationStat) => (x.count > 0 ? x.ns / x.count / 1000 : 0);
  const success = d('success');
  const queueUs = avgUs(d('queue'));
  const ci = avgUs(d('computeInput'));
  const cf = avgUs(d('computeInfer'));
  const co = avgUs(d('computeOutput'));
  const requestUs = avgUs(success);
  const executions = b.executionCount - a.executionCount;
  return {
    requests: success.count,
    avgBatch: executions > 0 ? (b.inferenceCount - a.inferenceCount) / executions : 0,
    requestUs,
    // perf_analyzer clamps at 0 (COMPAT-NOTES §6.1).
    overheadUs: Math.max(0, requestUs - queueUs - ci - cf - co),
    queueUs, computeInputUs: ci, computeInferUs: cf, computeOutputUs: co,
  };
}
