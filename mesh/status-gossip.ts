/**
 * Publishes this peer's load report (PeerStatus, protocol/mesh.proto) on the status topic every
 * interval, at once when the host says something changed, and soon after a peer joins (so a
 * newcomer learns about everyone within one round trip); and admits other peers' reports into
 * the PeerDirectory.
 *
 * Every received report passes a topic validator first, so nothing unchecked reaches the
 * directory or gets forwarded by gossipsub:
 * - Reject (the forwarding peer is penalised by gossipsub's scoring): unsigned, larger than the
 *   limit, not a valid PeerStatus, or `peer_id` differing from the key that signed the message
 *   (impersonation);
 * - Ignore (dropped quietly; honest peers cause these): an unknown schema version, or a
 *   sequence number not above the last one accepted from that peer (reordered or replayed).
 *
 * Sequence numbers start at the wall clock (ms) and increase by one per report, so a restarted
 * peer continues above its previous numbers without storing anything.
 */
import { TypedEventEmitter } from '@libp2p/interface';
import type { Startable } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { systemClock } from '../core/clock.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { silentLogger } from '../core/logger.ts';
import type { Logger } from '../core/logger.ts';
import { PeerStatus } from '../protocol/mesh-pb.ts';
import type { ModelStatus, PeerRole } from '../protocol/mesh-pb.ts';
import { TopicValidatorResult } from './mesh-node.ts';
import type { MeshNode, PubSubMessage } from './mesh-node.ts';
import { STATUS_SCHEMA_VERSION, STATUS_TOPIC } from './protocol-ids.ts';
import { DEFAULT_STATUS_INTERVAL_MS } from './peer-directory.ts';
import type { PeerDirectory } from './peer-directory.ts';

/**
 * 64 KiB: a report with a few hundred models and their signatures fits; anything larger is
 * refused before decoding. Every peer of a mesh must use the same limit.
 */
export const DEFAULT_MAX_STATUS_BYTES = 64 * 1024;

/** 50 ms: bursts of triggers (several peers joining at once) coalesce into one report. */
export const DEFAULT_MIN_PUBLISH_GAP_MS = 50;

/** Bounds on the repeated fields of a report, checked while decoding. */
const STATUS_DECODE_LIMITS = {
  addresses: 64, engines: 64, models: 4096,
  models$: { versions: 1024, inputs: 1024, outputs: 1024, files: 1024, inputs$: { shape: 64 }, outputs$: { shape: 64 } },
};

/** What kind of peer this is. */
export type MeshRole = 'server' | 'client' | 'browser';

const ROLE: Record<MeshRole, PeerRole> = {
  server: 'PEER_ROLE_SERVER', client: 'PEER_ROLE_CLIENT', browser: 'PEER_ROLE_BROWSER',
};

/** The host's current figures, asked for at every publish. */
export interface LocalStatus {
  /** Backends/devices, e.g. `onnxruntime-node:cuda`. */
  engines: string[];
  /** Relative capacity weight for weighted sampling (e.g. summed measured throughput). */
  capacity: number;
  queued: number;
  inFlight: number;
  models: ModelStatus[];
  /** Addresses to advertise instead of the node's listen addresses (a browser's relay addresses). */
  addresses?: string[];
}

/** Why a received report was refused. */
export type StatusRejectReason = 'unsigned' | 'oversized' | 'malformed' | 'schema' | 'impersonation' | 'stale';

/** A refused report: the signer, the reason, and a human-readable detail. */
export interface StatusRejection {
  from: string;
  reason: StatusRejectReason;
  detail: string;
}

/** The outcome of {@link checkStatusMessage}. */
export type StatusVerdict = { ok: true; status: PeerStatus } | ({ ok: false } & StatusRejection);

/** Events: a report accepted into the directory, refused, or published by this peer. */
export interface StatusGossipEvents {
  'status:accepted': CustomEvent<PeerStatus>;
  'status:rejected': CustomEvent<StatusRejection>;
  'status:published': CustomEvent<PeerStatus>;
}

/** Serialises a report. */
export function encodePeerStatus(status: Partial<PeerStatus>): Uint8Array {
  return PeerStatus.encode(status);
}

/**
 * Parses a report within `maxBytes` and the repeated-field bounds.
 * @throws Error saying what is wrong.
 */
export function decodePeerStatus(bytes: Uint8Array, maxBytes = DEFAULT_MAX_STATUS_BYTES): PeerStatus {
  if (bytes.byteLength > maxBytes) throw new Error(`status report is ${bytes.byteLength} bytes, over the limit of ${maxBytes}`);
  return PeerStatus.decode(bytes, { limits: STATUS_DECODE_LIMITS });
}

/**
 * The validator's decision for one pubsub message, without side effects (so it can be tested
 * on crafted messages). `lastSeq` gives the last accepted sequence number of a peer.
 */
export function checkStatusMessage(
  msg: PubSubMessage, opts: { maxBytes: number; lastSeq: (peerId: string) => number | undefined },
): StatusVerdict {
  if (msg.type !== 'signed') {
    return { ok: false, from: 'unknown', reason: 'unsigned', detail: 'status reports must be signed by their publisher' };
  }
  const from = msg.from.toString();
  if (msg.data.byteLength > opts.maxBytes) {
    return { ok: false, from, reason: 'oversized', detail: `${msg.data.byteLength} bytes, over the limit of ${opts.maxBytes}` };
  }
  let status: PeerStatus;
  try {
    status = decodePeerStatus(msg.data, opts.maxBytes);
  } catch (e) {
    return { ok: false, from, reason: 'malformed', detail: (e as Error).message };
  }
  if (status.schemaVersion !== STATUS_SCHEMA_VERSION) {
    return { ok: false, from, reason: 'schema', detail: `schema version ${status.schemaVersion}, this peer reads ${STATUS_SCHEMA_VERSION}` };
  }
  if (status.peerId !== from) {
    return { ok: false, from, reason: 'impersonation', detail: `report claims to be from ${status.peerId} but is signed by ${from}` };
  }
  const last = opts.lastSeq(from);
  if (last !== undefined && status.seq <= last) {
    return { ok: false, from, reason: 'stale', detail: `sequence ${status.seq} is not above the last accepted ${last}` };
  }
  return { ok: true, status };
}

/** Options of {@link StatusGossip}. */
export interface StatusGossipInit {
  node: MeshNode;
  directory: PeerDirectory;
  role: MeshRole;
  /** The host's figures, read at every publish. */
  snapshot: () => LocalStatus;
  /** Publish interval (default 1000 ms); peers expire others after missed intervals. */
  intervalMs?: number;
  /** Largest report sent or accepted (default {@link DEFAULT_MAX_STATUS_BYTES}). */
  maxStatusBytes?: number;
  /** Dial peers whose reports arrive through others (default true: a LAN mesh is a full mesh). */
  discoverPeers?: boolean;
  clock?: Clock;
  logger?: Logger;
}

/** Publishes this peer's status and admits others' into the directory. */
export class StatusGossip extends TypedEventEmitter<StatusGossipEvents> implements Startable {
  readonly #init: StatusGossipInit;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #maxBytes: number;
  /** Decoded reports by message, so the message handler does not decode twice. */
  readonly #decoded = new WeakMap<PubSubMessage, PeerStatus>();
  #seq = 0;
  #started = false;
  #interval: TimerHandle | undefined;
  #soon: TimerHandle | undefined;
  #lastPublishAt = -Infinity;
  #last: PeerStatus | undefined;

  constructor(init: StatusGossipInit) {
    super();
    this.#init = init;
    this.#clock = init.clock ?? systemClock;
    this.#log = (init.logger ?? silentLogger).child({ component: 'status-gossip' });
    this.#intervalMs = init.intervalMs ?? DEFAULT_STATUS_INTERVAL_MS;
    this.#maxBytes = init.maxStatusBytes ?? DEFAULT_MAX_STATUS_BYTES;
  }

  /** The last report this peer published. */
  get lastPublished(): PeerStatus | undefined {
    return this.#last;
  }

  /** Subscribes, installs the validator, publishes at once and then every interval. Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const pubsub = this.#init.node.pubsub;
    pubsub.topicValidators.set(STATUS_TOPIC, this.#validate);
    pubsub.addEventListener('message', this.#onMessage);
    pubsub.addEventListener('subscription-change', this.#onSubscriptionChange);
    this.#init.node.addEventListener('peer:connect', this.#onConnect);
    pubsub.subscribe(STATUS_TOPIC);
    this.#tick();
  }

  /** Stops publishing and admitting reports. Idempotent. */
  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    for (const t of [this.#interval, this.#soon]) if (t !== undefined) this.#clock.clearTimer(t);
    this.#interval = this.#soon = undefined;
    const pubsub = this.#init.node.pubsub;
    if (pubsub.topicValidators.get(STATUS_TOPIC) === this.#validate) pubsub.topicValidators.delete(STATUS_TOPIC);
    pubsub.removeEventListener('message', this.#onMessage);
    pubsub.removeEventListener('subscription-change', this.#onSubscriptionChange);
    this.#init.node.removeEventListener('peer:connect', this.#onConnect);
    if (this.#init.node.isStarted()) pubsub.unsubscribe(STATUS_TOPIC);
  }

  /** Tells the gossip that the host's status changed (model loaded/unloaded): publish soon. */
  changed(): void {
    this.#publishSoon();
  }

  /** Builds, signs and publishes one report now. */
  async publishNow(): Promise<void> {
    if (!this.#started) return;
    const local = this.#init.snapshot();
    const now = this.#clock.epochMs();
    this.#seq = Math.max(this.#seq + 1, Math.floor(now));
    const status: PeerStatus = {
      schemaVersion: STATUS_SCHEMA_VERSION,
      peerId: this.#init.node.peerId.toString(),
      role: ROLE[this.#init.role],
      seq: this.#seq,
      sentAtMs: Math.floor(now),
      addresses: this.#init.node.multiaddrs().map((a) => a.toString()),
      ...local,
    };
    const bytes = encodePeerStatus(status);
    if (bytes.byteLength > this.#maxBytes) {
      this.#log.error('status report too large to publish; peers would reject it', { bytes: bytes.byteLength, limit: this.#maxBytes });
      return;
    }
    this.#lastPublishAt = this.#clock.now();
    this.#last = status;
    try {
      await this.#init.node.pubsub.publish(STATUS_TOPIC, bytes);
      this.safeDispatchEvent('status:published', { detail: status });
    } catch (e) {
      this.#log.debug('status publish failed', { reason: (e as Error)?.message ?? String(e) });
    }
  }

  readonly #validate = (_propagationSource: unknown, msg: PubSubMessage): TopicValidatorResult => {
    const verdict = checkStatusMessage(msg, { maxBytes: this.#maxBytes, lastSeq: (id) => this.#init.directory.lastSeq(id) });
    if (verdict.ok) {
      this.#decoded.set(msg, verdict.status);
      return TopicValidatorResult.Accept;
    }
    const { from, reason, detail } = verdict;
    this.#log.debug('status report refused', { from, reason, detail });
    this.safeDispatchEvent('status:rejected', { detail: { from, reason, detail } });
    return reason === 'stale' || reason === 'schema' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject;
  };

  readonly #onMessage = (e: CustomEvent<PubSubMessage>): void => {
    const msg = e.detail;
    if (msg.topic !== STATUS_TOPIC || msg.type !== 'signed') return;
    let status = this.#decoded.get(msg);
    if (status === undefined) {
      const verdict = checkStatusMessage(msg, { maxBytes: this.#maxBytes, lastSeq: (id) => this.#init.directory.lastSeq(id) });
      if (!verdict.ok) return;
      status = verdict.status;
    }
    // upsert re-checks the sequence: two reports validated back to back must not land out of order
    if (!this.#init.directory.upsert(status)) return;
    this.safeDispatchEvent('status:accepted', { detail: status });
    const peerId = peerIdFromString(status.peerId);
    if (this.#init.discoverPeers !== false && this.#init.node.libp2p.getConnections(peerId).length === 0) {
      void this.#init.node.discover(peerId, status.addresses).catch(() => undefined);
    }
  };

  readonly #onSubscriptionChange = (e: CustomEvent<{ subscriptions: { topic: string; subscribe: boolean }[] }>): void => {
    if (e.detail.subscriptions.some((s) => s.topic === STATUS_TOPIC && s.subscribe)) this.#publishSoon();
  };

  readonly #onConnect = (): void => this.#publishSoon();

  #tick(): void {
    void this.publishNow();
    if (this.#started) this.#interval = this.#clock.setTimer(() => this.#tick(), this.#intervalMs);
  }

  #publishSoon(): void {
    if (!this.#started || this.#soon !== undefined) return;
    const wait = Math.max(0, this.#lastPublishAt + DEFAULT_MIN_PUBLISH_GAP_MS - this.#clock.now());
    this.#soon = this.#clock.setTimer(() => {
      this.#soon = undefined;
      void this.publishNow();
    }, wait);
  }
}
