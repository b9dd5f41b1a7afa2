import { describe, expect, test } from 'vitest';
import { DrainWaiters } from '../../core/drain-waiters.ts';

describe('DrainWaiters', () => {
  test('resolves at once when idle, else on the first check that finds the owner idle', async () => {
    let busy = 0;
    const drained = new DrainWaiters(() => busy === 0);
    await drained.wait();
    busy = 2;
    let done = 0;
    void drained.wait().then(() => done++);
    void drained.wait().then(() => done++);
    busy = 1;
    drained.check();
    await Promise.resolve();
    expect(done).toBe(0);
    busy = 0;
    drained.check();
    await Promise.resolve();
    await Promise.resolve();
    expect(done).toBe(2);
  });

  test('a waiter is answered once; later waits wait for the next idle', async () => {
    let idle = false;
    const drained = new DrainWaiters(() => idle);
    let first = 0;
    void drained.wait().then(() => first++);
    idle = true;
    drained.check();
    drained.check();
    idle = false;
    let second = 0;
    void drained.wait().then(() => second++);
    drained.check();
    await new Promise((r) => setTimeout(r, 0));
    expect(first).toBe(1);
    expect(second).toBe(0);
  });
});
