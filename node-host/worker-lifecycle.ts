/**
 * How the main thread notices a worker thread (an ORT session worker, a JavaScript model
 * worker) is gone: an uncaught error, a message it could not deserialise, or its exit. Each
 * becomes one reason string for the client's `die`, which keeps the first and fails whatever
 * was still waiting on the worker.
 */
import type { Worker } from 'node:worker_threads';

/**
 * Watches `worker` until it exits: `onDeath(reason)` runs on every error and on the exit
 * (the client keeps the first reason), and the worker is in `live` until it has exited (the
 * tests' leak checks count that set). Resolves once the worker has exited.
 */
export function watchWorker(worker: Worker, live: Set<Worker>, onDeath: (reason: string) => void): Promise<void> {
  live.add(worker);
  worker.on('error', (e: Error) => onDeath(`crashed: ${e?.message ?? String(e)}`));
  worker.on('messageerror', (e: Error) => onDeath(`sent a message that could not be read: ${e.message}`));
  return new Promise((resolve) => {
    worker.once('exit', (code: number) => {
      live.delete(worker);
      onDeath(`exited with code ${code}`);
      resolve();
    });
  });
}
