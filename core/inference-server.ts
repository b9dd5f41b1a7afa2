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
import {
  ModelRepository, type LoadOptions, type ModelControlMode, type ModelIndexEntry, type ServedVersion, type UnloadOptions,
} from './model-repository.ts';
import { resolveReshape, toScheduledRequest } from './request-validation.ts';
import { classify } from './classification.ts';
import type { ModelConfig } from './model-config.ts';
import type { ModelCaller, ModelCallOptions } from './model-caller.ts';
import type { ModelMetricsSample } from './prometheus.ts';
import { DEFAULT_RESPONSE_CACHE_BYTES, modelUsesResponseCache, requestIsCacheable, ResponseCache } from './response-cache.ts';
import { responseCacheKey, type CacheKey } from './response-cache-key.ts';
import { RateLimiter, type RateLimiterInit } from './rate-limiter.ts';

/** Extensions this server implements, in Triton's order (COMPAT-NOTES §1.3). */
export const SERVER_EXTENSIONS = [
  'classification', 'sequence', 'model_repository', 'model_repository(unload_dependents)', 'schedule_policy', 'model_configuration',
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
  /**
   * Bytes of the response cache shared by models with `response_cache { enable: true }`
   * (Triton's `--cache-config local,size=N`); 0 = no cache. Default DEFAULT_RESPONSE_CACHE_BYTES.
   */
  responseCacheBytes?: number;
  /**
   * Turns Triton's rate limiter on (`--rate-limit execution_count`), with any explicit
   * resource counts (`--rate-limit-resource`); undefined = off (Triton's default).
   */
  rateLimit?: RateLimiterInit;
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
  /** The poll running now, if any: stop waits for it so it cannot load models after the unload. */
  #pollRun: Promise<void> | undefined;
  #inflight = 0;
  /** Requests inside `infer` per served version (queued or executing), for load reports. */
  readonly #inflightByVersion = new WeakMap<ServedVersion, number>();
  #idle: (() => void)[] = [];
  /** The response cache (undefined when sized 0). */
  readonly responseCache: ResponseCache | undefined;
  /** The rate limiter every instance registers with (undefined when off). */
  readonly rateLimiter: RateLimiter | undefined;
  /** Cache key scope of each served version: a reload gets a new one, so old answers never match. */
  readonly #cacheScopes = new WeakMap<ServedVersion, string>();
  #loads = 0;

  constructor(init: InferenceServerInit) {
    this.#init = init;
    this.#clock = init.clock ?? systemClock;
    this.#log = init.logger ?? silentLogger;
    for (const b of init.backends) this.registry.register(b);
    const cacheBytes = init.responseCacheBytes ?? DEFAULT_RESPONSE_CACHE_BYTES;
    this.responseCache = cacheBytes > 0 ? new ResponseCache({ maxBytes: cacheBytes }) : undefined;
    this.rateLimiter = init.rateLimit ? new RateLimiter(init.rateLimit) : undefined;
    this.repository = new ModelRepository({
      rateLimiter: this.rateLimiter,
      sources: init.sources, registry: this.registry, clock: this.#clock, logger: this.#log,
      autoComplete: init.autoComplete, defaultMaxBatchSize: init.defaultMaxBatchSize,
      callModel: (req, options) => this.#callModel(req, options),
      detectChanges: init.controlMode === 'poll',
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
    await this.#pollRun;
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
      cacheEnabled: this.responseCache !== undefined && modelUsesResponseCache(s.config),
    }));
  }

  repositoryIndex(readyOnly = false): ModelIndexEntry[] {
    return this.repository.index(readyOnly);
  }

  /**
   * Explicit-mode load (or reload) with the repository extension's parameters: a `config`
   * override and `file:` overrides (COMPAT-NOTES §1.12); UNAVAILABLE in other modes, as
   * Triton answers.
   */
  async loadModel(name: string, options: Pick<LoadOptions, 'configJson' | 'files'> = {}): Promise<void> {
    this.#requireExplicit();
    try {
      await this.repository.load(name, options);
    } catch (e) {
      // Triton answers every failed load INVALID_ARG (LoadUnloadModels: "load failed for
      // model ..."), also when the backend could not read the model file.
      const w = toWireError(e);
      if (w.code === 'INTERNAL' || w.code === 'NOT_FOUND') throw new InferError('INVALID_ARG', w.message);
      throw e;
    }
  }

  /** Explicit-mode unload; resolves once the model stopped accepting requests and drained. */
  unloadModel(name: string, options: UnloadOptions = {}): Promise<void> {
    this.#requireExplicit();
    return this.repository.unload(name, options);
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
      let miss: { key: CacheKey; lookupMs: number } | undefined;
      if (this.responseCache !== undefined && modelUsesResponseCache(served.config) && requestIsCacheable(req)) {
        // A hit skips the queue and the model (COMPAT-NOTES §3.8); key building counts as lookup time.
        const lookupStart = this.#clock.now();
        const key = responseCacheKey(this.#cacheScope(served), req);
        const hit = this.responseCache.lookup(key);
        const lookupEnd = this.#clock.now();
        if (hit !== undefined) {
          served.stats.recordCacheHit(msToNs(lookupEnd - start), msToNs(lookupStart - start), msToNs(lookupEnd - lookupStart));
          const resp: InferResponse = { modelName: served.name, modelVersion: String(served.version), outputs: hit };
          if (req.id) resp.id = req.id;
          return resp;
        }
        miss = { key, lookupMs: lookupEnd - lookupStart };
      }
      const result = await served.scheduler.schedule(scheduled);
      const outputs = this.#shapeOutputs(req, served, scheduled.outputNames, result.outputs);
      if (miss !== undefined) {
        const insertStart = this.#clock.now();
        this.responseCache!.insert(miss.key, outputs);
        served.stats.recordCacheMiss(msToNs(miss.lookupMs + this.#clock.now() - insertStart));
      }
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

  #cacheScope(served: ServedVersion): string {
    let scope = this.#cacheScopes.get(served);
    if (scope === undefined) {
      scope = `${served.name}\u0000${served.version}\u0000${++this.#loads}`;
      this.#cacheScopes.set(served, scope);
    }
    return scope;
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
      this.#pollRun = this.#poll().finally(() => {
        this.#pollRun = undefined;
        if (this.#state === 'ready') this.#schedulePoll();
      });
    }, ms);
  }

  /**
   * Poll mode: load models that appeared, reload changed ones, unload those that disappeared
   * (ModelRepository.poll). A scan that fails changes nothing: a repository briefly unreadable
   * must not unload every model.
   */
  async #poll(): Promise<void> {
    try {
      const { loaded, unloaded } = await this.repository.poll();
      if (loaded.length > 0 || unloaded.length > 0) this.#log.info('repository poll applied changes', { loaded: loaded.join(','), unloaded: unloaded.join(',') });
    } catch (e) {
      this.#log.warn('repository poll failed; models unchanged', { reason: e instanceof Error ? e.message : String(e) });
    }
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
