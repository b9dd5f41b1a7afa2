/**
 * Validation of the scheduler sections of a normalised config: `dynamic_batching`
 * (COMPAT-NOTES §3.4), `sequence_batching` (§3.5) and `ensemble_scheduling` (§3.6), with the
 * rules of Triton's core `ValidateModelConfig` / `ValidateEnsembleSchedulingConfig`, each
 * message saying how to fix the config.
 */
import { invalidArg } from '../protocol/errors.ts';
import type { ModelConfig, ModelQueuePolicy } from './model-config.ts';
import { ENSEMBLE_PLATFORM } from './model-config-platforms.ts';

/** §3.4: preferred sizes, priority levels and preserve_ordering. */
export function validateDynamicBatching(cfg: ModelConfig): void {
  const db = cfg.dynamic_batching;
  if (!db) return;
  const m = `model '${cfg.name}'`;
  for (const size of db.preferred_batch_size) {
    if (size <= 0) throw invalidArg(`${m}: dynamic_batching preferred_batch_size ${size} must be positive`);
    if (size > cfg.max_batch_size) {
      throw invalidArg(`${m}: dynamic_batching preferred_batch_size ${size} must be <= max_batch_size (${cfg.max_batch_size}); lower it or raise max_batch_size`);
    }
  }
  const levels = db.priority_levels;
  if (levels !== 0) {
    if (db.default_priority_level === 0 || db.default_priority_level > levels) {
      throw invalidArg(`${m}: dynamic_batching default_priority_level ${db.default_priority_level} must be in range [1, ${levels}] (priority_levels is ${levels})`);
    }
  }
  for (const key of Object.keys(db.priority_queue_policy)) {
    const level = Number(key);
    if (levels === 0 || level === 0 || level > levels) {
      throw invalidArg(`${m}: dynamic_batching priority_queue_policy key ${key} must be a priority level in range [1, ${levels}]${levels === 0 ? ' (set priority_levels first)' : ''}`);
    }
  }
  if (db.preserve_ordering) {
    if (levels > 1) {
      throw invalidArg(`${m}: only one priority level is allowed when 'preserve_ordering' is true (priority_levels is ${levels})`);
    }
    const delays = (p: ModelQueuePolicy | undefined) => p !== undefined && p.default_timeout_microseconds !== 0 && p.timeout_action === 'DELAY';
    if (delays(db.default_queue_policy) || Object.values(db.priority_queue_policy).some(delays)) {
      throw invalidArg(`${m}: a queue policy cannot use timeout_action DELAY when 'preserve_ordering' is true; use REJECT or turn preserve_ordering off`);
    }
  }
}

const BOOLEAN_CONTROLS = ['CONTROL_SEQUENCE_START', 'CONTROL_SEQUENCE_END', 'CONTROL_SEQUENCE_READY'] as const;
const CORRID_TYPES = new Set(['TYPE_UINT64', 'TYPE_INT64', 'TYPE_UINT32', 'TYPE_INT32', 'TYPE_STRING']);

/** §3.5: control inputs (core GetBooleanSequenceControlProperties / GetTypedSequenceControlProperties) and strategies. */
export function validateSequenceBatching(cfg: ModelConfig): void {
  const sb = cfg.sequence_batching;
  if (!sb) return;
  const m = `model '${cfg.name}'`;
  if (cfg.response_cache?.enable) {
    throw invalidArg(`${m}: the response cache does not support models with sequence batching; set response_cache { enable: false }`);
  }
  const tensors = new Set<string>();
  const kinds = new Map<string, string>();
  for (const ci of sb.control_input) {
    if (!ci.name) throw invalidArg(`${m}: every sequence_batching control_input must have a name`);
    if (tensors.has(ci.name)) throw invalidArg(`${m}: sequence batching control tensor '${ci.name}' is given in more than one control_input; merge them`);
    tensors.add(ci.name);
    for (const c of ci.control) {
      const other = kinds.get(c.kind);
      if (other !== undefined) throw invalidArg(`${m}: sequence batching specifies ${c.kind} more than once (tensors '${other}' and '${ci.name}')`);
      kinds.set(c.kind, ci.name);
      const lists = [['int32_false_true', c.int32_false_true], ['fp32_false_true', c.fp32_false_true], ['bool_false_true', c.bool_false_true]] as const;
      const given = lists.filter(([, l]) => l.length > 0);
      if ((BOOLEAN_CONTROLS as readonly string[]).includes(c.kind)) {
        if (given.length !== 1) {
          throw invalidArg(`${m}: control ${c.kind} of tensor '${ci.name}' must give exactly one of int32_false_true, fp32_false_true or bool_false_true (got ${given.length})`);
        }
        const [name, list] = given[0];
        if (list.length !== 2) {
          throw invalidArg(`${m}: control ${c.kind} of tensor '${ci.name}': '${name}' must have exactly 2 entries, [false value, true value]; it has ${list.length}`);
        }
      } else {
        if (given.length > 0) {
          throw invalidArg(`${m}: control ${c.kind} of tensor '${ci.name}' must not give int32_false_true, fp32_false_true or bool_false_true; give data_type instead`);
        }
        if (!CORRID_TYPES.has(c.data_type)) {
          throw invalidArg(`${m}: control ${c.kind} of tensor '${ci.name}' has data_type ${c.data_type}; allowed are TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 and TYPE_STRING`);
        }
      }
    }
  }
  for (const size of sb.oldest?.preferred_batch_size ?? []) {
    if (size <= 0) throw invalidArg(`${m}: sequence batching preferred_batch_size ${size} must be positive`);
    if (size > cfg.max_batch_size) throw invalidArg(`${m}: sequence batching preferred_batch_size ${size} must be <= max_batch_size (${cfg.max_batch_size})`);
  }
  const util = sb.direct?.minimum_slot_utilization;
  if (util !== undefined && !(util >= 0 && util <= 1)) {
    throw invalidArg(`${m}: sequence batching minimum_slot_utilization ${util} must be in range [0.0, 1.0]`);
  }
  for (const s of sb.state) {
    if (!s.input_name || !s.output_name) throw invalidArg(`${m}: every sequence_batching state must give input_name and output_name`);
    if (s.data_type === 'TYPE_INVALID') throw invalidArg(`${m}: sequence_batching state '${s.input_name}' must specify data_type`);
    if (s.dims.length === 0) throw invalidArg(`${m}: sequence_batching state '${s.input_name}' must specify dims`);
  }
}

/**
 * §3.6 and core ValidateEnsembleSchedulingConfig: platform `ensemble`, no instance groups,
 * optimization or warmup, every step complete, each ensemble tensor written at most once,
 * every ensemble input used, every ensemble output reachable, no dangling tensors.
 */
export function validateEnsemble(cfg: ModelConfig): void {
  const m = cfg.name;
  const es = cfg.ensemble_scheduling;
  if (!es) {
    if (cfg.platform === ENSEMBLE_PLATFORM) {
      throw invalidArg(`model '${m}': platform is '${ENSEMBLE_PLATFORM}', so ensemble_scheduling must be set with its steps`);
    }
    return;
  }
  if (cfg.platform !== ENSEMBLE_PLATFORM) {
    throw invalidArg(`model '${m}': ensemble_scheduling cannot be set for a model whose platform is not '${ENSEMBLE_PLATFORM}' (it is '${cfg.platform}')`);
  }
  if (cfg.instance_group.length !== 0) throw invalidArg(`ensemble '${m}': instance_group must not be specified for an ensemble (its composing models have their own)`);
  if (cfg.optimization !== undefined) throw invalidArg(`ensemble '${m}': optimization must not be specified for an ensemble`);
  if (cfg.model_warmup.length !== 0) throw invalidArg(`ensemble '${m}': model_warmup cannot be specified for an ensemble`);
  if (es.step.length === 0) throw invalidArg(`ensemble '${m}': must specify at least one 'step'`);

  const written = new Map<string, number>(); // ensemble tensor → step that writes it
  const read = new Set<string>();
  es.step.forEach((s, i) => {
    if (!s.model_name) throw invalidArg(`ensemble '${m}': step ${i} must specify 'model_name'`);
    if (Object.keys(s.input_map).length === 0) throw invalidArg(`ensemble '${m}': step ${i} ('${s.model_name}') must specify 'input_map'`);
    if (Object.keys(s.output_map).length === 0) throw invalidArg(`ensemble '${m}': step ${i} ('${s.model_name}') must specify 'output_map'`);
    for (const t of Object.values(s.output_map)) {
      const before = written.get(t);
      if (before !== undefined) throw invalidArg(`ensemble '${m}': ensemble tensor '${t}' can appear in an output map only once (steps ${before} and ${i})`);
      written.set(t, i);
    }
    for (const t of Object.values(s.input_map)) read.add(t);
  });
  for (const input of cfg.input) {
    if (!read.has(input.name)) throw invalidArg(`ensemble '${m}': ensemble input '${input.name}' is not used by any step's input_map`);
  }
  // Dataflow: a step fires once all its inputs are available (ensemble inputs or earlier outputs).
  const available = new Set(cfg.input.map((i) => i.name));
  const fired = new Set<number>();
  for (let progress = true; progress;) {
    progress = false;
    es.step.forEach((s, i) => {
      if (fired.has(i) || !Object.values(s.input_map).every((t) => available.has(t))) return;
      fired.add(i);
      progress = true;
      for (const t of Object.values(s.output_map)) available.add(t);
    });
  }
  for (const output of cfg.output) {
    if (!written.has(output.name)) throw invalidArg(`ensemble '${m}': ensemble output '${output.name}' is not written by any step's output_map`);
    if (!available.has(output.name)) {
      const step = es.step[written.get(output.name)!];
      const blocked = Object.values(step.input_map).filter((t) => !available.has(t));
      throw invalidArg(`ensemble '${m}': output '${output.name}' is never written: step '${step.model_name}' waits for ${blocked.map((t) => `'${t}'`).join(', ')}, which nothing provides`);
    }
  }
  const outputs = new Set(cfg.output.map((o) => o.name));
  for (const t of new Set([...written.keys(), ...read])) {
    if (outputs.has(t)) continue;
    if (!available.has(t) || !read.has(t)) throw invalidArg(`ensemble '${m}': ensemble tensor '${t}' is unused (written but never read, or read but never written)`);
  }
}
