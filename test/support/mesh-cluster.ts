/**
 * Helpers for mesh integration tests: start a few real libp2p nodes (memory or TCP transport)
 * with status gossip, a directory and liveness, and wait for conditions with a deadline
 * instead of fixed sleeps.
 */
import { memory } from '@libp2p/memory';
import type { PrivateKey } from '@libp2p/interface';
import { createMeshNode } from '../../mesh/mesh-node.ts';
import type { MeshNode, MeshNodeInit } from '../../mesh/mesh-node.ts';
import { generateIdentity, peerIdOf } from '../../mesh/identity.ts';
import { PeerDirectory } from '../../mesh/peer-directory.ts';
import { PeerLiveness } from '../../mesh/peer-liveness.ts';
import { StatusGossip } from '../../mesh/status-gossip.ts';
import type { LocalStatus, StatusGossipInit } from '../../mesh/status-gossip.ts';
import type { ModelStatus } from '../../protocol/mesh-pb.ts';

/** One started peer with its mesh parts. */
export interface TestPeer {
  name: string;
  node: MeshNode;
  directory: PeerDirectory;
  gossip: StatusGossip;
  liveness: PeerLiveness;
  /** What the peer reports; tests may change it and call `gossip.changed()`. */
  local: LocalStatus;
}

/** A model status entry for a test report. */
export function modelStatus(name: string, versions = ['1']): ModelStatus {
  return {
    name, versions, platform: 'onnxruntime_onnx', maxBatchSize: 8,
    inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [-1n, 4n] }], outputs: [{ name: 'OUTPUT0', datatype: 'FP32', shape: [-1n, 4n] }],
    throughput: 100, queued: 0, inFlight: 0, files: [],
  };
}

let clusterCounter = 0;

/** Options of {@link startMemoryCluster}. */
export interface ClusterOptions {
  /** Status interval (ms). */
  intervalMs: number;
  expireAfterMs?: number;
  maxStatusBytes?: number;
  /** Which peers each peer bootstraps to (indexes); default: everyone to peer 0. */
  bootstrap?: (i: number, n: number) => number[];
  /** Models each peer serves; default `model-<i>` plus a shared `shared`. */
  models?: (i: number) => ModelStatus[];
  node?: Partial<MeshNodeInit>;
  gossip?: Partial<StatusGossipInit>;
}

/** Starts `n` peers on the in-process memory transport. */
export async function startMemoryCluster(n: number, opts: ClusterOptions): Promise<TestPeer[]> {
  const id = `c${process.pid}-${++clusterCounter}`;
  const keys: PrivateKey[] = await Promise.all(Array.from({ length: n }, () => generateIdentity()));
  const addr = (i: number) => `/memory/${id}-${i}/p2p/${peerIdOf(keys[i]).toString()}`;
  const boot = opts.bootstrap ?? ((i) => (i === 0 ? [] : [0]));
  const peers: TestPeer[] = [];
  for (let i = 0; i < n; i++) {
    const node = await createMeshNode({
      privateKey: keys[i], transports: [memory()], listen: [`/memory/${id}-${i}`],
      bootstrap: boot(i, n).map(addr), dialTimeoutMs: 2_000, pubsubHeartbeatMs: 200, ...opts.node,
    });
    const directory = new PeerDirectory({ intervalMs: opts.intervalMs, expireAfterMs: opts.expireAfterMs });
    const local: LocalStatus = {
      engines: ['fake:cpu'], capacity: 1 + i, queued: 0, inFlight: 0,
      models: opts.models?.(i) ?? [modelStatus(`model-${i}`), modelStatus('shared')],
    };
    const gossip = new StatusGossip({
      node, directory, role: 'server', snapshot: () => local, intervalMs: opts.intervalMs,
      maxStatusBytes: opts.maxStatusBytes, ...opts.gossip,
    });
    peers.push({ name: String.fromCharCode(65 + i), node, directory, gossip, liveness: new PeerLiveness(node, directory), local });
  }
  for (const p of peers) {
    await p.node.start();
    p.directory.start();
    p.liveness.start();
    p.gossip.start();
  }
  return peers;
}

/** Stops every peer (gossip first, so nothing publishes into closing connections). */
export async function stopCluster(peers: readonly TestPeer[]): Promise<void> {
  for (const p of peers) {
    p.gossip.stop();
    p.liveness.stop();
    p.directory.stop();
  }
  await Promise.all(peers.map((p) => p.node.stop()));
}

/** Resolves when `cond()` is true, checking every 10 ms; rejects naming `what` after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - start;
}

/** Resolves with the first event of `type` on `target` whose detail passes `match`. */
export function nextEvent<T>(target: EventTarget, type: string, match: (detail: T) => boolean, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(type, on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${type}'`));
    }, timeoutMs);
    const on = (e: Event) => {
      const d = (e as CustomEvent<T>).detail;
      if (!match(d)) return;
      clearTimeout(timer);
      target.removeEventListener(type, on);
      resolve(d);
    };
    target.addEventListener(type, on);
  });
}
