/**
 * Weighted sampling without replacement, for the router's "pick d candidates weighted by
 * capacity" step (ARCHITECTURE-GUIDE §7).
 *
 * Why weighted: uniform sampling sends most requests to whatever kind of peer is most
 * numerous; when a few GPU peers mix with many slow browser peers, the slow ones are drawn
 * most and the system is unstable even at 50% load (docs/SCHEDULING.md measures it).
 * Why without replacement: two draws of the same peer are one choice, not two.
 *
 * Written by hand because it is a dozen lines and must be seedable, skip excluded peers,
 * keep zero-weight peers reachable, and allocate nothing per request (the router runs it
 * for every request; the scheduling simulation runs it millions of times over 1,000 peers).
 */

/**
 * A usable sampling weight: finite and positive, else 0. A peer that advertises nothing
 * (new, not yet measured) gets 0 so it never displaces a measured peer in a weighted draw.
 */
export function sanitizeWeight(w: number): number {
  return Number.isFinite(w) && w > 0 ? w : 0;
}

/**
 * Draws distinct items with probability proportional to weight among those not yet drawn
 * (successive sampling). Reusable: `reset`, `add` the eligible items, then `draw` as often
 * as needed.
 *
 * Cost: `add` is O(1) (it appends to a prefix-sum table); each `draw` is a binary search
 * plus a pass over the few items already drawn, so a request over 1,000 peers costs one
 * linear pass (filling the table), not one per draw.
 *
 * Zero weights: once every positive-weight item is drawn (or when all weights are zero),
 * further draws are uniform among the remaining items, so an unmeasured peer is still tried
 * sometimes and gets a chance to be measured.
 */
export class WeightedSampler {
  /** Item index per slot, in the order added. */
  #items = new Int32Array(16);
  /** Prefix sums: `#cum[s]` = weight of slots 0..s. */
  #cum = new Float64Array(16);
  #slots = 0;
  #positiveSlots = 0;
  /** Slots drawn so far, kept in ascending order. */
  readonly #drawn: number[] = [];
  #drawnWeight = 0;
  #drawnPositive = 0;

  /** Empties the sampler. */
  reset(): void {
    this.#slots = 0;
    this.#positiveSlots = 0;
    this.#drawn.length = 0;
    this.#drawnWeight = 0;
    this.#drawnPositive = 0;
  }

  /** Makes item `i` eligible with weight `w` (sanitised). Add each item at most once. */
  add(i: number, w: number): void {
    const s = this.#slots;
    if (s === this.#items.length) this.#grow();
    const weight = sanitizeWeight(w);
    this.#items[s] = i;
    this.#cum[s] = (s === 0 ? 0 : this.#cum[s - 1]) + weight;
    if (weight > 0) this.#positiveSlots++;
    this.#slots = s + 1;
  }

  /** Eligible items not yet drawn. */
  get remaining(): number {
    return this.#slots - this.#drawn.length;
  }

  /**
   * Draws one eligible item not drawn before, or -1 when none is left.
   * @param random uniform in [0, 1) (injected so tests and the simulation are seeded)
   */
  draw(random: () => number): number {
    if (this.remaining === 0) return -1;
    const slot = this.#positiveSlots > this.#drawnPositive ? this.#drawByWeight(random) : this.#drawUniform(random);
    const w = this.#weightOf(slot);
    let k = this.#drawn.length;
    this.#drawn.push(slot);
    while (k > 0 && this.#drawn[k - 1] > slot) { this.#drawn[k] = this.#drawn[k - 1]; k--; }
    this.#drawn[k] = slot;
    this.#drawnWeight += w;
    if (w > 0) this.#drawnPositive++;
    return this.#items[slot];
  }

  #weightOf(slot: number): number {
    return this.#cum[slot] - (slot === 0 ? 0 : this.#cum[slot - 1]);
  }

  /**
   * Picks a point in the weight that is left and maps it past the drawn slots' intervals
   * (in ascending order, each one crossed shifts it by that slot's weight), then finds its
   * slot by binary search on the prefix sums.
   */
  #drawByWeight(random: () => number): number {
    const n = this.#slots;
    const total = this.#cum[n - 1];
    let target = random() * (total - this.#drawnWeight);
    for (const d of this.#drawn) {
      if (target >= this.#cum[d] - this.#weightOf(d)) target += this.#weightOf(d);
    }
    // First slot whose prefix sum exceeds the target: always a positive-weight slot.
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#cum[mid] > target) hi = mid; else lo = mid + 1;
    }
    if (this.#usable(lo)) return lo;
    // Rounding put the target on a boundary or past the end: take the nearest usable slot.
    for (let s = n - 1; s >= 0; s--) if (this.#usable(s)) return s;
    return this.#drawUniform(random);
  }

  #usable(slot: number): boolean {
    return this.#weightOf(slot) > 0 && !this.#drawn.includes(slot);
  }

  #drawUniform(random: () => number): number {
    const left = this.remaining;
    let skip = Math.min(left - 1, Math.floor(random() * left));
    // Walk the slots, skipping drawn ones (few), until `skip` undrawn ones are passed.
    let d = 0;
    for (let s = 0; s < this.#slots; s++) {
      if (d < this.#drawn.length && this.#drawn[d] === s) { d++; continue; }
      if (skip === 0) return s;
      skip--;
    }
    return -1; // unreachable: remaining > 0 guarantees an undrawn slot
  }

  #grow(): void {
    const items = new Int32Array(this.#items.length * 2);
    items.set(this.#items);
    this.#items = items;
    const cum = new Float64Array(this.#cum.length * 2);
    cum.set(this.#cum);
    this.#cum = cum;
  }
}
