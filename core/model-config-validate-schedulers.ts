/**
 * Validation of the scheduler sections of a normalised config: `dynamic_batching`
 * (COMPAT-NOTES §3.4), `sequence_batching` (§3.5) and `ensemble_scheduling` (§3.6), with the
 * rules of Triton's core `ValidateModelConfig` / `ValidateEnsembleSchedulingConfig`, each
 * message saying how to fix the config.
 */
import { invalidArg } from '../protocol/errors.ts';
import type { ModelConfig, ModelQueuePolicy, ModelSignature } from './model-config.ts';
import { configTypeToDataType } from '../protocol/datatypes.ts';
import type { DataType } from '../protocol/datatypes.ts';
import { ENSEMBLE_PLATFORM } from './model-config-platforms.ts';
import { findStepCycle } from './ensemble-graph.ts';

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
  for (const ci of sb.control_input) {
    // One value per row per tensor: a tensor cannot be, say, START and END at once.
    if (ci.control.length !== 1) {
      throw invalidArg(`${m}: sequence batching control tensor '${ci.name}' gives ${ci.control.length} controls; give exactly one control per control_input`);
    }
    if (cfg.input.some((i) => i.name === ci.name)) {
      throw invalidArg(`${m}: sequence batching control tensor '${ci.name}' is also listed in 'input'; the batcher feeds it, so remove it from 'input'`);
    }
  }
  for (const size of sb.oldest?.preferred_batch_size ?? []) {
    if (size <= 0) throw invalidArg(`${m}: sequence batching preferred_batch_size ${size} must be positive`);
    if (size > cfg.max_batch_size) throw invalidArg(`${m}: sequence batching preferred_batch_size ${size} must be <= max_batch_size (${cfg.max_batch_size})`);
  }
  if (sb.oldest && !(sb.oldest.max_candidate_sequences >= 1)) {
    throw invalidArg(`${m}: sequence batching oldest strategy needs max_candidate_sequences >= 1 (the sequences batched together per instance), got ${sb.oldest.max_candidate_sequences}`);
  }
  const util = sb.direct?.minimum_slot_utilization;
  if (util !== undefined && !(util >= 0 && util <= 1)) {
    throw invalidArg(`${m}: sequence batching minimum_slot_utilization ${util} must be in range [0.0, 1.0]`);
  }
  for (const s of sb.state) {
    if (!s.input_name || !s.output_name) throw invalidArg(`${m}: every sequence_batching state must give input_name and output_name`);
    if (s.data_type === 'TYPE_INVALID') throw invalidArg(`${m}: sequence_batching state '${s.input_name}' must specify data_type`);
    if (s.dims.length === 0) throw invalidArg(`${m}: sequence_batching state '${s.input_name}' must specify dims`);
    validateState(cfg, s, m);
  }
}

type StateConfig = NonNullable<ModelConfig['sequence_batching']>['state'][number];

/** §3.5 implicit state: fed by the batcher, one initial value with fixed dims and one source. */
function validateState(cfg: ModelConfig, s: StateConfig, m: string): void {
  const at = `${m}: sequence_batching state '${s.input_name}'`;
  if (cfg.input.some((i) => i.name === s.input_name)) {
    throw invalidArg(`${at} is also listed in 'input'; the batcher feeds the state, so remove it from 'input'`);
  }
  if (s.initial_state.length > 1) throw invalidArg(`${at} gives ${s.initial_state.length} initial_state entries; give at most one`);
  const init = s.initial_state[0];
  if (init === undefined) {
    if (s.dims.some((d) => d < 0)) {
      throw invalidArg(`${at} has variable dims [${s.dims.join(', ')}] and no initial_state; add initial_state { dims: [...] zero_data: true } with fixed dims`);
    }
    return;
  }
  if (init.data_type !== 'TYPE_INVALID' && init.data_type !== s.data_type) {
    throw invalidArg(`${at}: initial_state data_type ${init.data_type} differs from the state's data_type ${s.data_type}; make them equal`);
  }
  const dims = init.dims.length > 0 ? init.dims : s.dims;
  if (dims.some((d) => d < 0)) throw invalidArg(`${at}: initial_state dims [${dims.join(', ')}] must all be fixed (>= 0)`);
  if ((init.zero_data === undefined) === (init.data_file === undefined || init.data_file === '')) {
    throw invalidArg(`${at}: initial_state must give exactly one of zero_data or data_file (a file under <model>/initial_state/)`);
  }
  if (init.data_file !== undefined && (init.data_file.includes('..') || init.data_file.startsWith('/'))) {
    throw invalidArg(`${at}: initial_state data_file '${init.data_file}' must be a file name inside <model>/initial_state/`);
  }
}

/**
 * §3.5 against the model file: every control tensor and state input is a model input of the
 * datatype the batcher feeds, and every state output is a model output of the state's type.
 */
export function validateSequenceSignature(cfg: ModelConfig, sig: ModelSignature, file: string): void {
  const sb = cfg.sequence_batching;
  if (!sb) return;
  const m = `model '${cfg.name}'`;
  const need = (kind: 'input' | 'output', name: string, want: DataType | undefined, what: string) => {
    const list = kind === 'input' ? sig.inputs : sig.outputs;
    const t = list.find((x) => x.name === name);
    if (!t) {
      throw invalidArg(`${m}: ${file} names ${what} '${name}', but the model has no such ${kind}; the model's ${kind}s are ${list.map((x) => `'${x.name}'`).join(', ') || 'none'}`);
    }
    if (want !== undefined && t.datatype !== want) {
      throw invalidArg(`${m}: ${what} '${name}' is ${want} in ${file}, but the model's ${kind} is ${t.datatype}; make them agree`);
    }
  };
  for (const ci of sb.control_input) {
    const c = ci.control[0];
    if (c === undefined) continue;
    const dt: DataType | undefined = c.kind === 'CONTROL_SEQUENCE_CORRID'
      ? configTypeToDataType(c.data_type)
      : c.int32_false_true.length > 0 ? 'INT32' : c.fp32_false_true.length > 0 ? 'FP32' : 'BOOL';
    need('input', ci.name, dt, `control tensor (${c.kind})`);
  }
  for (const s of sb.state) {
    const dt = configTypeToDataType(s.data_type);
    need('input', s.input_name, dt, 'state input');
    need('output', s.output_name, dt, 'state output');
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
  // Named before the dataflow check, which would only see the cycle as tensors nothing provides.
  const cycle = findStepCycle(es.step);
  if (cycle) {
    throw invalidArg(`ensemble '${m}': steps form a cycle: ${cycle.map((i) => `step ${i} ('${es.step[i].model_name}')`).join(' → ')}; every tensor must be computed before it is read`);
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
