/**
 * Model warmup (`model_warmup`, COMPAT-NOTES §3.7; Triton `model_configuration.md` "Model
 * Warmup" and `core/src/backend_model_instance.cc` `GenerateWarmupData` / `WarmUp`).
 *
 * At load, before the version turns READY, every instance runs every sample `count` times
 * (0 = once), samples in config order. The samples go straight to the instances, not through
 * the scheduler, so they appear in no statistics, queue or rate limiter, as in Triton. A
 * failing sample fails the load, naming the sample.
 *
 * Sample data, per input (dims without the batch dimension, all fixed):
 * - `zero_data`: zeros (BYTES: empty strings);
 * - `random_data`: random bytes, as Triton fills it (BOOL: 0/1; BYTES: empty strings, as
 *   Triton falls back to zeros for strings);
 * - `input_data_file`: the file `<model>/warmup/<file>`: raw little-endian bytes in row-major
 *   order (a longer file is cut, as in Triton), or for BYTES 4-byte-length-prefixed elements.
 * A model that batches gets `batch_size` copies of the sample stacked into one batch, as
 * Triton sends `batch_size` requests to one execution.
 */
import { invalidArg, InferError, isInferError } from '../protocol/errors.ts';
import { configTypeToDataType, DATATYPE_BYTE_SIZE, viewTyped, type DataType } from '../protocol/datatypes.ts';
import { decodeBytesTensor } from '../protocol/bytes-codec.ts';
import type { InferInput, InferRequest } from '../protocol/infer.ts';
import type { Tensor, TensorData } from '../protocol/tensor.ts';
import type { ModelInstance } from './backend.ts';
import type { Logger } from './logger.ts';
import type { ModelConfig, ModelWarmup, ModelWarmupInput } from './model-config.ts';
import { toScheduledRequest } from './request-validation.ts';

/** Folder inside the model folder that holds `input_data_file`s (Triton's `kWarmupDataFolder`). */
export const WARMUP_DATA_FOLDER = 'warmup';

/**
 * Largest sample input generated or read, in bytes. Warmup data is made once per load and
 * held while it runs; a typo such as `dims: [ 100000000 ]` should fail the load with a clear
 * message instead of exhausting memory.
 */
export const MAX_WARMUP_INPUT_BYTES = 1024 * 1024 * 1024;

/** One prepared sample: the tensors an instance receives and how often. */
export interface WarmupSample {
  name: string;
  /** Executions per instance (config `count`, at least 1). */
  runs: number;
  inputs: Tensor[];
  outputNames: string[];
}

/** What warmup needs from the repository. */
export interface WarmupInit {
  config: ModelConfig;
  instances: readonly ModelInstance[];
  /** Reads a file of the model's `warmup/` folder by its name there. */
  readWarmupFile: (file: string) => Promise<Uint8Array>;
  logger?: Logger;
}

/** Builds the samples of `config.model_warmup` (reading any data files once). */
export async function buildWarmupSamples(config: ModelConfig, readWarmupFile: (file: string) => Promise<Uint8Array>): Promise<WarmupSample[]> {
  const samples: WarmupSample[] = [];
  for (const w of config.model_warmup) {
    try {
      samples.push(await buildSample(config, w, readWarmupFile));
    } catch (e) {
      throw sampleError(config, w, e);
    }
  }
  return samples;
}

/**
 * Runs every sample on every instance (instances in parallel, samples in order on each).
 * Rejects with INVALID_ARG naming the model, sample and instance when one fails.
 */
export async function runWarmup(init: WarmupInit): Promise<void> {
  const { config, instances } = init;
  if (config.model_warmup.length === 0) return;
  const samples = await buildWarmupSamples(config, init.readWarmupFile);
  await Promise.all(instances.map(async (instance, index) => {
    for (const s of samples) {
      for (let i = 1; i <= s.runs; i++) {
        init.logger?.debug('running warmup sample', { sample: s.name, instance: index, iteration: i });
        try {
          const outputs = await instance.run(s.inputs, s.outputNames);
          if (outputs.length !== s.outputNames.length) {
            throw new Error(`the model returned ${outputs.length} output(s) for the ${s.outputNames.length} requested`);
          }
        } catch (e) {
          throw sampleError(config, { name: s.name }, e, `instance ${index} (${instance.device})`);
        }
      }
    }
  }));
}

function sampleError(config: ModelConfig, w: Pick<ModelWarmup, 'name'>, e: unknown, where?: string): InferError {
  const reason = isInferError(e) || e instanceof Error ? e.message : String(e);
  return new InferError('INVALID_ARG', `model '${config.name}': failed to run warmup sample '${w.name}'${where ? ` on ${where}` : ''}: ${reason}`);
}

async function buildSample(config: ModelConfig, w: ModelWarmup, read: (file: string) => Promise<Uint8Array>): Promise<WarmupSample> {
  const batching = config.max_batch_size > 0;
  const batch = batching ? Math.max(1, w.batch_size) : 1;
  const modelInputs = new Set(config.input.map((i) => i.name));
  const original: InferInput[] = [];
  const extra: Tensor[] = [];
  for (const [name, spec] of Object.entries(w.inputs)) {
    const datatype = configTypeToDataType(spec.data_type);
    if (datatype === undefined) throw invalidArg(`input '${name}' must specify 'data_type'`);
    const item = await itemData(name, spec, datatype, read);
    const shape = batching ? [batch, ...spec.dims] : spec.dims.slice();
    const tensor: Tensor = { name, datatype, shape, data: repeat(item, batch) };
    // Control and state inputs of sequence models are not config inputs: Triton adds them to
    // the warmup request as override inputs, bypassing validation.
    (modelInputs.has(name) ? original : extra).push(tensor);
  }
  const req: InferRequest = { modelName: config.name, parameters: {}, inputs: original };
  // The same validation and reshape a real request gets (dtype, dims, required inputs).
  const scheduled = toScheduledRequest(req, config);
  return { name: w.name, runs: Math.max(1, w.count), inputs: [...scheduled.inputs, ...extra], outputNames: scheduled.outputNames };
}

/** The data of one batch item of a sample input. */
async function itemData(name: string, spec: ModelWarmupInput, datatype: DataType, read: (file: string) => Promise<Uint8Array>): Promise<TensorData> {
  if (spec.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw invalidArg(`input '${name}' has dims [${spec.dims.join(',')}]; warmup needs every dimension given a size (no -1)`);
  }
  const count = spec.dims.reduce((a, b) => a * b, 1);
  const elementBytes = DATATYPE_BYTE_SIZE[datatype] || 4;
  if (count * elementBytes > MAX_WARMUP_INPUT_BYTES) {
    throw invalidArg(`input '${name}' would need ${count * elementBytes} bytes; warmup inputs are limited to ${MAX_WARMUP_INPUT_BYTES}`);
  }
  if (spec.input_data_file !== undefined) return fileData(name, spec.input_data_file, datatype, count, read);
  if (datatype === 'BYTES') return Array.from({ length: count }, () => new Uint8Array(0));
  const bytes = new Uint8Array(count * elementBytes);
  if (spec.random_data === true) {
    if (datatype === 'BOOL') for (let i = 0; i < bytes.length; i++) bytes[i] = Math.random() < 0.5 ? 0 : 1;
    else for (let i = 0; i < bytes.length; i++) bytes[i] = (Math.random() * 256) | 0;
  }
  return viewTyped(datatype, bytes);
}

async function fileData(name: string, file: string, datatype: DataType, count: number, read: (file: string) => Promise<Uint8Array>): Promise<TensorData> {
  if (file === '' || file.startsWith('/') || file.split(/[\\/]/).includes('..')) {
    throw invalidArg(`input '${name}': input_data_file '${file}' must name a file inside the model's '${WARMUP_DATA_FOLDER}/' folder`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await read(file);
  } catch (e) {
    const why = isInferError(e) || e instanceof Error ? e.message : String(e);
    throw invalidArg(`input '${name}': cannot read input_data_file '${WARMUP_DATA_FOLDER}/${file}': ${why}`);
  }
  if (datatype === 'BYTES') {
    // Copy out of the file buffer so the elements are views of memory owned by the sample.
    return decodeBytesTensor(bytes.slice(), count, undefined, `input '${name}' (input_data_file '${file}')`);
  }
  const need = count * DATATYPE_BYTE_SIZE[datatype];
  if (bytes.byteLength < need) {
    throw invalidArg(`input '${name}': warmup setting expects ${need} bytes (${count} × ${datatype}), but the data provided from '${WARMUP_DATA_FOLDER}/${file}' only has ${bytes.byteLength} bytes`);
  }
  return viewTyped(datatype, bytes.slice(0, need));
}

/** `times` copies of one item's data back to back. */
function repeat(item: TensorData, times: number): TensorData {
  if (times === 1) return item;
  if (Array.isArray(item)) {
    const out: Uint8Array[] = [];
    for (let t = 0; t < times; t++) out.push(...item);
    return out;
  }
  const ctor = item.constructor as new (n: number) => typeof item;
  const out = new ctor(item.length * times);
  for (let t = 0; t < times; t++) (out as { set(a: ArrayLike<unknown>, o: number): void }).set(item as ArrayLike<unknown>, t * item.length);
  return out;
}
