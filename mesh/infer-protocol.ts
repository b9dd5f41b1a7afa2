/**
 * The infer stream protocol (`/infermesh/infer/1.0.0`): serve requests with
 * {@link handleInfer}, send them with {@link MeshInferClient}. Wire and reuse rules are in
 * infer-frames.ts.
 */
export { DEFAULT_MAX_INFER_FRAME_BYTES, DEFAULT_MAX_INFER_STREAMS } from './infer-frames.ts';
export { handleInfer } from './infer-handler.ts';
export type { InferHandler, InferHandlerOptions, InferHandlerStats, MeshServeFn, MeshServeOptions } from './infer-handler.ts';
export { DEFAULT_DEADLINE_GRACE_MS, DEFAULT_MAX_IDLE_STREAMS_PER_PEER, MeshInferClient } from './infer-client.ts';
export type { MeshInferClientInit, MeshInferOptions } from './infer-client.ts';
