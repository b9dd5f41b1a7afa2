/**
 * `infermesh peers` and `infermesh infer`: join the mesh briefly as a client-only peer (serves
 * nothing), look at the directory or submit one request through the router, print, leave.
 */
import { readFileSync } from 'node:fs';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import type { Logger } from '../core/logger.ts';
import { decodeHttpInferRequest, encodeHttpInferResponse } from '../protocol/http-infer.ts';
import { createMeshNode } from '../mesh/mesh-node.ts';
import { MeshService } from '../mesh/mesh-service.ts';
import type { MeshPeerJson } from '../mesh/peer-directory.ts';
import { readSwarmKey } from './mesh-files.ts';

/** How a client-only peer joins. */
export interface ClientJoinOptions {
  bootstrap: string[];
  swarmKeyFile?: string;
  /** How long to wait for peers' reports before answering. */
  waitMs: number;
  logger: Logger;
}

/** Default wait for reports: two gossip intervals and some slack for the first dial. */
export const DEFAULT_CLIENT_WAIT_MS = 3_000;

async function joinAsClient(o: ClientJoinOptions): Promise<MeshService> {
  if (o.bootstrap.length === 0) throw new Error('--bootstrap MULTIADDR is required (a host prints its address as "mesh listening multiaddr=…")');
  const node = await createMeshNode({
    transports: [tcp(), webSockets()],
    listen: [],
    bootstrap: o.bootstrap,
    swarmKey: o.swarmKeyFile ? readSwarmKey(o.swarmKeyFile) : undefined,
    logger: o.logger,
  });
  const mesh = new MeshService({ node, role: 'client', logger: o.logger });
  await mesh.start();
  return mesh;
}

/** Polls `until` every 50 ms for at most `ms`. */
async function waitFor(ms: number, until: () => boolean): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (until()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return until();
}

/** Lists the peers and their models; returns the exit code. */
export async function peersCommand(o: ClientJoinOptions & { json: boolean; write: (s: string) => void }): Promise<number> {
  const mesh = await joinAsClient(o);
  try {
    // Wait until the peers heard of stop changing (or the wait ends): a mesh reports within an interval.
    let last = -1;
    await waitFor(o.waitMs, () => {
      const n = mesh.directory.peers().filter((p) => p.status).length;
      const stable = n > 0 && n === last;
      last = n;
      return stable;
    });
    const snap = mesh.snapshot();
    if (o.json) {
      o.write(JSON.stringify(snap, null, 2) + '\n');
    } else {
      o.write(formatPeers(snap.peers));
    }
    return snap.peers.length > 0 ? 0 : 1;
  } finally {
    await mesh.stop();
  }
}

/** A table a person can read: one line per peer, then its models. */
export function formatPeers(peers: MeshPeerJson[]): string {
  if (peers.length === 0) return 'no peers answered (check --bootstrap and, for a private mesh, --swarm-key)\n';
  const lines: string[] = [];
  for (const p of peers) {
    lines.push(`${p.peer_id}  ${p.role}  ${p.connected ? 'connected' : 'not connected'}  report ${p.age_ms ?? '-'} ms old  queued ${p.queued}  in flight ${p.in_flight}`);
    for (const a of p.addresses) lines.push(`    ${a}`);
    for (const m of p.models) {
      lines.push(`    model ${m.name} versions ${m.versions.join(',')}  ${m.platform}  max_batch_size ${m.max_batch_size}  ${m.throughput.toFixed(1)} items/s  queued ${m.queued}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Submits one KServe v2 JSON request through the mesh and prints the JSON response. */
export async function inferCommand(o: ClientJoinOptions & { model: string; version?: string; inputFile: string; write: (s: string) => void }): Promise<number> {
  let body: Uint8Array;
  try {
    body = new Uint8Array(readFileSync(o.inputFile));
  } catch (e) {
    throw new Error(`cannot read --input ${o.inputFile}: ${(e as Error).message}`);
  }
  const request = decodeHttpInferRequest(body, { modelName: o.model, modelVersion: o.version });
  const mesh = await joinAsClient(o);
  try {
    const found = await waitFor(o.waitMs, () => mesh.directory.peersServing(o.model, o.version).length > 0);
    if (!found) throw new Error(`no peer of the mesh serves model '${o.model}'${o.version ? ` version ${o.version}` : ''} (waited ${o.waitMs} ms; try: infermesh peers --bootstrap …)`);
    const response = await mesh.infer(request);
    const encoded = encodeHttpInferResponse(response, { binaryOutputs: new Set() });
    o.write(encoded.chunks.map((c) => new TextDecoder().decode(c)).join('') + '\n');
    return 0;
  } finally {
    await mesh.stop();
  }
}
