/**
 * How a runtime (onnxruntime-node, onnxruntime-web, a JS model) plugs into the core.
 * Modelled on ONNX Runtime's own Backend + InferenceSessionHandler split
 * (js/common/lib/backend.ts): a backend loads bytes into instances; instances run batches.
 */
import type { Tensor } from '../protocol/tensor.ts';
import type { InstanceGroupKind, ModelSignature } from './model-config.ts';
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
}

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
  dispose(): Promise<void>;
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
