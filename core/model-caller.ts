/**
 * How core code that calls other models (ensemble steps, BLS from a JS model) reaches them.
 * The server's default calls its own `infer`; a mesh host replaces it with the mesh router,
 * so an ensemble step or a BLS call may run on any peer that serves the model.
 */
import type { InferRequest, InferResponse } from '../protocol/infer.ts';

/** Per-call options of a model call. */
export interface ModelCallOptions {
  signal?: AbortSignal;
  /** Absolute deadline (epoch ms) the callee must finish by, when the caller has one. */
  deadlineMs?: number;
}

/** Runs one inference request on whichever host serves the model. Rejects with an InferError. */
export type ModelCaller = (request: InferRequest, options?: ModelCallOptions) => Promise<InferResponse>;
