/**
 * A worker thread that owns one onnxruntime-node session (or runs one availability probe).
 * onnxruntime-node runs `session.run` synchronously on the calling JS thread, so each model
 * instance gets a thread of its own: the main thread's event loop stays free for HTTP while
 * ORT computes, and instances of a model compute in parallel.
 *
 * The only file in the project that imports `onnxruntime-node` (ARCHITECTURE-GUIDE §2). The
 * package is imported lazily on the first request that needs it, so a native binding that
 * cannot load becomes an answer with a reason instead of a worker that dies at start.
 *
 * Protocol: ort-protocol.ts. Requests are handled strictly in arrival order, one at a time.
 */
import { parentPort } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import { InferError, toWireError } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';
import type { OrtWorkerEnvelope, OrtWorkerReply, OrtWorkerRequest, WireInput } from './ort-protocol.ts';
import { outputTransferList } from '../protocol/tensor-transfer.ts';
import { fromOrtOutput } from '../protocol/ort-tensor-map.ts';
import { errorMessage, sessionSignature } from './ort-tensors.ts';

/** Loads the package. A CommonJS module: `default` is its module.exports. */
const importOrt = () => import('onnxruntime-node').then((m) => m.default);
type OrtModule = Awaited<ReturnType<typeof importOrt>>;

/** A tensor constructor typed loosely: toWireInput's datatype mapping guarantees the pairing. */
type LooseTensorCtor = new (type: Ort.Tensor.Type, data: unknown, dims: readonly number[]) => Ort.Tensor;

const port = parentPort;
if (!port) throw new Error('ort-session.worker.ts runs as a worker thread only');

let ortPromise: Promise<OrtModule> | undefined;
let session: Ort.InferenceSession | undefined;
/** `model 'x' version 1`, for error messages, as the main thread words them. */
let label = 'model';
/** Requests received and not started yet, and those of them the main thread abandoned. */
const queued = new Set<number>();
const cancelled = new Set<number>();

function loadOrt(): Promise<OrtModule> {
  ortPromise ??= importOrt();
  return ortPromise;
}

/** Creates and runs the probe model on `eps`; throws ORT's error when the provider fails. */
async function probe(model: Uint8Array, eps: Ort.InferenceSession.ExecutionProviderConfig[]): Promise<null> {
  const ort = await loadOrt();
  const s = await ort.InferenceSession.create(model, { executionProviders: eps });
  try {
    const out = await s.run({ x: new ort.Tensor('float32', new Float32Array([42]), [1]) });
    if (out.y?.data[0] !== 42) throw new Error('probe model returned a wrong result');
  } finally {
    await s.release();
  }
  return null;
}

async function create(req: Extract<OrtWorkerRequest, { op: 'create' }>): Promise<unknown> {
  label = req.label;
  if (session) throw new InferError('INTERNAL', `${label}: this onnxruntime worker already holds a session`);
  let s: Ort.InferenceSession;
  try {
    const ort = await loadOrt();
    // A path lets ORT find external-data files next to the model; bytes otherwise. Passing
    // req.options as they are also checks, at compile time, that OrtSessionOptions stays a
    // subset of ORT's SessionOptions.
    s = typeof req.model === 'string'
      ? await ort.InferenceSession.create(req.model, req.options)
      : await ort.InferenceSession.create(req.model, req.options);
  } catch (e) {
    throw new InferError('INTERNAL', `failed to load ${label} with onnxruntime (${req.device}): ${errorMessage(e)}`);
  }
  try {
    const signature = sessionSignature(s.inputMetadata, s.outputMetadata);
    session = s;
    return signature;
  } catch (e) {
    await s.release();
    throw new InferError('UNSUPPORTED', `${label}: ${errorMessage(e)}`);
  }
}

/** A wire input as an ORT tensor, sharing its (worker-owned) typed array. */
function toOrtTensor(ort: OrtModule, t: WireInput): Ort.Tensor {
  const Ctor = ort.Tensor as unknown as LooseTensorCtor;
  const tensor = new Ctor(t.type, t.data, t.dims);
  if (t.type === 'float16' && !(tensor.data instanceof Uint16Array)) {
    // Where Float16Array exists (Node >= 24), onnxruntime-common wraps a Uint16Array in a
    // Float16Array view, whose byte length onnxruntime-node 1.30's binding reads as 0 ("not
    // enough space: expected 8, got 0"; microsoft/onnxruntime PR #32323). The binding also
    // accepts Uint16Array, so hand it the original array: an own `data` shadows the getter.
    Object.defineProperty(tensor, 'data', { value: t.data, enumerable: true });
  }
  return tensor;
}

async function run(inputs: WireInput[], outputNames: string[]): Promise<Tensor[]> {
  const s = session;
  if (!s) throw new InferError('UNAVAILABLE', `${label}: instance was unloaded`);
  const ort = await loadOrt();
  const feeds: Record<string, Ort.Tensor> = {};
  for (const t of inputs) {
    try {
      feeds[t.name] = toOrtTensor(ort, t);
    } catch (e) {
      throw new InferError('INTERNAL', `${label}: input '${t.name}': ${errorMessage(e)}`, 'BACKEND');
    }
  }
  let results: Ort.InferenceSession.ReturnType;
  try {
    results = await s.run(feeds, outputNames);
  } catch (e) {
    throw new InferError('INTERNAL', `onnxruntime failed to run ${label}: ${errorMessage(e)}`, 'BACKEND');
  }
  return outputNames.map((n) => {
    const v = results[n];
    if (!v) throw new InferError('INTERNAL', `onnxruntime returned no output '${n}' for ${label}`, 'BACKEND');
    try {
      return fromOrtOutput(n, v);
    } catch (e) {
      throw new InferError('INTERNAL', `${label}: ${errorMessage(e)}`, 'BACKEND');
    }
  });
}

async function dispose(): Promise<null> {
  const s = session;
  session = undefined;
  await s?.release();
  return null;
}

async function handle(req: OrtWorkerRequest): Promise<unknown> {
  switch (req.op) {
    case 'load': {
      const ort = await loadOrt();
      return { backends: ort.listSupportedBackends().map((b) => b.name) };
    }
    case 'probe': return probe(req.model, req.executionProviders);
    case 'create': return create(req);
    case 'run': return run(req.inputs, req.outputNames);
    case 'dispose': return dispose();
    default: throw new InferError('INTERNAL', `onnxruntime worker: unknown request '${(req as { op: string }).op}'`);
  }
}

/** Answers one request; outputs' buffers are transferred (this thread owns them, no copy). */
async function answer(id: number, req: OrtWorkerRequest): Promise<void> {
  let reply: OrtWorkerReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const value = await handle(req);
    reply = { id, ok: true, value };
    if (req.op === 'run') transfer = outputTransferList(value as Tensor[]);
  } catch (e) {
    reply = { id, ok: false, error: toWireError(e) };
  }
  try {
    port!.postMessage(reply, transfer);
  } catch (e) {
    // A buffer that cannot be detached (memory ORT or V8 does not let go): copy instead.
    // Anything else that cannot be cloned becomes an error answer, never a lost request.
    try {
      port!.postMessage(reply);
    } catch {
      port!.postMessage({ id, ok: false, error: toWireError(new InferError('INTERNAL', `${label}: onnxruntime worker could not send its answer: ${errorMessage(e)}`, 'BACKEND')) } satisfies OrtWorkerReply);
    }
  }
}

/** Serialises requests: ORT's own run() yields once (setImmediate) before computing. */
let queue: Promise<void> = Promise.resolve();

port.on('message', ({ id, req }: OrtWorkerEnvelope) => {
  // Handled at once, not queued: they act on the queue itself or stop the thread.
  if (req.op === 'cancel') {
    // Only a request still waiting can be skipped; one already answered is forgotten.
    if (queued.has(req.target)) cancelled.add(req.target);
    return;
  }
  if (req.op === 'crash') {
    if (req.how === 'exit') process.exit(70);
    setImmediate(() => { throw new Error('crash requested by a test'); });
    return;
  }
  queued.add(id);
  queue = queue.then(() => {
    queued.delete(id);
    if (cancelled.delete(id)) return undefined;
    return answer(id, req);
  });
});
