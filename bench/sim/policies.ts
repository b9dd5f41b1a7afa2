/**
 * The scheduling policies compared by the study. Each client (a node that receives requests
 * and routes them) has its own policy instance where the policy keeps per-node state.
 *
 * - oracle: central join-shortest-expected-queue with fresh, exact information
 *   (`(outstanding + 1) × service time + rtt` over all peers) — the yardstick; no real
 *   decentralised mesh has this information.
 * - random-uniform / random-weighted: no information at all.
 * - p2-uniform: classic power of two choices on gossiped (stale) queue lengths, candidates
 *   drawn uniformly, shorter reported queue wins.
 * - router: the real `mesh/router.ts` (choose / begin / end), one Router per client.
 */
import type { RouteCandidate, RouterInit } from '../../mesh/router.ts';
import { Router } from '../../mesh/router.ts';
import type { EventQueue } from './event-queue.ts';
import type { GossipBoard, SimPeer } from './cluster.ts';
import type { Rand } from './sim-random.ts';
import { randomIndex } from './sim-random.ts';

/** Where one request goes, and what to call when its answer is back. */
export interface Dispatch {
  readonly peer: SimPeer;
  readonly onAnswer?: () => void;
}

/** A policy as one client runs it. */
export interface ClientPolicy {
  dispatch(): Dispatch;
}

/** Everything a policy may look at (the oracle looks at `peers` directly; others may not). */
export interface PolicyContext {
  readonly q: EventQueue;
  readonly peers: readonly SimPeer[];
  readonly board: GossipBoard;
  /** A fresh seeded generator per client. */
  readonly randomFor: (client: number) => Rand;
}

/** A named policy: builds the per-client instances. */
export interface PolicySpec {
  readonly name: string;
  /** True when the policy ignores gossip, so one run serves every report age. */
  readonly ageBlind: boolean;
  readonly make: (ctx: PolicyContext, client: number) => ClientPolicy;
}

/** Central JSQ on expected completion time with exact, fresh state. */
export const oracle: PolicySpec = {
  name: 'oracle JSQ (fresh)',
  ageBlind: true,
  make: (ctx, client) => {
    const rand = ctx.randomFor(client);
    return {
      dispatch: () => {
        let best = ctx.peers[0];
        let bestMs = Infinity;
        let ties = 0;
        for (const p of ctx.peers) {
          const ms = (p.outstanding + 1) * p.serviceMs + p.rttMs;
          if (ms < bestMs) { best = p; bestMs = ms; ties = 1; }
          // Reservoir tie-break keeps equal peers equally likely.
          else if (ms === bestMs && rand() * ++ties < 1) best = p;
        }
        return { peer: best };
      },
    };
  },
};

/** Uniformly random peer. */
export const randomUniform: PolicySpec = {
  name: 'random uniform',
  ageBlind: true,
  make: (ctx, client) => {
    const rand = ctx.randomFor(client);
    return { dispatch: () => ({ peer: ctx.peers[randomIndex(rand, ctx.peers.length)] }) };
  },
};

/** Random peer with probability proportional to its throughput. */
export const randomWeighted: PolicySpec = {
  name: 'random weighted',
  ageBlind: true,
  make: (ctx, client) => {
    const rand = ctx.randomFor(client);
    const cumulative = new Float64Array(ctx.peers.length);
    let acc = 0;
    ctx.peers.forEach((p, i) => { acc += p.throughput; cumulative[i] = acc; });
    return {
      dispatch: () => {
        const target = rand() * acc;
        let lo = 0;
        let hi = cumulative.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cumulative[mid] > target) hi = mid; else lo = mid + 1;
        }
        return { peer: ctx.peers[lo] };
      },
    };
  },
};

/** Power of two choices, uniform draws, shorter gossiped queue wins (ties at random). */
export const p2Uniform: PolicySpec = {
  name: 'p2 uniform (stale)',
  ageBlind: false,
  make: (ctx, client) => {
    const rand = ctx.randomFor(client);
    const n = ctx.peers.length;
    return {
      dispatch: () => {
        const a = randomIndex(rand, n);
        let b = randomIndex(rand, n - 1);
        if (b >= a) b++;
        const qa = ctx.board.reported(a);
        const qb = ctx.board.reported(b);
        const pick = qa < qb || (qa === qb && rand() < 0.5) ? a : b;
        return { peer: ctx.peers[pick] };
      },
    };
  },
};

/**
 * A peer as a RouteCandidate, read live from the gossip board: getters keep 1,000 candidates
 * current without rebuilding the array for every request.
 */
class BoardCandidate implements RouteCandidate {
  readonly peerId: string;
  readonly local = false;
  readonly throughput: number;
  readonly capacity: number;
  readonly rttMs: number;
  /** The simulated peer behind the candidate (choose returns this same object). */
  readonly simPeer: SimPeer;
  readonly #board: GossipBoard;
  readonly #index: number;

  constructor(peer: SimPeer, board: GossipBoard) {
    this.simPeer = peer;
    this.peerId = peer.id;
    this.throughput = peer.throughput;
    this.capacity = peer.throughput;
    this.rttMs = peer.rttMs;
    this.#board = board;
    this.#index = peer.index;
  }

  // Getters, not fields: the router reads them once per candidate per request, and they
  // must reflect the board and the simulated clock at that moment.
  get queued(): number {
    return this.#board.reported(this.#index);
  }

  get reportAgeMs(): number {
    return this.#board.ageMs(this.#index);
  }
}

/** The real router, one instance per client; `init` selects variants for the study. */
export function routerPolicy(name: string, init: Pick<RouterInit, 'staleness' | 'inflight' | 'memory' | 'redraw'> = {}): PolicySpec {
  const candidatesFor = new WeakMap<PolicyContext, BoardCandidate[]>();
  return {
    name,
    ageBlind: false,
    make: (ctx, client) => {
      let candidates = candidatesFor.get(ctx);
      if (candidates === undefined) {
        candidates = ctx.peers.map((p) => new BoardCandidate(p, ctx.board));
        candidatesFor.set(ctx, candidates);
      }
      const all = candidates;
      const router = new Router({
        ...init,
        random: ctx.randomFor(client),
        clock: { now: () => ctx.q.now, setTimer: unusedTimer, clearTimer: unusedTimer },
      });
      return {
        dispatch: () => {
          const c = router.choose(all) as BoardCandidate;
          const ticket = router.begin(c.peerId);
          return { peer: c.simPeer, onAnswer: () => router.end(ticket) };
        },
      };
    },
  };
}

function unusedTimer(): never {
  throw new Error('the simulation calls choose/begin/end only; route() timers are not simulated');
}
