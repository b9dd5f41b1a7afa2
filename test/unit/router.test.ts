import { describe, expect, test } from 'vitest';
import { Router } from '../../mesh/router.ts';
import type { RouteCandidate, RouterInit } from '../../mesh/router.ts';
import { WeightedSampler } from '../../mesh/weighted-sample.ts';
import { InferError, invalidArg, isInferError } from '../../protocol/errors.ts';
import { mulberry32 } from '../../scripts/seeded-random.ts';
import { flush } from '../support/fake-backend.ts';
import { FakeClock } from '../support/fake-clock.ts';

/** A candidate with sensible defaults: idle, 100 items/s, 1 ms away, fresh report. */
function cand(peerId: string, o: Partial<RouteCandidate> = {}): RouteCandidate {
  return { peerId, local: false, queued: 0, throughput: 100, capacity: 100, rttMs: 1, reportAgeMs: 0, ...o };
}

function router(o: RouterInit = {}, seed = 1): { r: Router; clock: FakeClock } {
  const clock = new FakeClock(1_000);
  return { r: new Router({ random: mulberry32(seed), clock, ...o }), clock };
}

/** Pearson's chi-square statistic of observed counts against expected probabilities. */
function chiSquare(observed: number[], probs: number[]): number {
  const n = observed.reduce((a, b) => a + b, 0);
  return observed.reduce((s, o, i) => s + (o - n * probs[i]) ** 2 / (n * probs[i]), 0);
}

/** Settles `p` into a value or an InferError without leaving a rejection unhandled. */
function track<T>(p: Promise<T>): { value?: T; error?: InferError; done: boolean } {
  const s: { value?: T; error?: InferError; done: boolean } = { done: false };
  p.then((v) => { s.value = v; s.done = true; }, (e: unknown) => { s.error = e as InferError; s.done = true; });
  return s;
}

/** The InferError a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<InferError> {
  try {
    await p;
  } catch (e) {
    expect(isInferError(e)).toBe(true);
    return e as InferError;
  }
  throw new Error('expected a rejection');
}

const overloaded = (peer: string) => new InferError('OVERLOADED', `${peer}: queue full`, 'REJECTED');
const gone = (peer: string) => new InferError('UNAVAILABLE', `${peer}: stream reset`);

describe('WeightedSampler', () => {
  test('first draws follow the weights (chi-square, df 3, p = 0.001 bound 16.27)', () => {
    const weights = [1, 2, 3, 4];
    const s = new WeightedSampler();
    const random = mulberry32(7);
    const counts = [0, 0, 0, 0];
    for (let k = 0; k < 40_000; k++) {
      s.reset();
      weights.forEach((w, i) => s.add(i, w));
      counts[s.draw(random)]++;
    }
    expect(chiSquare(counts, [0.1, 0.2, 0.3, 0.4])).toBeLessThan(16.27);
    // And it is not trivially satisfied: a uniform expectation is rejected by the same test.
    expect(chiSquare(counts, [0.25, 0.25, 0.25, 0.25])).toBeGreaterThan(1000);
  });

  test('pairs are drawn without replacement with successive-sampling probabilities', () => {
    const w = [1, 2, 3, 4];
    const total = 10;
    const pairs: [number, number][] = [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]];
    // P({i, j}) = w_i/W · w_j/(W − w_i) + w_j/W · w_i/(W − w_j)
    const probs = pairs.map(([i, j]) => (w[i] / total) * (w[j] / (total - w[i])) + (w[j] / total) * (w[i] / (total - w[j])));
    const s = new WeightedSampler();
    const random = mulberry32(11);
    const counts = pairs.map(() => 0);
    for (let k = 0; k < 40_000; k++) {
      s.reset();
      w.forEach((x, i) => s.add(i, x));
      const a = s.draw(random);
      const b = s.draw(random);
      expect(a).not.toBe(b);
      counts[pairs.findIndex(([i, j]) => (i === Math.min(a, b) && j === Math.max(a, b)))]++;
    }
    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(chiSquare(counts, probs)).toBeLessThan(20.52); // df 5, p = 0.001
  });

  test('zero weights are drawn only after every positive one, then uniformly; -1 when empty', () => {
    const s = new WeightedSampler();
    const random = mulberry32(3);
    s.add(10, 0);
    s.add(11, 5);
    s.add(12, Number.NaN);
    expect(s.draw(random)).toBe(11);
    const rest = [s.draw(random), s.draw(random)].sort();
    expect(rest).toEqual([10, 12]);
    expect(s.draw(random)).toBe(-1);
  });
});

describe('Router.choose', () => {
  test('samples by capacity: the best peer wins exactly when it is in the drawn pair', () => {
    // A is best, then B, then C; C (capacity 8) is drawn most but always loses to its partner.
    // P(A in pair) = 0.1 + 0.1·(1/9) + 0.8·(1/2) = 0.5111…
    const cands = [
      cand('A', { capacity: 1, queued: 0 }),
      cand('B', { capacity: 1, queued: 1 }),
      cand('C', { capacity: 8, queued: 2 }),
    ];
    const { r } = router({ redraw: false });
    const counts = { A: 0, B: 0, C: 0 } as Record<string, number>;
    for (let k = 0; k < 20_000; k++) counts[(r.choose(cands) as RouteCandidate).peerId]++;
    expect(counts.C).toBe(0);
    expect(counts.A / 20_000).toBeGreaterThan(0.5111 - 0.015);
    expect(counts.A / 20_000).toBeLessThan(0.5111 + 0.015);
  });

  test('never picks an excluded peer; undefined when all are excluded or none is given', () => {
    const cands = ['a', 'b', 'c', 'd', 'e'].map((p) => cand(p));
    const { r } = router();
    const exclude = new Set(['a', 'c', 'e']);
    const seen = new Set<string>();
    for (let k = 0; k < 2_000; k++) seen.add((r.choose(cands, exclude) as RouteCandidate).peerId);
    expect([...seen].sort()).toEqual(['b', 'd']);
    expect(r.choose(cands, new Set(['a', 'b', 'c', 'd', 'e']))).toBeUndefined();
    expect(r.choose([])).toBeUndefined();
    expect(r.choose([cand('only')])?.peerId).toBe('only');
  });

  test('prefers the lower expected completion time: queue over throughput, plus rtt', () => {
    const { r } = router();
    // fast: (5 + 0 + 1) / 100/s = 60 ms + 1; slow: (0 + 1) / 10/s = 100 ms + 1
    const fast = cand('fast', { queued: 5 });
    const slow = cand('slow', { throughput: 10, capacity: 10 });
    expect(r.expectedMs(fast)).toBeCloseTo(61, 9);
    expect(r.expectedMs(slow)).toBeCloseTo(101, 9);
    for (let k = 0; k < 50; k++) expect(r.choose([fast, slow])?.peerId).toBe('fast');
    const busyFast = cand('fast', { queued: 12 }); // 130 ms + 1
    for (let k = 0; k < 50; k++) expect(r.choose([busyFast, slow])?.peerId).toBe('slow');
    // Same queue and speed: the nearer peer wins.
    for (let k = 0; k < 50; k++) expect(r.choose([cand('far', { rttMs: 30 }), cand('near', { rttMs: 2 })])?.peerId).toBe('near');
  });

  test('the local host wins ties, whichever order the candidates come in', () => {
    const { r } = router();
    const local = cand('me', { local: true });
    const remote = cand('peer');
    for (let k = 0; k < 100; k++) {
      expect(r.choose([remote, local])?.peerId).toBe('me');
      expect(r.choose([local, remote])?.peerId).toBe('me');
    }
  });

  test('the local host is always a contender, even when its capacity makes it rarely drawn', () => {
    const remotes = Array.from({ length: 20 }, (_, i) => cand(`r${i}`, { queued: 3, capacity: 1_000 }));
    const local = cand('me', { local: true, capacity: 1, rttMs: 0 });
    const { r } = router();
    for (let k = 0; k < 200; k++) expect(r.choose([...remotes, local])?.peerId).toBe('me');
    const { r: without } = router({ considerLocal: false });
    let localPicks = 0;
    for (let k = 0; k < 200; k++) if (without.choose([...remotes, local])?.peerId === 'me') localPicks++;
    expect(localPicks).toBeLessThan(10);
  });

  test('own in-flight sends count: a peer this node just loaded loses to an equal one', () => {
    const { r } = router();
    const a = cand('a');
    const b = cand('b');
    const t1 = r.begin('a');
    const t2 = r.begin('a');
    expect(r.inflight('a')).toBe(2);
    expect(r.expectedMs(a)).toBeCloseTo((0 + 2 + 1) / 0.1 + 1, 9);
    for (let k = 0; k < 50; k++) expect(r.choose([a, b])?.peerId).toBe('b');
    r.end(t1);
    r.end(t2);
    r.end(t2); // idempotent
    expect(r.inflight('a')).toBe(0);
    const picks = new Set<string>();
    for (let k = 0; k < 50; k++) picks.add(r.choose([a, b])?.peerId as string);
    expect(picks.size).toBe(2);
  });

  test("'since-report' counts only the sends the report cannot have seen", () => {
    const { r, clock } = router({ inflight: 'since-report' });
    r.begin('p'); // at t = 1000
    clock.advance(100);
    r.begin('p'); // at t = 1100
    clock.advance(10);
    // Report taken 50 ms ago (t = 1060) at rtt 0: it includes the first send, not the second.
    expect(r.expectedMs(cand('p', { reportAgeMs: 50, rttMs: 0 }))).toBeCloseTo((0 + 1 + 1) / 0.1, 9);
    const { r: all } = router({ inflight: 'all' });
    all.begin('p');
    all.begin('p');
    expect(all.expectedMs(cand('p', { reportAgeMs: 50, rttMs: 0 }))).toBeCloseTo((0 + 2 + 1) / 0.1, 9);
  });

  test("staleness: 'none' keeps the reported queue, 'drain' subtracts what was served since", () => {
    const old = cand('p', { queued: 10, throughput: 10, reportAgeMs: 600, rttMs: 0 });
    expect(router().r.expectedMs(old)).toBeCloseTo(11 / 0.01, 6);
    expect(router({ staleness: 'drain' }).r.expectedMs(old)).toBeCloseTo((10 - 6 + 1) / 0.01, 6);
    expect(router({ staleness: 'drain' }).r.expectedMs({ ...old, reportAgeMs: 60_000 })).toBeCloseTo(1 / 0.01, 6);
  });

  test('peers with reports older than staleAfterMs are used only when no fresher one is left', () => {
    const { r } = router({ staleAfterMs: 5_000 });
    const silent = cand('silent', { reportAgeMs: 60_000, capacity: 1_000 }); // looks idle, but silent for a minute
    const busy = cand('busy', { queued: 50, capacity: 1 });
    for (let k = 0; k < 50; k++) expect(r.choose([silent, busy])?.peerId).toBe('busy');
    expect(r.choose([silent, busy], new Set(['busy']))?.peerId).toBe('silent');
  });

  test('redraw: a first pair of slow peers is replaced when fast ones are idle', () => {
    // 2 fast (weight 100 each), 8 slow (weight 10 each), all idle.
    // Without redraw a slow peer wins when both draws are slow: (80/280)(70/270) = 0.0741.
    // With redraw all four draws must be slow: 0.0741 · (60/260)(50/250) = 0.00342.
    const cands = [
      ...Array.from({ length: 2 }, (_, i) => cand(`fast${i}`, { rttMs: 0 })),
      ...Array.from({ length: 8 }, (_, i) => cand(`slow${i}`, { throughput: 10, capacity: 10, rttMs: 0 })),
    ];
    const slowShare = (o: RouterInit) => {
      const { r } = router(o, 5);
      let slow = 0;
      for (let k = 0; k < 20_000; k++) if (r.choose(cands)?.peerId.startsWith('slow')) slow++;
      return slow / 20_000;
    };
    const off = slowShare({ redraw: false });
    const on = slowShare({ redraw: true });
    expect(off).toBeGreaterThan(0.0741 - 0.01);
    expect(off).toBeLessThan(0.0741 + 0.01);
    expect(on).toBeLessThan(0.008);
  });

  test('memory (off by default) keeps the last choice as a contender', () => {
    const cands = Array.from({ length: 50 }, (_, i) => cand(`p${i}`, { queued: 5 }));
    const best = cand('best', { queued: 0, capacity: 1 });
    const { r } = router({ memory: true, redraw: false });
    let last: string | undefined;
    let hits = 0;
    for (let k = 0; k < 500 && hits === 0; k++) if (r.choose([...cands, best], undefined, 'm')?.peerId === 'best') hits++;
    expect(hits).toBe(1);
    // From now on the remembered best is always weighed, and always wins.
    for (let k = 0; k < 100; k++) last = r.choose([...cands, best], undefined, 'm')?.peerId;
    expect(last).toBe('best');
  });

  test('rejects a nonsensical maxAttempts at construction', () => {
    expect(() => new Router({ maxAttempts: 0 })).toThrow(RangeError);
  });
});

describe('Router.route', () => {
  test('retries a refusal on another peer and returns its answer; in-flight returns to zero', async () => {
    const { r } = router();
    const cands = [cand('a'), cand('b'), cand('c')];
    const tried: string[] = [];
    const result = await r.route(() => cands, async (c) => {
      tried.push(c.peerId);
      expect(r.inflight(c.peerId)).toBe(1); // begin() ran before the send
      if (tried.length === 1) throw overloaded(c.peerId);
      return `answer from ${c.peerId}`;
    });
    expect(tried).toHaveLength(2);
    expect(tried[1]).not.toBe(tried[0]);
    expect(result).toBe(`answer from ${tried[1]}`);
    for (const c of cands) expect(r.inflight(c.peerId)).toBe(0);
  });

  test('re-reads the candidates before each attempt', async () => {
    const { r } = router();
    let reads = 0;
    const tried: string[] = [];
    await r.route(() => (++reads === 1 ? [cand('old')] : [cand('old'), cand('new')]), async (c) => {
      tried.push(c.peerId);
      if (c.peerId === 'old') throw gone('old');
      return 1;
    });
    expect(tried).toEqual(['old', 'new']);
    expect(reads).toBe(2);
  });

  test('a non-retryable error (INVALID_ARG) returns at once, unchanged, without a second attempt', async () => {
    const { r } = router();
    let calls = 0;
    const err = invalidArg("input 'x': expected FP32, got INT64");
    await expect(r.route(() => [cand('a'), cand('b')], async () => { calls++; throw err; })).rejects.toBe(err);
    expect(calls).toBe(1);
  });

  test('an unknown throw (even synchronous) becomes INTERNAL and is not retried', async () => {
    const { r } = router();
    let calls = 0;
    const p = r.route(() => [cand('a'), cand('b')], () => { calls++; throw new TypeError('boom'); });
    await expect(p).rejects.toMatchObject({ name: 'InferError', code: 'INTERNAL', message: 'boom' });
    expect(calls).toBe(1);
  });

  test('everything fails → UNAVAILABLE naming every peer tried and its error', async () => {
    const { r } = router({ maxAttempts: 10 });
    const calls: string[] = [];
    const e = await rejection(r.route(() => [cand('a'), cand('b'), cand('c')], async (c) => {
      calls.push(c.peerId);
      throw gone(c.peerId);
    }, { label: "model 'resnet' version 1" }));
    expect(e.code).toBe('UNAVAILABLE');
    expect(calls.sort()).toEqual(['a', 'b', 'c']);
    expect(e.message).toContain("model 'resnet' version 1");
    expect(e.message).toContain('tried 3 peer(s)');
    for (const p of ['a', 'b', 'c']) expect(e.message).toContain(`${p}: UNAVAILABLE ${p}: stream reset`);
    expect(e.reason).toBe('OTHER');
  });

  test('all refusals → UNAVAILABLE with reason REJECTED; maxAttempts caps the attempts', async () => {
    const { r } = router({ maxAttempts: 2 });
    let calls = 0;
    const err = await rejection(r.route(() => ['a', 'b', 'c', 'd'].map((p) => cand(p)), async (c) => {
      calls++;
      throw overloaded(c.peerId);
    }));
    expect(calls).toBe(2);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.reason).toBe('REJECTED');
    expect(err.message).toContain('gave up after 2 attempts');
  });

  test('no candidate at all → UNAVAILABLE saying no host serves it', async () => {
    const { r } = router();
    let calls = 0;
    const err = await rejection(r.route(() => [], async () => { calls++; return 1; }, { label: "model 'm'" }));
    expect(calls).toBe(0);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain("no host serves model 'm'");
  });

  test('a hanging send is cut by the deadline: DEADLINE_EXCEEDED naming the peer, signal aborted', async () => {
    const { r, clock } = router();
    let signal: AbortSignal | undefined;
    const s = track(r.route(() => [cand('stuck')], (_c, sig) => { signal = sig; return new Promise<number>(() => {}); }, { deadlineMs: clock.now() + 100 }));
    await flush();
    expect(s.done).toBe(false);
    expect(r.inflight('stuck')).toBe(1);
    clock.advance(99);
    await flush();
    expect(s.done).toBe(false);
    clock.advance(1);
    await flush();
    expect(s.done).toBe(true);
    expect(s.error?.code).toBe('DEADLINE_EXCEEDED');
    expect(s.error?.message).toContain('stuck: no answer before the deadline');
    expect(signal?.aborted).toBe(true);
    expect(r.inflight('stuck')).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  test('no attempt starts after the deadline; the failed attempts are named', async () => {
    const { r, clock } = router();
    const tried: string[] = [];
    let reads = 0;
    const getCandidates = () => {
      // The second read (before the retry) is slow enough to pass the deadline.
      if (++reads === 2) clock.advance(20);
      return [cand('a'), cand('b')];
    };
    const err = await rejection(r.route(getCandidates, async (c) => {
      tried.push(c.peerId);
      clock.advance(40); // refused after 40 ms, before the deadline at 50
      throw overloaded(c.peerId);
    }, { deadlineMs: clock.now() + 50 }));
    expect(tried).toHaveLength(1);
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(err.message).toContain(`1 attempt(s): ${tried[0]}: OVERLOADED ${tried[0]}: queue full`);

    let calls = 0;
    const late = await rejection(r.route(() => [cand('a')], async () => { calls++; return 1; }, { deadlineMs: clock.now() - 1 }));
    expect(calls).toBe(0);
    expect(late.code).toBe('DEADLINE_EXCEEDED');
    expect(late.message).toContain('before the first attempt');
  });

  test('an answer that arrives after the deadline is not used: the deadline wins', async () => {
    const { r, clock } = router();
    const err = await rejection(r.route(() => [cand('a')], async () => {
      clock.advance(60); // the deadline timer fires while the send is still running
      return 'too late';
    }, { deadlineMs: clock.now() + 50 }));
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(err.message).toContain('a: no answer before the deadline');
  });

  test('cancellation: aborting mid-send rejects CANCELLED and aborts the send; aborted before start sends nothing', async () => {
    const { r, clock } = router();
    const ac = new AbortController();
    let signal: AbortSignal | undefined;
    const s = track(r.route(() => [cand('a')], (_c, sig) => { signal = sig; return new Promise<number>(() => {}); }, { signal: ac.signal, deadlineMs: clock.now() + 1_000 }));
    await flush();
    expect(s.done).toBe(false);
    ac.abort();
    await flush();
    expect(s.error?.code).toBe('CANCELLED');
    expect(s.error?.reason).toBe('CANCELED');
    expect(signal?.aborted).toBe(true);
    expect(r.inflight('a')).toBe(0);
    expect(clock.pendingTimers).toBe(0);

    let calls = 0;
    const err = await rejection(r.route(() => [cand('a')], async () => { calls++; return 1; }, { signal: AbortSignal.abort() }));
    expect(calls).toBe(0);
    expect(err.code).toBe('CANCELLED');
  });

  test('a send that rejects after being abandoned does not surface as an unhandled rejection', async () => {
    const { r, clock } = router();
    let rejectLater: (e: unknown) => void = () => {};
    const s = track(r.route(() => [cand('a')], () => new Promise<number>((_res, rej) => { rejectLater = rej; }), { deadlineMs: clock.now() + 10 }));
    clock.advance(10);
    await flush();
    expect(s.error?.code).toBe('DEADLINE_EXCEEDED');
    rejectLater(gone('a'));
    await flush();
    expect(s.error?.code).toBe('DEADLINE_EXCEEDED');
  });
});

describe('Router: peers whose sends fail are set aside', () => {
  test('after an UNAVAILABLE failure the next requests avoid the peer, until the bench time passes', async () => {
    const { r, clock } = router();
    // 'tab' looks far better (idle, fast), so without the bench it would win every draw.
    const cands = [cand('tab', { throughput: 10_000, capacity: 10_000 }), cand('host')];
    expect(r.choose(cands)?.peerId).toBe('tab');
    await r.route(() => cands, async (c) => {
      if (c.peerId === 'tab') throw gone('tab');
      return 1;
    });
    expect(r.isSuspect('tab')).toBe(true);
    for (let i = 0; i < 50; i++) expect(r.choose(cands)?.peerId).toBe('host');
    clock.advance(2_001);
    expect(r.choose(cands)?.peerId).toBe('tab');
  });

  test('a suspect peer is still drawn when it is the only one, and a success clears it', async () => {
    const { r } = router();
    r.noteOutcome('only', 'unavailable');
    expect(r.choose([cand('only')])?.peerId).toBe('only');
    await r.route(() => [cand('only')], async () => 1);
    expect(r.isSuspect('only')).toBe(false);
  });

  test('failures in a row double the bench; refusals and request errors do not bench at all', () => {
    const { r, clock } = router();
    r.noteOutcome('p', 'unavailable');
    r.noteOutcome('p', 'unavailable');
    clock.advance(3_000);
    expect(r.isSuspect('p')).toBe(true); // second strike: 4 s
    clock.advance(1_001);
    expect(r.isSuspect('p')).toBe(false);
    r.noteOutcome('q', 'other');
    expect(r.isSuspect('q')).toBe(false);
    // a third failure soon after the bench ended: 8 s; long after: forgotten, back to 2 s
    r.noteOutcome('p', 'unavailable');
    clock.advance(7_999);
    expect(r.isSuspect('p')).toBe(true);
    clock.advance(8_001 + 60_000);
    expect(r.isSuspect('p')).toBe(false);
    r.noteOutcome('p', 'unavailable');
    clock.advance(2_001);
    expect(r.isSuspect('p')).toBe(false);
  });

  test('a full queue (UNAVAILABLE, REJECTED) or a failure of the local host does not set anyone aside', async () => {
    const { r } = router();
    let n = 0;
    await r.route(() => [cand('busy'), cand('other')], async (c) => {
      if (n++ === 0) throw new InferError('UNAVAILABLE', 'Exceeds maximum queue size', 'REJECTED');
      return c.peerId;
    });
    expect(r.isSuspect('busy') || r.isSuspect('other')).toBe(false);
    await r.route(() => [cand('me', { local: true }), cand('x', { throughput: 1, capacity: 1 })], async (c) => {
      if (c.local) throw gone('me');
      return 1;
    });
    expect(r.isSuspect('me')).toBe(false);
  });

  test('an OVERLOADED refusal does not set the peer aside', async () => {
    const { r } = router();
    let first = true;
    await r.route(() => [cand('a'), cand('b')], async (c) => {
      if (first) { first = false; throw overloaded(c.peerId); }
      return 1;
    });
    expect(r.isSuspect('a') || r.isSuspect('b')).toBe(false);
  });
});
