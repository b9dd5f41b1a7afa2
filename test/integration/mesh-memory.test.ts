/**
 * Real libp2p nodes in one process over the memory transport: status gossip and its
 * validator, directory expiry, the infer stream protocol (equality with the local answer,
 * stream reuse, deadline, cancellation, peer loss, admission control) and blob transfer.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferError, RETRYABLE } from '../../protocol/errors.ts';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import { INFER_PROTOCOL, STATUS_TOPIC } from '../../mesh/protocol-ids.ts';
import { handleInfer, MeshInferClient } from '../../mesh/infer-protocol.ts';
import type { MeshServeFn, MeshServeOptions } from '../../mesh/infer-protocol.ts';
import { blobFromBytes, fetchBlob, handleBlobs, sha256Hex } from '../../mesh/blob-protocol.ts';
import { encodePeerStatus } from '../../mesh/status-gossip.ts';
import type { StatusRejection } from '../../mesh/status-gossip.ts';
import type { PeerStatus } from '../../protocol/mesh-pb.ts';
import { modelStatus, nextEvent, startMemoryCluster, stopCluster, until } from '../support/mesh-cluster.ts';
import type { TestPeer } from '../support/mesh-cluster.ts';

const INTERVAL = 200;

/** The fake model: OUT = A + B (INT32), and TEXT echoed upper-cased (BYTES). */
const localServe: MeshServeFn = async (req) => {
  const a = req.inputs.find((i) => i.name === 'A')!;
  const b = req.inputs.find((i) => i.name === 'B')!;
  const text = req.inputs.find((i) => i.name === 'TEXT')!;
  const sum = (a.data as Int32Array).map((v, i) => v + (b.data as Int32Array)[i]);
  const upper = (text.data as Uint8Array[]).map((e) => new TextEncoder().encode(new TextDecoder().decode(e).toUpperCase()));
  const res: InferResponse = {
    modelName: req.modelName, modelVersion: '1', parameters: { echoed: req.parameters.tag ?? 'none' },
    outputs: [
      { name: 'OUT', datatype: 'INT32', shape: a.shape, data: sum },
      { name: 'TEXT', datatype: 'BYTES', shape: text.shape, data: upper },
    ],
  };
  if (req.id) res.id = req.id;
  return res;
};

function request(n = 4): InferRequest {
  return {
    modelName: 'adder', id: 'r-1', parameters: { tag: 'x', priority: 2, flag: true, ratio: 0.5 },
    inputs: [
      { name: 'A', datatype: 'INT32', shape: [1, n], data: Int32Array.from({ length: n }, (_, i) => i) },
      { name: 'B', datatype: 'INT32', shape: [1, n], data: Int32Array.from({ length: n }, (_, i) => 10 * i) },
      { name: 'TEXT', datatype: 'BYTES', shape: [2], data: [new TextEncoder().encode('héllo'), new Uint8Array()] },
    ],
  };
}

/** Plain-data form of a response, so typed arrays compare by content and type. */
function plain(r: InferResponse) {
  return {
    ...r,
    parameters: r.parameters === undefined ? undefined : { ...r.parameters },
    outputs: r.outputs.map((o) => ({ ...o, data: Array.isArray(o.data) ? o.data.map((e) => [...e]) : [o.data.constructor.name, ...o.data] })),
  };
}

async function expectInferError(p: Promise<unknown>): Promise<InferError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect((e as Error)?.name).toBe('InferError');
  return e as InferError;
}

describe('status gossip over three nodes', () => {
  let peers: TestPeer[];
  beforeAll(async () => {
    // B and C only know A: C learns B (and B learns C) from A-relayed reports and dials it.
    peers = await startMemoryCluster(3, { intervalMs: INTERVAL, maxStatusBytes: 4096 });
  });
  afterAll(async () => { await stopCluster(peers); });

  test('every directory holds every other peer within about two intervals of connecting', async () => {
    const [a] = peers;
    await until(() => peers.slice(1).every((p) => p.node.libp2p.getConnections(a.node.peerId).length > 0), 3_000, 'bootstrap connections');
    const ms = await until(() => peers.every((p) => peers.every((q) => q === p || p.directory.get(q.node.peerId.toString())?.status !== undefined)),
      2 * INTERVAL + 400, 'every report in every directory');
    expect(ms).toBeLessThanOrEqual(2 * INTERVAL + 400);
    const b = peers[1].directory.get(peers[2].node.peerId.toString())!;
    expect(b.status!.models.map((m) => m.name)).toEqual(['model-2', 'shared']);
    expect(b.status!.addresses.length).toBeGreaterThan(0);
    expect(peers[0].directory.peersServing('shared').map((e) => e.peerId).sort())
      .toEqual([peers[1], peers[2]].map((p) => p.node.peerId.toString()).sort());
    expect(peers[0].directory.peersServing('model-1', '1')).toHaveLength(1);
    expect(peers[0].directory.peersServing('model-1', '2')).toHaveLength(0);
  });

  test('peers learnt from gossip get dialed, with exactly one connection per pair', async () => {
    const [, b, c] = peers;
    await until(() => b.node.libp2p.getConnections(c.node.peerId).length > 0, 3_000, 'B and C to connect');
    await new Promise((r) => setTimeout(r, 2 * INTERVAL)); // let any duplicate dial land
    for (const p of peers) for (const q of peers) if (p !== q) expect(p.node.libp2p.getConnections(q.node.peerId)).toHaveLength(1);
    await until(() => b.directory.get(c.node.peerId.toString())?.connected === true, 2_000, 'liveness to see the connection');
  });

  test('a model change is published at once, not at the next interval', async () => {
    const [a, b] = peers;
    b.local.models = [...b.local.models, modelStatus('late')];
    const start = performance.now();
    b.gossip.changed();
    await until(() => a.directory.peersServing('late').length === 1, INTERVAL * 2, 'the change to arrive');
    expect(performance.now() - start).toBeLessThan(INTERVAL);
  });

  test('the validator refuses impersonating, oversized and replayed reports before the directory', async () => {
    const [a, b, c] = peers;
    const aId = a.node.peerId.toString();
    const cId = c.node.peerId.toString();
    const rejected: StatusRejection[] = [];
    b.gossip.addEventListener('status:rejected', (e) => rejected.push(e.detail));
    const aBefore = b.directory.get(aId)!.status!;
    const forged: Partial<PeerStatus> = { ...aBefore, seq: aBefore.seq + 1_000_000, models: [modelStatus('forged')] };
    const waitFor = (reason: string) => nextEvent<StatusRejection>(b.gossip, 'status:rejected', (d) => d.reason === reason && d.from === cId, 3_000);

    // impersonation: C signs a report that claims to be A
    let seen = waitFor('impersonation');
    await c.node.pubsub.publish(STATUS_TOPIC, encodePeerStatus(forged));
    expect((await seen).detail).toContain(`claims to be from ${aId}`);

    // oversized: C's own id, but over B's 4 KiB limit
    seen = waitFor('oversized');
    const big = { ...c.gossip.lastPublished!, seq: c.gossip.lastPublished!.seq + 1_000_000, engines: Array.from({ length: 60 }, () => 'x'.repeat(100)) };
    await c.node.pubsub.publish(STATUS_TOPIC, encodePeerStatus(big));
    await seen;

    // replay: C's report with an old sequence number (and then the very same report again)
    seen = waitFor('stale');
    const old = b.directory.get(cId)!.status!;
    await c.node.pubsub.publish(STATUS_TOPIC, encodePeerStatus({ ...old, models: [modelStatus('replayed')] }));
    await seen;

    // malformed
    seen = waitFor('malformed');
    await c.node.pubsub.publish(STATUS_TOPIC, new Uint8Array([0x0a, 0xff, 0xff]));
    await seen;

    expect(new Set(rejected.filter((r) => r.from === cId).map((r) => r.reason))).toEqual(new Set(['impersonation', 'oversized', 'stale', 'malformed']));
    for (const p of [a, b]) {
      expect(p.directory.peersServing('forged')).toHaveLength(0);
      expect(p.directory.peersServing('replayed')).toHaveLength(0);
    }
    expect(b.directory.get(aId)!.status!.seq).toBeLessThan(forged.seq!);
    expect(b.directory.get(cId)!.status!.engines).toEqual(['fake:cpu']);
  });

  test('a peer that stops reporting expires from every directory while still connected', async () => {
    const [a, b, c] = peers;
    const cId = c.node.peerId.toString();
    const expired = Promise.all([a, b].map((p) => nextEvent<string>(p.directory, 'peer:expired', (id) => id === cId, 10 * INTERVAL)));
    const stoppedAt = performance.now();
    c.gossip.stop();
    await expired;
    const elapsed = performance.now() - stoppedAt;
    // expiry is 3 intervals + 500 ms grace, swept once per interval
    expect(elapsed).toBeGreaterThanOrEqual(3 * INTERVAL);
    expect(elapsed).toBeLessThan(3 * INTERVAL + 500 + 2 * INTERVAL + 300);
    for (const p of [a, b]) {
      expect(p.directory.peersServing('model-2')).toHaveLength(0);
      expect(p.directory.get(cId)).toMatchObject({ connected: true, status: undefined });
    }
  });
});

describe('auto-dial', () => {
  test('peers that all bootstrap to each other at once end with one connection per pair', async () => {
    const peers = await startMemoryCluster(4, { intervalMs: 1_000, bootstrap: (i, n) => Array.from({ length: n }, (_, j) => j).filter((j) => j !== i) });
    try {
      await until(() => peers.every((p) => p.node.connectedPeers().length === 3), 3_000, 'a full mesh');
      await new Promise((r) => setTimeout(r, 700)); // past the tie-break delay: late dials would land now
      for (const p of peers) for (const q of peers) if (p !== q) expect(p.node.libp2p.getConnections(q.node.peerId)).toHaveLength(1);
    } finally {
      await stopCluster(peers);
    }
  });
});

describe('infer stream protocol', () => {
  let peers: TestPeer[];
  let client: MeshInferClient;
  const calls: MeshServeOptions[] = [];
  let mode: 'answer' | 'hang' | 'fail' = 'answer';
  let admit = true;
  let stats: { streams: number; requests: number; cancelled: number };

  beforeAll(async () => {
    peers = await startMemoryCluster(2, { intervalMs: 1_000 });
    const serve: MeshServeFn = async (req, opts) => {
      calls.push(opts);
      if (mode === 'fail') throw new InferError('NOT_FOUND', "Request for unknown model: 'adder' version 9 is not found", 'OTHER');
      if (mode === 'hang') {
        await new Promise((_, reject) => opts.signal.addEventListener('abort', () => reject(opts.signal.reason), { once: true }));
      }
      return localServe(req, opts);
    };
    stats = (await handleInfer(peers[1].node, serve, { admit: () => admit })).stats;
    await until(() => peers[0].node.libp2p.getConnections(peers[1].node.peerId).length > 0, 3_000, 'connection');
    client = new MeshInferClient(peers[0].node, { maxIdleStreamsPerPeer: 2 });
  });
  afterAll(async () => {
    client?.close();
    await stopCluster(peers);
  });

  const target = () => peers[1].node.peerId;

  test('a remote answer equals the local answer (INT32, BYTES, parameters, id)', async () => {
    mode = 'answer';
    const req = request();
    const remote = await client.infer(target(), req);
    const local = await localServe(req, {} as MeshServeOptions);
    expect(plain(remote)).toEqual(plain(local));
    expect(remote.parameters).toEqual({ echoed: 'x' });
    expect((remote.outputs[0].data as Int32Array)[3]).toBe(33);
  });

  test('sequential requests reuse one stream', async () => {
    mode = 'answer';
    const before = client.streamsOpened;
    for (let i = 0; i < 50; i++) await client.infer(target(), request(i + 1));
    expect(client.streamsOpened - before).toBeLessThanOrEqual(1);
    expect(client.streamsOpened).toBeLessThanOrEqual(2);
    const open = peers[0].node.libp2p.getConnections(target()).flatMap((c) => c.streams).filter((s) => s.protocol === INFER_PROTOCOL);
    expect(open.length).toBeLessThanOrEqual(2);
    expect(stats.streams).toBeLessThanOrEqual(2);
    expect(client.idleStreams(target())).toBe(1);
  });

  test('concurrent requests use at most one stream each and all come back right', async () => {
    mode = 'answer';
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => client.infer(target(), request(i + 1))));
    results.forEach((r, i) => expect(r.outputs[0].shape).toEqual([1, i + 1]));
    expect(client.idleStreams(target())).toBe(2); // the pool keeps at most 2
  });

  test('the peer\'s error arrives with its code, message and reason', async () => {
    mode = 'fail';
    const e = await expectInferError(client.infer(target(), request()));
    expect([e.code, e.message, e.reason]).toEqual(['NOT_FOUND', "Request for unknown model: 'adder' version 9 is not found", 'OTHER']);
    mode = 'answer';
    await client.infer(target(), request()); // the stream survived the error answer
  });

  test('the deadline travels: the peer sees it and aborts its work when it passes', async () => {
    mode = 'hang';
    calls.length = 0;
    const deadline = Date.now() + 150;
    const e = await expectInferError(client.infer(target(), request(), { deadlineUnixMs: deadline, traceId: 't-9' }));
    expect(e.code).toBe('DEADLINE_EXCEEDED');
    expect(e.message).toContain('while peer'); // the peer's own answer, not the caller's timeout
    expect(calls[0].signal.aborted).toBe(true);
    expect(calls[0].deadlineUnixMs).toBe(deadline);
    expect(calls[0].traceId).toBe('t-9');
    expect((calls[0].signal.reason as Error).name).toBe('TimeoutError');
  });

  test('a peer that does not answer by the deadline is cut off by the caller', async () => {
    // a raw handler that reads and never answers: only the caller's own timer can end the call
    let resets = 0;
    await peers[0].node.libp2p.handle(INFER_PROTOCOL, (stream) => {
      stream.addEventListener('close', (e) => { if ((e as Event & { error?: Error }).error) resets++; });
    });
    const back = new MeshInferClient(peers[1].node, { deadlineGraceMs: 50 });
    try {
      const start = performance.now();
      const e = await expectInferError(back.infer(peers[0].node.peerId, request(), { deadlineUnixMs: Date.now() + 100 }));
      expect(e.code).toBe('DEADLINE_EXCEEDED');
      expect(e.message).toContain('while waiting for the answer');
      expect(performance.now() - start).toBeLessThan(1_000);
      await until(() => resets === 1, 1_000, 'the stream to be reset');
    } finally {
      back.close();
      await peers[0].node.libp2p.unhandle(INFER_PROTOCOL);
    }
  });

  test('a deadline already past on arrival is refused by the peer', async () => {
    mode = 'answer';
    calls.length = 0;
    // the caller's clock runs 10 s slow, so it sends; the peer sees the deadline long gone
    const slow = new MeshInferClient(peers[0].node, {
      clock: { now: () => performance.now(), epochMs: () => Date.now() - 10_000, setTimer: (f, ms) => setTimeout(f, ms), clearTimer: (h) => clearTimeout(h as number) },
    });
    const e = await expectInferError(slow.infer(target(), request(), { deadlineUnixMs: Date.now() - 5_000 }));
    expect(e.code).toBe('DEADLINE_EXCEEDED');
    expect(e.message).toContain('before peer');
    expect(calls).toHaveLength(0);
    slow.close();
  });

  test('cancelling resets the stream and the peer aborts the request', async () => {
    mode = 'hang';
    calls.length = 0;
    const cancelledBefore = stats.cancelled;
    const ac = new AbortController();
    const pending = client.infer(target(), request(), { signal: ac.signal });
    await until(() => calls.length === 1, 1_000, 'the request to reach the peer');
    ac.abort();
    const e = await expectInferError(pending);
    expect([e.code, e.reason]).toEqual(['CANCELLED', 'CANCELED']);
    await until(() => calls[0].signal.aborted, 1_000, 'the serving side to see the cancellation');
    expect((calls[0].signal.reason as Error).name).toBe('AbortError');
    await until(() => stats.cancelled === cancelledBefore + 1, 1_000, 'the handler to count it');
    mode = 'answer';
    await client.infer(target(), request()); // the client recovers on another stream
  });

  test('a full peer refuses at once with OVERLOADED (retryable)', async () => {
    mode = 'answer';
    calls.length = 0;
    admit = false;
    try {
      const e = await expectInferError(client.infer(target(), request()));
      expect([e.code, e.reason]).toEqual(['OVERLOADED', 'REJECTED']);
      expect(RETRYABLE.has(e.code)).toBe(true);
      expect(calls).toHaveLength(0);
    } finally {
      admit = true;
    }
  });

  test('a peer that stops mid-request fails the call with UNAVAILABLE naming it', async () => {
    mode = 'hang';
    calls.length = 0;
    const pending = client.infer(target(), request());
    await until(() => calls.length === 1, 1_000, 'the request to reach the peer');
    await peers[1].node.stop();
    const e = await expectInferError(pending);
    expect(e.code).toBe('UNAVAILABLE');
    expect(RETRYABLE.has(e.code)).toBe(true);
    expect(e.message).toContain(target().toString());
    const again = await expectInferError(client.infer(target(), request()));
    expect(again.code).toBe('UNAVAILABLE');
  });
});

describe('blob protocol', () => {
  let peers: TestPeer[];
  const blob = Uint8Array.from({ length: 2_500_000 }, (_, i) => (i * 31) & 0xff);
  let hash: string;
  let corruptHash: string;

  beforeAll(async () => {
    peers = await startMemoryCluster(2, { intervalMs: 1_000 });
    hash = await sha256Hex(blob);
    corruptHash = await sha256Hex(new Uint8Array([1, 2, 3]));
    await handleBlobs(peers[1].node, (h) => {
      if (h === hash) return blobFromBytes(blob);
      if (h === corruptHash) return blobFromBytes(new Uint8Array([1, 2, 4])); // a bad copy
      return undefined;
    }, { chunkBytes: 1 << 20 });
    await until(() => peers[0].node.libp2p.getConnections(peers[1].node.peerId).length > 0, 3_000, 'connection');
  });
  afterAll(async () => { await stopCluster(peers); });

  test('fetches in chunks with progress and verifies the hash', async () => {
    const progress: [number, number][] = [];
    const got = await fetchBlob(peers[0].node, peers[1].node.peerId, hash, { onProgress: (r, t) => progress.push([r, t]) });
    expect(got).toEqual(blob);
    expect(progress).toEqual([[1 << 20, blob.length], [2 << 20, blob.length], [blob.length, blob.length]]);
  });

  test('a copy whose content does not match the hash is an error, not data', async () => {
    const e = await expectInferError(fetchBlob(peers[0].node, peers[1].node.peerId, corruptHash));
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toContain('corrupt');
  });

  test('unknown blobs, blobs over the size limit and bad hashes are refused', async () => {
    const missing = await expectInferError(fetchBlob(peers[0].node, peers[1].node.peerId, 'ab'.repeat(32)));
    expect(missing.code).toBe('NOT_FOUND');
    const big = await expectInferError(fetchBlob(peers[0].node, peers[1].node.peerId, hash, { maxBytes: 1000 }));
    expect(big.code).toBe('INVALID_ARG');
    expect(big.message).toContain('over the limit of 1000');
    const badHash = await expectInferError(fetchBlob(peers[0].node, peers[1].node.peerId, 'xyz'));
    expect(badHash.code).toBe('INVALID_ARG');
  });
});
