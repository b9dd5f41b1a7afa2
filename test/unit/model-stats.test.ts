import { describe, expect, test } from 'vitest';
import { ModelStats } from '../../core/model-stats.ts';

const timing = (q: number, i: number, c: number, o: number) => ({ queueNs: q, computeInputNs: i, computeInferNs: c, computeOutputNs: o });

describe('ModelStats', () => {
  test('a fresh model reports Triton\'s full statistics object with zeros', () => {
    const s = new ModelStats().toJSON('m', '1');
    const zero = { count: 0, ns: 0 };
    expect(s).toEqual({
      name: 'm',
      version: '1',
      last_inference: 0,
      inference_count: 0,
      execution_count: 0,
      inference_stats: {
        success: zero, fail: zero, queue: zero, compute_input: zero, compute_infer: zero, compute_output: zero, cache_hit: zero, cache_miss: zero,
      },
      response_stats: {},
      batch_stats: [],
      memory_usage: [],
    });
    expect(Object.keys(s)).toEqual(['name', 'version', 'last_inference', 'inference_count', 'execution_count', 'inference_stats', 'response_stats', 'batch_stats', 'memory_usage']);
  });

  test('two batch-1 requests in one execution: success 2, inference 2, execution 1 (metrics.md example)', () => {
    const st = new ModelStats();
    st.recordExecution(2, 10, 100, 5);
    st.recordSuccess(1000, timing(50, 10, 100, 5), 1_700_000_000_123);
    st.recordSuccess(1200, timing(70, 10, 100, 5), 1_700_000_000_124);
    const j = st.toJSON('m', '3');
    expect(j.inference_count).toBe(2);
    expect(j.execution_count).toBe(1);
    expect(j.last_inference).toBe(1_700_000_000_124);
    expect(j.inference_stats.success).toEqual({ count: 2, ns: 2200 });
    expect(j.inference_stats.queue).toEqual({ count: 2, ns: 120 });
    expect(j.inference_stats.compute_input).toEqual({ count: 2, ns: 20 });
    expect(j.inference_stats.compute_infer).toEqual({ count: 2, ns: 200 });
    expect(j.inference_stats.compute_output).toEqual({ count: 2, ns: 10 });
    expect(j.batch_stats).toEqual([
      { batch_size: 2, compute_input: { count: 1, ns: 10 }, compute_infer: { count: 1, ns: 100 }, compute_output: { count: 1, ns: 5 } },
    ]);
  });

  test('batch_stats are per size, sorted by batch_size, counts = executions at that size', () => {
    const st = new ModelStats();
    st.recordExecution(8, 1, 2, 3);
    st.recordExecution(1, 1, 1, 1);
    st.recordExecution(8, 1, 2, 3);
    st.recordExecution(4, 0, 0, 0);
    const j = st.toJSON('m', '1');
    expect(j.batch_stats.map((b) => b.batch_size)).toEqual([1, 4, 8]);
    expect(j.batch_stats[2]).toEqual({ batch_size: 8, compute_input: { count: 2, ns: 2 }, compute_infer: { count: 2, ns: 4 }, compute_output: { count: 2, ns: 6 } });
    expect(j.execution_count).toBe(4);
    expect(j.inference_count).toBe(21);
  });

  test('compute counts always equal the success count, and queue count too (perf_analyzer checks this)', () => {
    const st = new ModelStats();
    for (let i = 0; i < 7; i++) st.recordSuccess(100, timing(1, 2, 3, 4), 1);
    st.recordFailure(5, 'BACKEND');
    const { inference_stats: s } = st.toJSON('m', '1');
    expect(new Set([s.success.count, s.queue.count, s.compute_input.count, s.compute_infer.count, s.compute_output.count])).toEqual(new Set([7]));
    expect(s.fail).toEqual({ count: 1, ns: 5 });
  });

  test('failures count by reason and do not move last_inference', () => {
    const st = new ModelStats();
    st.recordFailure(10, 'REJECTED');
    st.recordFailure(20, 'REJECTED');
    st.recordFailure(30, 'CANCELED');
    st.recordFailure(40, 'BACKEND');
    st.recordFailure(50, 'OTHER');
    const c = st.counters();
    expect(c.failureCount).toEqual({ REJECTED: 2, CANCELED: 1, BACKEND: 1, OTHER: 1 });
    expect(st.toJSON('m', '1').inference_stats.fail).toEqual({ count: 5, ns: 150 });
    expect(st.toJSON('m', '1').last_inference).toBe(0);
  });

  test('counters() carries every Prometheus total; the returned object is a copy', () => {
    const st = new ModelStats();
    st.recordExecution(3, 10, 20, 30);
    st.recordSuccess(1000, timing(100, 10, 20, 30), 5);
    const c = st.counters();
    expect(c).toEqual({
      successCount: 1,
      failureCount: { REJECTED: 0, CANCELED: 0, BACKEND: 0, OTHER: 0 },
      inferenceCount: 3,
      execCount: 1,
      requestNs: 1000,
      queueNs: 100,
      computeInputNs: 10,
      computeInferNs: 20,
      computeOutputNs: 30,
      executionNs: 60,
      cacheHitCount: 0,
      cacheHitNs: 0,
      cacheMissCount: 0,
      cacheMissNs: 0,
    });
    c.failureCount.OTHER = 99;
    expect(st.counters().failureCount.OTHER).toBe(0);
  });

  test('a negative duration (clock stepped back) never decreases a total', () => {
    const st = new ModelStats();
    st.recordSuccess(-5, timing(-1, -1, -1, -1), 1);
    const s = st.toJSON('m', '1').inference_stats;
    expect(s.success).toEqual({ count: 1, ns: 0 });
    expect(s.queue).toEqual({ count: 1, ns: 0 });
  });
});
