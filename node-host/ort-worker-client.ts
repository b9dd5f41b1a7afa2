/**
 * The main-thread end of one onnxruntime-node session worker: starts the worker, matches
 * answers to requests by id, turns wire errors back into InferErrors, and turns a worker
 * that dies into UNAVAILABLE for everything still waiting on it.
 *
 * Node-only (worker_threads). Knows nothing of ORT itself: see ort-protocol.ts for the
 * messages and ort-session.worker.ts for the other end.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../core/logger.ts';
import { InferError, type WireError } from '../protocol/errors.ts';
import {
  ORT_WORKER_URL, type OrtWorkerEnvelope, type OrtWorkerReply, type OrtWorkerRequest, type OrtWorkerResults,
} from './ort-protocol.ts';
import { watchWorker } from './worker-lifecycle.ts';

/** Options for {@link OrtWorkerClient}. */
export interface OrtWorkerClientInit {
  /** Thread name (shows in inspectors and `process.report`). */
  name: string;
  /** What the worker serves, as errors name it: `model 'simple' version 1`. */
  subject: string;
  /** Appended to UNAVAILABLE errors once the worker is gone: what a user can do about it. */
  deathHint?: string;
  logger: Logger;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
  /** Drops the abort listener. */
  cleanup: () => void;
}

/** Workers started and not yet exited, so tests can prove none leaks. */
const live = new Set<Worker>();

/**
 * Number of session workers of this process that have not exited yet. For tests: after
 * every instance is disposed it must drop back to where it was.
 */
export function liveOrtWorkerCount(): number {
  return live.size;
}

/** Rebuilds the error a worker sent as the InferError it was. */
function fromWire(e: WireError): InferError {
  return new InferError(e.code, e.message, e.reason);
}

/** One session worker, seen from the main thread. */
export class OrtWorkerClient {
  readonly #worker: Worker;
  readonly #subject: string;
  readonly #deathHint: string;
  readonly #logger: Logger;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  /** Why the worker is gone (set once, by the first of exit/error/close). */
  #deadReason: string | undefined;
  #closing = false;
  readonly #exited: Promise<void>;

  constructor(init: OrtWorkerClientInit) {
    this.#subject = init.subject;
    this.#deathHint = init.deathHint ? `; ${init.deathHint}` : '';
    this.#logger = init.logger;
    this.#worker = new Worker(ORT_WORKER_URL, { name: init.name });
    this.#exited = watchWorker(this.#worker, live, (reason) => this.#die(reason));
    // An idle instance must not keep the process alive (an in-process session did not);
    // request() refs the worker while an answer is awaited, so a pending run does.
    this.#worker.unref();
    this.#worker.on('message', (m: OrtWorkerReply) => this.#onReply(m));
  }

  /** Why the worker can no longer serve, or undefined while it can. */
  get deadReason(): string | undefined {
    return this.#deadReason;
  }

  /**
   * Sends `req` and resolves with the worker's answer. `transfer` lists buffers the caller
   * owns and gives up (they are detached here). With `signal`, an abort rejects at once with
   * CANCELLED; the worker is told to skip the request if it has not started it, and a late
   * answer is dropped.
   */
  request<K extends keyof OrtWorkerResults>(
    req: Extract<OrtWorkerRequest, { op: K }>, transfer: readonly ArrayBuffer[] = [], signal?: AbortSignal,
  ): Promise<OrtWorkerResults[K]> {
    if (this.#deadReason !== undefined) return Promise.reject(this.#unavailable());
    if (signal?.aborted) {
      return Promise.reject(new InferError('CANCELLED', `${this.#subject}: request cancelled before execution`, 'CANCELED'));
    }
    const id = this.#nextId++;
    return new Promise<OrtWorkerResults[K]>((resolve, reject) => {
      const onAbort = () => {
        if (!this.#settle(id)) return;
        this.#post({ id: 0, req: { op: 'cancel', target: id } });
        reject(new InferError('CANCELLED', `${this.#subject}: request cancelled during execution`, 'CANCELED'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      });
      if (this.#pending.size === 1) this.#worker.ref();
      try {
        this.#worker.postMessage({ id, req } satisfies OrtWorkerEnvelope, transfer);
      } catch (e) {
        // A tensor structured clone cannot carry; nothing was sent.
        this.#settle(id);
        reject(new InferError('INTERNAL', `${this.#subject}: could not send the request to its onnxruntime worker: ${(e as Error).message}`, 'BACKEND'));
      }
    });
  }

  /** Test hook: posts a request the worker does not answer (see `crash` in ort-protocol.ts). */
  post(req: Extract<OrtWorkerRequest, { op: 'crash' }>): void {
    this.#post({ id: 0, req });
  }

  /**
   * Terminates the worker and waits until it has exited. Requests still waiting reject
   * UNAVAILABLE. Idempotent.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#die('was stopped');
      await this.#worker.terminate();
    }
    await this.#exited;
  }

  #post(envelope: OrtWorkerEnvelope): void {
    if (this.#deadReason !== undefined) return;
    try { this.#worker.postMessage(envelope); } catch { /* only fails for uncloneable data; these are plain */ }
  }

  /** Forgets request `id`; false when it was already settled (answered, aborted, failed). */
  #settle(id: number): boolean {
    const p = this.#pending.get(id);
    if (!p) return false;
    this.#pending.delete(id);
    p.cleanup();
    if (this.#pending.size === 0) this.#worker.unref();
    return true;
  }

  #onReply(m: OrtWorkerReply): void {
    const p = this.#pending.get(m.id);
    if (!p || !this.#settle(m.id)) return; // aborted meanwhile: the late answer is dropped
    if (m.ok) p.resolve(m.value);
    else p.reject(fromWire(m.error));
  }

  #unavailable(): InferError {
    return new InferError('UNAVAILABLE', `${this.#subject}: its onnxruntime worker ${this.#deadReason}${this.#deathHint}`);
  }

  /** Marks the worker dead (first reason wins) and fails everything still waiting on it. */
  #die(reason: string): void {
    if (this.#deadReason !== undefined) return;
    this.#deadReason = reason;
    const waiting = [...this.#pending.values()];
    this.#pending.clear();
    if (!this.#closing) {
      this.#logger.error('onnxruntime worker died', { subject: this.#subject, reason, failedRequests: waiting.length });
    }
    const e = this.#unavailable();
    for (const p of waiting) {
      p.cleanup();
      p.reject(e);
    }
    this.#worker.unref();
  }
}
