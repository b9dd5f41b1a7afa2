/**
 * Seeded randomness for the simulation: the project's mulberry32 plus the two draws a
 * queueing model needs. Seeded so every run of `npm run sim` prints the same table.
 */
import { mulberry32 } from '../../scripts/seeded-random.ts';

/** Uniform [0, 1) generator. */
export type Rand = () => number;

/** A generator for stream `stream` of run `seed` (independent streams per purpose). */
export function seededRandom(seed: number, stream: number): Rand {
  // Mix the stream id in with a large odd constant so streams do not overlap trivially.
  return mulberry32((seed * 0x9e3779b1 + stream * 0x85ebca77) >>> 0);
}

/** Exponential draw with the given mean (inverse transform; 1 − u avoids log(0)). */
export function exponential(rand: Rand, mean: number): number {
  return -Math.log(1 - rand()) * mean;
}

/** Uniform integer in [0, n). */
export function randomIndex(rand: Rand, n: number): number {
  return Math.min(n - 1, Math.floor(rand() * n));
}
