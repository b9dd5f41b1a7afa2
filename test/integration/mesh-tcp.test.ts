/**
 * Real libp2p nodes over TCP on 127.0.0.1: the private network (pre-shared swarm key) and the
 * peer allowlist. A refused dial must fail within the dial timeout, never hang.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tcp } from '@libp2p/tcp';
import type { PrivateKey } from '@libp2p/interface';
import { createMeshNode } from '../../mesh/mesh-node.ts';
import type { MeshNode } from '../../mesh/mesh-node.ts';
import { createSwarmKey, generateIdentity, peerIdOf } from '../../mesh/identity.ts';
import { handleInfer, MeshInferClient } from '../../mesh/infer-protocol.ts';

const DIAL_TIMEOUT = 1_500;
const keyA = createSwarmKey();
const keyB = createSwarmKey();

const nodes: MeshNode[] = [];
async function node(opts: { swarmKey?: Uint8Array; allowPeers?: string[]; privateKey?: PrivateKey } = {}): Promise<MeshNode> {
  const n = await createMeshNode({ transports: [tcp()], listen: ['/ip4/127.0.0.1/tcp/0'], dialTimeoutMs: DIAL_TIMEOUT, ...opts });
  await n.start();
  nodes.push(n);
  return n;
}

/** Dials and reports the outcome and how long it took. */
async function tryDial(from: MeshNode, to: MeshNode): Promise<{ ok: boolean; ms: number; error?: string }> {
  const start = performance.now();
  try {
    await from.dial(to.multiaddrs()[0]);
    await from.libp2p.services.ping.ping(to.peerId, { signal: AbortSignal.timeout(DIAL_TIMEOUT) });
    return { ok: true, ms: performance.now() - start };
  } catch (e) {
    return { ok: false, ms: performance.now() - start, error: (e as Error).message };
  }
}

afterAll(async () => { await Promise.all(nodes.map((n) => n.stop())); });

describe('private network (pre-shared key)', () => {
  let a: MeshNode;
  beforeAll(async () => { a = await node({ swarmKey: keyA }); });

  test('nodes with the same key connect and serve requests', async () => {
    const b = await node({ swarmKey: keyA });
    const r = await tryDial(b, a);
    expect(r).toMatchObject({ ok: true });
    await handleInfer(a, async (req) => ({ modelName: req.modelName, modelVersion: '1', outputs: req.inputs }));
    const client = new MeshInferClient(b);
    const res = await client.infer(a.peerId, { modelName: 'echo', parameters: {}, inputs: [{ name: 'X', datatype: 'FP32', shape: [2], data: new Float32Array([1, 2]) }] });
    expect([...(res.outputs[0].data as Float32Array)]).toEqual([1, 2]);
    client.close();
  });

  test('a node without the key cannot connect, and fails within the dial timeout', async () => {
    const outsider = await node();
    for (const [from, to] of [[outsider, a], [a, outsider]]) {
      const r = await tryDial(from, to);
      expect(r.ok).toBe(false);
      expect(r.ms).toBeLessThan(DIAL_TIMEOUT + 1_000);
    }
    expect(a.libp2p.getConnections(outsider.peerId)).toHaveLength(0);
  });

  test('a node with another key cannot connect, and fails within the dial timeout', async () => {
    const other = await node({ swarmKey: keyB });
    for (const [from, to] of [[other, a], [a, other]]) {
      const r = await tryDial(from, to);
      expect(r.ok).toBe(false);
      expect(r.ms).toBeLessThan(DIAL_TIMEOUT + 1_000);
    }
    expect(a.libp2p.getConnections(other.peerId)).toHaveLength(0);
  });
});

describe('allowlist', () => {
  test('only listed peers connect, even when outsiders hold the swarm key', async () => {
    const [kMember, kOutsider] = await Promise.all([generateIdentity(), generateIdentity()]);
    const member = await node({ swarmKey: keyA, privateKey: kMember });
    const outsider = await node({ swarmKey: keyA, privateKey: kOutsider });
    const gated = await node({ swarmKey: keyA, allowPeers: [peerIdOf(kMember).toString()] });

    expect(await tryDial(member, gated)).toMatchObject({ ok: true });
    const inbound = await tryDial(outsider, gated);
    expect(inbound.ok).toBe(false);
    expect(inbound.ms).toBeLessThan(DIAL_TIMEOUT + 1_000);
    const outbound = await tryDial(gated, outsider);
    expect(outbound.ok).toBe(false);
    expect(gated.libp2p.getConnections(outsider.peerId)).toHaveLength(0);
    expect(gated.libp2p.getConnections(member.peerId)).toHaveLength(1);
  });
});
