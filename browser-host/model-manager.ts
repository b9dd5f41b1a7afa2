/**
 * Keeps a tab's served models in line with what it was asked to serve: on every `step` it
 * reads the mesh's offers, asks model-choice.ts what to load within the budget, and loads
 * those one at a time: pin the advertised files in the mesh source, download them (progress,
 * verified, cached), then load through the core repository with the tab's config
 * (tab-config.ts). Loaded models stay until the tab pauses or leaves (never evicted to make
 * room: a model a tab serves is one the mesh may depend on).
 *
 * A model that failed to download or load is not retried with the same files (a broken model
 * would otherwise be downloaded every second); a new file list (a new version) is tried again.
 */
import type { InferenceServer } from '../core/inference-server.ts';
import type { Logger } from '../core/logger.ts';
import { chooseModels, formatBytes, type ModelOffer, type ModelRequest } from './model-choice.ts';
import type { MeshModelSource } from './model-source-mesh.ts';
import { tabConfigJson } from './tab-config.ts';

/** Where a tab's model is in its life. */
export type TabModelState = 'downloading' | 'loading' | 'ready' | 'paused' | 'failed' | 'unloaded';

/** One model of the tab, as the status panel and `window.infermesh` show it. */
export interface TabModel {
  name: string;
  version: string;
  state: TabModelState;
  /** Total size of its files. */
  bytes: number;
  /** Bytes downloaded or found in the cache so far. */
  received: number;
  /** `webgpu` or `wasm` once loaded. */
  device?: string;
  /** Why it failed. */
  reason?: string;
  /** Bytes of the last load found in the tab's cache (a reload downloads nothing). */
  cachedBytes?: number;
  /** How long the last load took: files (download or cache) and session creation, ms. */
  fetchMs?: number;
  loadMs?: number;
}

/** Options of {@link ModelManager}. */
export interface ModelManagerInit {
  core: InferenceServer;
  source: MeshModelSource;
  /** The mesh's current offers (the tab's own report excluded). */
  offers: () => ModelOffer[];
  request: ModelRequest;
  budgetBytes: number;
  logger: Logger;
  /** Something shown changed (state, progress). */
  onChange: () => void;
  /** The served set changed: publish the status now. */
  statusChanged: () => void;
}

function offerKey(o: ModelOffer): string {
  return o.files.map((f) => `${f.path}:${f.sha256}`).sort().join('\n');
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String((e as { message?: unknown } | null)?.message ?? e);
}

export class ModelManager {
  readonly #init: ModelManagerInit;
  readonly #models = new Map<string, { model: TabModel; offer: ModelOffer }>();
  readonly #failed = new Map<string, string>();
  #request: ModelRequest;
  #skipped: { name: string; reason: string }[] = [];
  #waiting: string[] = [];
  #busy: Promise<void> | undefined;
  #paused = false;
  #stopped = false;

  constructor(init: ModelManagerInit) {
    this.#init = init;
    this.#request = init.request;
  }

  /** The tab's models (plain copies). */
  models(): TabModel[] {
    return [...this.#models.values()].map(({ model }) => ({ ...model }));
  }

  /** Candidates not loaded, with the reason (budget, platform, limit). */
  get skipped(): readonly { name: string; reason: string }[] {
    return this.#skipped;
  }

  /** Named models no peer offers yet. */
  get waiting(): readonly string[] {
    return this.#waiting;
  }

  get request(): ModelRequest {
    return this.#request;
  }

  /** Changes what the tab is asked to serve; takes effect at the next step (loaded models stay). */
  setRequest(request: ModelRequest): void {
    this.#request = request;
    this.#failed.clear();
  }

  /** One round: choose and load what is missing. Concurrent calls share the round in progress. */
  step(): Promise<void> {
    if (this.#paused || this.#stopped) return Promise.resolve();
    this.#busy ??= this.#step().finally(() => { this.#busy = undefined; });
    return this.#busy;
  }

  async #step(): Promise<void> {
    const offers = this.#init.offers().filter((o) => this.#failed.get(o.name) !== offerKey(o));
    const loaded = [...this.#models.values()].filter(({ model }) => model.state !== 'failed').map(({ model }) => ({ name: model.name, bytes: model.bytes }));
    const choice = chooseModels({ offers, request: this.#request, budgetBytes: this.#init.budgetBytes, loaded });
    this.#skipped = choice.skipped;
    this.#waiting = choice.waiting;
    for (const offer of choice.load) {
      if (this.#paused || this.#stopped) break;
      await this.#load(offer);
    }
    this.#init.onChange();
  }

  async #load(offer: ModelOffer): Promise<void> {
    const { core, source, logger } = this.#init;
    const model: TabModel = { name: offer.name, version: offer.version, state: 'downloading', bytes: offer.bytes, received: 0 };
    this.#models.set(offer.name, { model, offer });
    this.#init.onChange();
    logger.info('loading model', { model: offer.name, version: offer.version, size: formatBytes(offer.bytes), hosts: offer.hosts.length });
    try {
      source.pin(offer.name, offer.files);
      await this.#bring(model);
      logger.info('model ready', {
        model: model.name, version: model.version, device: model.device, size: formatBytes(model.bytes),
        from_cache: formatBytes(model.cachedBytes ?? 0), fetch_ms: model.fetchMs, load_ms: model.loadMs,
      });
      this.#init.statusChanged();
    } catch (e) {
      model.state = 'failed';
      model.reason = message(e);
      this.#failed.set(offer.name, offerKey(offer));
      source.unpin(offer.name);
      await core.unloadModel(offer.name).catch(() => undefined);
      logger.error('model failed', { model: offer.name, reason: model.reason });
    }
    this.#init.onChange();
  }

  /** Downloads (or finds cached) a pinned model's files and loads it. */
  async #bring(model: TabModel): Promise<void> {
    const { core, source } = this.#init;
    let last = 0;
    model.state = 'downloading';
    const started = performance.now();
    const got = await source.prefetch(model.name, (received) => {
      model.received = received;
      // progress redraws at most every 100 ms
      const now = Date.now();
      if (now - last > 100) {
        last = now;
        this.#init.onChange();
      }
    });
    model.cachedBytes = got.cached;
    model.fetchMs = Math.round(performance.now() - started);
    model.state = 'loading';
    this.#init.onChange();
    const loading = performance.now();
    try {
      await core.loadModel(model.name, { configJson: await tabConfigJson(source, model.name) });
    } finally {
      source.release(model.name);
    }
    const served = core.repository.get(model.name);
    model.loadMs = Math.round(performance.now() - loading);
    model.version = String(served.version);
    model.device = served.devices[0];
    model.state = 'ready';
  }

  /** Stops serving: unloads every ready model (requests in flight finish first). */
  async pause(): Promise<void> {
    if (this.#paused) return;
    this.#paused = true;
    await this.#busy;
    for (const { model } of this.#models.values()) {
      if (model.state !== 'ready') continue;
      await this.#init.core.unloadModel(model.name).catch(() => undefined);
      model.state = 'paused';
      this.#init.onChange();
    }
    this.#init.statusChanged();
  }

  /** Serves again: reloads the paused models (from the cache), then resumes choosing. */
  async resume(): Promise<void> {
    if (!this.#paused) return;
    this.#paused = false;
    for (const { model } of this.#models.values()) {
      if (model.state !== 'paused') continue;
      try {
        await this.#bring(model);
      } catch (e) {
        model.state = 'failed';
        model.reason = message(e);
        this.#init.logger.error('model failed', { model: model.name, reason: model.reason });
      }
      this.#init.onChange();
    }
    this.#init.statusChanged();
    await this.step();
  }

  /** Stops for good (the tab leaves); the core unloads the models itself. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#busy;
    for (const { model } of this.#models.values()) if (model.state !== 'failed') model.state = 'unloaded';
  }
}
