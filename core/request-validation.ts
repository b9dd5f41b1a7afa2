/**
 * Checks a decoded request against the model's config before it reaches a scheduler, with
 * Triton's error texts (core/src/infer_request.cc as quoted in COMPAT-NOTES §1.5), and turns
 * it into a ScheduledRequest (config `reshape` applied for the backend).
 */
import { invalidArg } from '../protocol/errors.ts';
import { configTypeToDataType } from '../protocol/datatypes.ts';
import type { InferRequest } from '../protocol/infer.ts';
import type { Tensor } from '../protocol/tensor.ts';
import type { ModelConfig, ModelInput } from './model-config.ts';
import type { ScheduledRequest } from './scheduler.ts';
import { sequenceFlagsOf } from './sequence-params.ts';

const BATCH_NOTE = ' NOTE: Setting a non-zero max_batch_size in the model config requires a batch dimension to be prepended '
  + 'to each input shape. If you want to specify the full shape including the batch dim in your input dims config, '
  + 'try setting max_batch_size to zero. See the model configuration docs for allowed configurations.';

/** Shape as Triton prints it: `[-1,16]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** True when `shape` matches config `dims` (-1 matches any size). */
function dimsMatch(shape: readonly number[], dims: readonly number[]): boolean {
  if (shape.length !== dims.length) return false;
  for (let i = 0; i < dims.length; i++) if (dims[i] !== -1 && dims[i] !== shape[i]) return false;
  return true;
}

/** Resolves `-1` entries of a reshape target from the element count it must hold. */
export function resolveReshape(target: readonly number[], elements: number): number[] {
  const known = target.reduce((n, d) => (d === -1 ? n : n * d), 1);
  return target.map((d) => (d === -1 ? (known === 0 ? 0 : elements / known) : d));
}

/** Scheduling parameters Triton reads from a request (COMPAT-NOTES §1.10). */
function schedulingParams(req: InferRequest): { priority: number; timeoutUs?: number } {
  const p = req.parameters;
  const priority = p.priority === undefined ? 0 : Number(p.priority);
  const timeoutUs = p.timeout === undefined ? undefined : Number(p.timeout);
  if (!Number.isSafeInteger(priority) || priority < 0) throw invalidArg(`parameter 'priority' must be a non-negative integer, got ${String(p.priority)}`);
  if (timeoutUs !== undefined && (!Number.isSafeInteger(timeoutUs) || timeoutUs < 0)) {
    throw invalidArg(`parameter 'timeout' must be a non-negative integer of microseconds, got ${String(p.timeout)}`);
  }
  return { priority, timeoutUs };
}

/**
 * Validates `req` for `config` and returns what the scheduler needs. `outputNames` are the
 * outputs to compute (requested ones, or all).
 */
export function toScheduledRequest(req: InferRequest, config: ModelConfig, signal?: AbortSignal): ScheduledRequest {
  const model = config.name;
  const batching = config.max_batch_size > 0;
  const byName = new Map<string, ModelInput>();
  for (const i of config.input) byName.set(i.name, i);

  const seen = new Set<string>();
  const inputs: Tensor[] = [];
  let batchSize = 1;
  for (const t of req.inputs) {
    const ci = byName.get(t.name);
    if (!ci) throw invalidArg(`unexpected inference input '${t.name}' for model '${model}'`);
    if (seen.has(t.name)) throw invalidArg(`input '${t.name}' is given more than once for model '${model}'`);
    seen.add(t.name);
    const expected = configTypeToDataType(ci.data_type);
    if (t.datatype !== expected) {
      throw invalidArg(`inference input '${t.name}' data-type is '${t.datatype}', but model '${model}' expects '${expected}'`);
    }
    let itemShape: number[] = t.shape;
    if (batching) {
      if (t.shape.length === 0) {
        throw invalidArg(`unexpected shape for input '${t.name}' for model '${model}'. Expected ${formatShape([-1, ...ci.dims])}, got ${formatShape(t.shape)}.${BATCH_NOTE}`);
      }
      const b = t.shape[0];
      if (inputs.length === 0) batchSize = b;
      else if (b !== batchSize) {
        throw invalidArg(`input '${t.name}' has batch size ${b} but other inputs have ${batchSize} for model '${model}': every input of one request must have the same batch size`);
      }
      if (b > config.max_batch_size) throw invalidArg(`inference request batch-size must be <= ${config.max_batch_size} for '${model}'`);
      if (b < 1) throw invalidArg(`inference request batch-size must be >= 1 for '${model}', got ${b}`);
      itemShape = t.shape.slice(1);
    }
    if (!dimsMatch(itemShape, ci.dims)) {
      const want = batching ? [-1, ...ci.dims] : ci.dims;
      throw invalidArg(`unexpected shape for input '${t.name}' for model '${model}'. Expected ${formatShape(want)}, got ${formatShape(t.shape)}.${batching ? BATCH_NOTE : ''}`);
    }
    if (ci.reshape) {
      const elements = itemShape.reduce((n, d) => n * d, 1);
      const target = resolveReshape(ci.reshape.shape, elements);
      inputs.push({ ...t, shape: batching ? [batchSize, ...target] : target });
    } else {
      inputs.push(t);
    }
  }
  const missing = config.input.filter((i) => !i.optional && !seen.has(i.name)).map((i) => i.name);
  if (missing.length > 0) {
    throw invalidArg(`expected ${config.input.length} inputs but got ${req.inputs.length} inputs for model '${model}'. `
      + `Got input(s) [${[...seen].map((n) => `'${n}'`).join(', ')}], but missing required input(s) [${missing.map((n) => `'${n}'`).join(', ')}]. Please provide all required input(s).`);
  }

  let outputNames: string[];
  if (req.outputs && req.outputs.length > 0) {
    const known = new Set(config.output.map((o) => o.name));
    outputNames = [];
    for (const o of req.outputs) {
      if (!known.has(o.name)) throw invalidArg(`unexpected inference output '${o.name}' for model '${model}'`);
      if (outputNames.includes(o.name)) throw invalidArg(`output '${o.name}' is requested more than once for model '${model}'`);
      outputNames.push(o.name);
    }
  } else {
    outputNames = config.output.map((o) => o.name);
  }
  const scheduled: ScheduledRequest = { inputs, outputNames, batchSize, ...schedulingParams(req), signal, parameters: req.parameters };
  const sequence = sequenceFlagsOf(req.parameters);
  if (sequence !== undefined) scheduled.sequence = sequence;
  return scheduled;
}
