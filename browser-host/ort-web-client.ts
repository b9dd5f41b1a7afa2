/**
 * The page's side of the onnxruntime-web worker: starts it, wraps it with comlink, and adapts
 * it to the backend's {@link OrtWebWorkerPort} (buffers passed with comlink's `transfer`).
 *
 * comlink never settles a call whose worker died (an out-of-memory tab, a WASM abort): every
 * call here also races the worker's `error` event, so a crash becomes UNAVAILABLE answers
 * (the mesh retries elsewhere) instead of requests that hang.
 */
import * as Comlink from 'comlink';
import { InferError } from '../protocol/errors.ts';
import type { OrtWebWorkerPort } from './backend-ort-web.ts';
import { fromWorkerError, type OrtWebWorkerApi, type WorkerInitOptions, type WorkerInitResult } from './worker-protocol.ts';

/** A started, initialised worker. */
export interface OrtWebClient {
  port: OrtWebWorkerPort;
  ready: WorkerInitResult;
  /** Rejects once the worker died, with why. */
  died: Promise<never>;
  terminate(): void;
}

/** What the client needs of a Worker (a real one, or a MessagePort in tests). */
export interface WorkerLike extends Comlink.Endpoint {
  terminate?(): void;
}

/**
 * Wraps a worker endpoint: `died` rejects on the endpoint's `error`/`messageerror` (or when
 * `terminate` is called), and every port call races it.
 */
export function comlinkPort(endpoint: WorkerLike): { port: OrtWebWorkerPort; api: Comlink.Remote<OrtWebWorkerApi>; died: Promise<never>; kill: (why: string) => void } {
  const api = Comlink.wrap<OrtWebWorkerApi>(endpoint);
  let kill!: (why: string) => void;
  const died = new Promise<never>((_, reject) => {
    kill = (why) => reject(new InferError('UNAVAILABLE', `the onnxruntime-web worker stopped: ${why}`, 'BACKEND'));
  });
  died.catch(() => undefined);
  const onError = (e: Event) => kill((e as ErrorEvent).message || 'it raised an uncaught error (see the browser console)');
  endpoint.addEventListener('error', onError as EventListener);
  endpoint.addEventListener('messageerror', () => kill('a message could not be deserialised'));
  const guard = <T>(p: Promise<T>): Promise<T> => Promise.race([p, died]);
  const port: OrtWebWorkerPort = {
    load: (model, options) => {
      // transfer only a buffer the model owns whole: a view (into a pool, a larger file) is copied first
      const own = model.buffer instanceof ArrayBuffer && model.byteOffset === 0 && model.byteLength === model.buffer.byteLength ? model : model.slice();
      return guard(api.load(Comlink.transfer(own, [own.buffer as ArrayBuffer]), options));
    },
    run: (handle, inputs, transfer, outputNames) => guard(api.run(handle, Comlink.transfer(inputs, transfer), outputNames)),
    dispose: (handle) => guard(api.dispose(handle)),
  };
  return { port, api, died, kill };
}

/** Options of {@link startOrtWebWorker}. */
export interface StartOrtWebWorkerInit extends WorkerInitOptions {
  /** The bundled worker script (`/contribute/ort-web.worker.js`). */
  workerUrl: string | URL;
}

/**
 * Starts the worker (a module worker) and initialises ORT in it.
 * @throws InferError UNAVAILABLE with the worker's reason (ORT files not found, WASM refused, …).
 */
export async function startOrtWebWorker(init: StartOrtWebWorkerInit): Promise<OrtWebClient> {
  const worker = new Worker(init.workerUrl, { type: 'module', name: 'infermesh-ort-web' });
  const { port, api, died, kill } = comlinkPort(worker);
  const terminate = () => {
    kill('terminated by the page');
    worker.terminate();
  };
  try {
    const ready = await Promise.race([api.init({ ortBase: init.ortBase, provider: init.provider, numThreads: init.numThreads }), died]);
    return { port, ready, died, terminate };
  } catch (e) {
    terminate();
    throw fromWorkerError(e, `onnxruntime-web worker (${String(init.workerUrl)})`);
  }
}
