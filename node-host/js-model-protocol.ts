/**
 * The contract between the main thread and a JS model's worker (`js-model.worker.ts`), which
 * talk over comlink: the worker exposes {@link JsWorkerApi} on its parentPort; the main
 * thread exposes {@link JsHostApi} (BLS calls, log lines) on a MessageChannel port it hands
 * over in `init` (a port of its own, not `Comlink.proxy`, so the main side can unref it: an
 * idle model must not keep the process alive).
 *
 * Errors: comlink rebuilds a thrown `Error` as a bare Error (name, message and stack only),
 * which would turn every INVALID_ARG into INTERNAL. Both sides therefore reject with a plain
 * {@link CrossingError} object (comlink clones a non-Error value unchanged), as the browser
 * host's onnxruntime-web worker does (browser-host/worker-protocol.ts). Per-request errors of
 * an execution are not rejections: they are entries of its result array.
 *
 * Cancellation: comlink has none, so `cancel(requestId)` and `cancelInfer(callId)` are calls
 * of their own; comlink keeps the order of calls on one port, so a cancel always arrives
 * after the call it cancels.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ModelConfig } from '../core/model-config.ts';
import type { Parameters } from '../protocol/infer.ts';
import { InferError, isInferError, type WireError } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';

/**
 * What `initialize(args)` receives, after Triton's Python backend (`args` of
 * `TritonPythonModel.initialize`), with `model_config` as an object rather than a JSON string.
 */
export interface JsModelArgs {
  /** The model's normalised config (what `GET /v2/models/<m>/config` shows). */
  model_config: ModelConfig;
  model_name: string;
  model_version: string;
  /** `KIND_CPU` (JS models run on the CPU). */
  model_instance_kind: string;
  /** `<instance group name>_<index in group>`, as Triton names instances. */
  model_instance_name: string;
  model_instance_device_id: number;
  /** The model's folder (`<repository>/<model>`). */
  model_repository: string;
}

/** Where the worker imports the model from (a file: URL). */
export interface JsModuleSpec {
  url: string;
}

/** One request of an execution as it crosses: `id` is what `cancel` names. */
export interface JsWireRequest {
  id: number;
  inputs: Tensor[];
  outputNames: string[];
}

/** One request's answer: outputs in `outputNames` order, or its error. */
export type JsWireResult = { outputs: Tensor[] } | { error: WireError };

/** A BLS call as the worker sends it (already checked and packed). */
export interface JsWireBlsRequest {
  model_name: string;
  model_version?: string;
  inputs: Tensor[];
  requested_output_names?: string[];
  parameters?: Parameters;
  /** Fail with DEADLINE_EXCEEDED after this many milliseconds. */
  timeout_ms?: number;
}

/** A BLS answer as it crosses. */
export interface JsWireBlsResponse {
  model_name: string;
  model_version: string;
  outputs: Tensor[];
}

/** Log levels a model may write at (`log.info(…)` in the model). */
export type JsLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What the worker exposes. Every method rejects with a {@link CrossingError}. */
export interface JsWorkerApi {
  /**
   * Imports the model and runs its `initialize(args)`. `host` is the port the main thread
   * serves {@link JsHostApi} on (transferred). `label` names the model in messages.
   */
  init(host: MessagePort, module: JsModuleSpec, args: JsModelArgs, label: string): Promise<void>;
  /** Runs `execute(requests)`: one result per request, in order (tensors transferred). */
  execute(requests: JsWireRequest[]): Promise<JsWireResult[]>;
  /** Request `requestId` was cancelled: its `signal` aborts. Unknown ids are ignored. */
  cancel(requestId: number): void;
  /** Runs `finalize()`. */
  finalize(): Promise<void>;
}

/** What the main thread exposes to the worker. `infer` rejects with a {@link CrossingError}. */
export interface JsHostApi {
  /** Serves BLS call `callId` through the server's callModel (tensors transferred both ways). */
  infer(callId: number, request: JsWireBlsRequest): Promise<JsWireBlsResponse>;
  /** The model gave up on BLS call `callId` (its signal aborted). */
  cancelInfer(callId: number): void;
  log(level: JsLogLevel, message: string, fields?: Record<string, unknown>): void;
}

/** An error as it crosses the worker boundary: an InferError's fields on a plain object. */
export interface CrossingError extends WireError {
  name: 'InferError';
}

/** What an exposed method throws for `e` (already a WireError). */
export function toCrossingError(e: WireError): CrossingError {
  return { name: 'InferError', code: e.code, message: e.message, reason: e.reason };
}

/**
 * Rebuilds an InferError from whatever a comlink call rejected with: a {@link CrossingError},
 * or (a value that could not be cloned, comlink's own failure) anything else, which
 * `otherwise` words.
 */
export function fromCrossingError(e: unknown, otherwise: (message: string) => InferError): InferError {
  if (isInferError(e)) return new InferError(e.code, e.message, e.reason);
  return otherwise(e instanceof Error ? e.message : String((e as { message?: unknown } | null)?.message ?? e));
}

/**
 * The worker entry, a `.ts` file Node runs with its type stripping (also under vitest, which
 * does not transform what a Worker loads).
 */
export const JS_WORKER_URL = new URL('./js-model.worker.ts', import.meta.url);
