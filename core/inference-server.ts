/**
 * The runtime-agnostic server: a model repository, backends, and the operations every
 * transport (HTTP, gRPC, mesh) exposes. Hosts compose it with their sources and backends;
 * it does no I/O of its own.
 */
import { InferError, invalidArg, isInferError, toWireError, unavailable } from '../protocol/errors.ts';
import { configTypeToDataType } from '../protocol/datatypes.ts';
import type { InferRequest, InferResponse } from '../protocol/infer.ts';
import type { Tensor } from '../protocol/tensor.ts';
import { msToNs, systemClock, type Clock } from './clock.ts';
import { silentLogger, type Logger } from './logger.ts';
import { BackendRegistry } from './backend-registry.ts';
import type { Backend } from './backend.ts';
import type { ModelSource } from './model-source.ts';
import { ModelRepository, type ModelControlMode, type ModelIndexEntry, type ServedVersion } from './model-repository.ts';
import { resolveReshape, toScheduledRequest } from './request-validation.ts';
import { classify } from './classification.ts';
import type { ModelConfig } from './model-config.ts';
import type { ModelCaller, ModelCallOptions } from './model-caller.ts';
import type { ModelMetricsSample } from './prometheus.ts';

/** Extensions this server implements, in Triton's order (COMPAT-NOTES §1.3). */
export const SERVER_EXTENSIONS = [
  'classification', 'model_repository', 'schedule_policy', 'model_configuration',
  'binary_tensor_data', 'parameters', 'statistics',
] as const;

/** Construction options for InferenceServer. */
export interface InferenceServerInit {
  sources: readonly ModelSource[];
  backends: readonly Backend[];
  /** Server id reported by `GET /v2` (Triton's `--id`). */
  name?: string;
  version?: string;
  controlMode?: ModelControlMode;
  /** Models to load at start in explicit mode (`--load-model`; `*` = all). */
  startupModels?: readonly string[];
  /** Triton's --strict-readiness (default true). */
  strictReadiness?: boolean;
  autoComplete?: boolean;
  /** max_batch_size that auto-complete gives models with a dynamic first dim (Triton: 4). */
  defaultMaxBatchSize?: number;
  /** Seconds between repository scans in poll mode (Triton's --repository-poll-secs, 15). */
  pollSeconds?: number;
  clock?: Clock;
  logger?: Logger;
}

/** Triton's default `--repository-poll-secs`. */
export const DEFAULT_POLL_SECONDS = 15;

/** Server metadata (`GET /v2`). */
export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

/** Model metadata (`GET /v2/models/m`), COMPAT-NOTES §1.4. */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: { name: string; datatype: string; shape: number[] }[];
  outputs: { name: string; datatype: string; shape: number[] }[];
}

/** Per-call options of `infer`. */
export interface InferOptions {
  signal?: AbortSignal;
}

export class InferenceServer {
  readonly repository: ModelRepository;
  readonly registry = new BackendRegistry();
  readonly #init: InferenceServerInit;
  readonly #clock: Clock;
  readonly #log: Logger;
  #state: 'new' | 'starting' | 'ready' | 'stopping' | 'stopped' = 'new';
  #pollTimer: unknown;
  #inflight = 0;
  /** Requests inside `infer` per served version (queued or executing), for load reports. */
  readonly #inflightByVersion = new WeakMap<ServedVersion, number>();
  #idle: (() => void)[] = [];

  constructor(init: InferenceServerInit) {
    this.#init = init;
    this.#clock = init.clock ?? systemClock;
    this.#log = init.logger ?? silentLogger;
    for (const b of init.backends) this.registry.register(b);
    this.repository = new ModelRepository({
      sources: init.sources, registry: this.registry, clock: this.#clock, logger: this.#log,
      autoComplete: init.autoComplete, defaultMaxBatchSize: init.defaultMaxBatchSize,
      callModel: (req, options) => this.#callModel(req, options),
    });
  }

  /**
   * Replaces how this server's ensembles (and JS models through BLS) call other models: the
   * mesh host routes them to any peer; the default calls this server's own `infer`.
   */
  setModelCaller(caller: ModelCaller): void {
    this.#callModel = caller;
  }

  /** Calls a model the way ensemble steps and BLS do (through the mesh when one is attached). */
  callModel(req: InferRequest, options?: ModelCallOptions): Promise<InferResponse> {
    return this.#callModel(req, options);
  }

  #callModel: ModelCaller = (req, options) => this.infer(req, { signal: options?.signal });

  get controlMode(): ModelControlMode {
    return this.#init.controlMode ?? 'none';
  }

  /** Loads models per the control mode. Idempotent. Models that fail stay UNAVAILABLE. */
  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'starting';
    if (this.controlMode === 'explicit') {
      await this.repository.rescan();
      const wanted = this.#init.startupModels ?? [];
      const names = wanted.includes('*') ? this.repository.modelNames() : wanted;
      await Promise.all(names.map((n) => this.repository.load(n).catch(() => undefined)));
    } else {
      await this.repository.loadAll();
    }
    if (this.controlMode === 'poll') this.#schedulePoll();
    this.#state = 'ready';
  }

  /**
   * Stops: refuses new requests, waits for in-flight ones (bounded by `graceMs`), then
   * unloads every model. Idempotent.
   */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'stopping';
    if (this.#pollTimer !== undefined) this.#clock.clearTimer(this.#pollTimer);
    if (this.#inflight > 0) {
      this.#log.info('waiting for in-flight requests to complete', { inflight: this.#inflight });
      await new Promise<void>((resolve) => {
        const timer = this.#clock.setTimer(resolve, graceMs);
        this.#idle.push(() => { this.#clock.clearTimer(timer); resolve(); });
      });
    }
    await this.repository.close();
    this.#state = 'stopped';
  }

  /** Requests of one served version now inside `infer` (waiting in its queue or executing). */
  inflightOf(served: ServedVersion): number {
    return this.#inflightByVersion.get(served) ?? 0;
  }

  /** Requests being served right now (all models). */
  get inflight(): number {
    return this.#inflight;
  }

  isLive(): boolean {
    return this.#state !== 'stopped';
  }

  /** Triton's readiness: started, not exiting, and (strict) every model READY. */
  isReady(): boolean {
    if (this.#state !== 'ready') return false;
    return this.#init.strictReadiness === false || this.repository.allModelsReady();
  }

  metadata(): ServerMetadata {
    return { name: this.#init.name ?? 'infermesh', version: this.#init.version ?? '0.0.0', extensions: [...SERVER_EXTENSIONS] };
  }

  /** Throws Triton's GetModel errors for a missing or unready model/version. */
  modelReady(name: string, version?: string): void {
    this.repository.get(name, version);
  }

  modelMetadata(name: string, version?: string): ModelMetadata {
    const served = this.repository.get(name, version);
    const versions = version ? [String(served.version)] : this.repository.readyVersions(name).map((s) => String(s.version));
    return metadataOf(served.config, versions);
  }

  modelConfig(name: string, version?: string): ModelConfig {
    return this.repository.get(name, version).config;
  }

  /** Statistics of READY versions (all, one model, or one version), COMPAT-NOTES §1.13. */
  statistics(name?: string, version?: string): { model_stats: unknown[] } {
    if (name === undefined) return { model_stats: this.repository.allReady().map((s) => s.stats.toJSON(s.name, String(s.version))) };
    let list: ServedVersion[];
    try {
      list = version ? [this.repository.get(name, version)] : this.repository.readyVersions(name);
    } catch {
      list = [];
    }
    if (list.length === 0) {
      throw invalidArg(version ? `requested model version is not available for model '${name}'` : `requested model '${name}' is not available`);
    }
    return { model_stats: list.map((s) => s.stats.toJSON(s.name, String(s.version))) };
  }

  /** Cumulative figures of every READY version for the Prometheus exporter. */
  metricsSamples(): ModelMetricsSample[] {
    return this.repository.allReady().map((s) => ({
      model: s.name,
      version: String(s.version),
      tags: s.config.metric_tags,
      ...s.stats.counters(),
      pending: s.scheduler.pendingCount,
      loadSeconds: s.loadSeconds,
    }));
  }

  repositoryIndex(readyOnly = false): ModelIndexEntry[] {
    return this.repository.index(readyOnly);
  }

  /** Explicit-mode load; UNAVAILABLE in other modes, as Triton answers. */
  async loadModel(name: string, options: { configJson?: string } = {}): Promise<void> {
    this.#requireExplicit();
    await this.repository.load(name, options);
  }

  /** Explicit-mode unload; returns once the model stopped accepting requests (drain continues). */
  unloadModel(name: string): Promise<void> {
    this.#requireExplicit();
    return this.repository.unload(name);
  }

  /**
   * Runs one inference request end to end: resolve the version, validate, schedule,
   * record statistics, shape the response. Rejects with an InferError.
   */
  async infer(req: InferRequest, options: InferOptions = {}): Promise<InferResponse> {
    if (this.#state === 'stopping' || this.#state === 'stopped') throw unavailable('Server exiting: not accepting new requests');
    const start = this.#clock.now();
    const served = this.repository.get(req.modelName, req.modelVersion);
    this.#inflight++;
    this.#inflightByVersion.set(served, this.inflightOf(served) + 1);
    try {
      const scheduled = toScheduledRequest(req, served.config, options.signal);
      const result = await served.scheduler.schedule(scheduled);
      const outputs = this.#shapeOutputs(req, served, scheduled.outputNames, result.outputs);
      served.stats.recordSuccess(msToNs(this.#clock.now() - start), result.timing, this.#clock.epochMs());
      const resp: InferResponse = { modelName: served.name, modelVersion: String(served.version), outputs };
      if (req.id) resp.id = req.id;
      return resp;
    } catch (e) {
      const w = toWireError(e);
      served.stats.recordFailure(msToNs(this.#clock.now() - start), w.reason);
      throw isInferError(e) ? e : new InferError(w.code, w.message, w.reason);
    } finally {
      this.#inflightByVersion.set(served, this.inflightOf(served) - 1);
      if (--this.#inflight === 0 && this.#idle.length > 0) for (const f of this.#idle.splice(0)) f();
    }
  }

  #shapeOutputs(req: InferRequest, served: ServedVersion, names: string[], outputs: Tensor[]): Tensor[] {
    const { config } = served;
    const batching = config.max_batch_size > 0;
    return outputs.map((t, i) => {
      const co = config.output.find((o) => o.name === names[i]);
      let out = t;
      if (co?.reshape) {
        const items = batching ? t.shape[0] : 1;
        const perItem = items === 0 ? 0 : t.data.length / items;
        const dims = resolveReshape(co.dims, perItem);
        out = { ...t, shape: batching ? [items, ...dims] : dims };
      }
      const k = req.outputs?.find((o) => o.name === t.name)?.parameters?.classification;
      if (k !== undefined) out = classify(out, Number(k), batching, served.labels.get(t.name));
      return out;
    });
  }

  #requireExplicit(): void {
    if (this.controlMode !== 'explicit') {
      throw unavailable('explicit model load / unload is not allowed if polling is enabled');
    }
  }

  #schedulePoll(): void {
    const ms = (this.#init.pollSeconds ?? DEFAULT_POLL_SECONDS) * 1000;
    this.#pollTimer = this.#clock.setTimer(() => {
      void this.#poll().finally(() => { if (this.#state === 'ready') this.#schedulePoll(); });
    }, ms);
  }

  /** Poll mode: load models that appeared, unload those that disappeared. */
  async #poll(): Promise<void> {
    const before = new Set(this.repository.presentModelNames());
    await this.repository.rescan().catch((e) => this.#log.warn('repository scan failed', { reason: String(e) }));
    const after = new Set(this.repository.presentModelNames());
    for (const n of after) if (!before.has(n)) await this.repository.load(n).catch(() => undefined);
    for (const n of before) if (!after.has(n)) await this.repository.unload(n);
  }
}

/** Builds model metadata from a config (shape gets a leading -1 when the model batches). */
export function metadataOf(config: ModelConfig, versions: string[]): ModelMetadata {
  const lead = config.max_batch_size > 0 ? [-1] : [];
  return {
    name: config.name,
    versions,
    platform: config.platform || config.backend,
    inputs: config.input.map((i) => ({ name: i.name, datatype: configTypeToDataType(i.data_type) ?? 'INVALID', shape: [...lead, ...i.dims] })),
    outputs: config.output.map((o) => ({ name: o.name, datatype: configTypeToDataType(o.data_type) ?? 'INVALID', shape: [...lead, ...o.dims] })),
  };
}
