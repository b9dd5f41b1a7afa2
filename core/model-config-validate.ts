/**
 * Validation of a normalised model configuration with the rules of Triton's core
 * (`ValidateModelConfig`, `ValidateModelIOConfig`, `ValidateInstanceGroup`,
 * COMPAT-NOTES §3) plus a check against the model's own signature when one is known.
 * Every failure is INVALID_ARG with a message that says what is wrong and how to fix it.
 */
import { invalidArg } from '../protocol/errors.ts';
import type { ModelConfig, ModelInput, ModelOutput, ModelSignature } from './model-config.ts';
import { ENSEMBLE_PLATFORM, KNOWN_BACKENDS, PLATFORM_BACKEND } from './model-config-platforms.ts';
import { validateDynamicBatching, validateEnsemble, validateSequenceBatching } from './model-config-validate-schedulers.ts';
import { validateAgainstSignature } from './model-config-validate-signature.ts';

/** What validation needs besides the config. */
export interface ValidateContext {
  /** The model directory name; the config's name must equal it. */
  modelName: string;
  /** The model file's inputs and outputs; when given, the config must agree with them. */
  signature?: ModelSignature;
  /** Addition: the config's file name, for messages. Default `config.pbtxt`. */
  file?: string;
  /** Addition: when false, a KIND_GPU instance group is an error. */
  hasGpu?: boolean;
}

/** Variable-size dimension (Triton's WILDCARD_DIM). */
const WILDCARD = -1;

const fmt = (dims: readonly number[]) => `[${dims.join(', ')}]`;

/** Element counts of the runs of fixed dimensions between wildcards: [2,4,-1,6] → [8, 6]. */
function chunkCounts(dims: readonly number[]): number[] {
  const out: number[] = [];
  let n = 1;
  for (const d of dims) {
    if (d === WILDCARD) { out.push(n); n = 1; } else n *= d;
  }
  out.push(n);
  return out;
}

/** core ValidateIOShape + ValidateModelInput/Output + ValidateNonLinearFormatIO. */
function validateIO(cfg: ModelConfig, kind: 'input' | 'output', io: ModelInput | ModelOutput, index: number): void {
  const m = `model '${cfg.name}'`;
  if (!io.name) throw invalidArg(`${m}: ${kind} ${index} must specify 'name'`);
  const t = `${m}, ${kind} '${io.name}'`;
  if (io.data_type === 'TYPE_INVALID') throw invalidArg(`${t}: must specify 'data_type' (e.g. data_type: TYPE_FP32)`);
  if (io.dims.length === 0) {
    throw invalidArg(`${t}: must specify 'dims' (rank >= 1); for a tensor that is only the batch dimension use dims: [ 1 ] with reshape: { shape: [ ] }`);
  }
  for (const d of io.dims) {
    if (d < 1 && d !== WILDCARD) throw invalidArg(`${t}: dimension ${d} in dims ${fmt(io.dims)} must be an integer >= 1, or -1 for a variable-size dimension`);
  }
  if (io.reshape) {
    const shape = io.reshape.shape;
    // Deliberate difference: Triton refuses an empty reshape when max_batch_size is 0 ("scalar
    // tensors are not supported"). infermesh reshapes on the request path, so `dims: [1]` +
    // `reshape: { shape: [] }` feeds a true scalar to a non-batching model (examples/silero_vad).
    for (const d of shape) {
      if (d < 1 && d !== WILDCARD) throw invalidArg(`${t}: dimension ${d} in reshape ${fmt(shape)} must be an integer >= 1, or -1 for a variable-size dimension`);
    }
    const a = chunkCounts(io.dims);
    const b = chunkCounts(shape);
    // An empty reshape holds one element, so dims must be [1] (or another count of 1).
    const same = a.length === b.length && a.every((n, i) => n === b[i]);
    if (!same) {
      throw invalidArg(`${t}: dims ${fmt(io.dims)} and reshape ${fmt(shape)} must hold the same number of elements (and the same variable-size dimensions)`);
    }
  }
  if (kind === 'input') {
    const format = (io as ModelInput).format;
    if ((format === 'FORMAT_NHWC' || format === 'FORMAT_NCHW') && io.dims.length !== 3) {
      throw invalidArg(`${t}: format ${format} needs exactly 3 dims (without the batch dimension), got ${fmt(io.dims)}`);
    }
  }
  if (io.is_non_linear_format_io) {
    if (cfg.platform !== 'tensorrt_plan') throw invalidArg(`${t}: is_non_linear_format_io is only supported for the TensorRT platform`);
    if (io.dims.length !== 3) throw invalidArg(`${t}: a non-linear format ${kind} needs 3 dims`);
  }
}

function validateTensors(cfg: ModelConfig): void {
  for (const [kind, list] of [['input', cfg.input], ['output', cfg.output]] as const) {
    const names = new Set<string>();
    list.forEach((io, i) => {
      validateIO(cfg, kind, io, i);
      if (names.has(io.name)) throw invalidArg(`model '${cfg.name}': ${kind} '${io.name}' is declared more than once`);
      names.add(io.name);
    });
  }
  // core ValidateBatchIO.
  const inputs = new Set(cfg.input.map((i) => i.name));
  const outputs = new Set(cfg.output.map((o) => o.name));
  for (const b of cfg.batch_input as { kind: string; data_type: string; source_input: string[] }[]) {
    if (b.source_input.length !== 1) throw invalidArg(`model '${cfg.name}': batch input kind '${b.kind}' expects 1 source input, got ${b.source_input.length}`);
    if (b.data_type !== 'TYPE_INT32' && b.data_type !== 'TYPE_FP32') throw invalidArg(`model '${cfg.name}': batch input data type must be TYPE_INT32 or TYPE_FP32`);
    for (const s of b.source_input) if (!inputs.has(s)) throw invalidArg(`model '${cfg.name}': unknown batch input source input name '${s}'`);
  }
  for (const b of cfg.batch_output as { kind: string; source_input: string[]; target_name: string[] }[]) {
    if (b.source_input.length !== 1) throw invalidArg(`model '${cfg.name}': batch output kind '${b.kind}' expects 1 source input, got ${b.source_input.length}`);
    for (const s of b.source_input) if (!inputs.has(s)) throw invalidArg(`model '${cfg.name}': unknown batch output source input name '${s}'`);
    const seen = new Set<string>();
    for (const n of b.target_name) {
      if (!outputs.has(n)) throw invalidArg(`model '${cfg.name}': unknown batch output target output name '${n}'`);
      if (seen.has(n)) throw invalidArg(`model '${cfg.name}': batch output target output name '${n}' can only be specified once`);
      seen.add(n);
    }
  }
}

/** core: name, platform/backend pair, max_batch_size, version policy. */
function validateIdentity(cfg: ModelConfig, ctx: ValidateContext, file: string): void {
  if (!cfg.name) throw invalidArg(`model '${ctx.modelName}': model configuration must specify 'name'`);
  if (cfg.name !== ctx.modelName) {
    throw invalidArg(`model '${ctx.modelName}': ${file} says name: "${cfg.name}", but the model directory is '${ctx.modelName}'; the name must equal the directory name: fix 'name' or rename the directory`);
  }
  const m = `model '${cfg.name}'`;
  const { platform, backend } = cfg;
  if (!platform && !backend) throw invalidArg(`${m}: must specify 'platform' or 'backend' (for an ONNX model: platform: "onnxruntime_onnx")`);
  if (platform === ENSEMBLE_PLATFORM && backend) {
    throw invalidArg(`${m}: an ensemble must have platform '${ENSEMBLE_PLATFORM}' and no backend (got backend '${backend}')`);
  }
  if (!backend && platform !== ENSEMBLE_PLATFORM) {
    throw invalidArg(`${m}: unexpected platform type '${platform}'; known platforms are ${Object.keys(PLATFORM_BACKEND).join(', ')}, ${ENSEMBLE_PLATFORM}; or give 'backend'`);
  }
  if (KNOWN_BACKENDS.has(backend) && PLATFORM_BACKEND[platform] !== backend) {
    throw invalidArg(`${m}: unexpected 'platform' and 'backend' pair, got: ${platform}, ${backend}; backend '${backend}' serves platform ${Object.keys(PLATFORM_BACKEND).filter((p) => PLATFORM_BACKEND[p] === backend).map((p) => `'${p}'`).join(' or ')}`);
  }
  if (cfg.max_batch_size < 0) throw invalidArg(`${m}: 'max_batch_size' must be non-negative (0 disables batching), got ${cfg.max_batch_size}`);

  const vp = cfg.version_policy as Record<string, unknown> | undefined;
  const chosen = vp ? Object.keys(vp).filter((k) => vp[k] !== undefined) : [];
  if (chosen.length !== 1) {
    throw invalidArg(`${m}: version_policy must set exactly one of latest, all or specific (e.g. version_policy: { latest: { num_versions: 1 } })`);
  }
  if (cfg.version_policy.latest && !(cfg.version_policy.latest.num_versions >= 1)) {
    throw invalidArg(`${m}: version_policy latest num_versions must be >= 1, got ${cfg.version_policy.latest.num_versions}`);
  }
  if (cfg.version_policy.specific && cfg.version_policy.specific.versions.length === 0) {
    throw invalidArg(`${m}: version_policy specific must list at least one version (e.g. specific: { versions: [ 1 ] })`);
  }
}

/** core ValidateInstanceGroup (ensembles have none). */
function validateInstanceGroups(cfg: ModelConfig, ctx: ValidateContext): void {
  if (cfg.ensemble_scheduling) return;
  const m = `model '${cfg.name}'`;
  if (cfg.instance_group.length === 0) throw invalidArg(`${m}: must specify one or more 'instance_group's`);
  for (const g of cfg.instance_group) {
    const at = `${m}, instance group '${g.name}'`;
    if (!(g.count >= 1)) throw invalidArg(`${at}: count must be >= 1, got ${g.count}`);
    if (g.kind === 'KIND_AUTO') throw invalidArg(`${at}: has unexpected kind KIND_AUTO; normalise the config first`);
    if ((g.kind === 'KIND_CPU' || g.kind === 'KIND_MODEL') && g.gpus.length > 0) {
      throw invalidArg(`${at}: has kind ${g.kind} but specifies GPUs ${fmt(g.gpus)}; remove 'gpus' or use kind: KIND_GPU`);
    }
    if (g.kind === 'KIND_GPU' && (ctx.hasGpu === false || g.gpus.length === 0)) {
      throw invalidArg(`${at}: has kind KIND_GPU but no GPUs are available; use kind: KIND_CPU (or KIND_AUTO)`);
    }
    if (g.profile.length > 0 && cfg.platform !== 'tensorrt_plan') {
      throw invalidArg(`${at}: 'profile' is only supported for the TensorRT platform, not '${cfg.platform}'`);
    }
  }
}

/** §3.7 model_warmup: batch size, one data source per input, inputs the model takes. */
function validateWarmup(cfg: ModelConfig): void {
  const known = new Set([
    ...cfg.input.map((i) => i.name),
    ...(cfg.sequence_batching?.control_input ?? []).map((c) => c.name),
    ...(cfg.sequence_batching?.state ?? []).map((s) => s.input_name),
  ]);
  for (const w of cfg.model_warmup) {
    const at = `model '${cfg.name}', warmup '${w.name}'`;
    if (w.batch_size < 1) throw invalidArg(`${at}: batch_size must be >= 1, got ${w.batch_size}`);
    if (cfg.max_batch_size === 0 && w.batch_size !== 1) throw invalidArg(`${at}: batch_size must be 1 for a model that does not batch (max_batch_size 0)`);
    if (cfg.max_batch_size > 0 && w.batch_size > cfg.max_batch_size) {
      throw invalidArg(`${at}: batch_size ${w.batch_size} is larger than max_batch_size ${cfg.max_batch_size}`);
    }
    for (const [name, input] of Object.entries(w.inputs)) {
      if (!known.has(name)) throw invalidArg(`${at}: input '${name}' is not an input of the model; known inputs are ${[...known].map((n) => `'${n}'`).join(', ')}`);
      if (input.data_type === 'TYPE_INVALID') throw invalidArg(`${at}, input '${name}': must specify 'data_type'`);
      if (input.zero_data === undefined && input.random_data === undefined && input.input_data_file === undefined) {
        throw invalidArg(`${at}, input '${name}': must specify one of zero_data, random_data or input_data_file`);
      }
    }
  }
}

/** Misc core rules: decoupled models and the response cache, model_metrics completeness. */
function validateMisc(cfg: ModelConfig): void {
  const m = `model '${cfg.name}'`;
  if (cfg.model_transaction_policy?.decoupled && cfg.response_cache?.enable) {
    throw invalidArg(`${m}: the response cache does not support decoupled models; set response_cache { enable: false }`);
  }
  const controls = (cfg.model_metrics?.metric_control ?? []) as {
    metric_identifier?: { family: string }; histogram_options?: { buckets: number[] };
  }[];
  for (const c of controls) {
    if (!c.metric_identifier) throw invalidArg(`${m}: every model_metrics metric_control must specify 'metric_identifier'`);
    if (!c.metric_identifier.family) throw invalidArg(`${m}: model_metrics metric_identifier must specify a non-empty 'family'`);
    if (!c.histogram_options) throw invalidArg(`${m}: model_metrics metric_control must specify 'histogram_options'`);
    if (c.histogram_options.buckets.length === 0) throw invalidArg(`${m}: model_metrics histogram_options must specify non-empty 'buckets'`);
  }
}

/**
 * Throws INVALID_ARG when a normalised config breaks one of Triton's rules or, given a
 * signature, disagrees with the model file. Decision where Triton is silent:
 * `dynamic_batching` with `max_batch_size: 0` is allowed (a queue with priorities and
 * timeouts but batches of one), as Triton's core accepts it.
 */
export function validateModelConfig(cfg: ModelConfig, ctx: ValidateContext): void {
  const file = ctx.file ?? 'config.pbtxt';
  validateIdentity(cfg, ctx, file);
  validateTensors(cfg);
  validateDynamicBatching(cfg);
  validateSequenceBatching(cfg);
  validateEnsemble(cfg);
  validateMisc(cfg);
  validateInstanceGroups(cfg, ctx);
  validateWarmup(cfg);
  if (ctx.signature && !cfg.ensemble_scheduling) validateAgainstSignature(cfg, ctx.signature, ctx.modelName, file);
}
