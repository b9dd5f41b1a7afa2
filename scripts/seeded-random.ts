/**
 * A small seeded PRNG for generated weights. Math.random cannot be seeded, and the example
 * models must be byte-identical on every run and every machine, so weights come from
 * mulberry32 (public-domain 32-bit generator; plenty for weights, not for cryptography).
 */

/** Returns a function giving uniform floats in [0, 1), the same sequence for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `length` FP32 values uniform in [-scale, scale). Rounding to FP32 happens on store, which is
 * exact and platform-independent (IEEE-754 round-to-nearest), so the bytes are reproducible.
 */
export function uniformFloats(rand: () => number, length: number, scale: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (rand() * 2 - 1) * scale;
  return out;
}
