/**
 * onnxruntime-web as core backends for a contributing tab: a WebGPU backend (GPU class) and a
 * WASM backend (CPU class), both served by the one ort-web worker. The registry tries WebGPU
 * first for KIND_AUTO/KIND_GPU instances, so a model lands on WebGPU when the worker's probe
 * passed and on WASM otherwise (or when its config says KIND_CPU).
 *
 * Instances of one model version share one worker session: the worker is a single thread, so
 * a second session would double the memory without running anything in parallel. Inputs are
 * packed into buffers of their own and transferred; outputs come back transferred.
 */
import type { Backend, ModelInstance, ModelLoadInput } from '../core/backend.ts';
import type { ModelSignature } from '../core/model-config.ts';
import { InferError } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';
import {
  fromWorkerError, packInputs, type ExecutionProviderName, type PackedTensor, type SessionLoadOptions,
  type SessionLoadResult, type WorkerInitResult,
} from './worker-protocol.ts';

/** How the backend reaches the worker; {@link comlinkPort} (ort-web-client.ts) builds it over comlink. */
export interface OrtWebWorkerPort {
  /** Creates a session; `model` may be transferred (detached) when it owns its whole buffer, so pass a copy you no longer need. */
  load(model: Uint8Array, options: SessionLoadOptions): Promise<SessionLoadResult>;
  /** Runs a session; the buffers in `transfer` move to the worker. */
  run(handle: number, inputs: PackedTensor[], transfer: ArrayBuffer[], outputNames: string[]): Promise<Tensor[]>;
  dispose(handle: number): Promise<void>;
}

/** Backend names, as logs, status and the registry show them. */
export const ORT_WEB_BACKEND_NAMES = { webgpu: 'onnxruntime-web-webgpu', wasm: 'onnxruntime-web-wasm' } as const;

/** Config platforms an ONNX model may name. */
export const ORT_WEB_PLATFORMS: readonly string[] = ['onnxruntime_onnx', 'onnxruntime'];

/** Options of {@link createOrtWebBackends}. */
export interface OrtWebBackendsInit {
  port: OrtWebWorkerPort;
  /** What the worker's `init` answered. */
  ready: WorkerInitResult;
}

interface SharedSession {
  handle: Promise<SessionLoadResult>;
  refs: number;
}

/** The WebGPU and WASM backends over one worker. */
export function createOrtWebBackends(init: OrtWebBackendsInit): Backend[] {
  // per model bytes (one object per loaded version) and provider: the session its instances share
  const shared = new WeakMap<Uint8Array, Map<ExecutionProviderName, SharedSession>>();

  const backend = (provider: ExecutionProviderName): Backend => ({
    name: ORT_WEB_BACKEND_NAMES[provider],
    platforms: ORT_WEB_PLATFORMS,
    defaultModelFilename: 'model.onnx',
    deviceClass: provider === 'webgpu' ? 'gpu' : 'cpu',
    priority: provider === 'webgpu' ? 20 : 10,
    async init() {
      if (provider === 'webgpu' && init.ready.provider !== 'webgpu') {
        throw new Error(`WebGPU is not used in this tab: ${init.ready.webgpu.reason || init.ready.reason}`);
      }
    },
    async load(input: ModelLoadInput): Promise<ModelInstance> {
      const label = `model '${input.modelName}' version ${input.version}`;
      let byProvider = shared.get(input.bytes);
      if (!byProvider) shared.set(input.bytes, (byProvider = new Map()));
      let s = byProvider.get(provider);
      if (!s) {
        // the worker gets a copy it owns (transferred): the repository keeps its bytes
        const copy = input.bytes.slice();
        s = { handle: init.port.load(copy, { label, provider }).catch((e: unknown) => { throw fromWorkerError(e, label); }), refs: 0 };
        byProvider.set(provider, s);
      }
      s.refs++;
      let loaded: SessionLoadResult;
      try {
        loaded = await s.handle;
      } catch (e) {
        if (--s.refs === 0) byProvider.delete(provider);
        throw e;
      }
      return new OrtWebInstance(init, provider, label, loaded.handle, loaded.signature, async () => {
        if (--s.refs > 0) return;
        byProvider.delete(provider);
        await init.port.dispose(loaded.handle).catch((e: unknown) => { throw fromWorkerError(e, label); });
      });
    },
  });
  return [backend('webgpu'), backend('wasm')];
}

/** One instance: a handle on a (shared) worker session. */
class OrtWebInstance implements ModelInstance {
  readonly device: string;
  readonly signature: ModelSignature;
  readonly #init: OrtWebBackendsInit;
  readonly #label: string;
  readonly #handle: number;
  readonly #release: () => Promise<void>;
  #disposed = false;

  constructor(init: OrtWebBackendsInit, device: ExecutionProviderName, label: string, handle: number, signature: ModelSignature, release: () => Promise<void>) {
    this.#init = init;
    this.device = device;
    this.#label = label;
    this.#handle = handle;
    this.signature = signature;
    this.#release = release;
  }

  async run(inputs: Tensor[], outputNames: string[], options?: { signal?: AbortSignal }): Promise<Tensor[]> {
    if (this.#disposed) throw new InferError('UNAVAILABLE', `${this.#label}: instance was unloaded`);
    if (options?.signal?.aborted) throw new InferError('CANCELLED', `${this.#label}: request cancelled before it ran`, 'CANCELED');
    const packed = packInputs(inputs);
    try {
      return await this.#init.port.run(this.#handle, packed.inputs, packed.transfer, outputNames);
    } catch (e) {
      throw fromWorkerError(e, this.#label);
    }
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#release();
  }
}
