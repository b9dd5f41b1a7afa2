/**
 * The simulated mesh: N peers, each a single FIFO server for one model, with exponential
 * service times; what gossip has told the clients about them; and their RTTs.
 *
 * Units: simulated milliseconds. A fast peer serves one request in `fastServiceMs` on
 * average ("one service time" throughout the study); a slow one takes `slowFactor` times as
 * long.
 */
import type { EventQueue } from './event-queue.ts';
import type { Rand } from './sim-random.ts';

/** The mix of peers. */
export interface ClusterSpec {
  /** Number of peers. */
  peers: number;
  /** Share of fast peers, e.g. 0.2. */
  fastShare: number;
  /** How many times slower the slow peers are, e.g. 10. */
  slowFactor: number;
  /** Mean service time of a fast peer, ms. */
  fastServiceMs: number;
  /** RTT range, ms: each peer draws one uniformly. */
  rttMs: readonly [number, number];
}

/** A request in the system. */
export interface SimRequest {
  /** Arrival time at the client, ms. */
  readonly arrivedAt: number;
  /** Work in units of the serving peer's mean service time (Exp(1)), drawn at arrival. */
  readonly work: number;
  /** Called when the answer is back at the client. */
  readonly onAnswer: (at: number) => void;
}

/** One simulated peer. */
export interface SimPeer {
  readonly index: number;
  readonly id: string;
  readonly fast: boolean;
  /** Mean service time, ms. */
  readonly serviceMs: number;
  /** Items per second (what the peer would advertise as measured throughput). */
  readonly throughput: number;
  readonly rttMs: number;
  /** Requests at the peer (waiting plus in service): what it gossips. */
  atPeer: number;
  /** Requests sent to it and not yet served (includes those in transit): what the oracle sees. */
  outstanding: number;
  /** FIFO of requests at the peer; `head` is the one in service. */
  readonly fifo: SimRequest[];
  head: number;
}

/** Builds the peers in a seeded shuffled order (fast ones are not all at the front). */
export function makePeers(spec: ClusterSpec, rand: Rand): SimPeer[] {
  const fastCount = Math.round(spec.peers * spec.fastShare);
  const kinds = Array.from({ length: spec.peers }, (_, i) => i < fastCount);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  return kinds.map((fast, index) => {
    const serviceMs = fast ? spec.fastServiceMs : spec.fastServiceMs * spec.slowFactor;
    const [lo, hi] = spec.rttMs;
    return {
      index, id: `peer-${index}`, fast, serviceMs, throughput: 1000 / serviceMs,
      rttMs: lo + (hi - lo) * rand(), atPeer: 0, outstanding: 0, fifo: [], head: 0,
    };
  });
}

/** Total capacity, requests per ms. */
export function capacityPerMs(peers: readonly SimPeer[]): number {
  let c = 0;
  for (const p of peers) c += 1 / p.serviceMs;
  return c;
}

/**
 * Delivers `req` to `peer` after half its RTT, serves it FIFO, and answers after another
 * half RTT. `outstanding` counts from the send to the end of service.
 */
export function sendTo(q: EventQueue, peer: SimPeer, req: SimRequest): void {
  peer.outstanding++;
  q.after(peer.rttMs / 2, () => {
    peer.fifo.push(req);
    peer.atPeer++;
    if (peer.atPeer === 1) startService(q, peer);
  });
}

function startService(q: EventQueue, peer: SimPeer): void {
  const req = peer.fifo[peer.head];
  q.after(req.work * peer.serviceMs, () => {
    peer.head++;
    peer.atPeer--;
    peer.outstanding--;
    // Compact now and then so the FIFO array does not grow with the whole run.
    if (peer.head > 1024 && peer.head * 2 > peer.fifo.length) {
      peer.fifo.splice(0, peer.head);
      peer.head = 0;
    }
    q.after(peer.rttMs / 2, () => req.onAnswer(q.now));
    if (peer.atPeer > 0) startService(q, peer);
  });
}

/**
 * What the clients know of each peer's queue: the last gossip report and when it was taken.
 * With `live` set the board reads the peers directly (reports of age 0).
 */
export class GossipBoard {
  readonly queued: Float64Array;
  readonly takenAt: Float64Array;
  readonly live: boolean;
  readonly #peers: readonly SimPeer[];
  readonly #q: EventQueue;

  constructor(peers: readonly SimPeer[], q: EventQueue, live: boolean) {
    this.#peers = peers;
    this.#q = q;
    this.live = live;
    this.queued = new Float64Array(peers.length);
    this.takenAt = new Float64Array(peers.length);
  }

  /** Reported queue of peer `i`. */
  reported(i: number): number {
    return this.live ? this.#peers[i].atPeer : this.queued[i];
  }

  /** Age of that report, ms. */
  ageMs(i: number): number {
    return this.live ? 0 : this.#q.now - this.takenAt[i];
  }

  /**
   * Starts gossip: every peer reports its queue every `periodMs`, and the report reaches the
   * clients `delayMs` later. Peers are spread over `groups` phases (a group is one event, which
   * keeps 1,000 peers cheap to simulate). Stops rescheduling after `untilMs`.
   */
  startGossip(periodMs: number, delayMs: number, groups: number, untilMs: number): void {
    const n = this.#peers.length;
    for (let g = 0; g < groups; g++) {
      const members: number[] = [];
      for (let i = g; i < n; i += groups) members.push(i);
      const publish = () => {
        const takenAt = this.#q.now;
        const snapshot = members.map((i) => this.#peers[i].atPeer);
        this.#q.after(delayMs, () => {
          for (let k = 0; k < members.length; k++) {
            this.queued[members[k]] = snapshot[k];
            this.takenAt[members[k]] = takenAt;
          }
        });
        if (this.#q.now + periodMs < untilMs) this.#q.after(periodMs, publish);
      };
      this.#q.at((g * periodMs) / groups, publish);
    }
  }
}
