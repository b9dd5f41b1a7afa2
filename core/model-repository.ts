/**
 * The model repository manager: loads model versions from ModelSources onto backends,
 * tracks Triton's model states (READY / UNAVAILABLE / LOADING / UNLOADING with reasons),
 * and hands out the serving version for a request. A model that fails to load is
 * UNAVAILABLE with the error as its reason; every other model keeps serving.
 * COMPAT-NOTES §1.2 (GetModel errors), §1.12 (index/load/unload), §4.
 */
import { InferError, notFound, unavailable } from '../protocol/errors.ts';
import type { ModelConfig, ModelSignature } from './model-config.ts';
import type { ModelSource } from './model-source.ts';
import type { Logger } from './logger.ts';
import type { Clock } from './clock.ts';
import type { ModelInstance } from './backend.ts';
import type { Scheduler } from './scheduler.ts';
import type { BackendRegistry } from './backend-registry.ts';
import { ModelStats } from './model-stats.ts';
import { createScheduler, schedulerKind } from './scheduler-factory.ts';
import type { ModelCaller } from './model-caller.ts';
import { normalizeModelConfig } from './model-config-normalize.ts';
import { validateModelConfig } from './model-config-validate.ts';
import { parseModelConfigJson } from './model-config-parse.ts';
import {
  listVersions, readRawConfig, resolveModelFile, scanRepositories, selectVersions, type ModelLocation,
} from './model-repository-scan.ts';

/** Triton's model states (`ModelReadyState`). */
export type ModelState = 'UNKNOWN' | 'READY' | 'UNAVAILABLE' | 'LOADING' | 'UNLOADING';

/** How the repository reacts to changes (Triton's --model-control-mode). */
export type ModelControlMode = 'none' | 'poll' | 'explicit';

/** One loaded, serving model version. */
export interface ServedVersion {
  readonly name: string;
  readonly version: number;
  readonly config: ModelConfig;
  readonly signature: ModelSignature;
  readonly scheduler: Scheduler;
  readonly stats: ModelStats;
  /** Devices of the instances (`cpu`, `cuda:0`, …). */
  readonly devices: readonly string[];
  readonly instances: readonly ModelInstance[];
  /** How long loading took (Triton's nv_model_load_duration_secs). */
  readonly loadSeconds: number;
  /** Classification labels per output, from the output's `label_filename` (one per line). */
  readonly labels: ReadonlyMap<string, readonly string[]>;
}

/** A row of the repository index (`POST /v2/repository/index`). */
export interface ModelIndexEntry {
  name: string;
  version?: string;
  state?: ModelState;
  reason?: string;
}

interface VersionRecord {
  state: ModelState;
  reason: string;
  served?: ServedVersion;
}

interface ModelRecord {
  /** Versions by number; absent until the model was first asked to load. */
  versions: Map<number, VersionRecord>;
  /** The config the model's versions were loaded with (for the config endpoint). */
  config?: ModelConfig;
  /** A model-level failure (bad config, no versions) kept as its reason. */
  failure?: string;
}

/** Construction options for ModelRepository. */
export interface ModelRepositoryInit {
  sources: readonly ModelSource[];
  registry: BackendRegistry;
  clock: Clock;
  logger: Logger;
  /** Fill missing config from the model file (Triton's default; off = --disable-auto-complete-config). */
  autoComplete?: boolean;
  /** max_batch_size auto-complete picks for models whose first dims are dynamic (Triton: 4). */
  defaultMaxBatchSize?: number;
  /** Models loaded at once (Triton's --model-load-thread-count, default 4). */
  loadConcurrency?: number;
  /** How schedulers that call other models (ensembles) reach them; the server routes it. */
  callModel: ModelCaller;
}

/** Triton's default for auto-completed max_batch_size (`default-max-batch-size`). */
export const DEFAULT_AUTO_MAX_BATCH_SIZE = 4;
/** Triton's --model-load-thread-count default. */
export const DEFAULT_LOAD_CONCURRENCY = 4;

/** Parameters of a load request (`POST /v2/repository/models/m/load`). */
export interface LoadOptions {
  /** A JSON ModelConfig that replaces the on-disk config (the `config` parameter). */
  configJson?: string;
}

export class ModelRepository {
  readonly #init: ModelRepositoryInit;
  readonly #models = new Map<string, ModelRecord>();
  /** Serialises load/unload per model so two loads of one model never interleave. */
  readonly #locks = new Map<string, Promise<unknown>>();
  #duplicates = new Set<string>();
  #locations = new Map<string, ModelLocation>();

  constructor(init: ModelRepositoryInit) {
    this.#init = init;
  }

  /** Re-reads which model folders exist (does not load anything). */
  async rescan(): Promise<void> {
    const { models, duplicates } = await scanRepositories(this.#init.sources);
    this.#locations = models;
    this.#duplicates = duplicates;
  }

  /** Names of all models present in the repositories (loaded or not), sorted. */
  modelNames(): string[] {
    return [...new Set([...this.#locations.keys(), ...this.#duplicates, ...this.#models.keys()])].sort();
  }

  /** Names of the model folders present in the repositories now (after the last scan). */
  presentModelNames(): string[] {
    return [...this.#locations.keys()].sort();
  }

  /** Loads every model found (model control mode none/poll), `concurrency` at a time. */
  async loadAll(): Promise<void> {
    await this.rescan();
    await this.#forEachLimited([...this.#locations.keys()], (name) => this.load(name).catch(() => undefined));
  }

  /** Loads (or reloads) one model; resolves when it is READY, rejects with the reason otherwise. */
  load(name: string, options: LoadOptions = {}): Promise<void> {
    return this.#withLock(name, () => this.#load(name, options));
  }

  /**
   * Unloads a model: new requests fail at once, queued and executing ones complete, then
   * instances are released and the state becomes UNAVAILABLE "unloaded". Resolves when done;
   * Triton's HTTP unload does not wait (the caller chooses).
   */
  unload(name: string): Promise<void> {
    return this.#withLock(name, async () => {
      const rec = this.#models.get(name);
      if (!rec) return;
      await Promise.all([...rec.versions.entries()].map(([v, vr]) => this.#retire(name, v, vr)));
    });
  }

  /** Stops every model: drains in-flight requests, then releases instances. */
  async close(): Promise<void> {
    await Promise.all([...this.#models.keys()].map((n) => this.unload(n)));
  }

  /**
   * The version that serves a request, with Triton's exact errors (COMPAT-NOTES §1.2):
   * unknown model → NOT_FOUND; explicit version unknown → NOT_FOUND; explicit version not
   * ready → UNAVAILABLE; no ready version → NOT_FOUND.
   */
  get(name: string, version?: string): ServedVersion {
    const rec = this.#models.get(name);
    const prefix = 'Request for unknown model: ';
    if (!rec) throw notFound(`${prefix}'${name}' is not found`);
    if (version !== undefined && version !== '') {
      const v = parseVersion(version);
      const vr = rec.versions.get(v);
      if (!vr) throw notFound(`${prefix}'${name}' version ${v} is not found`);
      if (vr.state !== 'READY' || !vr.served) throw unavailable(`${prefix}'${name}' version ${v} is not at ready state`);
      return vr.served;
    }
    let best: ServedVersion | undefined;
    for (const [v, vr] of rec.versions) {
      if (vr.state === 'READY' && vr.served && (!best || v > best.version)) best = vr.served;
    }
    if (!best) throw notFound(`${prefix}'${name}' has no available versions`);
    return best;
  }

  /** READY versions of a model, ascending (for model metadata). */
  readyVersions(name: string): ServedVersion[] {
    const rec = this.#models.get(name);
    if (!rec) return [];
    return [...rec.versions.values()].filter((vr) => vr.state === 'READY' && vr.served)
      .map((vr) => vr.served!).sort((a, b) => a.version - b.version);
  }

  /** Every READY version of every model (statistics, metrics, status gossip). */
  allReady(): ServedVersion[] {
    return [...this.#models.keys()].sort().flatMap((n) => this.readyVersions(n));
  }

  /**
   * The repository index (COMPAT-NOTES §1.12): models never loaded appear as `{name}` only;
   * others one row per known version with state and reason; duplicates as UNAVAILABLE.
   */
  index(readyOnly: boolean): ModelIndexEntry[] {
    const rows: ModelIndexEntry[] = [];
    for (const name of this.modelNames()) {
      if (this.#duplicates.has(name)) {
        if (!readyOnly) rows.push({ name, state: 'UNAVAILABLE', reason: 'model appears in two or more repositories' });
        continue;
      }
      const rec = this.#models.get(name);
      if (!rec) {
        if (!readyOnly) rows.push({ name });
        continue;
      }
      if (rec.versions.size === 0) {
        if (!readyOnly) rows.push({ name, state: 'UNAVAILABLE', ...(rec.failure ? { reason: rec.failure } : {}) });
        continue;
      }
      for (const [v, vr] of [...rec.versions.entries()].sort((a, b) => a[0] - b[0])) {
        if (readyOnly && vr.state !== 'READY') continue;
        rows.push({ name, version: String(v), state: vr.state, ...(vr.reason ? { reason: vr.reason } : {}) });
      }
    }
    return rows;
  }

  /**
   * Strict readiness (Triton's default): every known version is READY or was unloaded on
   * purpose; a model with no version state at all makes the server not ready.
   */
  allModelsReady(): boolean {
    for (const [name, rec] of this.#models) {
      if (this.#duplicates.has(name)) return false;
      if (rec.versions.size === 0) return false;
      for (const vr of rec.versions.values()) {
        if (vr.state !== 'READY' && vr.reason !== 'unloaded') return false;
      }
    }
    return true;
  }

  /** Total requests waiting in every scheduler (for load reports and drain). */
  pendingCount(): number {
    let n = 0;
    for (const s of this.allReady()) n += s.scheduler.pendingCount;
    return n;
  }

  // ---------------------------------------------------------------------------------------

  async #load(name: string, options: LoadOptions): Promise<void> {
    const log = this.#init.logger.child({ model: name });
    if (this.#duplicates.has(name)) {
      throw unavailable(`failed to load '${name}': model appears in two or more repositories`);
    }
    let loc = this.#locations.get(name);
    if (!loc) {
      await this.rescan();
      loc = this.#locations.get(name);
    }
    if (!loc) throw new InferError('INVALID_ARG', `failed to load '${name}', failed to poll from model repository: model directory '${name}' not found in ${this.#init.sources.map((s) => s.description).join(', ')}`);
    const rec = this.#models.get(name) ?? { versions: new Map<number, VersionRecord>() };
    this.#models.set(name, rec);

    let raw: Partial<ModelConfig>;
    let versions: number[];
    try {
      raw = options.configJson !== undefined
        ? parseModelConfigJson(options.configJson, `${name} (load 'config' parameter)`)
        : (await readRawConfig(loc)).raw;
      const present = await listVersions(loc);
      versions = selectVersions(present, raw.version_policy);
      if (versions.length === 0) {
        throw new InferError('INVALID_ARG', present.length === 0
          ? `model '${name}' has no version folders: put the model file in '${name}/1/'`
          : `model '${name}': version_policy selects none of the versions present (${present.join(', ')})`);
      }
    } catch (e) {
      rec.failure = messageOf(e);
      log.error('model failed to load', { reason: rec.failure });
      throw e;
    }
    rec.failure = undefined;

    // Versions no longer selected are retired after the new set is up (reload without loss of availability).
    const retiring = [...rec.versions.entries()].filter(([v, vr]) => !versions.includes(v) && vr.state === 'READY');
    const results = await Promise.allSettled(versions.map((v) => this.#loadVersion(loc!, rec, v, raw, log)));
    await Promise.all(retiring.map(([v, vr]) => this.#retire(name, v, vr)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async #loadVersion(loc: ModelLocation, rec: ModelRecord, version: number, raw: Partial<ModelConfig>, log: Logger): Promise<void> {
    const name = loc.name;
    const previous = rec.versions.get(version);
    // A reload keeps the old version serving until the new one is ready.
    if (!previous?.served) rec.versions.set(version, { state: 'LOADING', reason: '' });
    const started = this.#init.clock.now();
    let instances: ModelInstance[] = [];
    try {
      const { registry } = this.#init;
      const platform = raw.platform || raw.backend || 'onnxruntime_onnx';
      if (!registry.supports(platform)) {
        throw new InferError('INVALID_ARG', `model '${name}': no backend for platform/backend '${platform}'; this server serves ${[...new Set(registry.list().flatMap((b) => b.platforms))].join(', ')}`);
      }
      const filename = raw.default_model_filename || registry.defaultModelFilename(platform) || 'model.onnx';
      const path = await resolveModelFile(loc, version, filename);
      const bytes = await loc.source.read(path);
      const parameters = Object.fromEntries(Object.entries(raw.parameters ?? {}).map(([k, v]) => [k, v.string_value]));
      const loadInput = (instanceIndex: number, gpu?: number) => ({
        modelName: name, version, bytes, path: loc.source.localPath?.(path), parameters, instanceIndex, gpu, logger: log,
      });
      // The first instance tells us the model's signature, which auto-complete needs before
      // the instance groups (and so the other instances) are known.
      const firstKind = raw.instance_group?.[0]?.kind ?? 'KIND_AUTO';
      const first = await registry.load(platform, firstKind, loadInput(0));
      instances.push(first.instance);
      const hasGpu = first.instance.device !== 'cpu';
      const config = normalizeModelConfig(raw, {
        modelName: name, signature: first.instance.signature, autoComplete: this.#init.autoComplete ?? true,
        defaultMaxBatchSize: this.#init.defaultMaxBatchSize ?? DEFAULT_AUTO_MAX_BATCH_SIZE, hasGpu,
      });
      validateModelConfig(config, { modelName: name, signature: first.instance.signature });
      const devices = [first.instance.device];
      const refusals = first.refused;
      let index = 1;
      let reusedFirst = false;
      for (const group of config.instance_group) {
        for (let i = 0; i < group.count; i++) {
          if (!reusedFirst) { reusedFirst = true; continue; }
          const loaded = await registry.load(platform, group.kind, loadInput(index++, group.gpus[i % Math.max(1, group.gpus.length)]));
          instances.push(loaded.instance);
          devices.push(loaded.instance.device);
        }
      }
      const labels = await readLabels(loc, config);
      const stats = new ModelStats();
      const schedulerInit = { config, instances, clock: this.#init.clock, stats, logger: log, callModel: this.#init.callModel };
      const scheduler: Scheduler = createScheduler(schedulerInit);
      const ms = this.#init.clock.now() - started;
      const served: ServedVersion = {
        name, version, config, signature: first.instance.signature, scheduler, stats, devices, instances, loadSeconds: ms / 1000, labels,
      };
      rec.config = config;
      rec.versions.set(version, { state: 'READY', reason: '', served });
      log.info('model ready', {
        version, instances: devices.length, devices: [...new Set(devices)].join(','),
        scheduler: schedulerKind(schedulerInit), max_batch_size: config.max_batch_size,
        load_ms: Math.round(ms),
      });
      for (const r of refusals) {
        // A GPU that is present but unused is worth a warning even for KIND_AUTO; a CPU-only
        // machine refusing GPU backends is normal and only logged at debug.
        const level = firstKind === 'KIND_GPU' || /GPU is present/i.test(r.reason) ? 'warn' : 'debug';
        log[level]('backend not used', { version, backend: r.backend, reason: r.reason });
      }
      if (previous?.served) await this.#dispose(previous.served);
    } catch (e) {
      await Promise.all(instances.map((i) => i.dispose().catch(() => undefined)));
      const reason = messageOf(e);
      if (previous?.served) {
        // Triton: a failed reload keeps the old version serving.
        log.error('reload failed; previous version keeps serving', { version, reason });
      } else {
        rec.versions.set(version, { state: 'UNAVAILABLE', reason });
        log.error('model version failed to load', { version, reason });
      }
      throw e;
    }
  }

  async #retire(name: string, version: number, vr: VersionRecord): Promise<void> {
    const rec = this.#models.get(name)!;
    if (!vr.served) {
      rec.versions.set(version, { state: 'UNAVAILABLE', reason: 'unloaded' });
      return;
    }
    const served = vr.served;
    rec.versions.set(version, { state: 'UNLOADING', reason: '' });
    await this.#dispose(served);
    rec.versions.set(version, { state: 'UNAVAILABLE', reason: 'unloaded' });
    this.#init.logger.info('model unloaded', { model: name, version });
  }

  async #dispose(served: ServedVersion): Promise<void> {
    await served.scheduler.drain();
    served.scheduler.close('model unloaded');
    await Promise.all(served.instances.map((i) => i.dispose().catch(() => undefined)));
  }

  #withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.#locks.set(name, settled);
    void settled.then(() => { if (this.#locks.get(name) === settled) this.#locks.delete(name); });
    return next;
  }

  async #forEachLimited<T>(items: T[], fn: (item: T) => Promise<unknown>): Promise<void> {
    const limit = Math.max(1, this.#init.loadConcurrency ?? DEFAULT_LOAD_CONCURRENCY);
    let next = 0;
    const worker = async () => { while (next < items.length) await fn(items[next++]); };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  }
}

/** Label files named by outputs' `label_filename`, read from the model folder. */
async function readLabels(loc: ModelLocation, config: ModelConfig): Promise<Map<string, string[]>> {
  const labels = new Map<string, string[]>();
  for (const o of config.output) {
    if (!o.label_filename) continue;
    const path = `${loc.name}/${o.label_filename}`;
    if (!(await loc.source.exists(path))) {
      throw new InferError('INVALID_ARG', `model '${loc.name}', output '${o.name}': label_filename '${o.label_filename}' not found in the model folder`);
    }
    const text = new TextDecoder().decode(await loc.source.read(path));
    labels.set(o.name, text.split(/\r?\n/).filter((l, i, all) => l !== '' || i < all.length - 1));
  }
  return labels;
}

/** Parses a version path segment; Triton rejects non-integers and negatives with INVALID_ARG. */
export function parseVersion(s: string): number {
  if (!/^[0-9]+$/.test(s)) throw new InferError('INVALID_ARG', `failed to get model version from specified version string '${s}' (use a non-negative integer)`);
  return Number(s);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
