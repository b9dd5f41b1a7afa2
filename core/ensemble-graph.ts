/**
 * The dataflow graph of an ensemble (COMPAT-NOTES §3.6, Triton `ensemble_models.md`), built
 * once per loaded ensemble version, and the pure checks behind it. Pure: no I/O, no clock.
 *
 * - `buildEnsembleGraph` checks the structure of `ensemble_scheduling` on its own: every step
 *   names a model and maps something, no tensor is written twice (nor is an ensemble input
 *   overwritten), no cycle, every step input and every ensemble output is provided.
 * - `checkEnsembleSteps` checks the steps against the configs of composing models this host
 *   knows (Triton's `ValidateTensorMapping` / `ValidateTensorConsistency`): mapped names exist,
 *   every required input is mapped, data types and shapes agree, batch sizes fit, no cycle
 *   between ensembles. Step models it does not know are returned, not rejected: in a mesh they
 *   may be served by a peer, and the scheduler reports them at request time if nobody does.
 * - `neededSteps` prunes steps whose outputs a request does not need (as Triton does).
 * - `fitBatchDim` is Triton's `ReshapeTensorDims`: a tensor moving between a batching and a
 *   non-batching model gains or loses a leading batch dimension of 1.
 */
import { configTypeToDataType } from '../protocol/datatypes.ts';
import { invalidArg } from '../protocol/errors.ts';
import type { ModelConfig } from './model-config.ts';

/** A tensor mapping of one step: the composing model's tensor name and the ensemble tensor. */
export interface StepTensor {
  /** Input or output name of the composing model (the map's key). */
  name: string;
  /** Ensemble tensor name (the map's value). */
  tensor: string;
}

/** One step as the scheduler runs it. */
export interface EnsembleStep {
  index: number;
  modelName: string;
  /** Version to call; undefined = the latest READY version (`model_version: -1`, or unset). */
  modelVersion?: string;
  inputs: readonly StepTensor[];
  outputs: readonly StepTensor[];
}

/** The compiled dataflow of one ensemble config. */
export interface EnsembleGraph {
  /** The ensemble's name (for messages). */
  name: string;
  steps: readonly EnsembleStep[];
  /** Ensemble tensor → the step that writes it. */
  producer: ReadonlyMap<string, number>;
  /** Ensemble tensor → the steps that read it. */
  consumers: ReadonlyMap<string, readonly number[]>;
  /** Names of the ensemble's inputs. */
  inputs: ReadonlySet<string>;
}

/** `step 1 ('dense_mlp')`, the way every message names a step. */
export function stepLabel(step: Pick<EnsembleStep, 'index' | 'modelName'>): string {
  return `step ${step.index} ('${step.modelName}')`;
}

/**
 * The first cycle among steps (a step reads, directly or through other steps, a tensor it
 * writes itself), as step indexes with the first repeated at the end; undefined when acyclic.
 */
export function findStepCycle(steps: readonly { input_map: Record<string, string>; output_map: Record<string, string> }[]): number[] | undefined {
  const writer = new Map<string, number>();
  steps.forEach((s, i) => { for (const t of Object.values(s.output_map)) if (!writer.has(t)) writer.set(t, i); });
  // Edges i → j: step j reads a tensor step i writes.
  const next = steps.map(() => [] as number[]);
  steps.forEach((s, j) => {
    for (const t of new Set(Object.values(s.input_map))) {
      const i = writer.get(t);
      if (i !== undefined) next[i].push(j);
    }
  });
  const state = new Uint8Array(steps.length); // 0 new, 1 on the DFS path, 2 done
  const path: number[] = [];
  const visit = (i: number): number[] | undefined => {
    state[i] = 1;
    path.push(i);
    for (const j of next[i]) {
      if (state[j] === 1) return [...path.slice(path.indexOf(j)), j];
      if (state[j] === 0) {
        const found = visit(j);
        if (found) return found;
      }
    }
    path.pop();
    state[i] = 2;
    return undefined;
  };
  for (let i = 0; i < steps.length; i++) {
    if (state[i] !== 0) continue;
    const found = visit(i);
    if (found) return found;
  }
  return undefined;
}

/**
 * Builds the graph of `config` (an ensemble), throwing INVALID_ARG with a message that names
 * the step and tensor for any structural fault. Does not need the composing models.
 */
export function buildEnsembleGraph(config: ModelConfig): EnsembleGraph {
  const e = `ensemble '${config.name}'`;
  const es = config.ensemble_scheduling;
  if (!es || es.step.length === 0) throw invalidArg(`${e}: ensemble_scheduling must list at least one step`);
  const inputs = new Set(config.input.map((i) => i.name));
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  const steps: EnsembleStep[] = es.step.map((s, index) => {
    const at = `${e}, step ${index}${s.model_name ? ` ('${s.model_name}')` : ''}`;
    if (!s.model_name) throw invalidArg(`${at}: must specify 'model_name'`);
    if (s.model_name === config.name) throw invalidArg(`${at}: an ensemble cannot be a step of itself`);
    const v = Number(s.model_version ?? -1);
    if (!Number.isSafeInteger(v) || v < -1) throw invalidArg(`${at}: model_version must be -1 (latest) or a version number >= 1, got ${s.model_version}`);
    const stepInputs = Object.entries(s.input_map ?? {}).map(([name, tensor]) => ({ name, tensor }));
    const stepOutputs = Object.entries(s.output_map ?? {}).map(([name, tensor]) => ({ name, tensor }));
    if (stepInputs.length === 0) throw invalidArg(`${at}: must specify 'input_map' (composing model input → ensemble tensor)`);
    if (stepOutputs.length === 0) throw invalidArg(`${at}: must specify 'output_map' (composing model output → ensemble tensor)`);
    for (const { tensor } of stepOutputs) {
      if (inputs.has(tensor)) throw invalidArg(`${at}: writes ensemble tensor '${tensor}', which is an ensemble input; give the step's output another name`);
      const before = producer.get(tensor);
      if (before !== undefined) throw invalidArg(`${e}: ensemble tensor '${tensor}' can appear in an output map only once (steps ${before} and ${index})`);
      producer.set(tensor, index);
    }
    for (const tensor of new Set(stepInputs.map((x) => x.tensor))) {
      const list = consumers.get(tensor);
      if (list) list.push(index);
      else consumers.set(tensor, [index]);
    }
    // -1 (latest) and 0 (the proto default when the field is left out) both mean "latest".
    return { index, modelName: s.model_name, modelVersion: v >= 1 ? String(v) : undefined, inputs: stepInputs, outputs: stepOutputs };
  });
  const cycle = findStepCycle(es.step);
  if (cycle) {
    throw invalidArg(`${e}: steps form a cycle: ${cycle.map((i) => stepLabel(steps[i])).join(' → ')}; every tensor must be computed before it is read`);
  }
  for (const s of steps) {
    for (const { tensor } of s.inputs) {
      if (!inputs.has(tensor) && !producer.has(tensor)) {
        throw invalidArg(`${e}, ${stepLabel(s)}: reads ensemble tensor '${tensor}', which is neither an ensemble input nor written by any step's output_map`);
      }
    }
  }
  for (const o of config.output) {
    if (!producer.has(o.name)) throw invalidArg(`${e}: ensemble output '${o.name}' is not written by any step's output_map`);
  }
  return { name: config.name, steps, producer, consumers, inputs };
}

/**
 * Which steps a request must run to produce `outputs` (ensemble output names): the producers
 * of the outputs and, transitively, of their inputs. Steps nobody needs are skipped, as Triton
 * prunes them when a request asks for only some outputs.
 */
export function neededSteps(graph: EnsembleGraph, outputs: readonly string[]): boolean[] {
  const needed = graph.steps.map(() => false);
  const stack = outputs.map((t) => graph.producer.get(t)).filter((i): i is number => i !== undefined);
  while (stack.length > 0) {
    const i = stack.pop()!;
    if (needed[i]) continue;
    needed[i] = true;
    for (const { tensor } of graph.steps[i].inputs) {
      const p = graph.producer.get(tensor);
      if (p !== undefined && !needed[p]) stack.push(p);
    }
  }
  return needed;
}

/** True when two dims lists agree, a -1 on either side matching anything. */
export function dimsCompatible(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === -1 || b[i] === -1 || d === b[i]);
}

/**
 * Triton's `ReshapeTensorDims`: the shape to give a tensor of `shape` (whose leading dim is a
 * batch of `tensorBatch`, 0 = no batch dim) when it feeds a tensor declared as `configDims` of
 * a model that batches (`batching`) or not. Only a mismatch in batching changes anything: a
 * non-batched tensor matching the dims gains a batch of 1; a batch-1 tensor that does not
 * match a non-batching model's dims loses its batch dim.
 */
export function fitBatchDim(configDims: readonly number[], batching: boolean, tensorBatch: number, shape: readonly number[]): number[] {
  if (batching === (tensorBatch !== 0)) return [...shape];
  if (batching) return dimsCompatible(configDims, shape) ? [1, ...shape] : [...shape];
  return !dimsCompatible(configDims, shape) && tensorBatch === 1 ? shape.slice(1) : [...shape];
}

/** Looks up the config of a composing model this host serves (undefined when it does not). */
export type ModelConfigLookup = (name: string, version?: string) => ModelConfig | undefined;

/** What an ensemble tensor is, as far as some model declares it. */
interface TensorFact {
  datatype: string;
  dims: readonly number[];
  /** dims with the batch dim (-1) in front when the declaring model batches. */
  full: readonly number[];
  from: string;
}

const fmt = (dims: readonly number[]) => `[${dims.join(',')}]`;

function fact(model: string, batching: boolean, dataType: ModelConfig['input'][number]['data_type'], dims: readonly number[]): TensorFact {
  return { datatype: configTypeToDataType(dataType) ?? 'INVALID', dims, full: batching ? [-1, ...dims] : [...dims], from: model };
}

/** Triton `ValidateTensorConsistency`: same type; same shape, with or without the batch dim. */
function agree(e: string, tensor: string, a: TensorFact, b: TensorFact): void {
  if (a.datatype !== b.datatype) {
    throw invalidArg(`${e}, ensemble tensor '${tensor}': inconsistent data type: ${a.datatype} is inferred from model '${a.from}' while ${b.datatype} is inferred from model '${b.from}'`);
  }
  if (!dimsCompatible(a.dims, b.dims) && !dimsCompatible(a.full, b.full)) {
    throw invalidArg(`${e}, ensemble tensor '${tensor}': inconsistent shape: ${fmt(a.full)} is inferred from model '${a.from}' while ${fmt(b.full)} is inferred from model '${b.from}'`);
  }
}

/** Names a list of tensors for messages: 'a', 'b'. */
const names = (list: readonly { name: string }[]) => list.map((t) => `'${t.name}'`).join(', ') || 'none';

/**
 * Checks every step whose composing model `lookup` knows against that model's config, with
 * Triton's load-time rules (see the file comment). Throws INVALID_ARG on the first fault;
 * returns the step models `lookup` does not know (to be found, or reported, at request time).
 */
export function checkEnsembleSteps(config: ModelConfig, graph: EnsembleGraph, lookup: ModelConfigLookup): string[] {
  const e = `ensemble '${config.name}'`;
  const unknown = new Set<string>();
  const facts = new Map<string, TensorFact>();
  const batching = config.max_batch_size > 0;
  for (const i of config.input) facts.set(i.name, fact(config.name, batching, i.data_type, i.reshape ? i.reshape.shape : i.dims));
  for (const o of config.output) facts.set(o.name, fact(config.name, batching, o.data_type, o.reshape ? o.reshape.shape : o.dims));
  const note = (tensor: string, f: TensorFact) => {
    const known = facts.get(tensor);
    if (known) agree(e, tensor, known, f);
    else facts.set(tensor, f);
  };
  for (const step of graph.steps) {
    const m = lookup(step.modelName, step.modelVersion);
    if (!m) {
      unknown.add(step.modelName);
      continue;
    }
    const at = `${e}, ${stepLabel(step)}`;
    const cycle = ensemblePath(m, config.name, lookup, [config.name, m.name]);
    if (cycle) throw invalidArg(`${e}: circular dependency between ensembles: ${cycle.join(' -> ')}`);
    if (m.max_batch_size !== 0 && m.max_batch_size < config.max_batch_size) {
      throw invalidArg(`${e} allows maximum batch size ${config.max_batch_size}, but it contains model '${m.name}' which only allows maximum batch size to be ${m.max_batch_size}; lower the ensemble's max_batch_size`);
    }
    const stepBatching = m.max_batch_size > 0;
    for (const { name, tensor } of step.inputs) {
      const input = m.input.find((x) => x.name === name);
      if (!input) throw invalidArg(`${at}: input_map key '${name}' is not an input of model '${m.name}' (its inputs are ${names(m.input)})`);
      note(tensor, fact(m.name, stepBatching, input.data_type, input.dims));
    }
    for (const input of m.input) {
      if (!input.optional && !step.inputs.some((x) => x.name === input.name)) {
        throw invalidArg(`${at}: input '${input.name}' of model '${m.name}' is not mapped to any ensemble tensor; add it to the step's input_map`);
      }
    }
    for (const { name, tensor } of step.outputs) {
      const output = m.output.find((x) => x.name === name);
      if (!output) throw invalidArg(`${at}: output_map key '${name}' is not an output of model '${m.name}' (its outputs are ${names(m.output)})`);
      note(tensor, fact(m.name, stepBatching, output.data_type, output.dims));
    }
  }
  return [...unknown];
}

/**
 * When `model` is an ensemble that (through ensembles `lookup` knows) uses `target`, the chain
 * of model names from `target` back to it; undefined otherwise.
 */
function ensemblePath(model: ModelConfig, target: string, lookup: ModelConfigLookup, path: string[]): string[] | undefined {
  for (const s of model.ensemble_scheduling?.step ?? []) {
    if (s.model_name === target) return [...path, target];
    if (path.includes(s.model_name)) continue;
    const inner = lookup(s.model_name, Number(s.model_version) >= 1 ? String(s.model_version) : undefined);
    if (!inner?.ensemble_scheduling) continue;
    const found = ensemblePath(inner, target, lookup, [...path, s.model_name]);
    if (found) return found;
  }
  return undefined;
}
