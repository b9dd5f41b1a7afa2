/**
 * Sequences across a real multi-process mesh (each host an `infermesh serve` process on
 * 127.0.0.1, real libp2p over TCP): a sequence sticks to the peer that holds its state.
 *
 * A serves `sequence_accumulate`; B (and later C) serve it too, plus `seq_remote` (the same
 * model under another name), which A does not serve. All requests enter through A's HTTP.
 * - seq_remote with only B: interleaved sequences all run on B, with correct running sums.
 * - sequence_accumulate on A, B and C: each sequence keeps its state wherever the router put
 *   its START (a request routed anywhere else would answer "must specify the START flag").
 * - B is SIGKILLed: sequences it held fail with the clear UNAVAILABLE error; those on C go on;
 *   one started with `infermesh_sequence_replay: true` is replayed on C and goes on correctly.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InferRequest } from '../../protocol/infer.ts';
import { EXAMPLES } from '../support/test-server.ts';
import { HostGroup, listsPeer, meshOf, peerIn, pollUntil, summarize, type MeshHost } from '../support/mesh-hosts.ts';

const ACC = 'sequence_accumulate';
const REMOTE = 'seq_remote';
/** Sequences the first test leaves open on B (the only host serving seq_remote then). */
const PLAIN_ON_B = 'plain-on-b';
const REPLAY_ON_B = 'replay-on-b';

let group: HostGroup;
let a: MeshHost;
let b: MeshHost;
let c: MeshHost | undefined;

/** A repository with `sequence_accumulate` and, when `remote`, its copy `seq_remote`. */
function repoWith(remote: boolean): string {
  const repo = group.makeRepo([ACC]);
  if (remote) {
    mkdirSync(join(repo, REMOTE, '1'), { recursive: true });
    cpSync(join(EXAMPLES, ACC, '1', 'model.onnx'), join(repo, REMOTE, '1', 'model.onnx'));
    // 8 slots per host and a 60 s idle time: sequences started early stay alive for the last test
    writeFileSync(join(repo, REMOTE, 'config.pbtxt'), readFileSync(join(EXAMPLES, ACC, 'config.pbtxt'), 'utf8')
      .replace(`name: "${ACC}"`, `name: "${REMOTE}"`)
      .replace('max_batch_size: 4', 'max_batch_size: 8')
      .replace('max_sequence_idle_microseconds: 5000000', 'max_sequence_idle_microseconds: 60000000'));
  }
  return repo;
}

/** Waits until `host` lists `peer` with a report naming `models`. */
async function waitForPeer(host: MeshHost, peer: MeshHost, models: string[]): Promise<void> {
  await pollUntil(`${host.name} to list ${peer.name} serving ${models.join(', ')}`, async () => {
    const v = await meshOf(host);
    if (!listsPeer(v, peer.peerId, models)) throw new Error(summarize(v));
    return true;
  }, { timeoutMs: 15_000 });
}

function request(model: string, id: number | string, x: number, flags: { start?: boolean; end?: boolean; replay?: boolean } = {}): InferRequest {
  const parameters: InferRequest['parameters'] = { sequence_id: id };
  if (flags.start) parameters.sequence_start = true;
  if (flags.end) parameters.sequence_end = true;
  if (flags.replay) parameters.infermesh_sequence_replay = true;
  return { modelName: model, parameters, inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 4], data: new Float32Array([x, x, x, x]) }] };
}

/** Sends through A; resolves with OUTPUT[0], or rejects with `HTTP <status>: <body>`. */
async function send(model: string, id: number | string, x: number, flags: { start?: boolean; end?: boolean; replay?: boolean } = {}): Promise<number> {
  const r = await a.client.infer(request(model, id, x, flags));
  return Number((r.outputs[0].data as Float32Array)[0]);
}

async function inferenceCount(host: MeshHost, model: string): Promise<number> {
  const r = await fetch(`${host.httpUrl}/v2/models/${model}/stats`, { signal: AbortSignal.timeout(2_000) });
  if (r.status !== 200) return 0;
  const j = await r.json() as { model_stats: { inference_count: number }[] };
  return j.model_stats.reduce((n, s) => n + s.inference_count, 0);
}

/**
 * Runs `ids.length` sequences at once through A, each sending `steps` requests one after the
 * other (x = base + k), and checks every answer is that sequence's running sum.
 */
async function runSequences(model: string, ids: (number | string)[], steps: number): Promise<void> {
  await Promise.all(ids.map(async (id, i) => {
    let sum = 0;
    for (let k = 0; k < steps; k++) {
      const x = 100 * (i + 1) + k;
      sum += x;
      expect(await send(model, id, x, { start: k === 0, end: k === steps - 1 }), `sequence ${id} step ${k}`).toBe(sum);
    }
  }));
}

beforeAll(async () => {
  group = new HostGroup();
  a = await group.start('A', { repo: repoWith(false) });
  b = await group.start('B', { repo: repoWith(true), bootstrap: [a.meshAddr] });
  await waitForPeer(a, b, [ACC, REMOTE]);
}, 60_000);

afterAll(async () => {
  await group?.close();
});

describe('sequences across the mesh', () => {
  test('a model only B serves: interleaved sequences through A keep their state on B', async () => {
    const ids = [1, 2, 'x', 'y', 3, 4];
    await runSequences(REMOTE, ids, 5);
    expect(await inferenceCount(b, REMOTE)).toBe(ids.length * 5);
    // two more that stay open on B for the last test: one plain, one replayable
    for (const [id, replay] of [[PLAIN_ON_B, false], [REPLAY_ON_B, true]] as const) {
      expect(await send(REMOTE, id, 1, { start: true, replay })).toBe(1);
      expect(await send(REMOTE, id, 2)).toBe(3);
    }
    expect(await inferenceCount(b, REMOTE)).toBe(ids.length * 5 + 4);
  }, 30_000);

  test('a model A, B and C serve: every sequence sticks to the host its START went to', async () => {
    c = await group.start('C', { repo: repoWith(true), bootstrap: [a.meshAddr] });
    await waitForPeer(a, c, [ACC, REMOTE]);
    const before = await Promise.all([a, b, c].map((h) => inferenceCount(h, ACC)));
    const ids = Array.from({ length: 16 }, (_, i) => 1000 + i);
    await runSequences(ACC, ids, 4);
    const served = (await Promise.all([a, b, c].map((h) => inferenceCount(h, ACC)))).map((n, i) => n - before[i]);
    expect(served.reduce((x, y) => x + y, 0)).toBe(ids.length * 4);
    // whole sequences moved: every host served a multiple of 4 requests, and the peers took some
    for (const n of served) expect(n % 4).toBe(0);
    expect(served[1] + served[2], `served by A, B, C: ${served.join(', ')}`).toBeGreaterThan(0);
  }, 60_000);

  test('when B dies, its sequences fail with the clear error; sequences on C go on; a replayable one moves to C', async () => {
    const host = c!;
    // Sequences started now go to B or C; start some at once (the router spreads concurrent
    // sends) and learn each one's holder from C's count when its second request runs. At most
    // 2 + 3 + 3 of them land on B, within its 8 slots (a START beyond them would wait there).
    const onB: (number | string)[] = [PLAIN_ON_B];
    const onC: (number | string)[] = [];
    for (let round = 0; round < 2 && onC.length === 0; round++) {
      const ids = Array.from({ length: 3 }, (_, i) => 6000 + 10 * round + i);
      expect(await Promise.all(ids.map((id) => send(REMOTE, id, 1, { start: true })))).toEqual(ids.map(() => 1));
      for (const id of ids) {
        const before = await inferenceCount(host, REMOTE);
        expect(await send(REMOTE, id, 2)).toBe(3);
        ((await inferenceCount(host, REMOTE)) > before ? onC : onB).push(id);
      }
    }
    expect(onC.length, 'C holds a sequence').toBeGreaterThan(0);

    b.child.kill('SIGKILL');
    await b.exited;
    await pollUntil('A to see B disconnected', async () => {
      const p = peerIn(await meshOf(a), b.peerId);
      return p === undefined || !p.connected;
    }, { timeoutMs: 10_000 });

    for (const id of onB) {
      const r = await a.client.inferRaw(request(REMOTE, id, 3));
      expect(r.status, `sequence ${id}`).toBe(503);
      expect((r.json as { error: string }).error).toBe(
        `sequence ${id} of model ${REMOTE} was held by peer ${b.peerId}, which is gone; restart the sequence with sequence_start `
        + "(it cannot be replayed: it was started without 'infermesh_sequence_replay: true')",
      );
    }
    // restarting works (on C now)
    expect(await send(REMOTE, PLAIN_ON_B, 7, { start: true })).toBe(7);
    expect(await send(REMOTE, PLAIN_ON_B, 1, { end: true })).toBe(8);
    for (const id of onC) expect(await send(REMOTE, id, 3, { end: true })).toBe(6);
    const cBefore = await inferenceCount(host, REMOTE);
    // replayed on C: its START (1) and second request (2) run again there, then this one (3)
    expect(await send(REMOTE, REPLAY_ON_B, 3)).toBe(6);
    expect(await send(REMOTE, REPLAY_ON_B, 4, { end: true })).toBe(10);
    expect(await inferenceCount(host, REMOTE) - cBefore).toBe(4);
  }, 60_000);
});
