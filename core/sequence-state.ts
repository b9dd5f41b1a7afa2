/**
 * Implicit state of sequence models (COMPAT-NOTES §3.5 "Implicit state"; Triton
 * docs/user_guide/implicit_state_management.md): the config's `state { input_name
 * output_name data_type dims initial_state }` pairs. The model reads a state input and writes a
 * state output; the sequence batcher keeps the output of request i and feeds it as the input of
 * request i+1 of the same sequence, inside the server: the client never sends or sees it.
 *
 * The first request (START) gets the initial state: `initial_state { zero_data }` zeros, or
 * `initial_state { data_file }` read from `<model>/initial_state/<file>` (raw little-endian
 * values; BYTES as 4-byte-length-prefixed elements). Without `initial_state` Triton hands the
 * model uninitialised memory; infermesh gives zeros instead, so a run is reproducible.
 */
import { allocTyped, configTypeToDataType, DATATYPE_BYTE_SIZE, viewTyped } from '../protocol/datatypes.ts';
import type { DataType, TypedTensorArray } from '../protocol/datatypes.ts';
import { decodeBytesTensor } from '../protocol/bytes-codec.ts';
import { invalidArg } from '../protocol/errors.ts';
import type { Tensor, TensorData } from '../protocol/tensor.ts';
import type { ModelConfig } from './model-config.ts';

/** Folder of a model that holds `initial_state { data_file }` files (Triton's layout). */
export const INITIAL_STATE_DIR = 'initial_state';

/** One implicit state pair, ready to feed. */
export interface StateSpec {
  inputName: string;
  outputName: string;
  datatype: DataType;
  /** The initial state of one sequence (shape `[1, ...dims]` for a batching model, else `dims`). */
  initial: Tensor;
}

/** Elements of a shape. */
function count(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * Reads every `initial_state { data_file }` the config names, through `read` (a path relative
 * to the model folder, e.g. `initial_state/acc.bin`). The result goes to the scheduler factory
 * (`SchedulerFactoryInit.initialStateFiles`), which is synchronous.
 * @throws whatever `read` throws for a missing file, wrapped with the state's name.
 */
export async function readInitialStateFiles(config: ModelConfig, read: (relPath: string) => Promise<Uint8Array>): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const s of config.sequence_batching?.state ?? []) {
    for (const init of s.initial_state) {
      if (!init.data_file || files.has(init.data_file)) continue;
      const rel = `${INITIAL_STATE_DIR}/${init.data_file}`;
      try {
        files.set(init.data_file, await read(rel));
      } catch (e) {
        throw invalidArg(`model '${config.name}', state '${s.input_name}': cannot read initial state file '${rel}' in the model folder `
          + `(${e instanceof Error ? e.message : String(e)}); put the raw tensor bytes there or use zero_data`);
      }
    }
  }
  return files;
}

/**
 * The state pairs of a config with their initial tensors.
 * @param files `initial_state { data_file }` contents by file name (see readInitialStateFiles)
 * @throws InferError INVALID_ARG for a state whose initial value cannot be built (missing file,
 *   wrong size, variable dims without an initial_state giving fixed ones).
 */
export function stateSpecsOf(config: ModelConfig, files: ReadonlyMap<string, Uint8Array> = new Map()): StateSpec[] {
  const batching = config.max_batch_size > 0;
  return (config.sequence_batching?.state ?? []).map((s) => {
    const where = `model '${config.name}', state '${s.input_name}'`;
    const datatype = configTypeToDataType(s.data_type);
    if (datatype === undefined) throw invalidArg(`${where}: data_type ${s.data_type} is not a tensor type`);
    const init = s.initial_state[0];
    const dims = init !== undefined && init.dims.length > 0 ? init.dims : s.dims;
    if (dims.some((d) => !Number.isInteger(d) || d < 0)) {
      throw invalidArg(`${where}: the initial state needs fixed dims, but dims are [${dims.join(', ')}]; `
        + 'give initial_state { dims: [...] zero_data: true } with every dimension set');
    }
    if (init !== undefined && init.data_type !== 'TYPE_INVALID' && init.data_type !== s.data_type) {
      throw invalidArg(`${where}: initial_state data_type ${init.data_type} differs from the state's ${s.data_type}; make them equal`);
    }
    const n = count(dims);
    let data: TensorData;
    if (init?.data_file) {
      const bytes = files.get(init.data_file);
      if (bytes === undefined) throw invalidArg(`${where}: initial state file '${INITIAL_STATE_DIR}/${init.data_file}' was not read; put it in the model folder`);
      data = decodeInitial(bytes, datatype, n, `${where}: initial state file '${INITIAL_STATE_DIR}/${init.data_file}'`);
    } else {
      data = datatype === 'BYTES' ? Array.from({ length: n }, () => new Uint8Array(0)) : allocTyped(datatype, n);
    }
    const shape = batching ? [1, ...dims] : [...dims];
    return { inputName: s.input_name, outputName: s.output_name, datatype, initial: { name: s.input_name, datatype, shape, data } };
  });
}

function decodeInitial(bytes: Uint8Array, datatype: DataType, n: number, what: string): TensorData {
  if (datatype === 'BYTES') return decodeBytesTensor(bytes, n, undefined, what);
  const need = n * DATATYPE_BYTE_SIZE[datatype];
  if (bytes.byteLength !== need) {
    throw invalidArg(`${what} has ${bytes.byteLength} bytes, but ${n} element(s) of ${datatype} need ${need}; write the raw little-endian values`);
  }
  // A private copy: the file's buffer may be shared or reused by its reader.
  return viewTyped(datatype, bytes.slice());
}

/**
 * One row of a state output as the next request's state input (renamed to the input). A copy:
 * the batch output holds every row, and a view would keep all of it alive for as long as the
 * sequence lives.
 */
export function stateFromOutput(output: Tensor, inputName: string): Tensor {
  const data = output.datatype === 'BYTES'
    ? (output.data as Uint8Array[]).slice()
    : (output.data as TypedTensorArray).slice();
  return { name: inputName, datatype: output.datatype, shape: output.shape.slice(), data };
}

/** A tensor of zeros (empty strings for BYTES) shaped like `like`: the inputs of a padding row. */
export function zerosLike(like: Tensor): Tensor {
  const n = like.data.length;
  const data = like.datatype === 'BYTES' ? Array.from({ length: n }, () => new Uint8Array(0)) : allocTyped(like.datatype, n);
  return { name: like.name, datatype: like.datatype, shape: like.shape.slice(), data };
}
