/**
 * A host's place in the mesh: its libp2p node plus status gossip, the peer directory,
 * liveness, the infer protocol (serving and calling) and the router, bound to the local core
 * server (or to none, for a client-only peer). Runtime-agnostic: the Node host and, later,
 * the browser host both compose it with their own transports.
 *
 * `infer` is the mesh-wide entry point: it weighs the local host against the peers that serve
 * the model (mesh/router.ts) and fails over on retryable errors within the deadline.
 */
import type { Startable } from '@libp2p/interface';
import { notFound } from '../protocol/errors.ts';
import type { InferRequest, InferResponse } from '../protocol/infer.ts';
import type { ModelStatus } from '../protocol/mesh-pb.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { metadataOf, type InferenceServer, type ModelMetadata } from '../core/inference-server.ts';
import { ThroughputMeter } from '../core/throughput-meter.ts';
import type { ServedVersion } from '../core/model-repository.ts';
import type { MeshNode } from './mesh-node.ts';
import { PeerDirectory, type MeshPeerJson } from './peer-directory.ts';
import { PeerLiveness } from './peer-liveness.ts';
import { StatusGossip, type LocalStatus, type MeshRole } from './status-gossip.ts';
import { handleInfer, MeshInferClient, type InferHandler, type MeshServeOptions } from './infer-protocol.ts';
import { Router, type RouteCandidate } from './router.ts';
import { SequenceAffinity } from './sequence-affinity.ts';
import { sequenceFlagsOf } from '../core/sequence-params.ts';
import { ModelFileIndex } from './model-files.ts';
import { handleBlobs } from './blob-protocol.ts';

/**
 * Default end-to-end budget of a routed request without its own deadline: long enough for any
 * model a CPU host runs, short enough that a peer that hangs (alive but stuck) cannot hold a
 * request forever — the router then fails over or reports DEADLINE_EXCEEDED.
 */
export const DEFAULT_MESH_DEADLINE_MS = 120_000;

/**
 * Requests a host accepts over the mesh beyond which it refuses at once with OVERLOADED, so the
 * caller tries another peer instead of queueing behind a long line (ARCHITECTURE-GUIDE §7).
 */
export const DEFAULT_ADMIT_LIMIT = 512;

/**
 * Items/s assumed for a host whose speed nobody has measured yet when no host of the model has
 * been measured either. Any positive figure works: it only has to let unmeasured hosts be drawn.
 */
export const DEFAULT_THROUGHPUT_PRIOR = 100;

/**
 * Throughput is measured from real executions, so a host that has never run a model reports 0
 * — which the router reads as "infinitely slow" and never draws, so it would never be measured
 * (seen in the multi-process tests: a fresh host served 0 of 300 requests). Unmeasured hosts
 * get the median of the measured ones (or a default prior when none is measured): they are
 * drawn like an average host, run a few requests, and report a real figure within a second.
 */
export function withThroughputPrior(candidates: RouteCandidate[]): RouteCandidate[] {
  const known = candidates.map((c) => c.throughput).filter((t) => t > 0).sort((a, b) => a - b);
  if (known.length === candidates.length) return candidates;
  const prior = known.length === 0 ? DEFAULT_THROUGHPUT_PRIOR : known[Math.floor(known.length / 2)];
  return candidates.map((c) => (c.throughput > 0 ? c : { ...c, throughput: prior, capacity: prior }));
}

/** Construction options of MeshService. */
export interface MeshServiceInit {
  node: MeshNode;
  /** The local server; undefined for a client-only peer (serves nothing, routes everything). */
  core?: InferenceServer;
  role?: MeshRole;
  /** Status publish interval (default 1000 ms). */
  statusIntervalMs?: number;
  admitLimit?: number;
  defaultDeadlineMs?: number;
  /** Engines/devices to advertise (`onnxruntime-node:cpu`, …). */
  engines?: () => string[];
  /**
   * Advertise the served models' files and serve them over the blob protocol, so peers without
   * the repository (browser tabs) can load them (default true when there is a core).
   */
  shareModelFiles?: boolean;
  random?: () => number;
  clock?: Clock;
  logger?: Logger;
}

/** Counters for the metrics endpoint and tests. */
export interface MeshCounters {
  /** Requests routed, by outcome. */
  routedLocal: number;
  routedRemote: number;
  failed: number;
  /** Attempts beyond the first (failovers). */
  retries: number;
  /** Requests this server received for a model it does not serve and passed on to a browser tab. */
  forwarded: number;
}

/** Per-call options of {@link MeshService.infer}. */
export interface MeshInferCallOptions {
  signal?: AbortSignal;
  /** Budget in ms from now (default {@link DEFAULT_MESH_DEADLINE_MS}). */
  timeoutMs?: number;
}

export class MeshService implements Startable {
  readonly node: MeshNode;
  readonly directory: PeerDirectory;
  readonly router: Router;
  readonly client: MeshInferClient;
  readonly counters: MeshCounters = { routedLocal: 0, routedRemote: 0, failed: 0, retries: 0, forwarded: 0 };
  /** Which peer holds each live sequence (stateful models), so its requests stick to it. */
  readonly sequences: SequenceAffinity;
  readonly #core?: InferenceServer;
  readonly #init: MeshServiceInit;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #gossip: StatusGossip;
  readonly #liveness: PeerLiveness;
  readonly #meters = new WeakMap<ServedVersion, ThroughputMeter>();
  readonly #files?: ModelFileIndex;
  #handler?: InferHandler;
  #unhandleBlobs?: () => Promise<void>;
  #inflight = 0;
  #started = false;
  /** Shutdown grace: this host advertises no models (peers stop sending) but still serves. */
  #withdrawn = false;
  #offChange?: () => void;

  constructor(init: MeshServiceInit) {
    this.#init = init;
    this.node = init.node;
    this.#core = init.core;
    this.#clock = init.clock ?? systemClock;
    this.#log = init.logger ?? silentLogger;
    this.directory = new PeerDirectory({ intervalMs: init.statusIntervalMs, clock: this.#clock });
    this.router = new Router({ random: init.random, clock: this.#clock, staleAfterMs: 3 * (init.statusIntervalMs ?? 1000) + 500 });
    this.client = new MeshInferClient(init.node, { clock: this.#clock });
    this.#liveness = new PeerLiveness(init.node, this.directory);
    this.sequences = new SequenceAffinity({
      clock: this.#clock,
      selfId: () => this.peerId,
      route: (req, o) => this.#route(req, o),
      local: (req, o) => {
        this.counters.routedLocal++;
        return this.#core ? this.#core.infer(req, { signal: o.signal }) : Promise.reject(notFound(`this host serves no models ('${req.modelName}')`));
      },
      remote: (peerId, req, o) => {
        this.counters.routedRemote++;
        const budget = o.timeoutMs ?? this.#init.defaultDeadlineMs ?? DEFAULT_MESH_DEADLINE_MS;
        return this.client.infer(peerId, req, { signal: o.signal, deadlineUnixMs: this.#clock.epochMs() + budget });
      },
      known: (peerId) => this.directory.get(peerId)?.status !== undefined,
      connected: (peerId) => this.directory.get(peerId)?.connected === true,
    });
    this.#gossip = new StatusGossip({
      node: init.node, directory: this.directory, role: init.role ?? (init.core ? 'server' : 'client'),
      snapshot: () => this.#localStatus(), intervalMs: init.statusIntervalMs, clock: this.#clock, logger: this.#log,
    });
    if (init.core && init.shareModelFiles !== false) {
      // Files are hashed only once a browser tab (the only peer that fetches them) is in the
      // directory; a tab itself shares what it downloaded (from its cache) at once.
      const wanted = init.role === 'browser'
        ? () => true
        : () => this.directory.peers().some((e) => e.status?.role === 'PEER_ROLE_BROWSER');
      this.#files = new ModelFileIndex({ repository: init.core.repository, onChange: () => this.#gossip.changed(), wanted, logger: this.#log });
    }
  }

  get peerId(): string {
    return this.node.peerId.toString();
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.node.start();
    this.directory.start();
    this.#liveness.start();
    if (this.#core) {
      const core = this.#core;
      // Ensemble steps and BLS calls of local models go through the router too.
      core.setModelCaller((req, opts) => this.infer(req, {
        signal: opts?.signal, timeoutMs: opts?.deadlineMs !== undefined ? Math.max(1, opts.deadlineMs - this.#clock.epochMs()) : undefined,
      }));
      const limit = this.#init.admitLimit ?? DEFAULT_ADMIT_LIMIT;
      this.#handler = await handleInfer(this.node, (req, opts) => this.#serve(core, req, opts), {
        admit: () => core.inflight < limit, clock: this.#clock, logger: this.#log,
      });
      // A version that becomes READY or starts unloading is told to peers at once, not a tick later.
      this.#offChange = core.repository.onChange(() => this.#gossip.changed());
    }
    if (this.#files) this.#unhandleBlobs = await handleBlobs(this.node, this.#files.provider, { logger: this.#log });
    this.#gossip.start();
  }

  /**
   * Shutdown grace (Triton issue #6230): from now on this host advertises no models, so peers
   * stop routing to it, while it keeps answering whatever still arrives (requests routed before
   * peers heard). Publishes the empty report at once. Requests entering through this host go to
   * peers when one serves the model. Idempotent.
   */
  async withdraw(): Promise<void> {
    if (this.#withdrawn) return;
    this.#withdrawn = true;
    await this.#gossip.publishNow();
  }

  /** True once {@link withdraw} was called. */
  get withdrawn(): boolean {
    return this.#withdrawn;
  }

  /** Leaves the mesh: stops advertising first (peers stop sending), then stops serving. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#offChange?.();
    this.#gossip.stop();
    await this.#handler?.stop();
    await this.#unhandleBlobs?.().catch(() => undefined);
    this.client.close();
    this.#liveness.stop();
    this.directory.stop();
    await this.node.stop();
  }

  /** Tells peers at once that what this host serves changed (a load or unload). */
  statusChanged(): void {
    this.#gossip.changed();
  }

  /**
   * Runs a request on the best host for it: this one or a peer. A model nobody serves gets the
   * local server's own answer (Triton's "unknown model" errors).
   */
  infer(req: InferRequest, options: MeshInferCallOptions = {}): Promise<InferResponse> {
    let sequence;
    try {
      sequence = sequenceFlagsOf(req.parameters);
    } catch (e) {
      return Promise.reject(e);
    }
    // A request of a sequence goes to the peer holding the sequence's state (sequence-affinity.ts).
    // Models known here to have no sequence batcher ignore sequence ids (as Triton does): routed freely.
    const localConfig = sequence === undefined ? undefined : this.#localVersion(req.modelName, req.modelVersion)?.config;
    if (sequence !== undefined && (localConfig === undefined || localConfig.sequence_batching !== undefined)) {
      return this.sequences.infer(req, sequence, options);
    }
    return this.#route(req, options);
  }

  /** Routes one request: router choice among the local host and the peers, with failover. */
  async #route(req: InferRequest, options: MeshInferCallOptions = {}): Promise<InferResponse> {
    const target = this.#targetVersion(req.modelName, req.modelVersion);
    const local = this.#localVersion(req.modelName, target);
    const remote = target === undefined ? [] : this.directory.peersServing(req.modelName, target).filter((e) => e.peerId !== this.peerId);
    if (!local && remote.length === 0) {
      if (this.#core) return this.#core.infer(req, { signal: options.signal });
      throw notFound(`Request for unknown model: '${req.modelName}' is not found on any peer of the mesh`);
    }
    const budget = options.timeoutMs ?? this.#init.defaultDeadlineMs ?? DEFAULT_MESH_DEADLINE_MS;
    const deadlineMs = this.#clock.now() + budget;
    const deadlineUnixMs = this.#clock.epochMs() + budget;
    let attempts = 0;
    // The first attempt uses the target just computed; a failover re-reads it (gossip may have moved on).
    let firstTarget: string | undefined | null = target;
    this.#inflight++;
    try {
      const resp = await this.router.route(
        () => {
          const version = firstTarget !== null ? firstTarget : this.#targetVersion(req.modelName, req.modelVersion);
          firstTarget = null;
          return this.#candidates(req.modelName, version);
        },
        (c, signal) => {
          if (attempts++ > 0) this.counters.retries++;
          this.sequences.attempted(req, c.peerId);
          if (c.local) {
            this.counters.routedLocal++;
            return this.#core!.infer(req, { signal });
          }
          this.counters.routedRemote++;
          // a browser tab we have no connection to is reached through a host it is connected to
          return this.client.infer(this.#viaOf(c.peerId) ?? c.peerId, req, { signal, deadlineUnixMs });
        },
        { deadlineMs, signal: options.signal, label: `model '${req.modelName}'${req.modelVersion ? ` version ${req.modelVersion}` : ''}` },
      );
      return resp;
    } catch (e) {
      this.counters.failed++;
      throw e;
    } finally {
      this.#inflight--;
    }
  }

  /** Metadata of a model only peers serve, from their reports (COMPAT-NOTES §1.4 shape). */
  remoteMetadata(name: string, version?: string): ModelMetadata | undefined {
    const entries = this.directory.peersServing(name, version);
    const m = entries.map((e) => e.status!.models.find((s) => s.name === name)!).find(Boolean);
    if (!m) return undefined;
    const versions = version ? [version] : [...new Set(entries.flatMap((e) => e.status!.models.find((s) => s.name === name)!.versions))]
      .sort((a, b) => Number(a) - Number(b));
    const sig = (t: { name: string; datatype: string; shape: bigint[] }) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(Number) });
    return { name, versions, platform: m.platform, inputs: m.inputs.map(sig), outputs: m.outputs.map(sig) };
  }

  /** `GET /v2/mesh`: this host and the peer directory. */
  snapshot(): { peer_id: string; addresses: string[]; role: string; peers: MeshPeerJson[] } {
    return {
      peer_id: this.peerId,
      addresses: this.node.multiaddrs().map((a) => a.toString()),
      role: this.#init.role ?? (this.#core ? 'server' : 'client'),
      peers: this.directory.snapshot().filter((p) => p.peer_id !== this.peerId),
    };
  }

  // ---------------------------------------------------------------------------------------

  /**
   * The version a request is routed to. An explicit version is taken as asked (canonical form,
   * `02` = `2`). A request without one goes to the highest version READY anywhere in the mesh
   * (this host, or a peer's unexpired report), so the mesh answers like one Triton server,
   * whose unversioned requests go to its highest READY version (COMPAT-NOTES §3.2); hosts still
   * serving only older versions get no unversioned traffic (ARCHITECTURE.md, "Versions in the
   * mesh"). Undefined when nobody serves the model.
   */
  #targetVersion(model: string, version?: string): string | undefined {
    if (version !== undefined && version !== '') return /^[0-9]+$/.test(version) ? String(Number(version)) : version;
    let best = -1;
    if (this.#core) for (const s of this.#core.repository.readyVersions(model)) best = Math.max(best, s.version);
    for (const e of this.directory.peersServing(model)) {
      if (e.peerId === this.peerId) continue;
      for (const v of e.status!.models.find((s) => s.name === model)!.versions) {
        const n = Number(v);
        if (/^[0-9]+$/.test(v) && Number.isSafeInteger(n)) best = Math.max(best, n);
      }
    }
    return best < 0 ? undefined : String(best);
  }

  #localVersion(name: string, version?: string): ServedVersion | undefined {
    if (!this.#core) return undefined;
    try {
      return this.#core.repository.get(name, version);
    } catch {
      return undefined;
    }
  }

  #meter(s: ServedVersion): ThroughputMeter {
    let m = this.#meters.get(s);
    if (!m) {
      m = new ThroughputMeter({ instances: s.instances.length });
      this.#meters.set(s, m);
    }
    return m;
  }

  #candidates(model: string, version?: string): RouteCandidate[] {
    const out: RouteCandidate[] = [];
    if (version === undefined) return out;
    // While withdrawn (shutdown grace), requests entering here go to a peer when one serves the model.
    const local = this.#withdrawn && this.directory.peersServing(model, version).some((e) => e.peerId !== this.peerId)
      ? undefined
      : this.#localVersion(model, version);
    if (local) {
      const throughput = this.#meter(local).itemsPerSecond;
      // Everything in the local system (queued and executing), the same measure peers report as queued + in_flight.
      out.push({ peerId: this.peerId, local: true, queued: this.#core!.inflightOf(local), throughput, capacity: throughput, rttMs: 0, reportAgeMs: 0 });
    }
    for (const e of this.directory.peersServing(model, version)) {
      if (e.peerId === this.peerId) continue;
      const m = e.status!.models.find((s) => s.name === model)!;
      // Liveness weighs here (peersServing leaves it to its caller, ARCHITECTURE-GUIDE §7): a
      // peer with no open connection (it died, or the link dropped) keeps its last report until
      // that expires, and a dead peer fails fast, so it looks idle and would win almost every
      // choice, making each request pay a failed attempt (up to a dial timeout) first. Its
      // report counts as stale instead: drawn only when no connected peer serves the model, and
      // still reachable then (dialed on use).
      const reportAgeMs = e.connected || this.#viaOf(e.peerId) !== undefined ? this.directory.ageMs(e.peerId) ?? 0 : Infinity;
      out.push({
        peerId: e.peerId, local: false, queued: m.queued + m.inFlight, throughput: m.throughput,
        capacity: m.throughput, rttMs: e.rttMs ?? 1, reportAgeMs,
      });
    }
    return withThroughputPrior(out);
  }

  /**
   * Serves a request that arrived over the mesh. A browser tab cannot listen, so only peers it
   * dialed can reach it; others (client-only peers, TCP-only hosts) send its requests to a
   * server it is connected to (its relay addresses, #viaOf). A server that does not serve the
   * model itself forwards such a request, once, to a connected tab that does. Tabs never
   * forward, so a request takes at most one extra hop and cannot loop.
   */
  #serve(core: InferenceServer, req: InferRequest, opts: MeshServeOptions): Promise<InferResponse> {
    const role = this.#init.role ?? 'server';
    const version = this.#targetVersion(req.modelName, req.modelVersion);
    if (role !== 'server' || version === undefined || this.#localVersion(req.modelName, version)) return core.infer(req, { signal: opts.signal });
    const from = opts.peer.toString();
    const tabs = new Set(this.directory.peersServing(req.modelName, version)
      .filter((e) => e.connected && e.peerId !== from && e.status?.role === 'PEER_ROLE_BROWSER').map((e) => e.peerId));
    if (tabs.size === 0) return core.infer(req, { signal: opts.signal });
    const deadlineUnixMs = opts.deadlineUnixMs ?? this.#clock.epochMs() + (this.#init.defaultDeadlineMs ?? DEFAULT_MESH_DEADLINE_MS);
    this.counters.forwarded++;
    return this.router.route(
      () => this.#candidates(req.modelName, version).filter((c) => tabs.has(c.peerId)),
      (c, signal) => this.client.infer(c.peerId, req, { signal, deadlineUnixMs }),
      { deadlineMs: this.#clock.now() + (deadlineUnixMs - this.#clock.epochMs()), signal: opts.signal, label: `model '${req.modelName}' (forwarded to a browser tab)` },
    );
  }

  /**
   * The connected server through which a browser tab we are not connected to can be reached:
   * tabs advertise `/p2p/<server>/p2p-circuit/p2p/<tab>` for each server they are connected to
   * (the circuit-relay address form, so a real relay transport could dial it too).
   */
  #viaOf(peerId: string): string | undefined {
    const e = this.directory.get(peerId);
    if (!e?.status || e.connected || e.status.role !== 'PEER_ROLE_BROWSER') return undefined;
    for (const a of e.status.addresses) {
      const m = RELAY_ADDRESS.exec(a);
      if (m && m[2] === peerId && m[1] !== this.peerId && this.directory.get(m[1])?.connected) return m[1];
    }
    return undefined;
  }

  /** A tab's relay addresses: one per connected server (peers that forward to it). */
  #relayAddresses(): string[] {
    return this.directory.peers()
      .filter((e) => e.connected && e.status?.role === 'PEER_ROLE_SERVER')
      .slice(0, MAX_RELAY_ADDRESSES)
      .map((e) => `/p2p/${e.peerId}/p2p-circuit/p2p/${this.peerId}`);
  }

  #localStatus(): LocalStatus {
    const models: ModelStatus[] = [];
    let capacity = 0;
    let queued = 0;
    // Files of versions unloaded since the last report are forgotten (and no longer served).
    this.#files?.prune();
    // Withdrawn (shutdown grace): no models, so every router stops choosing this host.
    if (this.#core && !this.#withdrawn) {
      const byName = new Map<string, ServedVersion[]>();
      for (const s of this.#core.repository.allReady()) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
      for (const [name, versions] of byName) {
        const latest = versions[versions.length - 1];
        const meta = metadataOf(latest.config, versions.map((v) => String(v.version)));
        let throughput = 0;
        let pending = 0;
        let inSystem = 0;
        for (const v of versions) {
          throughput = Math.max(throughput, this.#meter(v).update(v.stats.counters()));
          pending += v.scheduler.pendingCount;
          inSystem += this.#core.inflightOf(v);
        }
        capacity += throughput;
        queued += pending;
        const sig = (t: { name: string; datatype: string; shape: number[] }) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(BigInt) });
        models.push({
          name, versions: meta.versions, platform: meta.platform, maxBatchSize: latest.config.max_batch_size,
          inputs: meta.inputs.map(sig), outputs: meta.outputs.map(sig), throughput, queued: pending, inFlight: Math.max(0, inSystem - pending),
          files: this.#files?.filesOf(versions) ?? [],
        });
      }
    }
    const status: LocalStatus = { engines: this.#init.engines?.() ?? [], capacity, queued, inFlight: this.#core?.inflight ?? this.#inflight, models };
    if (this.#init.role === 'browser') status.addresses = this.#relayAddresses();
    return status;
  }
}

/** `/p2p/<relay>/p2p-circuit/p2p/<target>`: how a browser tab says which servers reach it. */
const RELAY_ADDRESS = /^(?:\/.+)?\/p2p\/([^/]+)\/p2p-circuit\/p2p\/([^/]+)$/;

/** 8 relay addresses at most in a tab's report: enough choice, and the report stays small. */
const MAX_RELAY_ADDRESSES = 8;
