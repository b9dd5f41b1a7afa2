/**
 * Main-thread side of the load generator: starts a worker per cell, calls back at the
 * window's start and end (where the bench reads server statistics and CPU counters), and
 * kills the worker if the cell overruns its time bound.
 */
import { Worker } from 'node:worker_threads';
import type { LoadResult, LoadSpec } from './load-driver.ts';

/** Hooks run on the main thread at the window's edges; their results come back with the load. */
export interface WindowHooks<T> {
  onStart(): Promise<T> | T;
  onEnd(): Promise<T> | T;
}

/** Runs one cell; rejects if the worker fails or the cell takes longer than its bound. */
export async function runLoad<T>(spec: LoadSpec, hooks: WindowHooks<T>): Promise<{ load: LoadResult; start: T; end: T }> {
  const worker = new Worker(new URL('./load-driver.worker.ts', import.meta.url), { workerData: spec, name: 'load generator' });
  // Bounded in time: warm-up + window + one request timeout for the stragglers + slack.
  const boundMs = spec.warmupMs + spec.windowMs + spec.requestTimeoutMs + 10_000;
  let start: Promise<T> | undefined;
  let end: Promise<T> | undefined;
  try {
    const load = await new Promise<LoadResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load cell did not finish within ${boundMs} ms`)), boundMs);
      worker.on('message', (m: { type: string; result?: LoadResult; message?: string }) => {
        // Awaited after the load; the no-op catch only stops an early failure from counting as unhandled.
        if (m.type === 'window-start') { start = (async () => hooks.onStart())(); start.catch(() => {}); }
        else if (m.type === 'window-end') { end = (async () => hooks.onEnd())(); end.catch(() => {}); }
        else if (m.type === 'result') { clearTimeout(timer); resolve(m.result!); }
        else if (m.type === 'error') { clearTimeout(timer); reject(new Error(`load generator failed: ${m.message}`)); }
      });
      worker.on('error', (e) => { clearTimeout(timer); reject(e); });
      worker.on('exit', (code) => { clearTimeout(timer); reject(new Error(`load generator exited (${code}) without a result`)); });
    });
    if (!start || !end) throw new Error('load generator did not report its window');
    return { load, start: await start, end: await end };
  } finally {
    await worker.terminate();
  }
}
