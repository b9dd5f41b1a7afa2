/**
 * One simulation run: a cluster, a load, a report age, a policy. Poisson arrivals at
 * `load × total capacity`, spread evenly over the clients; each client routes with its own
 * policy instance. Requests arriving during the first `warmupShare` of the run are not
 * measured; after the last arrival the system drains so every measured request has its
 * latency (an unstable policy's backlog therefore shows in its latency as well as its flag).
 *
 * Common random numbers: arrival times, clients and per-request work come from streams that
 * do not depend on the policy, so every policy faces the same requests.
 */
import { capacityPerMs, GossipBoard, makePeers, sendTo } from './cluster.ts';
import type { ClusterSpec, SimRequest } from './cluster.ts';
import { EventQueue } from './event-queue.ts';
import type { PolicySpec } from './policies.ts';
import { exponential, randomIndex, seededRandom } from './sim-random.ts';
import { mean, quantile, slope } from './sim-stats.ts';

/** One scenario. */
export interface RunSpec {
  cluster: ClusterSpec;
  /** Offered load as a share of total capacity, e.g. 0.8. */
  load: number;
  /** Mean age of gossiped reports in fast service times; 0 = the board is read live. */
  ageServiceTimes: number;
  /** Clients (routing nodes), each with its own policy state. */
  clients: number;
  /** Simulated length, ms (arrivals stop then; the backlog drains after). */
  durationMs: number;
  /** Share of the run not measured while queues fill. */
  warmupShare: number;
  /** Gossip phase groups (see GossipBoard.startGossip). */
  gossipGroups: number;
  seed: number;
}

/** What one run measured. Latencies in fast service times. */
export interface RunResult {
  meanLatency: number;
  p99Latency: number;
  measured: number;
  /** Share of measured requests served by fast peers. */
  fastShare: number;
  /** Work offered to the fast and the slow peers over the window, as a share of their capacity. */
  fastUtilization: number;
  slowUtilization: number;
  /** Backlog growth over the second half of the window, as a share of the requests arriving in it. */
  backlogGrowth: number;
  /** Mean number of requests in the system over the measured window. */
  meanInSystem: number;
  /** True when the backlog grows without bound (see {@link isUnstable}). */
  unstable: boolean;
  /** Wall time of the run, ms. */
  wallMs: number;
}

/**
 * Unstable when both hold over the measured window:
 * - a class of peers (fast or slow) is offered at least 98% of what it can do, and
 * - over the second half of the window, the backlog grows by more than 2% of the requests
 *   that arrived in it.
 * Either alone misleads. Growth alone flags stable queues that are still filling: a queue at
 * 90% load on a peer that takes 100 ms per request needs tens of seconds to settle. Offered
 * work alone flags join-shortest-queue policies, which drive the fast peers to ~100% and stay
 * bounded because they divert traffic as soon as those queues grow.
 */
export function isUnstable(fastUtilization: number, slowUtilization: number, backlogGrowth: number): boolean {
  return Math.max(fastUtilization, slowUtilization) >= 0.98 && backlogGrowth > 0.02;
}

/** Runs one scenario with one policy. */
export function simulate(spec: RunSpec, policy: PolicySpec): RunResult {
  const started = performance.now();
  const q = new EventQueue();
  const peers = makePeers(spec.cluster, seededRandom(spec.seed, 1));
  const ageMs = spec.ageServiceTimes * spec.cluster.fastServiceMs;
  const board = new GossipBoard(peers, q, ageMs === 0);
  // Period T = age, delivery delay T/2: a report is T/2..3T/2 old when used, T on average.
  if (ageMs > 0) board.startGossip(ageMs, ageMs / 2, spec.gossipGroups, spec.durationMs);
  const ctx = { q, peers, board, randomFor: (client: number) => seededRandom(spec.seed, 1000 + client) };
  const clients = Array.from({ length: spec.clients }, (_, c) => policy.make(ctx, c));

  const arrivals = seededRandom(spec.seed, 2);
  const work = seededRandom(spec.seed, 3);
  const ratePerMs = spec.load * capacityPerMs(peers);
  const warmupEnd = spec.durationMs * spec.warmupShare;
  const latencies: number[] = [];
  let fastServed = 0;
  let inSystem = 0;
  let windowArrivals = 0;
  // Work (ms of service) sent to each class during the window: [slow, fast].
  const offeredMs = [0, 0];

  const arrive = () => {
    const client = clients[randomIndex(arrivals, spec.clients)];
    const arrivedAt = q.now;
    const measured = arrivedAt >= warmupEnd;
    if (measured) windowArrivals++;
    const d = client.dispatch();
    inSystem++;
    const units = exponential(work, 1);
    if (measured) offeredMs[d.peer.fast ? 1 : 0] += units * d.peer.serviceMs;
    const req: SimRequest = {
      arrivedAt,
      work: units,
      onAnswer: (at) => {
        inSystem--;
        d.onAnswer?.();
        if (measured) {
          latencies.push((at - arrivedAt) / spec.cluster.fastServiceMs);
          if (d.peer.fast) fastServed++;
        }
      },
    };
    sendTo(q, d.peer, req);
    const next = q.now + exponential(arrivals, 1 / ratePerMs);
    if (next < spec.durationMs) q.at(next, arrive);
  };
  q.at(exponential(arrivals, 1 / ratePerMs), arrive);

  // Backlog samples over the measured window, for the stability verdict.
  const sampleTimes: number[] = [];
  const sampleBacklog: number[] = [];
  const samples = 200;
  for (let k = 0; k <= samples; k++) {
    const t = warmupEnd + ((spec.durationMs - warmupEnd) * k) / samples;
    q.at(t, () => { sampleTimes.push(t); sampleBacklog.push(inSystem); });
  }

  while (q.step()) { /* run to completion: arrivals stop at durationMs, the backlog drains */ }

  const meanInSystem = mean(sampleBacklog);
  const window = spec.durationMs - warmupEnd;
  // Trend over the second half of the window only: what is left of the filling transient
  // there is small, while unbounded growth is just as steep as in the first half.
  const half = Math.floor(sampleTimes.length / 2);
  const growthAbs = slope(sampleTimes.slice(half), sampleBacklog.slice(half)) * (window / 2);
  const backlogGrowth = windowArrivals === 0 ? 0 : growthAbs / (windowArrivals / 2);
  const fastPeers = peers.filter((p) => p.fast).length;
  const fastUtilization = offeredMs[1] / (fastPeers * window);
  const slowUtilization = offeredMs[0] / ((peers.length - fastPeers) * window);
  return {
    meanLatency: mean(latencies),
    p99Latency: quantile(latencies, 0.99),
    measured: latencies.length,
    fastShare: latencies.length === 0 ? NaN : fastServed / latencies.length,
    fastUtilization,
    slowUtilization,
    backlogGrowth,
    meanInSystem,
    unstable: isUnstable(fastUtilization, slowUtilization, backlogGrowth),
    wallMs: performance.now() - started,
  };
}
