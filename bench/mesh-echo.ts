/**
 * What the mesh benchmark serves and sends, shared by the bench (the caller and the "local"
 * reference) and bench/mesh-peer.ts (the serving peer), so that both sides run the very same
 * function and the difference between them is the mesh alone.
 *
 * The serving function is in memory, not ONNX Runtime: `echo` answers its inputs as outputs
 * (the 1 KB latency case, same bytes both ways), `sink` answers one FP32 holding the number of
 * input bytes (the 16 MB case, so that the transfer is one-directional). Any other model name
 * goes to a real InferenceServer when the process has one (the `simple` variant).
 */
import { join } from 'node:path';
import type { InferRequest, InferResponse } from '../protocol/infer.ts';
import { InferenceServer } from '../core/inference-server.ts';
import { silentLogger } from '../core/logger.ts';
import { FsModelSource } from '../node-host/model-source-fs.ts';
import { createOrtNodeBackends } from '../node-host/backend-ort-node.ts';

/** Answers its inputs unchanged (same names, shapes and buffers). */
export const ECHO_MODEL = 'echo';
/** Answers `[1]` FP32 = the input bytes it received. */
export const SINK_MODEL = 'sink';
/** The example model the "real server" variant runs (two INT32 [1,16] in, two out). */
export const REAL_MODEL = 'simple';

export const MODEL_REPOSITORY = join(import.meta.dirname, '..', 'examples', 'models');

/** The in-memory serving function (no ORT, no scheduler): the mesh's cost is all that is left. */
export async function serveInMemory(req: InferRequest): Promise<InferResponse> {
  if (req.modelName === ECHO_MODEL) {
    return { modelName: req.modelName, modelVersion: '1', id: req.id, outputs: req.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: t.data })) };
  }
  if (req.modelName === SINK_MODEL) {
    let bytes = 0;
    for (const t of req.inputs) if (ArrayBuffer.isView(t.data)) bytes += t.data.byteLength;
    return { modelName: req.modelName, modelVersion: '1', id: req.id, outputs: [{ name: 'BYTES', datatype: 'FP32', shape: [1], data: new Float32Array([bytes]) }] };
  }
  throw new Error(`the in-memory server has no model '${req.modelName}'`);
}

/** An FP32 request of `floats` elements, shape [1, floats], filled with a pattern. */
export function fp32Request(model: string, floats: number): InferRequest {
  const data = new Float32Array(floats);
  for (let i = 0; i < floats; i++) data[i] = (i % 1000) / 7;
  return { modelName: model, parameters: {}, inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, floats], data }] };
}

/** A request for `simple`: INPUT0 = 0..15, INPUT1 = 1s. */
export function simpleRequest(): InferRequest {
  const a = new Int32Array(16);
  for (let i = 0; i < 16; i++) a[i] = i;
  return {
    modelName: REAL_MODEL, parameters: {},
    inputs: [
      { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], data: a },
      { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], data: new Int32Array(16).fill(1) },
    ],
  };
}

/** A core with only `simple` loaded, one ORT thread per session (no intra-op pool spinning). */
export async function startRealServer(): Promise<InferenceServer> {
  const core = new InferenceServer({
    sources: [new FsModelSource(MODEL_REPOSITORY)],
    backends: createOrtNodeBackends({ logger: silentLogger, intraOpNumThreads: 1 }),
    controlMode: 'explicit',
    startupModels: [REAL_MODEL],
    logger: silentLogger,
  });
  await core.start();
  const state = core.repositoryIndex().find((r) => r.name === REAL_MODEL);
  if (state?.state !== 'READY') throw new Error(`model '${REAL_MODEL}' did not load: ${state?.reason ?? 'not found'} (run npm run examples)`);
  return core;
}
