/**
 * Worker-thread entry of the load generator: runs driveLoad on its own event loop, so the
 * bench's main thread (statistics polling, CPU sampling, child-process pipes) never delays
 * a request. Receives one LoadSpec, posts LoadEvents, then `{ type: 'result' }` or
 * `{ type: 'error' }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { driveLoad, type LoadSpec } from './load-driver.ts';

const port = parentPort!;
driveLoad(workerData as LoadSpec, (e) => port.postMessage(e)).then(
  (result) => port.postMessage({ type: 'result', result }),
  (e: unknown) => port.postMessage({ type: 'error', message: e instanceof Error ? e.stack ?? e.message : String(e) }),
);
