import { describe, expect, test } from 'vitest';
import { DelayTimer } from '../../core/delay-timer.ts';
import { FakeClock } from '../support/fake-clock.ts';

describe('DelayTimer', () => {
  test('fires once at the armed time, with that time', () => {
    const clock = new FakeClock(100);
    const fired: number[] = [];
    const timer = new DelayTimer(clock, (due) => fired.push(due));
    timer.arm(150);
    clock.advance(49);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([150]);
    clock.advance(1000);
    expect(fired).toEqual([150]);
    expect(clock.pendingTimers).toBe(0);
  });

  test('re-arming for the same time keeps the one timer; another time replaces it', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const timer = new DelayTimer(clock, (due) => fired.push(due));
    timer.arm(10);
    timer.arm(10);
    expect(clock.pendingTimers).toBe(1);
    timer.arm(30);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(20);
    expect(fired).toEqual([]);
    clock.advance(10);
    expect(fired).toEqual([30]);
  });

  test('a time already passed fires on the next clock turn; clear cancels', () => {
    const clock = new FakeClock(50);
    const fired: number[] = [];
    const timer = new DelayTimer(clock, (due) => fired.push(due));
    timer.arm(20);
    expect(clock.nextTimerAt).toBe(50);
    timer.clear();
    timer.clear();
    clock.advance(100);
    expect(fired).toEqual([]);
    // Cleared, it arms again from scratch (the remembered time was forgotten).
    timer.arm(20);
    clock.advance(0);
    expect(fired).toEqual([20]);
  });

  test('the callback may re-arm the timer', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const timer = new DelayTimer(clock, (due) => {
      fired.push(due);
      if (due < 30) timer.arm(due + 10);
    });
    timer.arm(10);
    clock.advance(100);
    expect(fired).toEqual([10, 20, 30]);
  });
});
