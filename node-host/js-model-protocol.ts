/**
 * The messages between the main thread and a JS model's worker (`js-model.worker.ts`).
 *
 * Hand-written over `postMessage`, like the onnxruntime worker's (ort-protocol.ts), rather
 * than comlink: the dependency rule keeps comlink out of node-host (it is the browser
 * host's), and the traffic here is two-way (the worker calls back into the server for BLS)
 * with cancellation and error codes, which comlink does not carry (an error crossing it
 * keeps only name, message and stack).
 *
 * Main → worker requests carry an `id` and are answered exactly once with a `reply` of the
 * same id. The worker → main `bls` calls carry a `callId` and are answered with a
 * `bls-result`. Errors travel as plain WireErrors and are rebuilt as InferErrors.
 */
import type { ModelConfig } from '../core/model-config.ts';
import type { Parameters } from '../protocol/infer.ts';
import type { WireError } from '../protocol/errors.ts';
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

/** One request of an execution, on the wire. */
export interface JsWireRequest {
  inputs: Tensor[];
  outputNames: string[];
}

/** One request's answer, on the wire: outputs in `outputNames` order, or its error. */
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

/** A BLS answer on the wire. */
export interface JsWireBlsResponse {
  model_name: string;
  model_version: string;
  outputs: Tensor[];
}

/** Main → worker. */
export type JsToWorker =
  /** Import the model and run its `initialize(args)`. Answers null. */
  | { op: 'init'; id: number; module: JsModuleSpec; args: JsModelArgs; label: string }
  /** Run `execute(requests)`. Answers JsWireResult[] (one per request). */
  | { op: 'execute'; id: number; requests: JsWireRequest[] }
  /** Not answered: request `index` of execution `target` was cancelled (its signal aborts). */
  | { op: 'cancel'; target: number; index: number }
  /** Run `finalize()`. Answers null. */
  | { op: 'finalize'; id: number }
  /** The answer to the worker's BLS call `callId`. */
  | { op: 'bls-result'; callId: number; ok: true; response: JsWireBlsResponse }
  | { op: 'bls-result'; callId: number; ok: false; error: WireError };

/** Log levels a model may write at (`log.info(…)` in the model). */
export type JsLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Worker → main. */
export type JsFromWorker =
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: WireError }
  /** The model calls another model (BLS). */
  | { kind: 'bls'; callId: number; request: JsWireBlsRequest }
  /** The model gave up on BLS call `callId` (its signal aborted). */
  | { kind: 'bls-cancel'; callId: number }
  | { kind: 'log'; level: JsLogLevel; message: string; fields?: Record<string, unknown> };

/**
 * The worker entry, a `.ts` file Node runs with its type stripping (also under vitest, which
 * does not transform what a Worker loads).
 */
export const JS_WORKER_URL = new URL('./js-model.worker.ts', import.meta.url);
