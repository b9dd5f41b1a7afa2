import { describe, expect, test } from 'vitest';
import { SequenceAffinity, SEQUENCE_REPLAY_PARAMETER } from '../../mesh/sequence-affinity.ts';
import type { SequenceAffinityInit, SequenceCallOptions } from '../../mesh/sequence-affinity.ts';
import { sequenceFlagsOf } from '../../core/sequence-params.ts';
import { InferError } from '../../protocol/errors.ts';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { flush } from '../support/fake-backend.ts';

/** One call the fake mesh received. */
interface Sent {
  via: 'route' | 'local' | 'remote';
  peer: string;
  x: number;
  params: InferRequest['parameters'];
}

/**
 * A fake mesh: `route` picks `routeTo` (or each of `failover` in turn, as failed attempts
 * first), peers answer with their name and the input value; `down` peers are gone.
 */
class FakeMesh {
  readonly sent: Sent[] = [];
  routeTo = 'B';
  failover: string[] = [];
  readonly down = new Set<string>();
  /** Peers that are connected but answer UNAVAILABLE (a living peer refusing). */
  readonly refusing = new Set<string>();
  /** Hold answers until released (to test ordering). */
  hold = false;
  readonly held: { id: unknown; x: number; release: () => void }[] = [];
  readonly clock = new FakeClock();
  affinity!: SequenceAffinity;

  init(over: Partial<SequenceAffinityInit> = {}): SequenceAffinity {
    this.affinity = new SequenceAffinity({
      selfId: () => 'SELF',
      clock: this.clock,
      route: async (req, o) => {
        for (const p of this.failover) this.affinity.attempted(req, p);
        this.affinity.attempted(req, this.routeTo);
        return this.routeTo === 'SELF' ? this.#answer('local', 'SELF', req, o) : this.#answer('route', this.routeTo, req, o);
      },
      local: (req, o) => this.#answer('local', 'SELF', req, o),
      remote: (peer, req, o) => this.#answer('remote', peer, req, o),
      known: (peer) => !this.down.has(peer),
      connected: (peer) => !this.down.has(peer),
      ...over,
    });
    return this.affinity;
  }

  async #answer(via: Sent['via'], peer: string, req: InferRequest, _o: SequenceCallOptions): Promise<InferResponse> {
    const x = Number((req.inputs[0].data as Float32Array)[0]);
    this.sent.push({ via, peer, x, params: { ...req.parameters } });
    if (this.hold) await new Promise<void>((release) => this.held.push({ id: req.parameters.sequence_id, x, release }));
    if (this.down.has(peer)) throw new InferError('UNAVAILABLE', `peer ${peer} became unavailable during the request`);
    if (this.refusing.has(peer)) throw new InferError('UNAVAILABLE', 'Exceeds maximum queue size', 'REJECTED');
    return { modelName: req.modelName, modelVersion: '1', outputs: [], parameters: { peer } };
  }

  /** Sends request x of sequence `id` through the affinity table. */
  send(id: number | string, x: number, flags: { start?: boolean; end?: boolean; replay?: boolean } = {}): Promise<InferResponse> {
    const req = request(id, x, flags);
    return this.affinity.infer(req, sequenceFlagsOf(req.parameters)!, {});
  }
}

function request(id: number | string, x: number, flags: { start?: boolean; end?: boolean; replay?: boolean } = {}): InferRequest {
  const parameters: InferRequest['parameters'] = { sequence_id: id };
  if (flags.start) parameters.sequence_start = true;
  if (flags.end) parameters.sequence_end = true;
  if (flags.replay) parameters[SEQUENCE_REPLAY_PARAMETER] = true;
  return { modelName: 'acc', parameters, inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 1], data: new Float32Array([x]) }] };
}

const peerOf = (r: InferResponse) => r.parameters?.peer;

describe('SequenceAffinity: stickiness', () => {
  test('START is routed; the rest of the sequence goes straight to the peer that took it; END forgets it', async () => {
    const m = new FakeMesh();
    const a = m.init();
    expect(peerOf(await m.send(1, 1, { start: true }))).toBe('B');
    m.routeTo = 'C'; // the router would now choose another peer: the sequence must not follow it
    expect(peerOf(await m.send(1, 2))).toBe('B');
    expect(peerOf(await m.send(1, 3, { end: true }))).toBe('B');
    expect(m.sent.map((s) => `${s.via}:${s.peer}`)).toEqual(['route:B', 'remote:B', 'remote:B']);
    expect(a.size).toBe(0);
    // after END, an unknown sequence is routed (the receiver answers Triton's START error itself)
    await m.send(1, 4);
    expect(m.sent[3].via).toBe('route');
    expect(a.counters.sticky).toBe(2);
  });

  test('interleaved sequences each keep their own holder, the local host included; ids 7 and "7" differ', async () => {
    const m = new FakeMesh();
    const a = m.init();
    m.routeTo = 'SELF';
    await m.send(7, 1, { start: true });
    m.routeTo = 'B';
    await m.send('7', 1, { start: true });
    m.routeTo = 'C';
    await m.send(8, 1, { start: true });
    const r = await Promise.all([m.send(7, 2), m.send('7', 2), m.send(8, 2)]);
    expect(r.map(peerOf)).toEqual(['SELF', 'B', 'C']);
    expect(a.holder('acc', 7n)).toBe('SELF');
    expect(a.holder('acc', '7')).toBe('B');
    expect(m.sent.slice(3).map((s) => s.via)).toEqual(['local', 'remote', 'remote']);
  });

  test('a START that fails over is held by the peer that finally took it', async () => {
    const m = new FakeMesh();
    m.init();
    m.failover = ['X', 'Y'];
    m.routeTo = 'Z';
    await m.send(3, 1, { start: true });
    m.failover = [];
    expect(peerOf(await m.send(3, 2))).toBe('Z');
  });

  test('requests of one sequence leave one at a time, in arrival order', async () => {
    const m = new FakeMesh();
    m.init();
    await m.send(5, 1, { start: true });
    m.hold = true;
    const p2 = m.send(5, 2);
    const p3 = m.send(5, 3);
    const other = m.send(6, 1, { start: true });
    await flush();
    const of = (id: number) => m.sent.filter((s) => s.params.sequence_id === id).map((s) => s.x);
    // 5/2 is in flight; 5/3 waits for it; sequence 6 is not held up
    expect(of(5)).toEqual([1, 2]);
    expect(of(6)).toEqual([1]);
    m.held.find((h) => h.id === 5 && h.x === 2)!.release();
    await flush();
    expect(of(5)).toEqual([1, 2, 3]);
    m.hold = false;
    for (const h of m.held.splice(0)) h.release();
    await Promise.all([p2, p3, other]);
  });

  test('entries expire after idleMs without use, and the table is bounded', async () => {
    const m = new FakeMesh();
    const a = m.init({ idleMs: 1000, maxEntries: 2 });
    await m.send(1, 1, { start: true });
    m.clock.advance(900);
    await m.send(1, 2);
    m.clock.advance(900);
    expect(a.holder('acc', 1n)).toBe('B');
    m.clock.advance(1001);
    expect(a.holder('acc', 1n)).toBeUndefined();
    await m.send(2, 1, { start: true });
    await m.send(3, 1, { start: true });
    await m.send(4, 1, { start: true });
    expect(a.size).toBe(2);
    expect(a.holder('acc', 2n)).toBeUndefined();
  });

  test('a START that no host took leaves no entry', async () => {
    const m = new FakeMesh();
    const a = m.init({ route: () => Promise.reject(new InferError('UNAVAILABLE', 'no host serves it')) });
    await expect(m.send(1, 1, { start: true })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(a.size).toBe(0);
  });
});

describe('SequenceAffinity: the holder is gone', () => {
  test('fails with UNAVAILABLE naming sequence, model and peer, and telling to restart', async () => {
    const m = new FakeMesh();
    const a = m.init();
    await m.send(9, 1, { start: true });
    m.down.add('B');
    await expect(m.send(9, 2)).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: "sequence 9 of model acc was held by peer B, which is gone; restart the sequence with sequence_start (it cannot be replayed: it was started without 'infermesh_sequence_replay: true')",
    });
    expect(a.size).toBe(0);
    expect(a.counters.lost).toBe(1);
    // nothing was sent to B: it had left the directory
    expect(m.sent.filter((s) => s.x === 2)).toEqual([]);
  });

  test('a living holder that refuses is not "gone": its own error comes back and the sequence stays', async () => {
    const m = new FakeMesh();
    const a = m.init();
    await m.send(9, 1, { start: true });
    m.refusing.add('B');
    await expect(m.send(9, 2)).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'Exceeds maximum queue size' });
    expect(a.holder('acc', 9n)).toBe('B');
  });

  test('with infermesh_sequence_replay the requests since START are replayed on a new peer, then the request is sent', async () => {
    const m = new FakeMesh();
    const a = m.init();
    const start = request(4, 1, { start: true, replay: true });
    await a.infer(start, sequenceFlagsOf(start.parameters)!, {});
    await m.send(4, 2);
    // the transport reuses its buffers once answered: the replay log must hold copies
    (start.inputs[0].data as Float32Array)[0] = 999;
    m.down.add('B');
    m.routeTo = 'C';
    const r = await m.send(4, 3);
    expect(peerOf(r)).toBe('C');
    // B had left the directory: nothing more went to it
    expect(m.sent.slice(2).map((s) => `${s.via}:${s.peer}:${s.x}`)).toEqual(['route:C:1', 'remote:C:2', 'remote:C:3']);
    expect(m.sent[2].params.sequence_start).toBe(true);
    expect(a.counters.replayed).toBe(1);
    expect(a.holder('acc', 4n)).toBe('C');
    // the sequence goes on at C, and its log now includes request 3
    m.down.add('C');
    m.routeTo = 'D';
    await m.send(4, 4);
    expect(m.sent.slice(-4).map((s) => `${s.peer}:${s.x}`)).toEqual(['D:1', 'D:2', 'D:3', 'D:4']);
  });

  test('a sequence past the replay limits fails with the clear error saying why', async () => {
    const m = new FakeMesh();
    m.init({ maxReplayRequests: 2 });
    await m.send(4, 1, { start: true, replay: true });
    await m.send(4, 2);
    await m.send(4, 3);
    m.down.add('B');
    await expect(m.send(4, 4)).rejects.toMatchObject({
      code: 'UNAVAILABLE', message: expect.stringMatching(/held by peer B, which is gone; restart the sequence with sequence_start \(it cannot be replayed: it grew past the replay limit \(2 requests/),
    });
  });
});

describe('SequenceAffinity: memory bounds', () => {
  // each request of the fake mesh carries one FP32: 4 bytes
  test('replay logs of all sequences together stop at maxReplayTotalBytes; the failure says why', async () => {
    const m = new FakeMesh();
    const a = m.init({ maxReplayTotalBytes: 12 });
    await m.send(1, 1, { start: true, replay: true });
    await m.send(1, 2);
    await m.send(2, 1, { start: true, replay: true });
    expect(a.replayBytes).toBe(12);
    // sequence 2's next request would pass the overall limit: its log stops (and frees its bytes)
    await m.send(2, 2);
    expect(a.replayBytes).toBe(8);
    // a new sequence while the logs are at the limit still records (8 < 12)
    await m.send(3, 1, { start: true, replay: true });
    expect(a.replayBytes).toBe(12);
    // ... but one started when the total is at the limit keeps no log
    await m.send(4, 1, { start: true, replay: true });
    expect(a.replayBytes).toBe(12);
    m.down.add('B');
    await expect(m.send(2, 3)).rejects.toMatchObject({
      code: 'UNAVAILABLE', message: expect.stringContaining("it cannot be replayed: this host's replay logs reached their overall limit (12 bytes"),
    });
    await expect(m.send(4, 2)).rejects.toMatchObject({ message: expect.stringContaining('reached their overall limit') });
    // sequence 1 kept its log and is replayed
    m.routeTo = 'C';
    expect(peerOf(await m.send(1, 3))).toBe('C');
  });

  test('bytes are released when sequences end, expire, are trimmed or fail', async () => {
    const m = new FakeMesh();
    const a = m.init({ idleMs: 1000, maxEntries: 2 });
    await m.send(1, 1, { start: true, replay: true });
    await m.send(1, 2);
    await m.send(1, 3, { end: true });
    expect([a.size, a.replayBytes]).toEqual([0, 0]);
    await m.send(2, 1, { start: true, replay: true });
    await m.send(3, 1, { start: true, replay: true });
    expect(a.replayBytes).toBe(8);
    await m.send(4, 1, { start: true, replay: true }); // trims sequence 2
    expect([a.size, a.replayBytes]).toEqual([2, 8]);
    // a restarted sequence replaces its log
    await m.send(4, 1, { start: true, replay: true });
    expect(a.replayBytes).toBe(8);
    m.clock.advance(1001);
    expect(a.holder('acc', 3n)).toBeUndefined();
    expect(a.replayBytes).toBe(4);
  });

  test('abandoned sequences (no END, never used again) are swept when other requests arrive', async () => {
    const m = new FakeMesh();
    const a = m.init({ idleMs: 1000 });
    for (let id = 1; id <= 50; id++) await m.send(id, 1, { start: true, replay: true });
    expect([a.size, a.replayBytes]).toEqual([50, 200]);
    m.clock.advance(600);
    await m.send(100, 1, { start: true, replay: true });
    await m.send(7, 2); // keeps 7 alive
    m.clock.advance(600);
    // the 49 untouched sequences are past idleMs; one request of any other sequence drops them
    await m.send(101, 1, { start: true });
    expect(a.size).toBe(3);
    expect(a.replayBytes).toBe(12);
    expect(a.holder('acc', 7n)).toBe('B');
    expect(a.holder('acc', 100n)).toBe('B');
  });
});
