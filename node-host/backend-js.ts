/**
 * JavaScript/TypeScript models as an infermesh backend: Triton's Python backend for JS.
 *
 * A model folder holds `config.pbtxt` with `backend: "javascript"` (or `"js"`) and a version
 * folder with `model.js`, `model.mjs` or `model.ts` (Node strips the types) that exports
 * `initialize(args)`, `execute(requests, context)` and `finalize()`; README "JavaScript models
 * and BLS" is the user guide. Each instance (instance_group count) is a worker thread of its
 * own (js-model.worker.ts), so a model that computes for a long time never blocks the
 * server's event loop, and N instances run N executions at once.
 *
 * BLS: the model's `infer({ model_name, inputs, requested_output_names })` reaches this
 * thread over comlink (js-model-client.ts) and runs through the server's `callModel`, which a mesh host points at the mesh
 * router: a JS model can call any model of the mesh, served here or by a peer.
 *
 * Failures: `initialize` throws → the model fails to load with that message; `execute` throws
 * → every request of that execution fails (INTERNAL unless the error names a code), the worker
 * stays; one response is `{ error }` → only that request fails; the worker crashes → the
 * execution fails UNAVAILABLE, the crash is logged and a fresh worker is started (as Triton
 * restarts a Python stub); `execute` never returns → its requests still end by cancellation
 * or deadline (the schedulers answer them), and once all of them are cancelled the worker is
 * replaced after a grace period so the instance serves again.
 */
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Backend, InstanceRequest, InstanceResult, ModelInstance, ModelLoadInput } from '../core/backend.ts';
import type { Logger } from '../core/logger.ts';
import type { ModelCaller } from '../core/model-caller.ts';
import type { ModelConfig, ModelSignature, TensorSignature } from '../core/model-config.ts';
import { normalizeModelConfig } from '../core/model-config-normalize.ts';
import { configTypeToDataType, type ConfigDataType } from '../protocol/datatypes.ts';
import { InferError, invalidArg } from '../protocol/errors.ts';
import type { InferRequest } from '../protocol/infer.ts';
import type { Tensor } from '../protocol/tensor.ts';
import { JsWorkerClient } from './js-model-client.ts';
import type { JsModelArgs, JsModuleSpec, JsWireBlsRequest, JsWireBlsResponse } from './js-model-protocol.ts';

/** The backend's name in logs and the registry. */
export const JS_BACKEND_NAME = 'javascript';

/** Config `backend` values served (`platform` stays empty, as for Triton's Python backend). */
export const JS_PLATFORMS: readonly string[] = ['javascript', 'js'];

/**
 * How long an execution may go on after every one of its requests was cancelled before its
 * worker is replaced. The requests were already answered (CANCELLED); this only frees the
 * instance from a model that never returns. Long enough for a model that checks
 * `request.signal` to wind down; short enough that an instance is not lost for long. Config
 * parameter `cancel_grace_ms` overrides it.
 */
export const DEFAULT_CANCEL_GRACE_MS = 5_000;

/** How long `finalize()` may take at unload before the worker is terminated anyway. */
export const DEFAULT_FINALIZE_TIMEOUT_MS = 5_000;

/**
 * How long importing the model and `initialize(args)` may take before the load fails. Loading
 * a vocabulary or weights in JS takes seconds, not minutes; a model that never returns from
 * initialize must not keep a model LOADING forever.
 */
export const DEFAULT_INITIALIZE_TIMEOUT_MS = 120_000;

/**
 * Crashes in a row (without a successful execution in between) after which an instance stops
 * restarting its worker and answers UNAVAILABLE until the model is reloaded: a model that
 * crashes on its own (a stray timer that throws) must not restart forever.
 */
export const DEFAULT_MAX_CONSECUTIVE_RESTARTS = 3;

/** Options for {@link createJsBackend}. */
export interface JsBackendInit {
  logger: Logger;
  /**
   * How BLS calls reach other models: the server's `callModel` (InferenceServer.callModel),
   * which a mesh host routes to any peer. A closure, since the backend exists before the server.
   */
  callModel: ModelCaller;
}

/** Creates the JavaScript backend; register it with the server's backends. */
export function createJsBackend(init: JsBackendInit): Backend {
  return new JsBackend(init);
}

class JsBackend implements Backend {
  readonly name = JS_BACKEND_NAME;
  readonly platforms = JS_PLATFORMS;
  readonly defaultModelFilename = 'model.js';
  readonly alternativeModelFilenames = ['model.mjs', 'model.ts'] as const;
  readonly deviceClass = 'cpu' as const;
  readonly priority = 10;
  readonly #init: JsBackendInit;

  constructor(init: JsBackendInit) {
    this.#init = init;
  }

  /** Nothing to probe: worker threads and dynamic import are part of Node. */
  async init(): Promise<void> {}

  async load(input: ModelLoadInput): Promise<ModelInstance> {
    const label = `model '${input.modelName}' version ${input.version}`;
    const raw = input.config;
    if (!raw) throw new InferError('INTERNAL', `${label}: the repository passed no config; the JavaScript backend needs one`);
    const signature = signatureFromConfig(raw, input.modelName);
    // The same normalisation the repository applies next: inputs and outputs are complete,
    // so auto-complete leaves them alone and both arrive at the same config.
    const config = normalizeModelConfig(raw, { modelName: input.modelName, signature, autoComplete: true, hasGpu: false });
    const filename = config.default_model_filename || this.defaultModelFilename;
    if (input.path === undefined) {
      // Code that arrives in a request (a load's `file:` overrides) would run inside the
      // server with its privileges: JS models come from a repository the operator controls.
      throw invalidArg(`${filename} is not on disk: JavaScript models load only from a model repository directory, `
        + "not from a load request's file overrides (their code would run inside the server)");
    }
    const module: JsModuleSpec = { url: pathToFileURL(input.path).href };
    const place = instancePlace(config, input.instanceIndex);
    const args: JsModelArgs = {
      model_config: config,
      model_name: input.modelName,
      model_version: String(input.version),
      model_instance_kind: place.kind,
      model_instance_name: place.name,
      model_instance_device_id: place.deviceId,
      model_repository: dirname(dirname(input.path)),
    };
    const instance = new JsModelInstance({
      label, signature, module, args,
      name: `js ${input.modelName}:${input.version}:${input.instanceIndex}`,
      logger: input.logger.child({ instance: place.name }),
      callModel: this.#init.callModel,
      executeTimeoutMs: msParameter(input.parameters, 'execute_timeout_ms', label),
      cancelGraceMs: msParameter(input.parameters, 'cancel_grace_ms', label) ?? DEFAULT_CANCEL_GRACE_MS,
    });
    const t0 = performance.now();
    await instance.start();
    input.logger.info('JavaScript model initialised', { version: input.version, instance: place.name, file: filename, ms: Math.round(performance.now() - t0) });
    return instance;
  }
}

/**
 * The model's signature, read from its config: a JS file declares no tensors, so inputs and
 * outputs must be in config.pbtxt, each with name, data_type and dims (Triton's Python
 * backend requires the same unless the model implements auto_complete_config).
 */
export function signatureFromConfig(raw: Partial<ModelConfig>, modelName: string): ModelSignature {
  const fix = 'a JavaScript model declares its tensors in config.pbtxt, e.g. '
    + 'input [ { name: "TEXT" data_type: TYPE_STRING dims: [ 1 ] } ] output [ { name: "LENGTH" data_type: TYPE_INT32 dims: [ 1 ] } ] '
    + '(auto-complete cannot read them from the JS file)';
  if (!raw.input?.length || !raw.output?.length) {
    throw invalidArg(`config.pbtxt of '${modelName}' has no ${!raw.input?.length ? 'inputs' : 'outputs'}; ${fix}`);
  }
  const batching = (raw.max_batch_size ?? 0) > 0;
  const read = (kind: 'input' | 'output', io: { name?: string; data_type?: ConfigDataType; dims?: number[]; reshape?: { shape?: number[] } }): TensorSignature => {
    const datatype = io.data_type ? configTypeToDataType(io.data_type) : undefined;
    if (!io.name || !datatype || !Array.isArray(io.dims)) {
      const missing = !io.name ? 'name' : !datatype ? 'data_type' : 'dims';
      throw invalidArg(`config.pbtxt of '${modelName}': ${kind} ${io.name ? `'${io.name}'` : 'entry'} has no ${missing}; ${fix}`);
    }
    const seen = io.reshape?.shape ?? io.dims;
    return { name: io.name, datatype, shape: batching ? [-1, ...seen] : [...seen] };
  };
  return { inputs: raw.input.map((i) => read('input', i)), outputs: raw.output.map((o) => read('output', o)) };
}

/** Triton's instance name, kind and device for the `index`-th instance of a model. */
function instancePlace(config: ModelConfig, index: number): { name: string; kind: string; deviceId: number } {
  let i = index;
  for (const g of config.instance_group) {
    if (i < g.count) return { name: `${g.name}_${i}`, kind: g.kind, deviceId: g.gpus.length > 0 ? g.gpus[i % g.gpus.length] : 0 };
    i -= g.count;
  }
  return { name: `${config.name}_${index}`, kind: 'KIND_CPU', deviceId: 0 };
}

/** A positive millisecond count from config `parameters`, or undefined when absent. */
function msParameter(params: Record<string, string>, key: string, label: string): number | undefined {
  const v = params[key];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) <= 0) throw invalidArg(`${label}: parameter '${key}': expected a positive number of milliseconds, got '${v}'`);
  return Number(v);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String((e as { message?: unknown } | null)?.message ?? e);
}

/** Rejects with `error` when `p` has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(error()), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

interface JsInstanceInit {
  label: string;
  name: string;
  signature: ModelSignature;
  module: JsModuleSpec;
  args: JsModelArgs;
  logger: Logger;
  callModel: ModelCaller;
  executeTimeoutMs?: number;
  cancelGraceMs: number;
}

/** One instance: a worker holding the model, replaced when it crashes or hangs. */
class JsModelInstance implements ModelInstance {
  readonly device = 'cpu';
  readonly signature: ModelSignature;
  readonly #init: JsInstanceInit;
  #worker: JsWorkerClient | undefined;
  /** Settles when a restart has finished (successfully or not). */
  #ready: Promise<void> = Promise.resolve();
  /** Why the instance is out of service for good (until the model is reloaded). */
  #dead: string | undefined;
  #crashes = 0;
  #disposed: Promise<void> | undefined;

  constructor(init: JsInstanceInit) {
    this.#init = init;
    this.signature = init.signature;
  }

  /** Starts the first worker; rejects with the model's import or initialize error. */
  async start(): Promise<void> {
    this.#worker = await this.#spawn();
  }

  async #spawn(): Promise<JsWorkerClient> {
    const { label, logger } = this.#init;
    const worker: JsWorkerClient = new JsWorkerClient({
      name: this.#init.name, subject: label, logger,
      bls: (request, signal) => this.#bls(request, signal),
      onDeath: (reason) => this.#onDeath(worker, reason),
    });
    try {
      await within(worker.init(this.#init.module, this.#init.args, label), DEFAULT_INITIALIZE_TIMEOUT_MS,
        () => new InferError('UNAVAILABLE', `importing the model and initialize() took longer than ${DEFAULT_INITIALIZE_TIMEOUT_MS / 1000} s`));
    } catch (e) {
      await worker.close();
      throw e;
    }
    return worker;
  }

  run(inputs: Tensor[], outputNames: string[], options?: { signal?: AbortSignal }): Promise<Tensor[]> {
    return this.runRequests([{ inputs, outputNames, signal: options?.signal }]).then(([r]) => {
      if ('error' in r) throw r.error;
      return r.outputs;
    });
  }

  async runRequests(requests: InstanceRequest[]): Promise<InstanceResult[]> {
    const { label } = this.#init;
    if (this.#disposed) throw new InferError('UNAVAILABLE', `${label}: instance was unloaded`);
    await this.#ready;
    const worker = this.#worker;
    if (this.#dead !== undefined || !worker) throw new InferError('UNAVAILABLE', `${label}: ${this.#dead ?? 'instance was unloaded'}`);
    const { requestIds, answer } = worker.execute(requests);
    const timers: ReturnType<typeof setTimeout>[] = [];
    const cleanups: (() => void)[] = [];
    let cancelled = 0;
    requests.forEach((r, index) => {
      const signal = r.signal;
      if (!signal) return;
      const onAbort = () => {
        worker.cancel(requestIds[index]);
        if (++cancelled < requests.length) return;
        const ms = this.#init.cancelGraceMs;
        timers.push(setTimeout(() => this.#abandon(worker, `did not return from execute within ${ms} ms after all its requests were cancelled (cancel_grace_ms)`,
          new InferError('CANCELLED', `${label}: execute was abandoned: its requests were cancelled`, 'CANCELED')), ms));
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
    });
    const limit = this.#init.executeTimeoutMs;
    if (limit !== undefined) {
      timers.push(setTimeout(() => this.#abandon(worker, `did not return from execute within execute_timeout_ms (${limit} ms)`,
        new InferError('DEADLINE_EXCEEDED', `${label}: execute did not return within execute_timeout_ms (${limit} ms); its worker was restarted`)), limit));
    }
    try {
      const results = await answer;
      this.#crashes = 0;
      return results;
    } finally {
      for (const t of timers) clearTimeout(t);
      for (const c of cleanups) c();
    }
  }

  /** Serves one BLS call of the model through the server's callModel (the mesh on a mesh host). */
  async #bls(r: JsWireBlsRequest, signal: AbortSignal): Promise<JsWireBlsResponse> {
    const request: InferRequest = {
      modelName: r.model_name, modelVersion: r.model_version, parameters: r.parameters ?? {}, inputs: r.inputs,
      ...(r.requested_output_names ? { outputs: r.requested_output_names.map((name) => ({ name })) } : {}),
    };
    const timeout = r.timeout_ms !== undefined ? AbortSignal.timeout(r.timeout_ms) : undefined;
    try {
      const response = await this.#init.callModel(request, {
        signal: timeout ? AbortSignal.any([signal, timeout]) : signal,
        deadlineMs: r.timeout_ms !== undefined ? Date.now() + r.timeout_ms : undefined,
      });
      return { model_name: response.modelName, model_version: response.modelVersion, outputs: response.outputs };
    } catch (e) {
      if (timeout?.aborted) {
        throw new InferError('DEADLINE_EXCEEDED', `BLS call to model '${r.model_name}' did not finish within timeout_ms (${r.timeout_ms} ms)`);
      }
      throw e;
    }
  }

  #onDeath(worker: JsWorkerClient, reason: string): void {
    if (worker !== this.#worker || this.#disposed) return;
    const { logger } = this.#init;
    if (++this.#crashes > DEFAULT_MAX_CONSECUTIVE_RESTARTS) {
      this.#worker = undefined;
      this.#dead = `its JavaScript worker ${reason}, after ${DEFAULT_MAX_CONSECUTIVE_RESTARTS} restarts in a row without a successful execution; `
        + 'the instance is out of service until the model is reloaded';
      logger.error('JavaScript model worker died; not restarting it', { reason, restarts: DEFAULT_MAX_CONSECUTIVE_RESTARTS });
      return;
    }
    logger.error('JavaScript model worker died; restarting it', { reason });
    this.#replace(worker, reason);
  }

  /** An execution that does not return: its worker is replaced; what waits on it gets `error`. */
  #abandon(worker: JsWorkerClient, why: string, error: InferError): void {
    if (worker !== this.#worker || this.#disposed) return;
    this.#init.logger.warn('JavaScript model execute did not return; restarting its worker', { why });
    this.#replace(worker, why, error);
  }

  /** Closes `old` (what waits on it rejects with `error`) and starts a fresh worker. */
  #replace(old: JsWorkerClient, why: string, error?: InferError): void {
    this.#worker = undefined;
    this.#ready = (async () => {
      await old.close(error);
      if (this.#disposed) return;
      try {
        this.#worker = await this.#spawn();
        this.#init.logger.info('JavaScript model worker restarted', { why });
      } catch (e) {
        this.#dead = `its JavaScript worker ${why}; a fresh one failed to start: ${messageOf(e)}`;
        this.#init.logger.error('JavaScript model worker could not be restarted', { reason: messageOf(e) });
      }
    })();
  }

  /** Runs `finalize()` (bounded), then terminates the worker. Idempotent. */
  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      await this.#ready;
      const worker = this.#worker;
      this.#worker = undefined;
      if (!worker) return;
      if (worker.deadReason === undefined) {
        try {
          await within(worker.finalize(), DEFAULT_FINALIZE_TIMEOUT_MS,
            () => new Error(`finalize() did not return within ${DEFAULT_FINALIZE_TIMEOUT_MS / 1000} s`));
        } catch (e) {
          this.#init.logger.warn('JavaScript model finalize failed', { reason: messageOf(e) });
        }
      }
      await worker.close();
    })();
    return this.#disposed;
  }
}
