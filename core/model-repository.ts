/**
 * The model repository manager: loads model versions from ModelSources onto backends,
 * tracks Triton's model states (READY / UNAVAILABLE / LOADING / UNLOADING with reasons),
 * and hands out the serving version for a request. A model that fails to load is
 * UNAVAILABLE with the error as its reason; every other model keeps serving.
 * COMPAT-NOTES §1.2 (GetModel errors), §1.12 (index/load/unload), §4.
 */
import { InferError, notFound, unavailable } from '../protocol/errors.ts';
import type { ModelConfig, ModelInstanceGroup, ModelSignature } from './model-config.ts';
import type { ModelSource } from './model-source.ts';
import type { Logger } from './logger.ts';
import type { Clock } from './clock.ts';
import type { ModelInstance } from './backend.ts';
import type { Scheduler } from './scheduler.ts';
import type { BackendRegistry } from './backend-registry.ts';
import { ModelStats } from './model-stats.ts';
import { createScheduler, schedulerKind } from './scheduler-factory.ts';
import { readInitialStateFiles } from './sequence-state.ts';
import type { ModelCaller } from './model-caller.ts';
import type { InstanceGate, RateLimiter } from './rate-limiter.ts';
import { runWarmup, WARMUP_DATA_FOLDER } from './warmup.ts';
import { normalizeModelConfig } from './model-config-normalize.ts';
import { validateModelConfig } from './model-config-validate.ts';
import { parseModelConfigJson } from './model-config-parse.ts';
import {
  listVersions, readRawConfig, resolveModelFile, scanRepositories, selectVersions, type ModelLocation,
} from './model-repository-scan.ts';
import { fingerprintModel, sameFingerprint, type ModelFingerprint } from './model-fingerprint.ts';
import { normalizeFileOverrides, OverlayModelSource, validateModelName } from './model-source-overlay.ts';
import { isEnsembleConfig, loadEnsembleVersion } from './ensemble-version.ts';

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
  /**
   * Poll mode: the files as they were when the model last loaded. The model-level part is
   * set only when every version loaded, and a version's part only when it loaded, so the next
   * poll retries what failed (as Triton does: a failed load reverts its timestamp).
   */
  fingerprint?: { model?: string; versions: Map<number, string> };
  /**
   * Loaded on its own account (a load request, startup, poll), not only as a composing model
   * of an ensemble that pulled it in; `unload_dependents` leaves such models loaded (Triton's
   * `explicitly_load_`).
   */
  explicit?: boolean;
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
  /** Record each model's file fingerprint when it loads, for {@link ModelRepository.poll} (poll mode). */
  detectChanges?: boolean;
  /** The server's rate limiter (`--rate-limit execution_count`); every instance registers with it. */
  rateLimiter?: RateLimiter;
}

/** Triton's default for auto-completed max_batch_size (`default-max-batch-size`). */
export const DEFAULT_AUTO_MAX_BATCH_SIZE = 4;
/** Fingerprint digest of a version whose load failed: never equal to a real one. */
const FAILED_LOAD = '\u0000failed';

/** Triton's --model-load-thread-count default. */
export const DEFAULT_LOAD_CONCURRENCY = 4;

/** Parameters of a load request (`POST /v2/repository/models/m/load`). */
export interface LoadOptions {
  /** A JSON ModelConfig that replaces the on-disk config (the `config` parameter). */
  configJson?: string;
  /**
   * File overrides: contents by parameter name (`file:1/model.onnx`). The model then loads
   * from these files alone (in memory), not from the repository; `configJson` is required.
   */
  files?: ReadonlyMap<string, Uint8Array>;
  /**
   * The model whose load pulled this one in (an ensemble loading its composing models); such a
   * model is unloaded with that one by `unload_dependents` unless it was also loaded itself.
   */
  alongWith?: string;
}

/** Parameters of an unload request (`POST /v2/repository/models/m/unload`). */
export interface UnloadOptions {
  /**
   * Also unload the models this one loaded along with it: an ensemble's composing models
   * that no other loaded model still uses (Triton's `unload_dependents`).
   */
  unloadDependents?: boolean;
}

/** What one {@link ModelRepository.poll} did. */
export interface PollResult {
  /** Models loaded or reloaded (successfully or not). */
  loaded: string[];
  /** Models unloaded because their folder disappeared. */
  unloaded: string[];
}

export class ModelRepository {
  readonly #init: ModelRepositoryInit;
  readonly #models = new Map<string, ModelRecord>();
  /** Serialises load/unload per model so two loads of one model never interleave. */
  readonly #locks = new Map<string, Promise<unknown>>();
  #duplicates = new Set<string>();
  #locations = new Map<string, ModelLocation>();
  readonly #listeners = new Set<() => void>();
  /** Models whose last load came from a load request's file overrides (in memory), by name. */
  readonly #overrides = new Map<string, ModelLocation>();
  /** Rate limiter gates of each served version, given back when it is disposed. */
  readonly #gates = new WeakMap<ServedVersion, InstanceGate[]>();

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

  /** Where a model's folder is (its source), after the last scan; the mesh shares its files from there. */
  locate(name: string): ModelLocation | undefined {
    return this.#overrides.get(name) ?? this.#locations.get(name);
  }

  /** Loads every model found (model control mode none/poll), `concurrency` at a time. */
  async loadAll(): Promise<void> {
    await this.rescan();
    // Ensembles load after the other models, so their steps are checked against the configs of
    // the models this host serves (core/ensemble-version.ts); a config that fails to read here
    // fails again, with its reason, when the model loads.
    const names = [...this.#locations.keys()];
    const ensembles = new Set<string>();
    await Promise.all(names.map(async (n) => {
      const { raw } = await readRawConfig(this.#locations.get(n)!).catch(() => ({ raw: {} }));
      if (isEnsembleConfig(raw)) ensembles.add(n);
    }));
    const load = (name: string) => this.load(name).catch(() => undefined);
    await this.#forEachLimited(names.filter((n) => !ensembles.has(n)), load);
    await this.#forEachLimited(names.filter((n) => ensembles.has(n)), load);
  }

  /** Loads (or reloads) one model; resolves when it is READY, rejects with the reason otherwise. */
  load(name: string, options: LoadOptions = {}): Promise<void> {
    return this.#withLock(name, async () => {
      try {
        await this.#load(name, options);
      } finally {
        const rec = this.#models.get(name);
        if (rec && options.alongWith === undefined) rec.explicit = true;
      }
    });
  }

  /**
   * Calls `listener` whenever a version changes state (loading, ready, unloading, unloaded):
   * the mesh republishes what this host serves. Returns a function that removes it.
   */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /**
   * Poll mode (Triton's --model-control-mode poll): rescans the repositories, loads models that
   * appeared, reloads what changed (a new, removed or modified version folder loads or retires
   * that version; a changed config or label file reloads every version), and unloads models
   * whose folder disappeared. Serving never stops: a reloaded version keeps answering until
   * its replacement is READY and then drains; a failed reload keeps the old one. Files are
   * compared by size and modification time (core/model-fingerprint.ts).
   */
  async poll(): Promise<PollResult> {
    await this.rescan();
    const loaded: string[] = [];
    await this.#forEachLimited([...this.#locations.keys()], async (name) => {
      if (await this.#withLock(name, () => this.#reloadIfChanged(name)).catch(() => true)) loaded.push(name);
    });
    const unloaded: string[] = [];
    for (const [name, rec] of this.#models) {
      if (this.#locations.has(name)) continue;
      if (![...rec.versions.values()].some((vr) => vr.state === 'READY' || vr.state === 'LOADING')) continue;
      unloaded.push(name);
      await this.unload(name);
    }
    return { loaded: loaded.sort(), unloaded };
  }

  /**
   * Unloads a model: new requests fail at once, queued and executing ones complete, then
   * instances are released and the state becomes UNAVAILABLE "unloaded". Resolves when done;
   * Triton's HTTP unload does not wait (the caller chooses).
   */
  async unload(name: string, options: UnloadOptions = {}): Promise<void> {
    const config = this.#models.get(name)?.config;
    await this.#withLock(name, async () => {
      const rec = this.#models.get(name);
      if (!rec) return;
      rec.fingerprint = undefined;
      rec.explicit = false;
      await Promise.all([...rec.versions.entries()].map(([v, vr]) => this.#retire(name, v, vr)));
      this.#overrides.delete(name);
    });
    if (!options.unloadDependents || !config) return;
    // Triton's cascading removal (DependencyGraph::RemoveNodes): a composing model goes too
    // when nobody loaded it on its own and no model still loaded uses it.
    const composing = new Set((config.ensemble_scheduling?.step ?? []).map((s) => s.model_name));
    for (const m of composing) {
      if (m === name || this.#models.get(m)?.explicit) continue;
      if (this.allReady().some((s) => s.config.ensemble_scheduling?.step.some((st) => st.model_name === m))) continue;
      await this.unload(m, options);
    }
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

  /**
   * @param change poll mode: the fingerprint read before this load, and the versions whose files
   *   did not change (left as they are when READY)
   */
  async #load(name: string, options: LoadOptions, change?: { fingerprint: ModelFingerprint; keep: ReadonlySet<number> }): Promise<void> {
    const log = this.#init.logger.child({ model: name });
    let loc: ModelLocation | undefined;
    const overrides = options.files !== undefined && options.files.size > 0;
    if (overrides) {
      // Triton (LocalizeRepoAgent): the override files alone form the model folder.
      validateModelName(name);
      if (options.configJson === undefined) throw new InferError('INVALID_ARG', "Load parameter 'config' must be specified for model file override");
      loc = { name, source: new OverlayModelSource(name, normalizeFileOverrides(options.files!), this.#init.clock.epochMs()) };
    } else {
      if (this.#duplicates.has(name)) {
        throw unavailable(`failed to load '${name}': model appears in two or more repositories`);
      }
      loc = this.#locations.get(name);
      if (!loc) {
        await this.rescan();
        loc = this.#locations.get(name);
      }
    }
    if (!loc) throw new InferError('INVALID_ARG', `failed to load '${name}', failed to poll from model repository: model directory '${name}' not found in ${this.#init.sources.map((s) => s.description).join(', ')}`);
    const rec = this.#models.get(name) ?? { versions: new Map<number, VersionRecord>() };
    this.#models.set(name, rec);
    // Read before the files are, so a change made during the load shows at the next poll.
    const fingerprint = change?.fingerprint ?? (this.#init.detectChanges && !overrides ? await fingerprintModel(loc).catch(() => undefined) : undefined);

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
          ? (isEnsembleConfig(raw)
            ? `ensemble '${name}' has no version folders: create an empty folder '${name}/1/' (Triton requires one for ensembles too)`
            : `model '${name}' has no version folders: put the model file in '${name}/1/'`)
          : `model '${name}': version_policy selects none of the versions present (${present.join(', ')})`);
      }
    } catch (e) {
      rec.failure = messageOf(e);
      log.error('model failed to load', { reason: rec.failure });
      // The next poll retries (model part unknown), whatever the files look like then.
      if (fingerprint) rec.fingerprint = { versions: rec.fingerprint?.versions ?? new Map() };
      throw e;
    }
    rec.failure = undefined;
    if (isEnsembleConfig(raw)) await this.#loadComposing(name, raw, log);

    const keep = change?.keep ?? new Set<number>();
    const toLoad = versions.filter((v) => !(keep.has(v) && rec.versions.get(v)?.state === 'READY'));
    // Versions no longer selected are retired after the new set is up (reload without loss of availability).
    const retiring = [...rec.versions.entries()].filter(([v, vr]) => !versions.includes(v) && vr.state === 'READY');
    const results = await Promise.allSettled(toLoad.map((v) => this.#loadVersion(loc!, rec, v, raw, log).finally(() => this.#notify())));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    // A load with a failed version retires nothing, so the model keeps what it served (Triton
    // also unloads the versions this load brought up; here those keep serving as well).
    if (!failed) {
      await Promise.all(retiring.map(([v, vr]) => this.#retire(name, v, vr)));
      if (overrides) this.#overrides.set(name, loc);
      else this.#overrides.delete(name);
    }
    if (fingerprint) {
      // A version that failed gets a digest no folder has, so the next poll sees a difference
      // (and retries it, or notices it is gone) whatever the files look like then.
      const seen = new Map(fingerprint.versions);
      toLoad.forEach((v, i) => { if (results[i].status === 'rejected') seen.set(v, FAILED_LOAD); });
      rec.fingerprint = { model: fingerprint.model, versions: seen };
    }
    if (failed) throw failed.reason;
  }

  /** Poll mode: reloads a model when its files changed since it last loaded; true if it tried. */
  async #reloadIfChanged(name: string): Promise<boolean> {
    const loc = this.#locations.get(name);
    if (!loc) return false;
    const now = await fingerprintModel(loc);
    const old = this.#models.get(name)?.fingerprint;
    if (old?.model !== undefined && sameFingerprint({ model: old.model, versions: old.versions }, now)) return false;
    const keep = new Set<number>();
    if (old?.model !== undefined && old.model === now.model) {
      for (const [v, digest] of now.versions) if (old.versions.get(v) === digest) keep.add(v);
    }
    if (old) this.#init.logger.info('model files changed; reloading', { model: name, unchanged_versions: [...keep].join(',') || 'none' });
    else this.#init.logger.info('model found; loading', { model: name });
    await this.#load(name, {}, { fingerprint: now, keep });
    return true;
  }

  #notify(): void {
    for (const f of this.#listeners) {
      try {
        f();
      } catch (e) {
        this.#init.logger.warn('model change listener failed', { reason: messageOf(e) });
      }
    }
  }

  /**
   * Triton loads an ensemble's composing models with it. Here: those in this host's
   * repositories that are not loaded yet, marked as loaded along with the ensemble (for
   * `unload_dependents`); a step model found nowhere here may be served by a peer, and one that
   * fails to load is reported by the request that needs it. Composing ensembles are not pulled
   * in, so two ensembles that use each other cannot wait on each other's load.
   */
  async #loadComposing(name: string, raw: Partial<ModelConfig>, log: Logger): Promise<void> {
    for (const step of new Set((raw.ensemble_scheduling?.step ?? []).map((s) => s.model_name))) {
      const loc = this.#locations.get(step);
      if (step === name || !loc || this.readyVersions(step).length > 0) continue;
      const { raw: stepRaw } = await readRawConfig(loc).catch(() => ({ raw: {} as Partial<ModelConfig> }));
      if (isEnsembleConfig(stepRaw)) continue;
      const pending = this.#locks.get(step);
      if (pending) {
        // Already loading (startup loads models concurrently): wait for that load instead.
        await pending;
        if (this.readyVersions(step).length > 0) continue;
      }
      log.info('loading composing model of the ensemble', { composing: step });
      await this.load(step, { alongWith: name }).catch((e: unknown) => log.warn('composing model failed to load', { composing: step, reason: messageOf(e) }));
    }
  }

  async #loadVersion(loc: ModelLocation, rec: ModelRecord, version: number, raw: Partial<ModelConfig>, log: Logger): Promise<void> {
    const name = loc.name;
    const previous = rec.versions.get(version);
    // A reload keeps the old version serving until the new one is ready.
    if (!previous?.served) rec.versions.set(version, { state: 'LOADING', reason: '' });
    const started = this.#init.clock.now();
    let instances: ModelInstance[] = [];
    let gates: InstanceGate[] | undefined;
    try {
      if (isEnsembleConfig(raw)) {
        // No file, no backend, no instances: the steps call other models (core/ensemble-version.ts).
        const served = loadEnsembleVersion({
          name, version, raw, clock: this.#init.clock, logger: log, callModel: this.#init.callModel, started,
          modelConfigOf: (model, v) => { try { return this.get(model, v).config; } catch { return undefined; } },
        });
        rec.config = served.config;
        rec.versions.set(version, { state: 'READY', reason: '', served });
        if (previous?.served) await this.#dispose(previous.served);
        return;
      }
      const { registry } = this.#init;
      const platform = raw.platform || raw.backend || 'onnxruntime_onnx';
      if (!registry.supports(platform)) {
        throw new InferError('INVALID_ARG', `model '${name}': no backend for platform/backend '${platform}'; this server serves ${[...new Set(registry.list().flatMap((b) => b.platforms))].join(', ')}`);
      }
      const filenames = raw.default_model_filename ? [raw.default_model_filename] : registry.modelFilenames(platform);
      const path = await resolveModelFile(loc, version, filenames);
      // The config names the file actually chosen (a JS model may be model.js, .mjs or .ts).
      const chosen: Partial<ModelConfig> = { ...raw, default_model_filename: raw.default_model_filename || path.slice(path.lastIndexOf('/') + 1) };
      const bytes = await loc.source.read(path);
      const parameters = Object.fromEntries(Object.entries(raw.parameters ?? {}).map(([k, v]) => [k, v.string_value]));
      const loadInput = (instanceIndex: number, gpu?: number) => ({
        modelName: name, version, bytes, path: loc.source.localPath?.(path), parameters, instanceIndex, gpu, logger: log, config: chosen,
      });
      // The first instance tells us the model's signature, which auto-complete needs before
      // the instance groups (and so the other instances) are known.
      const firstKind = raw.instance_group?.[0]?.kind ?? 'KIND_AUTO';
      const first = await registry.load(platform, firstKind, loadInput(0));
      instances.push(first.instance);
      const hasGpu = first.instance.device !== 'cpu';
      const config = normalizeModelConfig(chosen, {
        modelName: name, signature: first.instance.signature, autoComplete: this.#init.autoComplete ?? true,
        defaultMaxBatchSize: this.#init.defaultMaxBatchSize ?? DEFAULT_AUTO_MAX_BATCH_SIZE, hasGpu,
      });
      validateModelConfig(config, { modelName: name, signature: first.instance.signature });
      const devices = [first.instance.device];
      const refusals = first.refused;
      let index = 1;
      let reusedFirst = false;
      /** The instance group of each instance (its rate_limiter settings). */
      const groupOf: ModelInstanceGroup[] = [];
      for (const group of config.instance_group) {
        for (let i = 0; i < group.count; i++) {
          groupOf.push(group);
          if (!reusedFirst) { reusedFirst = true; continue; }
          const loaded = await registry.load(platform, group.kind, loadInput(index++, group.gpus[i % Math.max(1, group.gpus.length)]));
          instances.push(loaded.instance);
          devices.push(loaded.instance.device);
        }
      }
      const labels = await readLabels(loc, config);
      // Sequence models: implicit state initial values from <model>/initial_state/ (sequence-state.ts).
      const initialStateFiles = await readInitialStateFiles(config, (rel) => loc.source.read(`${loc.name}/${rel}`));
      // Triton: a model is not READY until every instance ran its warmup samples.
      await runWarmup({ config, instances, logger: log, readWarmupFile: (file) => loc.source.read(`${loc.name}/${WARMUP_DATA_FOLDER}/${file}`) });
      gates = this.#init.rateLimiter?.register(name, instances.map((inst, i) => ({ device: inst.device, rateLimiter: groupOf[i]?.rate_limiter })));
      const stats = new ModelStats();
      const schedulerInit = { config, instances, clock: this.#init.clock, stats, logger: log, callModel: this.#init.callModel, gates, initialStateFiles };
      const scheduler: Scheduler = createScheduler(schedulerInit);
      const ms = this.#init.clock.now() - started;
      const served: ServedVersion = {
        name, version, config, signature: first.instance.signature, scheduler, stats, devices, instances, loadSeconds: ms / 1000, labels,
      };
      if (gates) this.#gates.set(served, gates);
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
      if (gates) this.#init.rateLimiter?.unregister(gates);
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
    this.#notify();
    await this.#dispose(served);
    rec.versions.set(version, { state: 'UNAVAILABLE', reason: 'unloaded' });
    this.#notify();
    this.#init.logger.info('model unloaded', { model: name, version });
  }

  async #dispose(served: ServedVersion): Promise<void> {
    await served.scheduler.drain();
    served.scheduler.close('model unloaded');
    const gates = this.#gates.get(served);
    if (gates) this.#init.rateLimiter?.unregister(gates);
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
