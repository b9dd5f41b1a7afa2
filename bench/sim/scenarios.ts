/**
 * The study's scenario matrix and its run lengths, in one place so the table, the doc and
 * the `--quick` mode agree.
 */
import type { ClusterSpec } from './cluster.ts';
import type { RunSpec } from './simulate.ts';

/** Mean service time of a fast peer: the study's time unit ("one service time"). */
export const FAST_SERVICE_MS = 10;

/** 20% fast peers, 80% ten times slower (the example mix); LAN-ish RTTs. */
export function clusterOf(peers: number): ClusterSpec {
  return { peers, fastShare: 0.2, slowFactor: 10, fastServiceMs: FAST_SERVICE_MS, rttMs: [0.5, 2] };
}

/**
 * Simulated length per cluster size. A slow peer's service time is 100 ms, so 100 peers run
 * for 300 slow service times (~67,000 requests at 80% load); 1,000 peers for 40 (~90,000
 * requests: ten times the peers average out in a shorter run). `quick` (a smoke run, about
 * 15 s) runs 100 peers for 60 slow service times and 1,000 peers for 20.
 */
export function durationMsFor(peers: number, quick: boolean): number {
  if (peers >= 500) return quick ? 2_000 : 4_000;
  return quick ? 6_000 : 30_000;
}

/** One run's full spec. */
export function runSpec(peers: number, load: number, ageServiceTimes: number, seed: number, quick: boolean): RunSpec {
  return {
    cluster: clusterOf(peers),
    load,
    ageServiceTimes,
    // Ten routing nodes, each with its own router and its own in-flight counts: the
    // decentralised case (a central router would see all in-flight sends).
    clients: 10,
    durationMs: durationMsFor(peers, quick),
    warmupShare: 0.2,
    gossipGroups: 16,
    seed,
  };
}
