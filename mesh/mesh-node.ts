/**
 * The libp2p node every infermesh peer runs: noise encryption, yamux multiplexing, identify,
 * ping, gossipsub (status topic) and bootstrap discovery, with optional private-network key
 * (pnet) and peer allowlist. Transports are injected by the host (TCP/WebSockets in Node,
 * WebSockets/WebRTC in browsers, memory in tests), so this file has no runtime dependency.
 *
 * This is the only file that imports `@libp2p/gossipsub`; switching back to
 * `@chainsafe/libp2p-gossipsub` is a change of the import below. Others use {@link MeshPubSub}
 * and {@link TopicValidatorResult} from here.
 *
 * What libp2p 3 does not do for us, done here:
 * - discovered peers are not dialed automatically: every `peer:discovery` (bootstrap list,
 *   addresses from gossiped status) enters a redial loop with backoff;
 * - two peers that discover each other at once would both dial and end up with two
 *   connections (gossipsub then breaks when one closes), so the peer with the larger id waits
 *   {@link DEFAULT_DIAL_TIE_BREAK_MS} before dialing: usually the other side's dial lands first;
 * - a dial to a node with another pre-shared key can hang: every dial has a timeout.
 */
import { createLibp2p } from 'libp2p';
import type { Libp2p, Libp2pInit } from 'libp2p';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import type { Identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import type { Ping } from '@libp2p/ping';
import { bootstrap } from '@libp2p/bootstrap';
import { preSharedKey } from '@libp2p/pnet';
import { gossipsub } from '@libp2p/gossipsub';
import type { GossipSub } from '@libp2p/gossipsub';
import { TypedEventEmitter } from '@libp2p/interface';
import type { Connection, PeerId, PrivateKey, Startable } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import type { Multiaddr } from '@multiformats/multiaddr';
import { silentLogger } from '../core/logger.ts';
import type { Logger } from '../core/logger.ts';
import { parseSwarmKey } from './identity.ts';
import { STATUS_TOPIC } from './protocol-ids.ts';

export { TopicValidatorResult } from '@libp2p/gossipsub';
export type { Message as PubSubMessage, TopicValidatorFn } from '@libp2p/gossipsub';

/** The pubsub service as the rest of mesh/ sees it. */
export type MeshPubSub = GossipSub;

/** libp2p services every mesh node runs. */
export interface MeshServices extends Record<string, unknown> {
  identify: Identify;
  ping: Ping;
  pubsub: MeshPubSub;
}

/** A transport factory as libp2p takes it (`tcp()`, `webSockets()`, `memory()`). */
export type TransportFactory = NonNullable<Libp2pInit['transports']>[number];

/**
 * 5 s: a dial on a LAN completes in milliseconds; a dial to a node with a different swarm key
 * never completes (the handshake bytes are garbage to it), so this bounds how long that takes
 * to fail.
 */
export const DEFAULT_DIAL_TIMEOUT_MS = 5_000;

/** 1 s: the first retry of a failed dial; doubles up to {@link DEFAULT_MAX_REDIAL_MS}. */
export const DEFAULT_REDIAL_MS = 1_000;

/** 30 s: retries of a peer that stays unreachable settle at this interval. */
export const DEFAULT_MAX_REDIAL_MS = 30_000;

/** 5: a peer learnt from gossip (not the bootstrap list) is forgotten after this many failed dials in a row. */
export const DEFAULT_MAX_DIAL_FAILURES = 5;

/**
 * 500 ms: how long the peer with the larger id waits before dialing a peer it discovered, so
 * that when both discover each other at once only the smaller id's dial happens.
 */
export const DEFAULT_DIAL_TIE_BREAK_MS = 500;

/**
 * 256 (libp2p: 10): streams a peer may open before the connection is fully set up. An infer
 * burst right after connecting opens one stream per request; more than the limit kills the
 * connection.
 */
export const DEFAULT_MAX_EARLY_STREAMS = 256;

/** 1024 streams per direction per connection (yamux's default 1000, rounded). */
export const DEFAULT_MAX_STREAMS = 1024;

/** 300 connections: a LAN mesh is a full mesh up to this many peers. */
export const DEFAULT_MAX_CONNECTIONS = 300;

/**
 * 50 inbound connections per second per host (libp2p: 5). Peers behind one NAT, or many test
 * nodes on 127.0.0.1, share an address; libp2p's default refuses them after the fifth.
 */
export const DEFAULT_INBOUND_CONNECTION_THRESHOLD = 50;

/** 5 s: libp2p's connection monitor pings every connection this often (rtt, dead-peer detection). */
export const DEFAULT_PING_INTERVAL_MS = 5_000;

/** 1 MiB: the largest gossipsub RPC frame read from a peer (status reports are far smaller). */
export const DEFAULT_MAX_PUBSUB_FRAME_BYTES = 1 << 20;

/** Construction options of {@link createMeshNode}. */
export interface MeshNodeInit {
  /** Persistent identity (see identity.ts); a fresh Ed25519 key when absent. */
  privateKey?: PrivateKey;
  /** Transports, injected by the host. */
  transports: TransportFactory[];
  /** Multiaddrs to listen on (`/ip4/0.0.0.0/tcp/4001`, `/memory/a`). */
  listen: string[];
  /** Multiaddrs to announce instead of the listen addresses (NAT, containers). */
  announce?: string[];
  /** Peers to connect to at start: multiaddrs ending in `/p2p/<peer id>`. */
  bootstrap?: string[];
  /** Private network: the swarm key file's bytes (identity.ts). Nodes without it cannot connect. */
  swarmKey?: Uint8Array;
  /** When set, only these peer ids may connect (either direction). */
  allowPeers?: string[];
  /** Per-dial timeout (default {@link DEFAULT_DIAL_TIMEOUT_MS}). */
  dialTimeoutMs?: number;
  /** First redial delay (default {@link DEFAULT_REDIAL_MS}). */
  redialMs?: number;
  /** Tie-break delay (default {@link DEFAULT_DIAL_TIE_BREAK_MS}). */
  dialTieBreakMs?: number;
  maxConnections?: number;
  inboundConnectionThreshold?: number;
  maxEarlyStreams?: number;
  pingIntervalMs?: number;
  /** Largest gossipsub frame accepted (default {@link DEFAULT_MAX_PUBSUB_FRAME_BYTES}). */
  maxPubSubFrameBytes?: number;
  /** Gossipsub heartbeat (default 1000 ms, gossipsub's own). */
  pubsubHeartbeatMs?: number;
  /** Topics this node may take part in (default: the status topic). */
  topics?: string[];
  logger?: Logger;
}

/** Events of a MeshNode: a peer's first connection opened / last connection closed. */
export interface MeshNodeEvents {
  'peer:connect': CustomEvent<PeerId>;
  'peer:disconnect': CustomEvent<PeerId>;
}

interface WantedPeer {
  peerId: PeerId;
  bootstrap: boolean;
  failures: number;
  /** When the next dial may start (epoch ms). */
  notBefore: number;
}

/**
 * A started-or-stopped libp2p node with auto-dial. Create with {@link createMeshNode}.
 * `libp2p` is exposed for the stream protocols (`handle`, `dialProtocol`).
 */
export class MeshNode extends TypedEventEmitter<MeshNodeEvents> implements Startable {
  readonly libp2p: Libp2p<MeshServices>;
  readonly #log: Logger;
  readonly #dialTimeoutMs: number;
  readonly #redialMs: number;
  readonly #tieBreakMs: number;
  readonly #bootstrap: Multiaddr[];
  readonly #wanted = new Map<string, WantedPeer>();
  readonly #dialing = new Set<string>();
  readonly #allow: ReadonlySet<string> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #state: 'stopped' | 'starting' | 'started' | 'stopping' = 'stopped';
  #transition: Promise<void> = Promise.resolve();

  /** Use {@link createMeshNode}. */
  constructor(libp2p: Libp2p<MeshServices>, init: MeshNodeInit) {
    super();
    this.libp2p = libp2p;
    this.#log = (init.logger ?? silentLogger).child({ component: 'mesh-node' });
    this.#dialTimeoutMs = init.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.#redialMs = init.redialMs ?? DEFAULT_REDIAL_MS;
    this.#tieBreakMs = init.dialTieBreakMs ?? DEFAULT_DIAL_TIE_BREAK_MS;
    this.#bootstrap = (init.bootstrap ?? []).map((a) => multiaddr(a));
    this.#allow = init.allowPeers ? new Set(init.allowPeers) : undefined;
    libp2p.addEventListener('peer:discovery', (e) => this.#want(e.detail.id, false));
    libp2p.addEventListener('peer:connect', (e) => {
      const w = this.#wanted.get(e.detail.toString());
      if (w) w.failures = 0;
      this.safeDispatchEvent('peer:connect', { detail: e.detail });
    });
    libp2p.addEventListener('peer:disconnect', (e) => {
      const w = this.#wanted.get(e.detail.toString());
      // reconnect soon, but not at once: the peer may be restarting
      if (w) {
        w.notBefore = Date.now() + this.#redialMs;
        this.#schedule(this.#redialMs);
      }
      this.safeDispatchEvent('peer:disconnect', { detail: e.detail });
    });
  }

  /** This node's peer id. */
  get peerId(): PeerId {
    return this.libp2p.peerId;
  }

  /** The pubsub (gossipsub) service. */
  get pubsub(): MeshPubSub {
    return this.libp2p.services.pubsub;
  }

  /** Addresses others can dial, each ending in `/p2p/<this peer id>`. */
  multiaddrs(): Multiaddr[] {
    return this.libp2p.getMultiaddrs();
  }

  /** True between a completed start and the next stop. */
  isStarted(): boolean {
    return this.#state === 'started';
  }

  /** Starts libp2p and the dial loop. Idempotent; concurrent calls share one start. */
  async start(): Promise<void> {
    if (this.#state === 'started' || this.#state === 'starting') return this.#transition;
    await this.#transition;
    this.#state = 'starting';
    this.#transition = (async () => {
      await this.libp2p.start();
      // bootstrap entries are dialed by multiaddr so the first dial does not wait for discovery
      for (const ma of this.#bootstrap) {
        const id = ma.getComponents().find((c) => c.name === 'p2p')?.value;
        if (id === undefined) {
          this.#log.warn('bootstrap address has no /p2p/<peer id>; ignored', { address: ma.toString() });
          continue;
        }
        const peerId = peerIdFromString(id);
        await this.libp2p.peerStore.merge(peerId, { multiaddrs: [ma] }).catch(() => undefined);
        this.#want(peerId, true);
      }
      this.#state = 'started';
      this.#schedule(0);
    })();
    return this.#transition;
  }

  /** Stops the dial loop and libp2p (closing every connection). Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return this.#transition;
    await this.#transition;
    this.#state = 'stopping';
    this.#transition = (async () => {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      await this.libp2p.stop();
      this.#state = 'stopped';
    })();
    return this.#transition;
  }

  /** Peers with at least one open connection. */
  connectedPeers(): PeerId[] {
    return this.libp2p.getPeers();
  }

  /** Round-trip time to a connected peer (libp2p's connection monitor), if measured yet. */
  rttMs(peer: PeerId): number | undefined {
    let best: number | undefined;
    for (const c of this.libp2p.getConnections(peer)) if (c.rtt !== undefined && (best === undefined || c.rtt < best)) best = c.rtt;
    return best;
  }

  /**
   * Records addresses learnt elsewhere (a gossiped status) and dials the peer if not
   * connected. Unparseable addresses are skipped.
   */
  async discover(peerId: PeerId, addresses: readonly string[]): Promise<void> {
    if (peerId.equals(this.peerId)) return;
    const multiaddrs: Multiaddr[] = [];
    for (const a of addresses) {
      try { multiaddrs.push(multiaddr(a)); } catch { /* a peer's bad address must not stop the others */ }
    }
    if (multiaddrs.length > 0) await this.libp2p.peerStore.merge(peerId, { multiaddrs }).catch(() => undefined);
    this.#want(peerId, false);
  }

  /** Dials a peer or address, bounded by the dial timeout (and `signal`). */
  async dial(target: PeerId | Multiaddr, options: { signal?: AbortSignal } = {}): Promise<Connection> {
    const timeout = AbortSignal.timeout(this.#dialTimeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    return this.libp2p.dial(target, { signal });
  }

  #want(peerId: PeerId, bootstrap: boolean): void {
    const key = peerId.toString();
    if (peerId.equals(this.peerId) || (this.#allow !== undefined && !this.#allow.has(key))) return;
    const existing = this.#wanted.get(key);
    if (existing) {
      existing.bootstrap ||= bootstrap;
      return;
    }
    // the larger id lets the smaller one dial first (see file comment); bootstrap peers may
    // not know us at all, so the delay only postpones, never prevents, our dial
    const delay = key < this.peerId.toString() ? this.#tieBreakMs : 0;
    this.#wanted.set(key, { peerId, bootstrap, failures: 0, notBefore: Date.now() + delay });
    if (this.#state === 'started') this.#schedule(delay);
  }

  /** Runs the dial loop in `ms`, unless it is already due sooner. */
  #schedule(ms: number): void {
    if ((this.#state !== 'started' && this.#state !== 'starting') || !Number.isFinite(ms)) return;
    const at = Date.now() + Math.max(0, ms);
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, ms));
  }

  /** Dials every wanted peer that is due and not connected, then sleeps until the next is due. */
  #tick(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.#state !== 'started') return;
    const now = Date.now();
    let next = Infinity;
    for (const [key, w] of this.#wanted) {
      if (this.#dialing.has(key)) continue;
      if (this.libp2p.getConnections(w.peerId).length > 0) {
        next = Math.min(next, now + DEFAULT_MAX_REDIAL_MS); // re-check later in case it drops
        continue;
      }
      if (w.notBefore > now) {
        next = Math.min(next, w.notBefore);
        continue;
      }
      this.#dialing.add(key);
      this.dial(w.peerId)
        .then(() => { w.failures = 0; })
        .catch((e: unknown) => {
          w.failures++;
          if (!w.bootstrap && w.failures >= DEFAULT_MAX_DIAL_FAILURES) {
            this.#wanted.delete(key);
            this.#log.debug('giving up on peer', { peer: key, reason: String(e) });
            return;
          }
          w.notBefore = Date.now() + Math.min(this.#redialMs * 2 ** (w.failures - 1), DEFAULT_MAX_REDIAL_MS);
          this.#log.debug('dial failed', { peer: key, failures: w.failures, reason: (e as Error)?.message ?? String(e) });
        })
        .finally(() => {
          this.#dialing.delete(key);
          const w2 = this.#wanted.get(key);
          if (w2 !== undefined) this.#schedule(w2.notBefore - Date.now());
        });
    }
    this.#schedule(next - now);
  }
}

/**
 * Creates a mesh node (not started: call `start()`).
 * @throws Error when the swarm key is malformed (see identity.ts `parseSwarmKey`).
 */
export async function createMeshNode(init: MeshNodeInit): Promise<MeshNode> {
  const allow = init.allowPeers ? new Set(init.allowPeers) : undefined;
  const denied = (p: PeerId) => allow !== undefined && !allow.has(p.toString());
  const streams = DEFAULT_MAX_STREAMS;
  const libp2p = await createLibp2p<MeshServices>({
    start: false,
    privateKey: init.privateKey,
    addresses: { listen: init.listen, announce: init.announce },
    transports: init.transports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({
      maxEarlyStreams: init.maxEarlyStreams ?? DEFAULT_MAX_EARLY_STREAMS,
      maxInboundStreams: streams,
      maxOutboundStreams: streams,
    })],
    connectionProtector: init.swarmKey ? preSharedKey({ psk: parseSwarmKey(init.swarmKey) }) : undefined,
    connectionGater: {
      // LAN meshes dial private addresses; libp2p's browser default refuses them
      denyDialMultiaddr: () => false,
      denyDialPeer: denied,
      denyInboundEncryptedConnection: denied,
      denyOutboundEncryptedConnection: denied,
    },
    connectionManager: {
      maxConnections: init.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      dialTimeout: init.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
      inboundUpgradeTimeout: init.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
      inboundConnectionThreshold: init.inboundConnectionThreshold ?? DEFAULT_INBOUND_CONNECTION_THRESHOLD,
    },
    connectionMonitor: { pingInterval: init.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS },
    peerDiscovery: init.bootstrap && init.bootstrap.length > 0 ? [bootstrap({ list: init.bootstrap, timeout: 0 })] : [],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        fallbackToFloodsub: false,
        emitSelf: false,
        maxInboundDataLength: init.maxPubSubFrameBytes ?? DEFAULT_MAX_PUBSUB_FRAME_BYTES,
        allowedTopics: init.topics ?? [STATUS_TOPIC],
        heartbeatInterval: init.pubsubHeartbeatMs ?? 1_000,
      }),
    },
  });
  return new MeshNode(libp2p, init);
}
