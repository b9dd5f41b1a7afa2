/**
 * How a runtime (onnxruntime-node, onnxruntime-web, a JS model) plugs into the core.
 * Modelled on ONNX Runtime's own Backend + InferenceSessionHandler split
 * (js/common/lib/backend.ts): a backend loads bytes into instances; instances run batches.
 */
import { internal, type InferError } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';
import type { InstanceGroupKind, ModelConfig, ModelSignature } from './model-config.ts';
import type { Logger } from './logger.ts';

/** What a backend needs to create one execution instance of one model version. */
export interface ModelLoadInput {
  modelName: string;
  version: number;
  /** The model file's bytes (always given). */
  bytes: Uint8Array;
  /** A local path of the model file when the source has one (lets ORT find external data). */
  path?: string;
  /** Backend-specific parameters from config.pbtxt `parameters` (string values). */
  parameters: Record<string, string>;
  /** Index of this instance within its model (for logs and device placement). */
  instanceIndex: number;
  /** GPU ordinal for GPU instances. */
  gpu?: number;
  logger: Logger;
  /**
   * The model's config as read (not yet normalised; `default_model_filename` set to the file
   * chosen). Backends whose model file has no signature of its own (JS models) take their
   * inputs and outputs from it.
   */
  config?: Partial<ModelConfig>;
}

/** One request of an execution, as {@link ModelInstance.runRequests} receives it. */
export interface InstanceRequest {
  /** Inputs with full shapes (leading batch dimension when the model batches). */
  inputs: Tensor[];
  /** Outputs to compute, never empty. */
  outputNames: string[];
  /** Aborts when the request is cancelled (client gone, deadline passed). */
  signal?: AbortSignal;
}

/** One request's answer: its outputs in `outputNames` order, or an error for it alone. */
export type InstanceResult = { outputs: Tensor[] } | { error: InferError };

/** One loaded, runnable copy of a model. Instances may run concurrently with each other. */
export interface ModelInstance {
  /** Where it runs, for logs and status: `cpu`, `cuda:0`, `webgpu`, `wasm`. */
  readonly device: string;
  /** The model's own inputs and outputs as the runtime reads them. */
  readonly signature: ModelSignature;
  /**
   * Runs one (possibly batched) execution. `inputs` have full shapes; returns the requested
   * outputs, in the order of `outputNames`.
   */
  run(inputs: Tensor[], outputNames: string[], options?: { signal?: AbortSignal }): Promise<Tensor[]>;
  /**
   * Optional: runs the requests of one execution (a dynamic batch) side by side instead of
   * as one concatenated batch, for backends that need request boundaries: a JS model's
   * `execute(requests)`, like Triton's Python backend, answers each request on its own and
   * may fail one without the others. Schedulers call it instead of `run` when present.
   * Resolves with one result per request, in order; rejects when the whole execution failed.
   */
  runRequests?(requests: InstanceRequest[]): Promise<InstanceResult[]>;
  dispose(): Promise<void>;
}

/**
 * Runs one request on `instance`: through `runRequests` when it has it (so the request's
 * signal reaches the backend), else `run`. Rejects with the request's own error.
 */
export async function runSingle(instance: ModelInstance, request: InstanceRequest): Promise<Tensor[]> {
  if (!instance.runRequests) return instance.run(request.inputs, request.outputNames);
  const [result] = await instance.runRequests([request]);
  if (result === undefined) throw internal('the backend answered no result for the request');
  if ('error' in result) throw result.error;
  return result.outputs;
}

/** Whether a backend places instances on a GPU-like device or on the CPU. */
export type DeviceClass = 'gpu' | 'cpu';

/** A runtime that can create model instances. Registered per server, not as a module global. */
export interface Backend {
  /** Unique name, e.g. `onnxruntime-cuda`, `onnxruntime-cpu`. */
  readonly name: string;
  /** Config platforms/backends it serves, e.g. `onnxruntime_onnx`, `onnxruntime`. */
  readonly platforms: readonly string[];
  /** File name of the model inside a version folder when config does not say. */
  readonly defaultModelFilename: string;
  /**
   * Further file names tried in order when `defaultModelFilename` is not in the version
   * folder and the config names none (a JS model may be `model.mjs` or `model.ts`).
   */
  readonly alternativeModelFilenames?: readonly string[];
  readonly deviceClass: DeviceClass;
  /** Higher is tried first among backends of a platform (cuda > webgpu > cpu). */
  readonly priority: number;
  /** One-time availability check; throws with a reason a human can act on when unusable. */
  init(): Promise<void>;
  load(input: ModelLoadInput): Promise<ModelInstance>;
}

/** Instance kinds that may use a GPU backend. KIND_AUTO prefers GPU when one works. */
export function kindAllowsGpu(kind: InstanceGroupKind): boolean {
  return kind === 'KIND_GPU' || kind === 'KIND_AUTO' || kind === 'KIND_MODEL';
}
