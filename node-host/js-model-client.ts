/**
 * The main-thread end of one JS model worker (js-model.worker.ts), over comlink: starts the
 * thread, calls its {@link JsWorkerApi}, serves its BLS calls and log lines ({@link JsHostApi},
 * each BLS call with an AbortController, aborted when the worker cancels the call or goes
 * away), and turns a worker that dies into an error for everything still waiting on it
 * (comlink never settles a call whose worker died, so every call races the worker's death).
 *
 * Node-only (worker_threads). Knows nothing about executions or restarts: backend-js.ts.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { InstanceResult } from '../core/backend.ts';
import type { Logger } from '../core/logger.ts';
import { InferError, toWireError } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';
import {
  fromCrossingError, JS_WORKER_URL, toCrossingError, type JsHostApi, type JsModelArgs, type JsModuleSpec,
  type JsWireBlsRequest, type JsWireBlsResponse, type JsWorkerApi,
} from './js-model-protocol.ts';
import { fromWireError, packTensors } from './js-model-tensors.ts';
import { watchWorker } from './worker-lifecycle.ts';

/** Options for {@link JsWorkerClient}. */
export interface JsWorkerClientInit {
  /** Thread name (shows in inspectors and `process.report`). */
  name: string;
  /** What the worker serves, as errors name it: `model 'tok' version 1`. */
  subject: string;
  /** Receives the model's log lines and the worker's failures. */
  logger: Logger;
  /** Serves one BLS call of the model; `signal` aborts when the model or the worker gives up. */
  bls: (request: JsWireBlsRequest, signal: AbortSignal) => Promise<JsWireBlsResponse>;
  /** Called once when the worker dies on its own (crash, exit), not when closed here. */
  onDeath?: (reason: string) => void;
}

/** One request of {@link JsWorkerClient.execute}. */
export interface JsExecuteRequest {
  inputs: Tensor[];
  outputNames: string[];
}

/** A running execution: `requestIds[i]` is what {@link JsWorkerClient.cancel} takes for request i. */
export interface JsExecution {
  requestIds: number[];
  answer: Promise<InstanceResult[]>;
}

/** Workers started and not yet exited, so tests can prove none leaks. */
const live = new Set<Worker>();

/** JS model workers of this process that have not exited yet (for tests). */
export function liveJsWorkerCount(): number {
  return live.size;
}

/** One JS model worker, seen from the main thread. */
export class JsWorkerClient {
  readonly #worker: Worker;
  readonly #init: JsWorkerClientInit;
  readonly #api: Pick<Comlink.Remote<JsWorkerApi>, keyof JsWorkerApi>;
  /** Where {@link JsHostApi} is served; its twin goes to the worker in `init`. */
  readonly #hostPort: MessagePort;
  #workerPort: MessagePort | undefined;
  /** Rejecters of the calls still waiting for the worker. */
  readonly #waiting = new Set<(e: InferError) => void>();
  readonly #bls = new Map<number, AbortController>();
  #nextRequestId = 1;
  #deadReason: string | undefined;
  /** The error everything still waiting gets once the worker is gone. */
  #deathError: InferError | undefined;
  #closing = false;
  readonly #exited: Promise<void>;

  constructor(init: JsWorkerClientInit) {
    this.#init = init;
    this.#worker = new Worker(JS_WORKER_URL, { name: init.name });
    this.#exited = watchWorker(this.#worker, live, (reason) => this.#die(reason));
    // An idle instance must not keep the process alive; a pending call refs the worker.
    this.#worker.unref();
    const api = Comlink.wrap<JsWorkerApi>(nodeEndpoint(this.#worker));
    // Read once: every property read of a comlink proxy builds a new Proxy registered with a
    // FinalizationRegistry (measured: about 7 µs and more GC per call when read per call).
    this.#api = { init: api.init, execute: api.execute, cancel: api.cancel, finalize: api.finalize };
    const { port1, port2 } = new MessageChannel();
    const host: JsHostApi = {
      infer: (callId, request) => this.#serveBls(callId, request),
      cancelInfer: (callId) => {
        this.#bls.get(callId)?.abort(new InferError('CANCELLED', 'the model cancelled its BLS call', 'CANCELED'));
      },
      log: (level, message, fields) => {
        this.#init.logger[['debug', 'info', 'warn', 'error'].includes(level) ? level : 'info'](message, fields);
      },
    };
    Comlink.expose(host, nodeEndpoint(port1));
    // Listening refs a port; the worker's own ref (pending calls, BLS calls) decides instead.
    port1.unref();
    this.#hostPort = port1;
    this.#workerPort = port2;
  }

  /** Why the worker can no longer serve, or undefined while it can. */
  get deadReason(): string | undefined {
    return this.#deadReason;
  }

  /** Imports the model and runs its `initialize(args)` in the worker. Call once. */
  init(module: JsModuleSpec, args: JsModelArgs, label: string): Promise<void> {
    const port = this.#workerPort;
    this.#workerPort = undefined;
    if (!port) return Promise.reject(new InferError('INTERNAL', `${this.#init.subject}: its JavaScript worker was initialised twice`, 'BACKEND'));
    return this.#call(() => this.#api.init(Comlink.transfer(port, [port]), module, args, label));
  }

  /**
   * Runs `execute(requests)` in the worker. Inputs are copied into fresh buffers that are
   * transferred: a tensor from the server may view a pooled socket buffer it still needs.
   */
  execute(requests: readonly JsExecuteRequest[]): JsExecution {
    const transfer: ArrayBuffer[] = [];
    const wire = requests.map((r) => {
      const p = packTensors(r.inputs);
      transfer.push(...p.transfer);
      return { id: this.#nextRequestId++, inputs: p.tensors, outputNames: r.outputNames };
    });
    const answer = this.#call(() => this.#api.execute(Comlink.transfer(wire, transfer))).then((results) =>
      results.map((r): InstanceResult => ('error' in r ? { error: fromWireError(r.error) } : { outputs: r.outputs })));
    return { requestIds: wire.map((r) => r.id), answer };
  }

  /** Aborts the `signal` of request `requestId` in the worker. Dropped once the worker is gone. */
  cancel(requestId: number): void {
    if (this.#deadReason !== undefined) return;
    this.#api.cancel(requestId).catch(() => { /* the worker died meanwhile: its death fails the call */ });
  }

  /** Runs `finalize()` in the worker. */
  finalize(): Promise<void> {
    return this.#call(() => this.#api.finalize());
  }

  /**
   * Terminates the worker and waits for it to exit. Everything still waiting rejects with
   * `error` (default UNAVAILABLE "was stopped"); its BLS calls are aborted. Idempotent.
   */
  async close(error?: InferError): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#deathError = error;
      this.#die('was stopped');
      await this.#worker.terminate();
    }
    await this.#exited;
  }

  /**
   * Sends one call and waits for its answer or the worker's death, whichever comes first.
   * Rejections become InferErrors with their code (see js-model-protocol.ts).
   */
  #call<T>(send: () => Promise<T>): Promise<T> {
    if (this.#deadReason !== undefined) return Promise.reject(this.#deathError ?? this.#gone());
    return new Promise<T>((resolve, reject) => {
      this.#waiting.add(reject);
      this.#refresh();
      let sent: Promise<T>;
      try {
        sent = send();
      } catch (e) {
        sent = Promise.reject(e);
      }
      sent.then(resolve, (e: unknown) => reject(fromCrossingError(e, (m) =>
        new InferError('INTERNAL', `${this.#init.subject}: a call to its JavaScript worker failed: ${m}`, 'BACKEND'))))
        .finally(() => {
          this.#waiting.delete(reject);
          this.#refresh();
        });
    });
  }

  /** Serves one BLS call of the model; rejects with a plain error object (its code survives comlink). */
  async #serveBls(callId: number, request: JsWireBlsRequest): Promise<JsWireBlsResponse> {
    const controller = new AbortController();
    if (this.#deadReason !== undefined) controller.abort();
    this.#bls.set(callId, controller);
    // Refs the worker like a pending call: the model waits for this answer.
    this.#refresh();
    try {
      const response = await this.#init.bls(request, controller.signal);
      const packed = packTensors(response.outputs);
      return Comlink.transfer({ ...response, outputs: packed.tensors }, packed.transfer);
    } catch (e) {
      throw toCrossingError(toWireError(e));
    } finally {
      this.#bls.delete(callId);
      this.#refresh();
    }
  }

  /** Keeps the process alive exactly while something waits on the worker (or it on us). */
  #refresh(): void {
    if (this.#deadReason === undefined && (this.#waiting.size > 0 || this.#bls.size > 0)) this.#worker.ref();
    else this.#worker.unref();
  }

  #gone(): InferError {
    return new InferError('UNAVAILABLE', `${this.#init.subject}: its JavaScript worker ${this.#deadReason ?? 'is gone'}`);
  }

  /** Marks the worker dead (first reason wins), fails what waits on it, aborts its BLS calls. */
  #die(reason: string): void {
    if (this.#deadReason !== undefined) return;
    this.#deadReason = reason;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    const error = this.#deathError ?? this.#gone();
    for (const reject of waiting) reject(error);
    for (const c of this.#bls.values()) c.abort(error);
    this.#bls.clear();
    this.#hostPort.close();
    this.#workerPort?.close();
    this.#worker.unref();
    if (!this.#closing) this.#init.onDeath?.(reason);
  }
}
