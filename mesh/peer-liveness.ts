/**
 * Feeds a PeerDirectory with liveness from the node, independently of status reports:
 * connection opened/closed events, and round-trip times that libp2p's connection monitor
 * measures on every connection (it pings each one and closes it when pings fail, so a dead
 * peer turns into a disconnect here).
 */
import type { Startable } from '@libp2p/interface';
import type { MeshNode } from './mesh-node.ts';
import type { PeerDirectory } from './peer-directory.ts';

/** 1 s: how often measured rtts are copied into the directory. */
export const DEFAULT_RTT_REFRESH_MS = 1_000;

/** Keeps `directory`'s connected flags and rtts in step with `node` while started. */
export class PeerLiveness implements Startable {
  readonly #node: MeshNode;
  readonly #directory: PeerDirectory;
  readonly #refreshMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #onConnect = (e: CustomEvent<{ toString(): string }>) => this.#directory.setConnected(e.detail.toString(), true);
  readonly #onDisconnect = (e: CustomEvent<{ toString(): string }>) => this.#directory.setConnected(e.detail.toString(), false);

  constructor(node: MeshNode, directory: PeerDirectory, options: { refreshMs?: number } = {}) {
    this.#node = node;
    this.#directory = directory;
    this.#refreshMs = options.refreshMs ?? DEFAULT_RTT_REFRESH_MS;
  }

  /** Subscribes to connection events and starts the rtt refresh. Idempotent. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#node.addEventListener('peer:connect', this.#onConnect);
    this.#node.addEventListener('peer:disconnect', this.#onDisconnect);
    for (const p of this.#node.connectedPeers()) this.#directory.setConnected(p.toString(), true);
    this.#timer = setInterval(() => this.refresh(), this.#refreshMs);
  }

  /** Copies the current rtt of every connected peer into the directory. */
  refresh(): void {
    for (const p of this.#node.connectedPeers()) {
      const rtt = this.#node.rttMs(p);
      if (rtt !== undefined) this.#directory.setRtt(p.toString(), rtt);
    }
  }

  /** Unsubscribes. Idempotent. */
  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#node.removeEventListener('peer:connect', this.#onConnect);
    this.#node.removeEventListener('peer:disconnect', this.#onDisconnect);
  }
}
