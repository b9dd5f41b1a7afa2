/**
 * The main-thread end of one JS model worker (js-model.worker.ts): starts the thread, matches
 * answers to requests, serves the worker's BLS calls (each with an AbortController, aborted
 * when the worker cancels the call or goes away), forwards its log lines, and turns a worker
 * that dies into an error for everything still waiting on it.
 *
 * Node-only (worker_threads). Knows nothing about executions or restarts: backend-js.ts.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../core/logger.ts';
import { InferError, toWireError } from '../protocol/errors.ts';
import {
  JS_WORKER_URL, type JsFromWorker, type JsToWorker, type JsWireBlsRequest, type JsWireBlsResponse,
} from './js-model-protocol.ts';
import { fromWireError, packTensors } from './js-model-tensors.ts';

/** Main → worker messages that are answered (they carry an `id`). */
type Call = Extract<JsToWorker, { id: number }>;
/** Distributes `Omit` over a union, so each variant keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

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

interface Pending {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
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
  readonly #pending = new Map<number, Pending>();
  readonly #bls = new Map<number, AbortController>();
  #nextId = 1;
  #deadReason: string | undefined;
  /** The error everything still waiting gets once the worker is gone. */
  #deathError: InferError | undefined;
  #closing = false;
  readonly #exited: Promise<void>;

  constructor(init: JsWorkerClientInit) {
    this.#init = init;
    this.#worker = new Worker(JS_WORKER_URL, { name: init.name });
    live.add(this.#worker);
    // An idle instance must not keep the process alive; a pending call refs the worker.
    this.#worker.unref();
    this.#worker.on('message', (m: JsFromWorker) => this.#onMessage(m));
    this.#worker.on('error', (e: Error) => this.#die(`crashed: ${e?.message ?? String(e)}`));
    this.#worker.on('messageerror', (e: Error) => this.#die(`sent a message that could not be read: ${e.message}`));
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', (code: number) => {
        live.delete(this.#worker);
        this.#die(`exited with code ${code}`);
        resolve();
      });
    });
  }

  /** Why the worker can no longer serve, or undefined while it can. */
  get deadReason(): string | undefined {
    return this.#deadReason;
  }

  /**
   * Sends a request and returns its id (for `cancel` messages) and the answer. `transfer`
   * lists buffers the caller gives up.
   */
  call<T>(message: WithoutId<Call>, transfer: readonly ArrayBuffer[] = []): { id: number; answer: Promise<T> } {
    const id = this.#nextId++;
    if (this.#deadReason !== undefined) return { id, answer: Promise.reject(this.#deathError ?? this.#gone()) };
    const answer = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      try {
        this.#worker.postMessage({ ...message, id } as JsToWorker, transfer);
      } catch (e) {
        this.#settle(id);
        reject(new InferError('INTERNAL', `${this.#init.subject}: could not send to its JavaScript worker: ${(e as Error).message}`, 'BACKEND'));
      }
    });
    return { id, answer };
  }

  /** Sends a message that is not answered (`cancel`). Dropped once the worker is gone. */
  post(message: Exclude<JsToWorker, { id: number }>, transfer: readonly ArrayBuffer[] = []): void {
    if (this.#deadReason !== undefined) return;
    try { this.#worker.postMessage(message, transfer); } catch { /* only uncloneable data fails; these are plain */ }
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

  #onMessage(m: JsFromWorker): void {
    switch (m.kind) {
      case 'reply': {
        const p = this.#pending.get(m.id);
        if (!p) return;
        this.#settle(m.id);
        if (m.ok) p.resolve(m.value);
        else p.reject(fromWireError(m.error));
        return;
      }
      case 'bls':
        this.#serveBls(m.callId, m.request);
        return;
      case 'bls-cancel':
        this.#bls.get(m.callId)?.abort(new InferError('CANCELLED', 'the model cancelled its BLS call', 'CANCELED'));
        return;
      case 'log': {
        const level = ['debug', 'info', 'warn', 'error'].includes(m.level) ? m.level : 'info';
        this.#init.logger[level](m.message, m.fields);
        return;
      }
      default:
        return;
    }
  }

  #serveBls(callId: number, request: JsWireBlsRequest): void {
    const controller = new AbortController();
    this.#bls.set(callId, controller);
    // Refs the worker like a pending call: the model waits for this answer.
    if (this.#bls.size === 1 && this.#pending.size === 0) this.#worker.ref();
    void this.#init.bls(request, controller.signal).then(
      (response) => {
        const packed = packTensors(response.outputs);
        this.post({ op: 'bls-result', callId, ok: true, response: { ...response, outputs: packed.tensors } }, packed.transfer);
      },
      (e: unknown) => this.post({ op: 'bls-result', callId, ok: false, error: toWireError(e) }),
    ).finally(() => {
      this.#bls.delete(callId);
      if (this.#bls.size === 0 && this.#pending.size === 0) this.#worker.unref();
    });
  }

  #settle(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0 && this.#bls.size === 0) this.#worker.unref();
  }

  #gone(): InferError {
    return new InferError('UNAVAILABLE', `${this.#init.subject}: its JavaScript worker ${this.#deadReason ?? 'is gone'}`);
  }

  /** Marks the worker dead (first reason wins), fails what waits on it, aborts its BLS calls. */
  #die(reason: string): void {
    if (this.#deadReason !== undefined) return;
    this.#deadReason = reason;
    const waiting = [...this.#pending.values()];
    this.#pending.clear();
    const error = this.#deathError ?? this.#gone();
    for (const p of waiting) p.reject(error);
    for (const c of this.#bls.values()) c.abort(error);
    this.#bls.clear();
    this.#worker.unref();
    if (!this.#closing) this.#init.onDeath?.(reason);
  }
}
