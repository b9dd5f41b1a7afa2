/**
 * The API a JavaScript/TypeScript model sees (README "JavaScript models and BLS"): types only,
 * so a `model.ts` can `import type { … } from '<infermesh>/node-host/js-model-api.ts'` and
 * Node erases the import when it strips the types. js-model.worker.ts implements it.
 *
 * Modelled on Triton's Python backend (`TritonPythonModel`, `pb_utils.InferenceRequest`,
 * `pb_utils.InferenceResponse`, BLS `InferenceRequest.exec()`), in JS terms: tensors are
 * `{ name, datatype, shape, data }` with typed arrays, BYTES elements are Uint8Arrays, errors
 * are thrown or returned per request.
 */
import type { DataType } from '../protocol/datatypes.ts';
import type { ErrorCode } from '../protocol/errors.ts';
import type { ParamValue } from '../protocol/infer.ts';
import type { Tensor } from '../protocol/tensor.ts';
import type { JsModelArgs } from './js-model-protocol.ts';

export type { Tensor, DataType, ErrorCode };

/**
 * A tensor as a model may write it. `datatype` may be left out when the array says it
 * (Float32Array → FP32, Int32Array → INT32, BigInt64Array → INT64, strings → BYTES, …) or,
 * for an output, when the config declares it. `shape` defaults to `[data.length]`. `data`
 * may be a typed array or a plain array (numbers, bigints, booleans; strings or Uint8Arrays
 * for BYTES); FP16/BF16 take a Uint16Array of raw bit patterns.
 */
export interface TensorLike {
  name: string;
  datatype?: DataType;
  shape?: number[];
  data: ArrayLike<number | bigint | boolean | string | Uint8Array>;
}

/** A request inside `execute` (Triton's `pb_utils.InferenceRequest`). */
export interface JsModelRequest {
  /** Inputs the client sent, full shapes (batch dimension first when max_batch_size > 0). */
  readonly inputs: Tensor[];
  /** Outputs the response must contain (at least these; others are dropped). */
  readonly requested_output_names: string[];
  /** Aborts when the client goes away or the deadline passes: pass it to `infer` and long loops. */
  readonly signal: AbortSignal;
  /** Triton's `request.is_cancelled()`. */
  isCancelled(): boolean;
  /** The input called `name`, or undefined when the request omitted it (optional inputs). */
  input(name: string): Tensor | undefined;
  /** The UTF-8 strings of BYTES input `name` (throws when absent or not BYTES). */
  text(name: string): string[];
}

/**
 * A request's answer: its outputs (an array of tensors, or an object from output name to
 * tensor), or an error for this request only. An `error` with a `code` of infermesh's codes
 * (`'INVALID_ARG'`, …) keeps it; any other error is INTERNAL.
 */
export type JsModelResponse =
  | { outputs: TensorLike[] | Record<string, Omit<TensorLike, 'name'>> }
  | { error: string | Error | { code?: ErrorCode; message: string } };

/** A BLS call (Triton's `pb_utils.InferenceRequest(model_name=…, inputs=…, requested_output_names=…)`). */
export interface BlsRequest {
  model_name: string;
  /** Default: the latest ready version. */
  model_version?: string | number;
  inputs: TensorLike[];
  /** Default: every output of the model. */
  requested_output_names?: string[];
  parameters?: Record<string, ParamValue>;
  /** Fails with DEADLINE_EXCEEDED after this many milliseconds. */
  timeout_ms?: number;
  /** Cancels the call (pass `request.signal` to tie it to the request being served). */
  signal?: AbortSignal;
}

/** A BLS answer. Failures are thrown (an InferError: `e.name === 'InferError'`, `e.code`). */
export interface BlsResponse {
  model_name: string;
  model_version: string;
  outputs: Tensor[];
  /** The output called `name`; throws when the answer has none. */
  output(name: string): Tensor;
  /** The UTF-8 strings of BYTES output `name`. */
  text(name: string): string[];
}

/** The model's logger: lines go to the server's log, tagged with the model and instance. */
export type JsModelLog = Record<'debug' | 'info' | 'warn' | 'error', (message: string, fields?: Record<string, unknown>) => void>;

/** What `execute` (and `initialize`, inside its args) gets besides the requests. */
export interface JsModelContext {
  /** Calls any model of the mesh: served here or by a peer (BLS). */
  infer(request: BlsRequest): Promise<BlsResponse>;
  log: JsModelLog;
}

/** `initialize(args)`: Triton's args (model_config as an object) plus the context. */
export type JsInitializeArgs = JsModelArgs & JsModelContext;

/** The shape of a model module (named exports, or a default export object or class). */
export interface JsModel {
  initialize?(args: JsInitializeArgs): void | Promise<void>;
  execute(requests: JsModelRequest[], context: JsModelContext): JsModelResponse[] | Promise<JsModelResponse[]>;
  finalize?(): void | Promise<void>;
}
