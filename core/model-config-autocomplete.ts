/**
 * Auto-complete of a model configuration from the model's own signature, as Triton's ONNX
 * Runtime backend does it (`ModelState::AutoCompleteConfig`, COMPAT-NOTES §3.11, §3.4 end):
 *
 * - When the config already gives complete inputs and outputs that feed every model input,
 *   nothing is changed (Triton: "skipping model configuration auto-complete ... inputs and
 *   outputs already specified").
 * - Otherwise the model "can batch" when every input and output has a dynamic (-1) first
 *   dimension. Then a missing `max_batch_size` becomes the default (4, Triton's
 *   `--backend-config=default-max-batch-size`), and when it is > 1 and no scheduler is set,
 *   `dynamic_batching {}` is added. A model that cannot batch keeps `max_batch_size` 0, and
 *   a config that asks for batching on it is an error (Triton's "autofill failed").
 * - Missing inputs/outputs are filled from the signature (dims without the batch dimension;
 *   a tensor that is only `[batch]` gets `dims: [1]` + `reshape: { shape: [] }`).
 *
 * Beyond Triton, which fills a list only when it is empty:
 * - entries that give just a name, or a name and dims, are completed from the signature;
 * - model inputs the config does not feed (as an input, batch input, sequence control input
 *   or implicit state) are appended, so a config can give only what the signature cannot
 *   tell (e.g. a scalar input's reshape). Triton would refuse such a config ("expects N
 *   inputs, model provides M"), so this only turns an error into a working config. Outputs
 *   are not appended: listing a subset of the outputs is legitimate in Triton;
 * - naming a tensor the model does not have is an error that lists the model's tensors.
 *
 * One deliberate difference: Triton cannot tell `max_batch_size: 0` from an absent field
 * (proto3), so it overwrites an explicit 0. Here an explicit 0 means "do not batch" and is kept.
 */
import { dataTypeToConfigType, type ConfigDataType } from '../protocol/datatypes.ts';
import { invalidArg, type InferError } from '../protocol/errors.ts';
import type { ModelConfig, ModelDynamicBatching, ModelSignature, TensorSignature } from './model-config.ts';

/** What auto-complete needs besides the config. */
export interface AutoCompleteInit {
  modelName: string;
  signature: ModelSignature;
  /** `max_batch_size` given to a model that can batch when the config sets none. */
  defaultMaxBatchSize: number;
  /** The config's file name, for messages. */
  file: string;
}

/** An input or output entry as a config may give it: any field may be missing. */
interface RawIO {
  name?: string;
  data_type?: ConfigDataType;
  dims?: number[];
  reshape?: { shape?: number[] };
  [k: string]: unknown;
}

/** The INVALID_ARG for a config tensor the model does not have, listing the ones it has. */
export function unknownTensorError(
  modelName: string, file: string, kind: 'input' | 'output', name: string, tensors: readonly TensorSignature[],
): InferError {
  const list = tensors.length ? tensors.map((t) => `'${t.name}'`).join(', ') : 'none';
  return invalidArg(`model '${modelName}': ${file} declares ${kind} '${name}', but the model has no such ${kind}; the model's ${kind}s are ${list}`);
}

/** Config dims (and reshape) for a signature tensor: the shape without the batch dimension. */
function ioFromSignature(t: TensorSignature, maxBatchSize: number): { dims: number[]; reshape?: { shape: number[] } } {
  const dims = maxBatchSize > 0 ? t.shape.slice(1) : [...t.shape];
  if (dims.length > 0) return { dims };
  // Rank ≥ 1 is required (§3.1): a [batch]-only tensor is dims [1] reshaped to [].
  // Without batching an empty reshape would be a scalar, which Triton refuses, so none then.
  return maxBatchSize > 0 ? { dims: [1], reshape: { shape: [] } } : { dims: [1] };
}

function isComplete(io: RawIO): boolean {
  return typeof io.name === 'string' && io.name !== '' && io.data_type !== undefined && io.dims !== undefined;
}

function fromSignature(t: TensorSignature, mbs: number): RawIO {
  return { name: t.name, data_type: dataTypeToConfigType(t.datatype), ...ioFromSignature(t, mbs) };
}

/** Completes the given entries; appends the model tensors that `fed` does not cover (when given). */
function completeList(
  kind: 'input' | 'output', given: RawIO[], tensors: readonly TensorSignature[], mbs: number, init: AutoCompleteInit,
  fed?: ReadonlySet<string>,
): RawIO[] {
  const out = given.map((io) => {
    if (!io.name) return io; // validation reports the missing name
    const t = tensors.find((s) => s.name === io.name);
    if (!t) throw unknownTensorError(init.modelName, init.file, kind, io.name, tensors);
    const done: RawIO = { ...io };
    done.data_type ??= dataTypeToConfigType(t.datatype);
    if (done.dims === undefined) {
      const filled = ioFromSignature(t, mbs);
      done.dims = filled.dims;
      if (filled.reshape && done.reshape === undefined) done.reshape = filled.reshape;
    }
    return done;
  });
  if (given.length === 0 && !fed) return tensors.map((t) => fromSignature(t, mbs));
  for (const t of tensors) if (fed && !fed.has(t.name)) out.push(fromSignature(t, mbs));
  return out;
}

/** Names of the model inputs a config feeds: inputs, batch inputs, control inputs, states. */
function fedInputs(cfg: Partial<ModelConfig>, inputs: readonly RawIO[]): Set<string> {
  const fed = new Set<string>();
  for (const i of inputs) if (i.name) fed.add(i.name);
  for (const b of (cfg.batch_input ?? []) as { target_name?: string[] }[]) for (const n of b.target_name ?? []) fed.add(n);
  for (const c of cfg.sequence_batching?.control_input ?? []) if (c.name) fed.add(c.name);
  for (const st of cfg.sequence_batching?.state ?? []) if (st.input_name) fed.add(st.input_name);
  return fed;
}

/**
 * Completes `cfg` in place from the model's signature (see the file comment for the rules).
 * Throws INVALID_ARG when the config asks for batching the model cannot do, or names a
 * tensor the model does not have.
 */
export function autoCompleteFromSignature(cfg: Partial<ModelConfig>, init: AutoCompleteInit): void {
  const { signature: sig, modelName, file } = init;
  const inputs = (cfg.input ?? []) as unknown as RawIO[];
  const outputs = (cfg.output ?? []) as unknown as RawIO[];
  const fed = fedInputs(cfg, inputs);
  const allFed = sig.inputs.every((t) => fed.has(t.name));
  if (allFed && fed.size > 0 && outputs.length > 0 && inputs.every(isComplete) && outputs.every(isComplete)) return;

  const blocker = [...sig.inputs, ...sig.outputs].find((t) => t.shape.length === 0 || t.shape[0] !== -1);
  if (blocker === undefined) {
    cfg.max_batch_size ??= Math.max(0, Math.trunc(init.defaultMaxBatchSize));
    // §3.4: "if max_batch_size > 1 and no scheduler is given, dynamic batching is enabled".
    if (cfg.max_batch_size > 1 && !cfg.dynamic_batching && !cfg.sequence_batching && !cfg.ensemble_scheduling) {
      cfg.dynamic_batching = {} as ModelDynamicBatching;
    }
  } else if ((cfg.max_batch_size ?? 0) !== 0) {
    throw invalidArg(
      `model '${modelName}': auto-complete failed: ${file} sets max_batch_size ${cfg.max_batch_size}, but the model cannot batch: `
      + `its tensor '${blocker.name}' has shape [${blocker.shape.join(', ')}], and batching needs a dynamic (-1) first dimension on every input and output; `
      + 'set max_batch_size: 0, or export the model with a dynamic batch dimension',
    );
  }
  const mbs = cfg.max_batch_size ?? 0;
  cfg.input = completeList('input', inputs, sig.inputs, mbs, init, fed) as unknown as ModelConfig['input'];
  cfg.output = completeList('output', outputs, sig.outputs, mbs, init) as unknown as ModelConfig['output'];
}
