import { describe, expect, test } from 'vitest';
import { DrainTracker } from '../../node-host/drain-tracker.ts';

describe('DrainTracker', () => {
  test('settles after the quiet period once nothing is in flight', async () => {
    const t = new DrainTracker();
    t.begin();
    expect(t.inflight).toBe(1);
    const start = performance.now();
    let settled = false;
    const done = t.settle(start + 5_000, 40).then(() => { settled = true; });
    await new Promise((r) => setTimeout(r, 60));
    expect(settled).toBe(false);
    t.end();
    expect(t.inflight).toBe(0);
    await done;
    // The quiet period counts from the last arrival (begin), not from settle().
    expect(performance.now() - start).toBeGreaterThanOrEqual(39);
    expect(performance.now() - start).toBeLessThan(2_000);
  });

  test('an arrival (touch) restarts the quiet period', async () => {
    const t = new DrainTracker();
    t.touch();
    const start = performance.now();
    const done = t.settle(start + 5_000, 80);
    await new Promise((r) => setTimeout(r, 50));
    t.touch();
    const touched = performance.now();
    await done;
    expect(performance.now() - touched).toBeGreaterThanOrEqual(79);
  });

  test('the deadline ends the wait while requests are still in flight', async () => {
    const t = new DrainTracker();
    t.begin();
    const start = performance.now();
    await t.settle(start + 50, 10);
    expect(t.inflight).toBe(1);
    expect(performance.now() - start).toBeGreaterThanOrEqual(45);
    expect(performance.now() - start).toBeLessThan(2_000);
  });
});
