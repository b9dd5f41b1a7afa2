/**
 * What this node knows about every other peer: the latest accepted status report with its
 * age (load), and separately whether a connection is open and its round-trip time (liveness).
 * ARCHITECTURE-GUIDE §7: track the age of every report; liveness is separate from load.
 *
 * A report expires when the peer misses several in a row ({@link DEFAULT_EXPIRY_INTERVALS} ×
 * the publish interval + {@link DEFAULT_EXPIRY_GRACE_MS}); its peer then drops out of
 * `peersServing` even if a connection is still open. No libp2p here: status-gossip.ts and
 * peer-liveness.ts feed it, the router and `/v2/mesh` read it.
 */
import { TypedEventEmitter } from '@libp2p/interface';
import type { Startable } from '@libp2p/interface';
import { systemClock } from '../core/clock.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { PeerStatus } from '../protocol/mesh-pb.ts';

export type { ModelStatus, PeerRole, PeerStatus, TensorSignature } from '../protocol/mesh-pb.ts';

/** 1 s: how often peers publish their status (status-gossip.ts uses the same default). */
export const DEFAULT_STATUS_INTERVAL_MS = 1_000;

/** 3 missed reports: one lost or late message does not make a peer disappear. */
export const DEFAULT_EXPIRY_INTERVALS = 3;

/** 500 ms on top, for gossip propagation delay and timer jitter. */
export const DEFAULT_EXPIRY_GRACE_MS = 500;

/**
 * 10 000 peers whose last sequence number is remembered after their report expired, so an
 * old signed report replayed later is still recognised as stale.
 */
export const DEFAULT_MAX_REMEMBERED_SEQS = 10_000;

/** One peer as the directory sees it. */
export interface PeerEntry {
  peerId: string;
  /** Latest accepted report; undefined for a connected peer that has not reported yet. */
  status?: PeerStatus;
  /** When the report arrived (the directory clock's `now()`, ms). */
  receivedAtMs?: number;
  /** An open connection exists. */
  connected: boolean;
  /** Latest round-trip time, ms. */
  rttMs?: number;
}

/** Options of {@link PeerDirectory}. */
export interface PeerDirectoryInit {
  /** The publish interval peers use (default {@link DEFAULT_STATUS_INTERVAL_MS}). */
  intervalMs?: number;
  /** Age at which a report expires (default: 3 × interval + 500 ms). */
  expireAfterMs?: number;
  clock?: Clock;
}

/** Events: a report was accepted; a peer's report expired. */
export interface PeerDirectoryEvents {
  'peer:status': CustomEvent<PeerEntry>;
  'peer:expired': CustomEvent<string>;
}

/** The `/v2/mesh` JSON shape of one peer (snake_case like the rest of the HTTP API). */
export interface MeshPeerJson {
  peer_id: string;
  role: string;
  connected: boolean;
  rtt_ms: number | null;
  age_ms: number | null;
  seq: number | null;
  addresses: string[];
  engines: string[];
  capacity: number;
  queued: number;
  in_flight: number;
  models: { name: string; versions: string[]; platform: string; max_batch_size: number; throughput: number; queued: number; in_flight: number }[];
}

/** Per-peer latest status plus liveness; expires silent peers. Startable: the expiry sweep runs while started. */
export class PeerDirectory extends TypedEventEmitter<PeerDirectoryEvents> implements Startable {
  readonly intervalMs: number;
  readonly expireAfterMs: number;
  readonly #clock: Clock;
  readonly #entries = new Map<string, PeerEntry>();
  /** Last accepted sequence per peer, kept after expiry (insertion-ordered for pruning). */
  readonly #seqs = new Map<string, number>();
  #timer: TimerHandle | undefined;

  constructor(init: PeerDirectoryInit = {}) {
    super();
    this.intervalMs = init.intervalMs ?? DEFAULT_STATUS_INTERVAL_MS;
    this.expireAfterMs = init.expireAfterMs ?? DEFAULT_EXPIRY_INTERVALS * this.intervalMs + DEFAULT_EXPIRY_GRACE_MS;
    this.#clock = init.clock ?? systemClock;
  }

  /** Starts the periodic expiry sweep (every interval). Idempotent. */
  start(): void {
    if (this.#timer !== undefined) return;
    const sweep = () => {
      this.expire();
      this.#timer = this.#clock.setTimer(sweep, this.intervalMs);
    };
    this.#timer = this.#clock.setTimer(sweep, this.intervalMs);
  }

  /** Stops the sweep. Idempotent. Entries stay. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  /** The last accepted sequence number of a peer (also after its report expired). */
  lastSeq(peerId: string): number | undefined {
    return this.#seqs.get(peerId);
  }

  /**
   * Records an accepted report. Returns false (and changes nothing) when its sequence number is
   * not above the last one seen from that peer: a reordered or replayed report.
   */
  upsert(status: PeerStatus): boolean {
    const id = status.peerId;
    const last = this.#seqs.get(id);
    if (last !== undefined && status.seq <= last) return false;
    this.#seqs.delete(id); // re-insert: most recent last, so pruning drops the oldest
    this.#seqs.set(id, status.seq);
    if (this.#seqs.size > DEFAULT_MAX_REMEMBERED_SEQS) this.#seqs.delete(this.#seqs.keys().next().value!);
    const entry = this.#entry(id);
    entry.status = status;
    entry.receivedAtMs = this.#clock.now();
    this.safeDispatchEvent('peer:status', { detail: entry });
    return true;
  }

  /** Marks a peer connected or disconnected (liveness, independent of reports). */
  setConnected(peerId: string, connected: boolean): void {
    const entry = connected ? this.#entry(peerId) : this.#entries.get(peerId);
    if (entry === undefined) return;
    entry.connected = connected;
    if (!connected) entry.rttMs = undefined;
    this.#dropIfEmpty(peerId, entry);
  }

  /** Records a measured round-trip time to a peer. */
  setRtt(peerId: string, rttMs: number): void {
    const entry = this.#entries.get(peerId);
    if (entry !== undefined) entry.rttMs = rttMs;
  }

  /** A peer's entry, if known. */
  get(peerId: string): PeerEntry | undefined {
    return this.#entries.get(peerId);
  }

  /** Age of a peer's report in ms, or undefined when it has none. */
  ageMs(peerId: string): number | undefined {
    const at = this.#entries.get(peerId)?.receivedAtMs;
    return at === undefined ? undefined : this.#clock.now() - at;
  }

  /** Every known peer (with a report or a connection). */
  peers(): PeerEntry[] {
    return [...this.#entries.values()];
  }

  /**
   * Peers whose unexpired report lists `model` READY (and `version`, when given). Connected or
   * not: the caller weighs liveness (a disconnected peer is redialed on use).
   */
  peersServing(model: string, version?: string): PeerEntry[] {
    const now = this.#clock.now();
    const out: PeerEntry[] = [];
    for (const e of this.#entries.values()) {
      if (e.status === undefined || now - e.receivedAtMs! > this.expireAfterMs) continue;
      const m = e.status.models.find((s) => s.name === model);
      if (m !== undefined && m.versions.length > 0 && (version === undefined || version === '' || m.versions.includes(version))) out.push(e);
    }
    return out;
  }

  /** Drops reports older than `expireAfterMs`; returns the peers whose report expired. */
  expire(): string[] {
    const now = this.#clock.now();
    const expired: string[] = [];
    for (const [id, e] of this.#entries) {
      if (e.status === undefined || now - e.receivedAtMs! <= this.expireAfterMs) continue;
      e.status = undefined;
      e.receivedAtMs = undefined;
      expired.push(id);
      this.#dropIfEmpty(id, e);
    }
    for (const id of expired) this.safeDispatchEvent('peer:expired', { detail: id });
    return expired;
  }

  /** Every peer as `/v2/mesh` JSON, sorted by peer id. */
  snapshot(): MeshPeerJson[] {
    const now = this.#clock.now();
    return [...this.#entries.values()].sort((a, b) => (a.peerId < b.peerId ? -1 : 1)).map((e) => {
      const s = e.status;
      return {
        peer_id: e.peerId,
        role: s ? s.role.replace('PEER_ROLE_', '').toLowerCase() : 'unknown',
        connected: e.connected,
        rtt_ms: e.rttMs ?? null,
        age_ms: e.receivedAtMs === undefined ? null : Math.round(now - e.receivedAtMs),
        seq: s?.seq ?? null,
        addresses: s?.addresses ?? [],
        engines: s?.engines ?? [],
        capacity: s?.capacity ?? 0,
        queued: s?.queued ?? 0,
        in_flight: s?.inFlight ?? 0,
        models: (s?.models ?? []).map((m) => ({
          name: m.name, versions: m.versions, platform: m.platform, max_batch_size: m.maxBatchSize,
          throughput: m.throughput, queued: m.queued, in_flight: m.inFlight,
        })),
      };
    });
  }

  #entry(peerId: string): PeerEntry {
    let e = this.#entries.get(peerId);
    if (e === undefined) this.#entries.set(peerId, (e = { peerId, connected: false }));
    return e;
  }

  #dropIfEmpty(peerId: string, e: PeerEntry): void {
    if (e.status === undefined && !e.connected) this.#entries.delete(peerId);
  }
}
