/**
 * A browser tab as a mesh host: the composition root of the browser runtime. It wires the same
 * parts a node host uses — a libp2p node (mesh/mesh-node.ts) on WebSockets, the core
 * InferenceServer with its model repository and dynamic batcher, MeshService (status gossip
 * with role `browser`, `/infermesh/infer/1.0.0` serving, blob serving, routing) — to the
 * browser's own pieces: onnxruntime-web in a worker (backend-ort-web.ts), a model source over
 * the mesh's blob protocol with a Cache Storage cache (model-source-mesh.ts, blob-cache.ts),
 * and the model choice (model-manager.ts).
 *
 * Lifecycle: `start` (worker → node → join a bootstrap peer, or fail with why) → `joined`
 * (models load as the mesh offers them) ⇄ `paused` (models unloaded: the status lists none, so
 * peers stop sending; the connection stays) → `left` (everything stopped: the tab disappears
 * from the mesh like any host that leaves).
 */
import { webSockets } from '@libp2p/websockets';
import { multiaddr } from '@multiformats/multiaddr';
import { InferenceServer } from '../core/inference-server.ts';
import type { Logger } from '../core/logger.ts';
import type { ServedVersion } from '../core/model-repository.ts';
import { fetchBlob } from '../mesh/blob-protocol.ts';
import { createMeshNode, type MeshNode } from '../mesh/mesh-node.ts';
import { MeshService } from '../mesh/mesh-service.ts';
import { createOrtWebBackends } from './backend-ort-web.ts';
import { openBlobCache } from './blob-cache.ts';
import { browserLogger } from './logger-browser.ts';
import { offersFrom, type ModelOffer, type ModelRequest } from './model-choice.ts';
import { ModelManager, type TabModel } from './model-manager.ts';
import { MeshModelSource } from './model-source-mesh.ts';
import { startOrtWebWorker, type OrtWebClient } from './ort-web-client.ts';
import type { ProviderRequest } from './worker-protocol.ts';
import type { PeerStatus } from '../protocol/mesh-pb.ts';

/** Where the tab is in its life (`window.infermesh.state`). */
export type TabState = 'starting' | 'joined' | 'paused' | 'left' | 'error';

/** 10 s to reach a bootstrap peer: a LAN dial takes milliseconds; a host still starting gets time. */
export const DEFAULT_JOIN_TIMEOUT_MS = 10_000;

/** Every second: model choice, throughput sample, panel refresh. */
export const DEFAULT_TICK_MS = 1_000;

/** 120 samples: two minutes of throughput history in the chart. */
export const DEFAULT_HISTORY = 120;

/** 50 error lines kept: enough to see what went wrong without growing forever. */
const MAX_ERRORS = 50;

/** What a tab is started with. */
export interface BrowserHostInit {
  /** Multiaddrs (…/ws/p2p/<id>) of hosts to join through. */
  bootstrap: string[];
  /** The swarm key file's text for a private mesh. */
  swarmKey?: string | null;
  ortBase: string;
  workerUrl: string | URL;
  provider: ProviderRequest;
  models: ModelRequest;
  budgetBytes: number;
  joinTimeoutMs?: number;
  statusIntervalMs?: number;
  tickMs?: number;
  debug?: boolean;
  /** Something shown changed. */
  onChange?: () => void;
}

/** Everything the status panel and `window.infermesh` show. */
export interface TabSnapshot {
  state: TabState;
  peerId: string;
  provider: string;
  providerReason: string;
  connectedHosts: string[];
  models: TabModel[];
  /** Requests answered successfully. */
  served: number;
  errors: string[];
  /** Items per second served, one sample per tick, oldest first. */
  throughput: number[];
  /** What the mesh offers, for the model picker. */
  offers: { name: string; version: string; bytes: number; hosts: number; demand: number }[];
  skipped: { name: string; reason: string }[];
  waiting: string[];
  cache: string;
  budgetBytes: number;
  request: ModelRequest;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String((e as { message?: unknown } | null)?.message ?? e);
}

/** The tab's mesh host. Create, then `start()`. */
export class BrowserHost {
  readonly #init: BrowserHostInit;
  readonly #log: Logger;
  #state: TabState = 'starting';
  #errors: string[] = [];
  #worker?: OrtWebClient;
  #node?: MeshNode;
  #core?: InferenceServer;
  #mesh?: MeshService;
  #manager?: ModelManager;
  #cacheDescription = '';
  #timer: ReturnType<typeof setInterval> | undefined;
  #served = 0;
  #history: number[] = [];
  /** Counters of every version served since the last sample (unloaded ones included, for their last requests). */
  readonly #seen = new Map<ServedVersion, { success: number; items: number }>();
  #lastTick = 0;

  constructor(init: BrowserHostInit) {
    this.#init = init;
    this.#log = browserLogger({ debug: init.debug, onProblem: (_level, text) => this.#problem(text) });
  }

  get state(): TabState {
    return this.#state;
  }

  /** A plain copy of what the tab shows. */
  snapshot(): TabSnapshot {
    const ready = this.#worker?.ready;
    return {
      state: this.#state,
      peerId: this.#node?.peerId.toString() ?? '',
      provider: ready?.provider ?? '',
      providerReason: ready?.reason ?? '',
      connectedHosts: this.#node && this.#state !== 'left' ? this.#node.connectedPeers().map((p) => p.toString()) : [],
      models: this.#manager?.models() ?? [],
      served: this.#servedNow(),
      errors: [...this.#errors],
      throughput: [...this.#history],
      offers: this.#offers().map((o) => ({ name: o.name, version: o.version, bytes: o.bytes, hosts: o.hosts.length, demand: o.demand })),
      skipped: [...(this.#manager?.skipped ?? [])],
      waiting: [...(this.#manager?.waiting ?? [])],
      cache: this.#cacheDescription,
      budgetBytes: this.#init.budgetBytes,
      request: this.#manager?.request ?? this.#init.models,
    };
  }

  /**
   * Starts the worker, joins the mesh and begins serving. Resolves once joined; on failure the
   * state is `error`, the reason is in `errors`, everything started is stopped, and it rejects.
   */
  async start(): Promise<void> {
    const init = this.#init;
    try {
      if (init.bootstrap.length === 0) throw new Error('no bootstrap address: give the multiaddr of a host (…/ws/p2p/<peer id>) to join through');
      this.#log.info('starting onnxruntime-web', { provider: init.provider });
      this.#worker = await startOrtWebWorker({ workerUrl: init.workerUrl, ortBase: init.ortBase, provider: init.provider });
      const ready = this.#worker.ready;
      this.#log.info('execution provider', { provider: ready.provider, reason: ready.reason, threads: ready.threads, ort: ready.ortVersion });
      void this.#worker.died.catch((e: unknown) => this.#fail(message(e)));
      const cache = await openBlobCache((m) => this.#log.warn(m));
      this.#cacheDescription = cache.description;

      const node = await createMeshNode({
        transports: [webSockets()],
        // a page cannot listen: peers reach it over the connections it opens
        listen: [],
        bootstrap: init.bootstrap,
        swarmKey: init.swarmKey ? new TextEncoder().encode(init.swarmKey) : undefined,
        logger: this.#log.child({ component: 'mesh' }),
      });
      this.#node = node;
      const source = new MeshModelSource({
        fetch: (peer, sha, o) => fetchBlob(node, peer, sha, o),
        peersWith: (sha) => this.#peersWith(sha),
        cache,
      });
      const core = new InferenceServer({
        sources: [source],
        backends: createOrtWebBackends({ port: this.#worker.port, ready }),
        name: 'infermesh-browser',
        controlMode: 'explicit',
        startupModels: [],
        strictReadiness: false,
        logger: this.#log.child({ component: 'core' }),
      });
      this.#core = core;
      const mesh = new MeshService({
        node, core, role: 'browser', statusIntervalMs: init.statusIntervalMs,
        engines: () => [`onnxruntime-web:${ready.provider}`],
        logger: this.#log.child({ component: 'mesh' }),
      });
      this.#mesh = mesh;
      await core.start();
      await mesh.start();
      await this.#join(node);
      this.#manager = new ModelManager({
        core, source, request: init.models, budgetBytes: init.budgetBytes, logger: this.#log,
        offers: () => this.#offers(), onChange: () => this.#changed(), statusChanged: () => mesh.statusChanged(),
      });
      this.#state = 'joined';
      this.#log.info('joined the mesh', { peer_id: node.peerId.toString(), hosts: node.connectedPeers().length, provider: ready.provider });
      this.#lastTick = performance.now();
      this.#timer = setInterval(() => this.#tick(), init.tickMs ?? DEFAULT_TICK_MS);
      this.#changed();
      void this.#manager.step();
    } catch (e) {
      await this.#fail(message(e));
      throw e;
    }
  }

  /** Stops serving (models unloaded, connection kept). */
  async pause(): Promise<void> {
    if (this.#state !== 'joined') return;
    this.#state = 'paused';
    this.#sample();
    this.#changed();
    await this.#manager?.pause();
    this.#log.info('paused: serving nothing until resumed');
    this.#changed();
  }

  /** Serves again after a pause. */
  async resume(): Promise<void> {
    if (this.#state !== 'paused') return;
    this.#state = 'joined';
    this.#changed();
    this.#log.info('resumed');
    await this.#manager?.resume();
    this.#changed();
  }

  /** Changes which models the tab is asked to serve. */
  setModels(request: ModelRequest): void {
    this.#manager?.setRequest(request);
    void this.#manager?.step();
    this.#changed();
  }

  /** Leaves the mesh for good: stops advertising and serving, closes connections, ends the worker. */
  async leave(): Promise<void> {
    if (this.#state === 'left') return;
    const wasError = this.#state === 'error';
    this.#state = 'left';
    await this.#shutdown();
    if (!wasError) this.#log.info('left the mesh');
    this.#changed();
  }

  // -----------------------------------------------------------------------------------------

  async #join(node: MeshNode): Promise<void> {
    const deadline = performance.now() + (this.#init.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS);
    const reasons = new Map<string, string>();
    while (node.connectedPeers().length === 0) {
      if (performance.now() >= deadline) {
        const why = this.#init.bootstrap.map((b) => `${b} (${reasons.get(b) ?? 'no answer'})`).join('; ');
        const hint = this.#init.swarmKey
          ? 'check that the hosts run and use the same swarm key as this page'
          : 'check that a host runs there with a WebSocket listener; if the mesh is private the page needs its swarm key';
        throw new Error(`could not connect to any bootstrap peer: ${why}; ${hint}`);
      }
      await Promise.allSettled(this.#init.bootstrap.map(async (b) => {
        try {
          await node.dial(multiaddr(b));
        } catch (e) {
          reasons.set(b, message(e));
        }
      }));
      if (node.connectedPeers().length === 0) await new Promise((r) => setTimeout(r, 500));
    }
  }

  #offers(): ModelOffer[] {
    return this.#mesh ? offersFrom(currentReports(this.#mesh)) : [];
  }

  #peersWith(sha: string): string[] {
    return this.#mesh ? peersWithFile(currentReports(this.#mesh), sha) : [];
  }

  /** Requests answered so far, including those since the last sample. */
  #servedNow(): number {
    let n = this.#served;
    const versions = new Set([...(this.#core?.repository.allReady() ?? []), ...this.#seen.keys()]);
    for (const s of versions) n += Math.max(0, s.stats.counters().successCount - (this.#seen.get(s)?.success ?? 0));
    return n;
  }

  /** Folds what the served versions did since the last sample into the counters. */
  #sample(): number {
    let items = 0;
    const ready = new Set(this.#core?.repository.allReady() ?? []);
    for (const s of new Set([...ready, ...this.#seen.keys()])) {
      const c = s.stats.counters();
      const last = this.#seen.get(s) ?? { success: 0, items: 0 };
      this.#served += Math.max(0, c.successCount - last.success);
      items += Math.max(0, c.inferenceCount - last.items);
      if (ready.has(s)) this.#seen.set(s, { success: c.successCount, items: c.inferenceCount });
      else this.#seen.delete(s);
    }
    return items;
  }

  #tick(): void {
    const now = performance.now();
    const seconds = Math.max(0.001, (now - this.#lastTick) / 1000);
    this.#lastTick = now;
    const items = this.#sample();
    this.#history.push(items / seconds);
    if (this.#history.length > DEFAULT_HISTORY) this.#history.shift();
    if (this.#state === 'joined') void this.#manager?.step();
    this.#changed();
  }

  #problem(text: string): void {
    this.#errors.push(text.replace(/^\[infermesh\] /, ''));
    if (this.#errors.length > MAX_ERRORS) this.#errors.shift();
  }

  async #fail(reason: string): Promise<void> {
    if (this.#state === 'error' || this.#state === 'left') return;
    this.#state = 'error';
    this.#log.error('the tab cannot serve', { reason });
    await this.#shutdown();
    this.#changed();
  }

  async #shutdown(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sample();
    await this.#manager?.stop();
    await this.#mesh?.stop().catch(() => undefined);
    await this.#core?.stop(5_000).catch(() => undefined);
    this.#worker?.terminate();
  }

  #changed(): void {
    this.#init.onChange?.();
  }
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** A peer's current report as the tab reads it. */
export interface CurrentReport {
  peerId: string;
  connected: boolean;
  status: PeerStatus;
}

/** The unexpired reports of every peer but this one. */
export function currentReports(mesh: Pick<MeshService, 'directory' | 'peerId'>): CurrentReport[] {
  const out: CurrentReport[] = [];
  for (const e of mesh.directory.peers()) {
    const age = mesh.directory.ageMs(e.peerId);
    if (e.status === undefined || e.peerId === mesh.peerId || age === undefined || age > mesh.directory.expireAfterMs) continue;
    out.push({ peerId: e.peerId, connected: e.connected, status: e.status });
  }
  return out;
}

/** Peers that advertise a file with this SHA-256 (hex), connected ones first (no dial needed). */
export function peersWithFile(reports: readonly CurrentReport[], sha256: string): string[] {
  return reports.filter((r) => r.status.models.some((m) => m.files.some((f) => hex(f.sha256) === sha256)))
    .sort((a, b) => Number(b.connected) - Number(a.connected)).map((r) => r.peerId);
}
