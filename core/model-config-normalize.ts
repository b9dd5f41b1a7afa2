/**
 * Normalisation of a raw model configuration into the complete `ModelConfig` that Triton
 * would hold and print at `GET /v2/models/{m}/config` (COMPAT-NOTES §3.12):
 *
 * 1. `name` from the model directory; `platform` / `backend` / `default_model_filename`
 *    filled from each other (core `AutoCompleteBackendFields`).
 * 2. Auto-complete from the model's signature when enabled (core/model-config-autocomplete.ts).
 * 3. Triton's semantic defaults (core `NormalizeModelConfig`, `NormalizeInstanceGroup`):
 *    version policy latest 1, preferred batch size, sequence idle time, pinned memory,
 *    instance groups with resolved kind, count and GPUs.
 * 4. Every primitive, repeated and map field present with its proto3 default, keys in
 *    `.proto` order, as protobuf's JSON printer with `always_print_primitive_fields` does.
 *
 * Normalisation does not reject anything except an impossible auto-complete; checks are
 * `validateModelConfig`'s job.
 */
import type {
  ModelConfig, ModelDynamicBatching, ModelInstanceGroup, ModelQueuePolicy, ModelSignature,
} from './model-config.ts';
import { MODEL_CONFIG } from './model-config-schema.ts';
import { withPrimitiveDefaults } from './proto-defaults.ts';
import { autoCompleteFromSignature } from './model-config-autocomplete.ts';
import {
  BACKEND_BY_MODEL_FILENAME, BACKEND_PLATFORM, DEFAULT_MODEL_FILENAME_BY_BACKEND, DEFAULT_MODEL_FILENAME_BY_PLATFORM,
  ENSEMBLE_PLATFORM, PLATFORM_BACKEND, TWO_CPU_INSTANCE_BACKENDS,
} from './model-config-platforms.ts';

/** Triton's default auto-complete max batch size (`--backend-config=default-max-batch-size`, §3.4). */
export const DEFAULT_AUTO_COMPLETE_MAX_BATCH_SIZE = 4;

/**
 * The platform assumed when a config names neither platform nor backend. Triton would look
 * for a known model file in the version folder; infermesh serves ONNX models.
 */
export const DEFAULT_PLATFORM = 'onnxruntime_onnx';

/** Idle time after which a sequence's slot is freed when the config gives 0 (§3.5). */
export const DEFAULT_SEQUENCE_IDLE_MICROSECONDS = 1_000_000;

/** What normalisation needs to know besides the raw config. */
export interface NormalizeContext {
  /** The model directory name: the config's name defaults to it. */
  modelName: string;
  /** The model file's own inputs and outputs, for auto-complete. */
  signature?: ModelSignature;
  /** Triton's default is on (`--disable-auto-complete-config` turns it off, §3.11). */
  autoComplete: boolean;
  /** Default 4 (DEFAULT_AUTO_COMPLETE_MAX_BATCH_SIZE). */
  defaultMaxBatchSize?: number;
  /** Whether a GPU is usable: KIND_AUTO resolves to KIND_GPU when true, else KIND_CPU. Default false. */
  hasGpu?: boolean;
  /** Addition: the usable GPU ordinals; KIND_GPU groups without `gpus` get them. Default [0] when hasGpu. */
  gpuIds?: number[];
  /** Platform when the config names neither platform nor backend. Default DEFAULT_PLATFORM. */
  defaultPlatform?: string;
  /** Addition: the config's file name, for messages. Default `config.pbtxt`. */
  file?: string;
}

/** core `AutoCompleteBackendFields`: fill platform, backend and model file name from each other. */
function completeBackendFields(cfg: Partial<ModelConfig>, defaultPlatform: string): void {
  let platform = cfg.platform ?? '';
  let backend = cfg.backend ?? '';
  const filename = cfg.default_model_filename ?? '';
  if (!platform && !backend) {
    if (BACKEND_BY_MODEL_FILENAME[filename]) backend = BACKEND_BY_MODEL_FILENAME[filename];
    else platform = defaultPlatform;
  }
  if (!backend && PLATFORM_BACKEND[platform]) backend = PLATFORM_BACKEND[platform];
  if (!platform && BACKEND_PLATFORM[backend]) platform = BACKEND_PLATFORM[backend];
  cfg.platform = platform;
  cfg.backend = backend;
  if (!filename) {
    cfg.default_model_filename = DEFAULT_MODEL_FILENAME_BY_PLATFORM[platform] ?? DEFAULT_MODEL_FILENAME_BY_BACKEND[backend] ?? '';
  }
}

/**
 * core `NormalizeInstanceGroup`: with no group, one group named after the model with kind
 * KIND_AUTO; then per group the name `<model>_<index>`, KIND_AUTO resolved (GPU when one is
 * usable and every listed GPU exists, else CPU), a count < 1 replaced by the default (2 for
 * KIND_CPU on ONNX Runtime and TensorFlow, else 1: core `SetDefaultInstanceCount`), and a
 * KIND_GPU group without GPUs given all usable ones.
 */
function normalizeInstanceGroups(cfg: Partial<ModelConfig>, ctx: NormalizeContext): ModelInstanceGroup[] {
  const groups = (cfg.instance_group ?? []).map((g) => ({ ...g }) as Partial<ModelInstanceGroup>);
  // Triton names this implicit group after the model itself (no `_0` suffix).
  if (groups.length === 0) groups.push({ name: cfg.name, kind: 'KIND_AUTO' });
  const hasGpu = ctx.hasGpu ?? (ctx.gpuIds !== undefined && ctx.gpuIds.length > 0);
  const usable = hasGpu ? (ctx.gpuIds ?? [0]) : [];
  groups.forEach((g, i) => {
    if (!g.name) g.name = `${cfg.name}_${i}`;
    if (!g.kind || g.kind === 'KIND_AUTO') {
      const missing = ctx.gpuIds !== undefined && (g.gpus ?? []).some((id) => !ctx.gpuIds!.includes(id));
      g.kind = usable.length === 0 || missing ? 'KIND_CPU' : 'KIND_GPU';
    }
    if (!(typeof g.count === 'number' && g.count >= 1)) {
      g.count = g.kind === 'KIND_CPU' && TWO_CPU_INSTANCE_BACKENDS.has(cfg.backend ?? '') ? 2 : 1;
    }
    if (g.kind === 'KIND_GPU' && !(g.gpus && g.gpus.length > 0)) g.gpus = [...usable];
  });
  return groups as ModelInstanceGroup[];
}

/**
 * Fills Triton's defaults into a raw config (see the file comment) and returns a complete
 * `ModelConfig`; the input is not modified. Throws INVALID_ARG only when auto-complete
 * cannot reconcile the config with the model's signature.
 */
export function normalizeModelConfig(raw: Partial<ModelConfig>, ctx: NormalizeContext): ModelConfig {
  const cfg = structuredClone(raw) as Partial<ModelConfig>;
  if (!cfg.name) cfg.name = ctx.modelName;
  completeBackendFields(cfg, ctx.defaultPlatform ?? DEFAULT_PLATFORM);
  const isEnsemble = cfg.platform === ENSEMBLE_PLATFORM || cfg.ensemble_scheduling !== undefined;

  if (ctx.autoComplete && ctx.signature && !isEnsemble) {
    autoCompleteFromSignature(cfg, {
      modelName: ctx.modelName, signature: ctx.signature, file: ctx.file ?? 'config.pbtxt',
      defaultMaxBatchSize: ctx.defaultMaxBatchSize ?? DEFAULT_AUTO_COMPLETE_MAX_BATCH_SIZE,
    });
  }
  const mbs = cfg.max_batch_size ?? 0;

  // §3.2: no policy means latest 1.
  cfg.version_policy ??= { latest: { num_versions: 1 } };

  if (cfg.dynamic_batching) {
    const db = cfg.dynamic_batching as Partial<ModelDynamicBatching>;
    // core NormalizeModelConfig: no preferred size means the max batch size.
    if (!db.preferred_batch_size?.length && mbs > 0) db.preferred_batch_size = [mbs];
    // Printed by infermesh (Triton leaves it unset) so the batcher need not special-case it.
    db.default_queue_policy ??= {} as ModelQueuePolicy;
  }
  if (cfg.sequence_batching) {
    const sb = cfg.sequence_batching;
    if (!sb.max_sequence_idle_microseconds) sb.max_sequence_idle_microseconds = DEFAULT_SEQUENCE_IDLE_MICROSECONDS;
    if (sb.oldest && !sb.oldest.preferred_batch_size?.length && mbs > 0) sb.oldest.preferred_batch_size = [mbs];
  }
  if (cfg.ensemble_scheduling) {
    // Newer Triton names field 2 `max_inflight_responses`; keep ModelConfig's name.
    const es = cfg.ensemble_scheduling as NonNullable<ModelConfig['ensemble_scheduling']> & { max_inflight_responses?: number };
    if (es.max_inflight_responses !== undefined) {
      es.max_inflight_requests ??= es.max_inflight_responses;
      delete es.max_inflight_responses;
    }
    es.max_inflight_requests ??= 0;
  }
  if (!isEnsemble) {
    // core NormalizeModelConfig: pinned memory on by default (not for ensembles).
    const opt = (cfg.optimization ??= {}) as Record<string, unknown>;
    opt.input_pinned_memory ??= { enable: true };
    opt.output_pinned_memory ??= { enable: true };
    cfg.instance_group = normalizeInstanceGroups(cfg, ctx);
  }
  return withPrimitiveDefaults(MODEL_CONFIG, cfg as Record<string, unknown>) as unknown as ModelConfig;
}
