import { describe, expect, test } from 'vitest';
import { ThroughputMeter } from '../../core/throughput-meter.ts';
import { ModelStats } from '../../core/model-stats.ts';

describe('ThroughputMeter', () => {
  test('measures items per second of busy time, times instances, from ModelStats', () => {
    const stats = new ModelStats();
    const meter = new ThroughputMeter({ instances: 2, alpha: 0.5 });
    expect(meter.itemsPerSecond).toBe(0);
    // 4 executions of 8 items, 2 ms each (input 0.1 + infer 1.8 + output 0.1) → 4000 items/s per instance.
    for (let i = 0; i < 4; i++) stats.recordExecution(8, 100_000, 1_800_000, 100_000);
    expect(meter.update(stats.counters())).toBeCloseTo(8000, 6);
    // Idle: the estimate stays.
    expect(meter.update(stats.counters())).toBeCloseTo(8000, 6);
    // Slower batches (4 ms for 8 items → 2000/s per instance → 4000) move it halfway.
    stats.recordExecution(8, 0, 4_000_000, 0);
    expect(meter.update(stats.counters())).toBeCloseTo(6000, 6);
  });

  test('an initial estimate is used until something runs', () => {
    const meter = new ThroughputMeter({ instances: 1, initial: 100 });
    expect(meter.update({ inferenceCount: 0, executionNs: 0 })).toBe(100);
    expect(meter.update({ inferenceCount: 10, executionNs: 1e9 })).toBeCloseTo(100 + 0.3 * (10 - 100), 6);
  });
});
