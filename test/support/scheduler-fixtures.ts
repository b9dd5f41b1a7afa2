/**
 * Builders for scheduler tests: a minimal normalised ModelConfig and requests whose input
 * values identify them, so a test can tell whose answer each request received.
 */
import type { ModelConfig, ModelDynamicBatching, ModelQueuePolicy } from '../../core/model-config.ts';
import type { ScheduledRequest } from '../../core/scheduler.ts';
import type { DataType } from '../../protocol/datatypes.ts';
import type { Tensor } from '../../protocol/tensor.ts';

/** A ModelQueuePolicy with defaults, overridden by `p`. */
export function queuePolicy(p: Partial<ModelQueuePolicy> = {}): ModelQueuePolicy {
  return { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: false, max_queue_size: 0, ...p };
}

/** A config with dynamic batching (pass `dynamic_batching: undefined` for none). */
export function modelConfig(opts: { max_batch_size?: number; dynamic_batching?: Partial<ModelDynamicBatching> | undefined; name?: string } = {}): ModelConfig {
  const db: ModelDynamicBatching | undefined = 'dynamic_batching' in opts && opts.dynamic_batching === undefined
    ? undefined
    : {
        preferred_batch_size: [],
        max_queue_delay_microseconds: 0,
        preserve_ordering: false,
        priority_levels: 0,
        default_priority_level: 0,
        priority_queue_policy: {},
        ...opts.dynamic_batching,
      };
  return {
    name: opts.name ?? 'm',
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    runtime: '',
    version_policy: { latest: { num_versions: 1 } },
    max_batch_size: opts.max_batch_size ?? 8,
    input: [],
    output: [],
    batch_input: [],
    batch_output: [],
    dynamic_batching: db,
    instance_group: [],
    default_model_filename: 'model.onnx',
    cc_model_filenames: {},
    metric_tags: {},
    parameters: {},
    model_warmup: [],
  };
}

/** Options of a test request. */
export interface ReqOptions {
  /** Rows (leading dimension); default 1. Use `batch: null` for a non-batching model (no batch dim). */
  batch?: number | null;
  /** Dimensions after the batch dimension; default [2]. */
  dims?: number[];
  dtype?: DataType;
  priority?: number;
  timeoutUs?: number;
  signal?: AbortSignal;
  outputs?: string[];
  /** Extra inputs beyond INPUT0 (same shape, values offset by 500 per input). */
  extraInputs?: number;
}

/**
 * Value of element `i` (< 500) of request `id`'s INPUT`k` (k < 2): unique per request, input
 * and position, and exact in FP32 for ids below 16000.
 */
export function valueOf(id: number, i: number, k = 0): number {
  return id * 1000 + k * 500 + i;
}

/** A request whose INPUT0 holds `valueOf(id, i)`; FP32 unless `dtype` says otherwise. */
export function req(id: number, o: ReqOptions = {}): ScheduledRequest {
  const batch = o.batch === undefined ? 1 : o.batch;
  const dims = o.dims ?? [2];
  const shape = batch === null ? dims.slice() : [batch, ...dims];
  const n = shape.reduce((a, b) => a * b, 1);
  const dtype = o.dtype ?? 'FP32';
  const inputs: Tensor[] = [];
  for (let k = 0; k <= (o.extraInputs ?? 0); k++) {
    inputs.push({ name: `INPUT${k}`, datatype: dtype, shape: shape.slice(), data: fill(dtype, n, (i) => valueOf(id, i, k)) });
  }
  return {
    inputs,
    outputNames: o.outputs ?? ['OUTPUT0'],
    batchSize: batch ?? 1,
    priority: o.priority ?? 0,
    timeoutUs: o.timeoutUs,
    signal: o.signal,
  };
}

function fill(dtype: DataType, n: number, f: (i: number) => number): Tensor['data'] {
  switch (dtype) {
    case 'BYTES': return Array.from({ length: n }, (_, i) => new TextEncoder().encode(String(f(i))));
    case 'INT64': return BigInt64Array.from({ length: n }, (_, i) => BigInt(f(i)));
    case 'INT32': return Int32Array.from({ length: n }, (_, i) => f(i));
    case 'FP64': return Float64Array.from({ length: n }, (_, i) => f(i));
    case 'FP32': return Float32Array.from({ length: n }, (_, i) => f(i));
    default: throw new Error(`fixture: unsupported dtype ${dtype}`);
  }
}

/** The numbers of a numeric tensor as plain numbers. */
export function numbers(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** The expected OUTPUTk values of request `id` with `n` elements: its INPUTk + 1. */
export function expectedValues(id: number, n: number, k = 0): number[] {
  return Array.from({ length: n }, (_, i) => valueOf(id, i, k) + 1);
}
