/**
 * The Web Worker that runs onnxruntime-web for a contributing tab: the only file in the
 * project that imports `onnxruntime-web` (ARCHITECTURE-GUIDE §2). The page talks to it through
 * comlink (API and types: worker-protocol.ts); sessions live here so inference never blocks
 * the page's event loop, which keeps answering the mesh while a model computes.
 *
 * - `init` points ORT at its `.wasm`/`.mjs` files (`ortBase`), sets the WASM thread count
 *   (threads need a cross-origin isolated page), and proves the provider works by running a
 *   two-byte probe model on it: WebGPU when an adapter exists and the probe passes, WASM
 *   otherwise, with the reason either way.
 * - `load` creates a session from bytes the page transferred; `run` converts transferred
 *   inputs to ORT tensors and transfers the outputs back; runs of one session are serialised
 *   (one session, one execution at a time, as ORT web expects).
 *
 * Bundled by esbuild (format esm, platform browser) to `/contribute/ort-web.worker.js`.
 * `onnxruntime-web` resolves to its bundle build, which contains the WebGPU (JSEP) and WASM
 * execution providers; with `wasmPaths` set it loads `ort-wasm-simd-threaded.jsep.{mjs,wasm}`
 * from `ortBase` instead of the copy embedded in the bundle, so WASM threads start from that
 * file and not from this worker's script.
 */
import * as Comlink from 'comlink';
import * as ort from 'onnxruntime-web';
import { InferError } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';
import { chooseProvider, detectFeatures, type FeatureScope } from './feature-detect.ts';
import {
  fromOrtOutput, outputTransferList, sessionSignature, toWorkerError, type ExecutionProviderName,
  type OrtWebWorkerApi, type PackedTensor, type SessionLoadOptions, type SessionLoadResult,
  type WorkerInitOptions, type WorkerInitResult, WEB_PROBE_MODEL_BASE64,
} from './worker-protocol.ts';

/** A tensor constructor typed loosely: packTensor's datatype mapping guarantees the pairing. */
type LooseTensorCtor = new (type: string, data: unknown, dims: readonly number[]) => ort.Tensor;

interface OpenSession {
  session: ort.InferenceSession;
  label: string;
  /** The tail of this session's run queue. */
  tail: Promise<unknown>;
}

const sessions = new Map<number, OpenSession>();
let nextHandle = 1;
let initialised: Promise<WorkerInitResult> | undefined;
let provider: ExecutionProviderName = 'wasm';

function message(e: unknown): string {
  return e instanceof Error ? e.message : String((e as { message?: unknown } | null)?.message ?? e);
}

function probeBytes(): Uint8Array {
  return Uint8Array.from(atob(WEB_PROBE_MODEL_BASE64), (c) => c.charCodeAt(0));
}

/** Creates and runs the probe model on `ep`; throws ORT's error (or a wrong answer). */
async function probe(ep: ExecutionProviderName): Promise<void> {
  const s = await ort.InferenceSession.create(probeBytes(), { executionProviders: [ep] });
  try {
    const out = await s.run({ x: new ort.Tensor('float32', new Float32Array([21]), [1]) });
    const y = (out.y?.data as Float32Array | undefined)?.[0];
    if (y !== 42) throw new Error(`the probe model computed ${y} instead of 42`);
  } finally {
    await s.release();
  }
}

async function initialise(o: WorkerInitOptions): Promise<WorkerInitResult> {
  const features = await detectFeatures(self as unknown as FeatureScope);
  const choice = chooseProvider(features, o.provider);
  const threads = o.numThreads !== undefined && choice.threads > 1 ? Math.max(1, Math.min(o.numThreads, choice.threads)) : choice.threads;
  ort.env.wasm.wasmPaths = new URL(o.ortBase, self.location.href).href;
  ort.env.wasm.numThreads = threads;
  // this worker already is the page's background thread: ORT's own proxy worker would add a hop
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  try {
    await probe('wasm');
  } catch (e) {
    throw new InferError('UNAVAILABLE', `onnxruntime-web cannot run in this browser: the WASM probe failed (${message(e)}); check that ${ort.env.wasm.wasmPaths} serves onnxruntime-web's dist files`);
  }
  let webgpu: WorkerInitResult['webgpu'] = { ok: false, reason: features.webgpuReason };
  if (o.provider === 'wasm') webgpu = { ok: false, reason: 'not tried (provider=wasm)', adapter: features.adapter };
  else if (features.webgpu) {
    try {
      await probe('webgpu');
      webgpu = { ok: true, reason: '', adapter: features.adapter };
    } catch (e) {
      webgpu = { ok: false, reason: `a WebGPU adapter (${features.adapter}) exists but a WebGPU session failed: ${message(e)}`, adapter: features.adapter };
    }
  }
  provider = choice.provider === 'webgpu' && webgpu.ok ? 'webgpu' : 'wasm';
  const reason = provider === choice.provider ? choice.reason : `WASM: ${webgpu.reason}`;
  return { provider, reason: `${reason}; ${choice.threadsReason}`, threads, webgpu, ortVersion: ort.env.versions.web ?? 'unknown' };
}

const api: OrtWebWorkerApi = {
  async init(options) {
    try {
      initialised ??= initialise(options);
      return await initialised;
    } catch (e) {
      initialised = undefined;
      throw toWorkerError(e);
    }
  },

  async load(model: Uint8Array, options: SessionLoadOptions): Promise<SessionLoadResult> {
    try {
      if (!initialised) throw new InferError('INTERNAL', `${options.label}: the onnxruntime-web worker was not initialised (call init first)`);
      await initialised;
      if (options.provider === 'webgpu' && provider !== 'webgpu') {
        throw new InferError('UNAVAILABLE', `${options.label}: WebGPU is not available in this tab`);
      }
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(model, { executionProviders: [options.provider], graphOptimizationLevel: 'all' });
      } catch (e) {
        throw new InferError('INTERNAL', `failed to load ${options.label} with onnxruntime-web (${options.provider}): ${message(e)}`);
      }
      let signature;
      try {
        signature = sessionSignature(session.inputMetadata, session.outputMetadata);
      } catch (e) {
        await session.release();
        throw e;
      }
      const handle = nextHandle++;
      sessions.set(handle, { session, label: options.label, tail: Promise.resolve() });
      return { handle, signature };
    } catch (e) {
      throw toWorkerError(e);
    }
  },

  async run(handle: number, inputs: PackedTensor[], outputNames: string[]): Promise<Tensor[]> {
    const s = sessions.get(handle);
    if (!s) throw toWorkerError(new InferError('UNAVAILABLE', `onnxruntime-web session ${handle} is not open (the model was unloaded)`));
    const exec = async (): Promise<Tensor[]> => {
      const Ctor = ort.Tensor as unknown as LooseTensorCtor;
      const feeds: Record<string, ort.Tensor> = {};
      for (const t of inputs) {
        try {
          feeds[t.name] = new Ctor(t.type, t.data, t.dims);
        } catch (e) {
          throw new InferError('INVALID_ARG', `${s.label}: input '${t.name}': ${message(e)}`);
        }
      }
      let results: ort.InferenceSession.ReturnType;
      try {
        results = await s.session.run(feeds, outputNames);
      } catch (e) {
        throw new InferError('INTERNAL', `onnxruntime-web failed to run ${s.label}: ${message(e)}`, 'BACKEND');
      }
      return outputNames.map((n) => {
        const v = results[n];
        if (!v) throw new InferError('INTERNAL', `onnxruntime-web returned no output '${n}' for ${s.label}`, 'BACKEND');
        return fromOrtOutput(n, v);
      });
    };
    const result = s.tail.then(exec, exec);
    s.tail = result.catch(() => undefined);
    try {
      const out = await result;
      return Comlink.transfer(out, outputTransferList(out));
    } catch (e) {
      throw toWorkerError(e);
    }
  },

  async dispose(handle: number): Promise<void> {
    const s = sessions.get(handle);
    if (!s) return;
    sessions.delete(handle);
    await s.tail;
    try {
      await s.session.release();
    } catch (e) {
      throw toWorkerError(new InferError('INTERNAL', `${s.label}: releasing the onnxruntime-web session failed: ${message(e)}`));
    }
  },
};

Comlink.expose(api);
