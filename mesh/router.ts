/**
 * The mesh router: for each request, pick the host (local or a remote peer) that serves the
 * model, and fail over to another when a host refuses or disappears (ARCHITECTURE-GUIDE §7,
 * mesh issue "The router").
 *
 * Choice, per request (docs/SCHEDULING.md measures every step against an oracle, in a
 * simulation that drives this very class):
 * 1. Draw two distinct candidates weighted by advertised capacity (power of two choices;
 *    weighting keeps many slow peers from drawing most of the traffic). Peers whose report
 *    is older than `staleAfterMs` are drawn only when no other is left.
 * 2. Score each by expected completion time
 *    `(queued + own unacknowledged sends + 1) / throughput + rtt`.
 * 3. If both look worse than a capacity-weighted draw does on average, draw a second pair
 *    (at light load this keeps requests off slow peers when fast ones are idle).
 * 4. The local host, when it serves the model, is always a contender too: its state is exact
 *    (no gossip delay) and it costs no network hop, so it cannot cause herding.
 * 5. Lowest expected time wins; the local host wins ties.
 * Never "the apparent least loaded of all": every router would pile onto the same stale
 * minimum (Mitzenmacher, "How useful is old information?").
 *
 * Pure logic: no libp2p, no I/O. Time and randomness are injected.
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { InflightSends } from './inflight-sends.ts';
import type { SendTicket } from './inflight-sends.ts';
import { routeWithFailover } from './route-failover.ts';
import type { RouteOptions, SendAttempt } from './route-failover.ts';
import { sanitizeWeight, WeightedSampler } from './weighted-sample.ts';

export type { SendTicket } from './inflight-sends.ts';
export type { RouteOptions, SendAttempt } from './route-failover.ts';

/** One host that serves the requested model and version, as the peer directory sees it. */
export interface RouteCandidate {
  /** Peer id (the local host uses its own id). */
  readonly peerId: string;
  /** True for this node itself: no network hop, state known exactly. */
  readonly local: boolean;
  /** Requests queued or running at the peer for this model, from its last report. */
  readonly queued: number;
  /** Measured throughput for this model, items per second (> 0; 0 or less reads as unknown). */
  readonly throughput: number;
  /** Sampling weight (usually the advertised throughput); 0 or less: drawn only when nothing else is. */
  readonly capacity: number;
  /** Round-trip time to the peer in ms (0 for the local host). */
  readonly rttMs: number;
  /** How old the `queued` figure is, in ms (0 for the local host, whose queue is read live). */
  readonly reportAgeMs: number;
}

/** How a report's age discounts its `queued` figure. */
export type StalenessModel =
  /** Take `queued` as reported (default; measured best, see docs/SCHEDULING.md). */
  | 'none'
  /** `max(0, queued − age × throughput)`: assumes nobody else sent since (over-discounts under load). */
  | 'drain';

/** Which of this node's own in-flight sends are added to a peer's reported queue. */
export type InflightModel =
  /** All sends not yet answered (default; the formula, measured best). */
  | 'all'
  /** Only those that started after the report was taken (the report includes the rest). */
  | 'since-report';

/** The clock the router needs: `now` for deadlines and send times, timers to cut a hanging send. */
export type RouterClock = Pick<Clock, 'now' | 'setTimer' | 'clearTimer'>;

/** What a Router is built from; every field is optional. */
export interface RouterInit {
  /** Uniform in [0, 1); defaults to Math.random. Seeded in tests and the simulation. */
  random?: () => number;
  /** Defaults to the system clock (performance.now, setTimeout). */
  clock?: RouterClock;
  /** Attempts per request before giving up with UNAVAILABLE; default {@link DEFAULT_MAX_ATTEMPTS}. */
  maxAttempts?: number;
  /** Reports older than this (ms) are drawn only when no fresher peer is left; default {@link DEFAULT_STALE_AFTER_MS}. */
  staleAfterMs?: number;
  /** Default 'none'; 'drain' exists for the scheduling study. */
  staleness?: StalenessModel;
  /** Default 'all'; 'since-report' exists for the scheduling study. */
  inflight?: InflightModel;
  /** Draw a second pair when the first looks worse than average (default true). */
  redraw?: boolean;
  /** Always weigh the local host against the sampled ones (default true). */
  considerLocal?: boolean;
  /**
   * Also weigh the peer chosen last time for the same key ("power of two with memory").
   * Default false: the study measured it herding on stale reports at high load.
   */
  memory?: boolean;
}

/**
 * Three attempts: the first choice, the other candidate of a refusing pair, and one fresh
 * draw. A request refused three times meets a saturated mesh; failing fast with the list of
 * refusals lets the client back off instead of circling (the deadline bounds it anyway).
 */
export const DEFAULT_MAX_ATTEMPTS = 3;

/**
 * 15 s: several gossip periods. A peer silent that long is probably gone or cut off; its
 * last report may show it idle, which would attract traffic to a dead peer, so it is drawn
 * only when no peer with a fresher report serves the model. Hosts should set this from
 * their gossip interval.
 */
export const DEFAULT_STALE_AFTER_MS = 15_000;

/**
 * 2 s: how long a peer whose send just failed with UNAVAILABLE (peer gone, stream reset,
 * instance crashed) is drawn only when no other peer serves the model. Per-request exclusion
 * protects one request; this protects the next ones too, which matters for browser tabs: a
 * closed or frozen tab fails every stream until liveness (ping, about 10 s) or status expiry
 * removes it. Doubles for each failure in a row, up to {@link MAX_SUSPECT_MS}; a success clears it.
 */
export const DEFAULT_SUSPECT_MS = 2_000;

/** 60 s: the longest a repeatedly failing peer is set aside before it is tried again. */
export const MAX_SUSPECT_MS = 60_000;

/** Candidates drawn per pair: two, the knee of the power-of-d-choices curve. */
export const SAMPLE_COUNT = 2;

/** Relative tolerance under which two expected times count as a tie (local host wins). */
const TIE_EPSILON = 1e-9;

/** Picks a host per request and fails over; one per node (own in-flight sends are per node). */
export class Router {
  readonly #random: () => number;
  readonly #clock: RouterClock;
  readonly #maxAttempts: number;
  readonly #staleAfterMs: number;
  readonly #staleness: StalenessModel;
  readonly #inflightModel: InflightModel;
  readonly #redraw: boolean;
  readonly #considerLocal: boolean;
  readonly #memory: boolean;
  readonly #lastChoice = new Map<string, string>();
  readonly #inflight = new InflightSends();
  readonly #sampler = new WeightedSampler();
  /** Peers whose last send failed with UNAVAILABLE: set aside until `until` (router clock ms). */
  readonly #suspects = new Map<string, { until: number; strikes: number }>();
  /** Index of the eligible local candidate found by the last #fill, or -1. */
  #localIndex = -1;

  constructor(init: RouterInit = {}) {
    this.#random = init.random ?? Math.random;
    this.#clock = init.clock ?? systemClock;
    const max = init.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxAttempts must be an integer ≥ 1, got ${max}`);
    this.#maxAttempts = max;
    this.#staleAfterMs = init.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.#staleness = init.staleness ?? 'none';
    this.#inflightModel = init.inflight ?? 'all';
    this.#redraw = init.redraw ?? true;
    this.#considerLocal = init.considerLocal ?? true;
    this.#memory = init.memory ?? false;
  }

  /** Attempts per request before giving up. */
  get maxAttempts(): number {
    return this.#maxAttempts;
  }

  /** The router's clock (route uses it for deadlines). */
  get clock(): RouterClock {
    return this.#clock;
  }

  /**
   * Records the outcome of a send: a failure with UNAVAILABLE sets the peer aside (see
   * {@link DEFAULT_SUSPECT_MS}); a success clears it. Other errors (refusals, the request's own
   * faults) say nothing about the peer's health.
   */
  noteOutcome(peerId: string, outcome: 'ok' | 'unavailable' | 'other'): void {
    if (outcome === 'ok') {
      if (this.#suspects.size > 0) this.#suspects.delete(peerId);
      return;
    }
    if (outcome !== 'unavailable') return;
    const strikes = (this.#suspects.get(peerId)?.strikes ?? 0) + 1;
    const ms = Math.min(MAX_SUSPECT_MS, DEFAULT_SUSPECT_MS * 2 ** (strikes - 1));
    this.#suspects.set(peerId, { until: this.#clock.now() + ms, strikes });
  }

  /** True while `peerId` is set aside after failed sends. */
  isSuspect(peerId: string, now: number = this.#clock.now()): boolean {
    const s = this.#suspects.get(peerId);
    if (s === undefined) return false;
    if (now < s.until) return true;
    // Strikes are remembered for MAX_SUSPECT_MS after the bench ends (so a peer that keeps
    // failing each time it is tried gets longer benches), then forgotten, so peers that left
    // for good (closed tabs) do not pile up here.
    if (now >= s.until + MAX_SUSPECT_MS) this.#suspects.delete(peerId);
    return false;
  }

  /**
   * Picks the host for one attempt, or undefined when no candidate is left.
   * @param candidates hosts serving the model and version
   * @param exclude peer ids not to pick (e.g. those that just failed this request)
   * @param key what is routed (model and version); only the `memory` option uses it
   */
  choose(candidates: readonly RouteCandidate[], exclude?: ReadonlySet<string>, key = ''): RouteCandidate | undefined {
    const now = this.#clock.now();
    const sampler = this.#sampler;
    const mean = this.#fill(candidates, exclude);
    if (sampler.remaining === 0) return undefined;

    const contenders: RouteCandidate[] = [];
    const drawPair = () => {
      for (let k = 0; k < SAMPLE_COUNT; k++) {
        const i = sampler.draw(this.#random);
        if (i >= 0) contenders.push(candidates[i]);
      }
    };
    drawPair();
    if (this.#redraw && sampler.remaining > 0 && contenders.every((c) => this.expectedMs(c, now) > mean)) drawPair();
    if (this.#considerLocal && this.#localIndex >= 0) addOnce(contenders, candidates[this.#localIndex]);
    if (this.#memory) {
      const remembered = this.#lastChoice.get(key);
      const last = remembered === undefined ? undefined : candidates.find((c) => c.peerId === remembered);
      if (last !== undefined && !(exclude?.has(last.peerId) ?? false)) addOnce(contenders, last);
    }

    let best = contenders[0];
    let bestMs = this.expectedMs(best, now);
    for (let i = 1; i < contenders.length; i++) {
      const c = contenders[i];
      const ms = this.expectedMs(c, now);
      const tol = Number.isFinite(bestMs) ? Math.abs(bestMs) * TIE_EPSILON : 0;
      if (ms < bestMs - tol || (c.local && !best.local && ms <= bestMs + tol)) {
        best = c;
        bestMs = ms;
      }
    }
    if (this.#memory) this.#lastChoice.set(key, best.peerId);
    return best;
  }

  /**
   * Loads the sampler with the eligible candidates (fresh reports first; stale ones only when
   * no fresh one is left) and returns, for the redraw test, the capacity-weighted mean of
   * their expected times as reported (own sends left out to keep this one cheap pass), or
   * Infinity when there is none. A method of its own so the hot loop captures no closure.
   */
  #fill(candidates: readonly RouteCandidate[], exclude: ReadonlySet<string> | undefined): number {
    const sampler = this.#sampler;
    sampler.reset();
    const excluding = exclude !== undefined && exclude.size > 0;
    const staleAfterMs = this.#staleAfterMs;
    const redraw = this.#redraw;
    let sumW = 0;
    let sumWT = 0;
    let stale = 0;
    const suspects = this.#suspects.size > 0;
    const now = suspects ? this.#clock.now() : 0;
    this.#localIndex = -1;
    for (let pass = 0; pass < 2; pass++) {
      const wantStale = pass === 1;
      if (wantStale && (stale === 0 || sampler.remaining > 0)) break;
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[i];
        if (excluding && (exclude as ReadonlySet<string>).has(c.peerId)) continue;
        // A suspect peer is treated like a stale one: drawn only when no other peer is left.
        const isStale = c.reportAgeMs > staleAfterMs || (suspects && this.isSuspect(c.peerId, now));
        if (isStale !== wantStale) {
          if (isStale) stale++;
          continue;
        }
        if (c.local && this.#localIndex < 0) this.#localIndex = i;
        const w = sanitizeWeight(c.capacity);
        sampler.add(i, w);
        if (redraw && w > 0) {
          const t = this.#reportedMs(c);
          if (t < Infinity) { sumW += w; sumWT += w * t; }
        }
      }
    }
    return sumW > 0 ? sumWT / sumW : Infinity;
  }

  /**
   * Expected completion time (ms) of one more request sent to `c` now:
   * `(queued + own unacknowledged sends + 1) / throughput + rtt`, with `queued` discounted
   * per the staleness model. Infinity when the throughput is unknown (such a peer wins only
   * against another unknown, or as the local host on a tie).
   */
  expectedMs(c: RouteCandidate, now: number = this.#clock.now()): number {
    const perMs = c.throughput / 1000;
    if (!(perMs > 0 && perMs < Infinity)) return Infinity;
    let own: number;
    if (this.#inflightModel === 'all') {
      own = this.#inflight.count(c.peerId);
    } else {
      // A send reaches the peer about half an RTT after it starts, so the report (taken
      // `age` ago) includes the sends that started before `now − age − rtt/2`.
      const age = nonNegative(c.reportAgeMs);
      own = this.#inflight.countStartedAfter(c.peerId, now - age - nonNegative(c.rttMs) / 2);
    }
    return (this.#queuedNow(c, perMs) + own + 1) / perMs + nonNegative(c.rttMs);
  }

  /** Expected time as the report alone says (no own sends); the redraw threshold uses it. */
  #reportedMs(c: RouteCandidate): number {
    const perMs = c.throughput / 1000;
    if (!(perMs > 0 && perMs < Infinity)) return Infinity;
    return (this.#queuedNow(c, perMs) + 1) / perMs + nonNegative(c.rttMs);
  }

  #queuedNow(c: RouteCandidate, perMs: number): number {
    const reported = nonNegative(c.queued);
    return this.#staleness === 'drain' ? Math.max(0, reported - nonNegative(c.reportAgeMs) * perMs) : reported;
  }

  /** Records a send to `peerId` starting now; hand the ticket to {@link end} when it settles. */
  begin(peerId: string): SendTicket {
    return this.#inflight.begin(peerId, this.#clock.now());
  }

  /** Marks a send finished (answered, failed or abandoned). Idempotent. */
  end(ticket: SendTicket): void {
    this.#inflight.end(ticket);
  }

  /** This node's sends to `peerId` in flight now. */
  inflight(peerId: string): number {
    return this.#inflight.count(peerId);
  }

  /**
   * Sends one request, failing over on retryable errors (rules in route-failover.ts).
   * `begin`/`end` are called around every attempt. Always settles: with the answer, the first
   * non-retryable error, CANCELLED, DEADLINE_EXCEEDED, or UNAVAILABLE listing every attempt.
   * @param getCandidates read afresh before each attempt (gossip may have moved on)
   * @param send one attempt; must honour the signal, and map transport failures (peer gone,
   *   stream reset) to UNAVAILABLE and refusals to OVERLOADED so that they are retried
   */
  route<T>(getCandidates: () => readonly RouteCandidate[], send: SendAttempt<T>, opts: RouteOptions = {}): Promise<T> {
    return routeWithFailover(this, getCandidates, send, opts);
  }
}

/** Appends `c` unless it is already there. */
function addOnce(list: RouteCandidate[], c: RouteCandidate): void {
  if (!list.includes(c)) list.push(c);
}

/** A finite, non-negative reading of a gossiped number (garbage reads as 0). */
function nonNegative(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}
