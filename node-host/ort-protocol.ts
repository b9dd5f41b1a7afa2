/**
 * The messages between the main thread and an onnxruntime-node session worker
 * (`ort-session.worker.ts`): a hand-written request/response protocol over `postMessage`.
 *
 * Every request carries an `id`; the worker answers each one exactly once with the same id,
 * either `{ ok: true, value }` or `{ ok: false, error }` where `error` is a plain WireError
 * (classes do not survive structured clone; the main side rebuilds an InferError). The
 * worker handles requests one at a time in arrival order, so a `dispose` sent after some
 * runs is answered after them.
 *
 * Types plus the worker's URL: imported by both sides, so it must not import
 * onnxruntime-node (the worker is the only file that does).
 */
import type { ModelSignature } from '../core/model-config.ts';
import type { WireError } from '../protocol/errors.ts';
import type { OrtInput, OrtTensorType } from '../protocol/ort-tensor-map.ts';
import type { Tensor } from '../protocol/tensor.ts';

export type { OrtTensorType };

/** An execution provider as onnxruntime-node's session options name it. */
export type OrtExecutionProvider = 'cpu' | 'webgpu' | { name: 'cuda'; deviceId: number };

/**
 * The subset of onnxruntime-node's `InferenceSession.SessionOptions` infermesh sets: plain
 * data, so it crosses to the worker by structured clone (ORT's own type lives on the worker
 * side, which checks this is assignable to it).
 */
export interface OrtSessionOptions {
  executionProviders: OrtExecutionProvider[];
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpNumThreads: number;
  interOpNumThreads: number;
  executionMode: 'sequential' | 'parallel';
  logId: string;
  enableCpuMemArena?: boolean;
  enableMemPattern?: boolean;
  /** ORT session config entries (`session.intra_op.allow_spinning`, …). */
  extra?: { session: Record<string, unknown> };
}

/**
 * An input tensor ready for `new ort.Tensor(type, data, dims)`: the datatype already mapped
 * and checked, BYTES already decoded to strings, BOOL normalised, typed arrays compact
 * copies the worker may own. Built on the main thread by `toWireInput` (ort-tensors.ts).
 */
export type WireInput = OrtInput;

/** What the main thread asks a worker to do. */
export type OrtWorkerRequest =
  /** Import onnxruntime-node; answers the execution providers this build has. */
  | { op: 'load' }
  /** Create, run and release `model`, y = Identity(x) on FP32 [1], on `executionProviders`. */
  | { op: 'probe'; model: Uint8Array; executionProviders: OrtExecutionProvider[] }
  /** Create this worker's one session; answers its signature. `model` is a path or the bytes. */
  | { op: 'create'; model: string | Uint8Array; options: OrtSessionOptions; label: string; device: string }
  /** Run the session; answers the outputs in `outputNames` order. */
  | { op: 'run'; inputs: WireInput[]; outputNames: string[] }
  /** Release the session (the main thread terminates the worker afterwards). */
  | { op: 'dispose' }
  /**
   * Not answered: the request `target` was abandoned by the main thread (aborted), so the
   * worker skips it if it has not started yet.
   */
  | { op: 'cancel'; target: number }
  /**
   * Test hook, not answered: makes the worker die the way a native crash would, by exiting
   * (`exit`) or by an uncaught exception (`throw`). Sent only by `crashOrtInstanceForTests`.
   */
  | { op: 'crash'; how: 'exit' | 'throw' };

/** What each answered op resolves to on the main side. */
export interface OrtWorkerResults {
  load: { backends: string[] };
  probe: null;
  create: ModelSignature;
  run: Tensor[];
  dispose: null;
}

/** A request on the wire. */
export interface OrtWorkerEnvelope {
  id: number;
  req: OrtWorkerRequest;
}

/** The worker's answer to the request with the same `id`. */
export type OrtWorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };

/**
 * The worker entry. A `.ts` file: Node runs it with its built-in type stripping, like every
 * other file here (also under vitest, which transforms the test's modules but not a worker
 * that Node itself starts).
 */
export const ORT_WORKER_URL = new URL('./ort-session.worker.ts', import.meta.url);
