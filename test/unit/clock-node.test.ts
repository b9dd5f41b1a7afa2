import { expect, test } from 'vitest';
import { nodeClock } from '../../node-host/clock-node.ts';

const fireAfter = (ms: number) => new Promise<number>((resolve) => {
  const start = performance.now();
  nodeClock.setTimer(() => resolve(performance.now() - start), ms);
});

test('sub-millisecond timers fire on time, not rounded up to setTimeout\'s milliseconds', async () => {
  const waited: number[] = [];
  for (let i = 0; i < 20; i++) waited.push(await fireAfter(0.5));
  waited.sort((a, b) => a - b);
  expect(waited[0]).toBeGreaterThanOrEqual(0.5);
  // setTimeout(…, 0.5) waits ≥ 1 ms; the median here stays well below that.
  expect(waited[10]).toBeLessThan(1.0);
});

test('longer timers fire at (not before) their time, and cleared timers never fire', async () => {
  expect(await fireAfter(15)).toBeGreaterThanOrEqual(15);
  let fired = false;
  const h = nodeClock.setTimer(() => { fired = true; }, 3);
  nodeClock.clearTimer(h);
  await new Promise((r) => setTimeout(r, 10));
  expect(fired).toBe(false);
});
