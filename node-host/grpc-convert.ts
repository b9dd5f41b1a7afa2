/**
 * The core's JSON-shaped answers (the ones the HTTP endpoints return as they are) → the gRPC
 * messages of GRPCInferenceService, field for field (COMPAT-NOTES §2.1–§2.2). Kept apart from
 * the server so the mapping reads on its own and both transports stay one source of truth.
 */
import type { ModelMetadata, ServerMetadata } from '../core/inference-server.ts';
import type { ModelIndexEntry } from '../core/model-repository.ts';
import type { DurationStat } from '../core/model-stats.ts';
import type {
  InferBatchStatistics, InferResponseStatistics, InferStatistics, MemoryUsage, ModelMetadataResponse, ModelStatistics,
  RepositoryIndexResponse, ServerMetadataResponse, StatisticDuration,
} from '../protocol/inference-pb.ts';

/** A JSON number as a uint64 (negative or fractional values cannot occur; clamp defensively). */
function u64(n: number | undefined): bigint {
  return n === undefined || !Number.isFinite(n) || n <= 0 ? 0n : BigInt(Math.trunc(n));
}

function duration(d: DurationStat | undefined): StatisticDuration {
  return { count: u64(d?.count), ns: u64(d?.ns) };
}

/** `GET /v2` → ServerMetadataResponse. */
export function serverMetadataToProto(m: ServerMetadata): ServerMetadataResponse {
  return { name: m.name, version: m.version, extensions: [...m.extensions] };
}

/** Model metadata → ModelMetadataResponse (shapes as int64, -1 = variable). */
export function modelMetadataToProto(m: ModelMetadata): ModelMetadataResponse {
  const tensor = (t: { name: string; datatype: string; shape: number[] }) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map((d) => BigInt(d)) });
  return { name: m.name, versions: [...m.versions], platform: m.platform, inputs: m.inputs.map(tensor), outputs: m.outputs.map(tensor) };
}

/** The JSON statistics of one model version, loosely typed: the response/memory parts may grow. */
interface StatisticsJson {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<string, DurationStat | undefined>;
  response_stats?: Record<string, Record<string, DurationStat | undefined>>;
  batch_stats: { batch_size: number; compute_input: DurationStat; compute_infer: DurationStat; compute_output: DurationStat }[];
  memory_usage?: { type: string; id: number; byte_size: number }[];
}

/** `GET /v2/models[/m]/stats` `model_stats` entries → ModelStatistics messages. */
export function statisticsToProto(stats: readonly unknown[]): ModelStatistics[] {
  return (stats as StatisticsJson[]).map((s) => {
    const i = s.inference_stats;
    const inferenceStats: InferStatistics = {
      success: duration(i.success), fail: duration(i.fail), queue: duration(i.queue),
      computeInput: duration(i.compute_input), computeInfer: duration(i.compute_infer), computeOutput: duration(i.compute_output),
      cacheHit: duration(i.cache_hit), cacheMiss: duration(i.cache_miss),
    };
    const responseStats = new Map<string, InferResponseStatistics>();
    for (const [k, r] of Object.entries(s.response_stats ?? {})) {
      responseStats.set(k, {
        computeInfer: duration(r.compute_infer), computeOutput: duration(r.compute_output), success: duration(r.success),
        fail: duration(r.fail), emptyResponse: duration(r.empty_response), cancel: duration(r.cancel),
      });
    }
    const batchStats: InferBatchStatistics[] = s.batch_stats.map((b) => ({
      batchSize: u64(b.batch_size), computeInput: duration(b.compute_input), computeInfer: duration(b.compute_infer), computeOutput: duration(b.compute_output),
    }));
    const memoryUsage: MemoryUsage[] = (s.memory_usage ?? []).map((m) => ({ type: m.type, id: BigInt(Math.trunc(m.id)), byteSize: u64(m.byte_size) }));
    return {
      name: s.name, version: s.version, lastInference: u64(s.last_inference), inferenceCount: u64(s.inference_count),
      executionCount: u64(s.execution_count), inferenceStats, batchStats, memoryUsage, responseStats,
    };
  });
}

/** `POST /v2/repository/index` entries → ModelIndex messages (absent fields as empty strings). */
export function repositoryIndexToProto(entries: readonly ModelIndexEntry[]): RepositoryIndexResponse.ModelIndex[] {
  return entries.map((e) => ({ name: e.name, version: e.version ?? '', state: e.state ?? '', reason: e.reason ?? '' }));
}
