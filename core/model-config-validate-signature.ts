/**
 * Checks a normalised config against the model file's own signature, as Triton's ONNX
 * Runtime backend does when it loads a model (`ValidateInputs` / `ValidateOutputs`): every
 * config tensor exists in the model with the same datatype and a compatible shape, and every
 * model input is fed by the config (directly, or as a batch input, sequence control input or
 * implicit state). COMPAT-NOTES §3.1 "Shape rules".
 */
import { dataTypeToConfigType } from '../protocol/datatypes.ts';
import { invalidArg } from '../protocol/errors.ts';
import type { ModelConfig, ModelSignature, TensorSignature } from './model-config.ts';
import { unknownTensorError } from './model-config-autocomplete.ts';
import { validateSequenceSignature } from './model-config-validate-schedulers.ts';

const fmt = (dims: readonly number[]) => `[${dims.join(', ')}]`;

/** Same rank, and each dimension equal or -1 (variable) on either side. */
function dimsCompatible(config: readonly number[], model: readonly number[]): boolean {
  return config.length === model.length && config.every((d, i) => d === -1 || model[i] === -1 || d === model[i]);
}

function checkTensor(
  cfg: ModelConfig, kind: 'input' | 'output', io: { name: string; data_type: string; dims: number[]; reshape?: { shape: number[] } },
  tensors: readonly TensorSignature[], modelName: string, file: string,
): void {
  const t = tensors.find((s) => s.name === io.name);
  if (!t) throw unknownTensorError(modelName, file, kind, io.name, tensors);
  const where = `model '${modelName}', tensor '${io.name}'`;
  const expected = dataTypeToConfigType(t.datatype);
  if (expected !== io.data_type) {
    throw invalidArg(`${where}: the model expects ${expected}, but ${file} says ${io.data_type}; set data_type: ${expected}`);
  }
  const mbs = cfg.max_batch_size;
  let modelShape = t.shape;
  if (mbs > 0) {
    if (modelShape.length === 0 || modelShape[0] !== -1) {
      throw invalidArg(
        `${where}: max_batch_size is ${mbs}, so the model needs a dynamic (-1) batch dimension first, but its shape is ${fmt(t.shape)}; `
        + `set max_batch_size: 0 and give the full shape in dims, or export the model with a dynamic first dimension`,
      );
    }
    modelShape = modelShape.slice(1);
  }
  // The shape the model sees is the reshape when one is given (§3.1 "Reshape").
  const seen = io.reshape ? io.reshape.shape : io.dims;
  // A scalar model tensor without batching is written `dims: [1]` (what auto-complete produces).
  if (!io.reshape && modelShape.length === 0 && io.dims.length === 1 && io.dims[0] === 1) return;
  if (!dimsCompatible(seen, modelShape)) {
    const label = io.reshape ? 'reshape' : 'dims';
    const full = mbs > 0 ? ` (with the batch dimension: ${fmt([-1, ...seen])})` : '';
    const want = mbs > 0 ? ` without the batch dimension` : '';
    throw invalidArg(
      `${where}: the model's shape is ${fmt(t.shape)}, but ${file} gives ${label} ${fmt(seen)}${full}; `
      + `set ${label}: ${fmt(modelShape)}${want} (-1 for a variable dimension)`,
    );
  }
}

/** Throws INVALID_ARG when the config and the model's signature disagree. */
export function validateAgainstSignature(cfg: ModelConfig, sig: ModelSignature, modelName: string, file: string): void {
  for (const io of cfg.input) checkTensor(cfg, 'input', io, sig.inputs, modelName, file);
  for (const io of cfg.output) checkTensor(cfg, 'output', io, sig.outputs, modelName, file);
  const fed = new Set<string>(cfg.input.map((i) => i.name));
  for (const b of cfg.batch_input as { target_name?: string[] }[]) for (const n of b.target_name ?? []) fed.add(n);
  for (const c of cfg.sequence_batching?.control_input ?? []) fed.add(c.name);
  for (const s of cfg.sequence_batching?.state ?? []) fed.add(s.input_name);
  const missing = sig.inputs.find((t) => !fed.has(t.name));
  if (missing) {
    throw invalidArg(
      `model '${modelName}': the model has input '${missing.name}' (${dataTypeToConfigType(missing.datatype)} ${fmt(missing.shape)}), `
      + `but ${file} does not declare it; add it to 'input' (the model's inputs are ${sig.inputs.map((t) => `'${t.name}'`).join(', ')})`,
    );
  }
  validateSequenceSignature(cfg, sig, file);
}
