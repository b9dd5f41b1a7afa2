/**
 * Prometheus text exposition with Triton's metric names, HELP texts and labels
 * (COMPAT-NOTES §5.2), rendered at scrape time from the models' statistics — so serving a
 * request costs nothing extra for metrics.
 */
import type { FailureReason } from '../protocol/errors.ts';
import type { ModelCounters } from './model-stats.ts';

/** Cumulative figures of one model version, as the exporter needs them. */
export interface ModelMetricsSample extends ModelCounters {
  model: string;
  version: string;
  /** config `metric_tags`, exported as `_<key>` labels. */
  tags?: Record<string, string>;
  pending: number;
  loadSeconds?: number;
  /** The model uses the response cache: only then are the `nv_cache_*` families exported (as Triton). */
  cacheEnabled?: boolean;
}

/** Host-wide gauges (`nv_cpu_*`); omitted when the host cannot measure them. */
export interface SystemMetricsSample {
  cpuUtilization?: number;
  memoryTotalBytes?: number;
  memoryUsedBytes?: number;
}

/** A metric family: name, type, HELP text and how to read its value from a sample. */
interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  value: (s: ModelMetricsSample) => number | undefined;
}

const usOf = (ns: number) => Math.floor(ns / 1000);

const MODEL_FAMILIES: readonly Family[] = [
  { name: 'nv_inference_request_success', type: 'counter', help: 'Number of successful inference requests, all batch sizes', value: (s) => s.successCount },
  { name: 'nv_inference_count', type: 'counter', help: 'Number of inferences performed (does not include cached requests)', value: (s) => s.inferenceCount },
  { name: 'nv_inference_exec_count', type: 'counter', help: 'Number of model executions performed (does not include cached requests)', value: (s) => s.execCount },
  { name: 'nv_inference_request_duration_us', type: 'counter', help: 'Cumulative inference request duration in microseconds (includes cached requests)', value: (s) => usOf(s.requestNs) },
  { name: 'nv_inference_queue_duration_us', type: 'counter', help: 'Cumulative inference queuing duration in microseconds (includes cached requests)', value: (s) => usOf(s.queueNs) },
  { name: 'nv_inference_compute_input_duration_us', type: 'counter', help: 'Cumulative compute input duration in microseconds (does not include cached requests)', value: (s) => usOf(s.computeInputNs) },
  { name: 'nv_inference_compute_infer_duration_us', type: 'counter', help: 'Cumulative compute inference duration in microseconds (does not include cached requests)', value: (s) => usOf(s.computeInferNs) },
  { name: 'nv_inference_compute_output_duration_us', type: 'counter', help: 'Cumulative inference compute output duration in microseconds (does not include cached requests)', value: (s) => usOf(s.computeOutputNs) },
  { name: 'nv_inference_pending_request_count', type: 'gauge', help: 'Instantaneous number of pending requests awaiting execution per-model.', value: (s) => s.pending },
  { name: 'nv_model_load_duration_secs', type: 'gauge', help: 'Model load time in seconds', value: (s) => s.loadSeconds },
  // Triton's cache families (core/src/metrics.cc), present only for models that use the cache.
  { name: 'nv_cache_num_hits_per_model', type: 'counter', help: 'Number of cache hits per model', value: (s) => (s.cacheEnabled ? s.cacheHitCount : undefined) },
  { name: 'nv_cache_num_misses_per_model', type: 'counter', help: 'Number of cache misses per model', value: (s) => (s.cacheEnabled ? s.cacheMissCount : undefined) },
  { name: 'nv_cache_hit_duration_per_model', type: 'counter', help: 'Total cache hit duration per model, in microseconds', value: (s) => (s.cacheEnabled ? usOf(s.cacheHitNs) : undefined) },
  { name: 'nv_cache_miss_duration_per_model', type: 'counter', help: 'Total cache miss (insert+lookup) duration per model, in microseconds', value: (s) => (s.cacheEnabled ? usOf(s.cacheMissNs) : undefined) },
];

const FAILURE_REASONS: readonly FailureReason[] = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'];

/** Escapes a label value per the exposition format (backslash, quote, newline). */
function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(s: ModelMetricsSample, extra?: string): string {
  const parts = [`model="${esc(s.model)}"`, `version="${esc(s.version)}"`];
  for (const [k, v] of Object.entries(s.tags ?? {})) parts.push(`_${k.replace(/[^a-zA-Z0-9_]/g, '_')}="${esc(v)}"`);
  if (extra) parts.push(extra);
  return `{${parts.join(',')}}`;
}

/** Renders the whole `/metrics` page. */
export function formatPrometheus(models: readonly ModelMetricsSample[], system: SystemMetricsSample = {}): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  family('nv_inference_request_failure', 'counter', 'Number of failed inference requests, all batch sizes');
  for (const s of models) {
    // Triton pre-creates all four reason series at 0.
    for (const r of FAILURE_REASONS) out.push(`nv_inference_request_failure${labels(s, `reason="${r}"`)} ${s.failureCount[r] ?? 0}`);
  }
  for (const f of MODEL_FAMILIES) {
    const rows = models.map((s) => [s, f.value(s)] as const).filter(([, v]) => v !== undefined);
    if (rows.length === 0) continue;
    family(f.name, f.type, f.help);
    for (const [s, v] of rows) out.push(`${f.name}${labels(s)} ${v}`);
  }
  if (system.cpuUtilization !== undefined) {
    family('nv_cpu_utilization', 'gauge', 'CPU utilization rate [0.0 - 1.0]');
    out.push(`nv_cpu_utilization ${system.cpuUtilization}`);
  }
  if (system.memoryTotalBytes !== undefined) {
    family('nv_cpu_memory_total_bytes', 'gauge', 'CPU total memory (RAM), in bytes');
    out.push(`nv_cpu_memory_total_bytes ${system.memoryTotalBytes}`);
  }
  if (system.memoryUsedBytes !== undefined) {
    family('nv_cpu_memory_used_bytes', 'gauge', 'CPU used memory (RAM), in bytes');
    out.push(`nv_cpu_memory_used_bytes ${system.memoryUsedBytes}`);
  }
  return out.join('\n') + '\n';
}
