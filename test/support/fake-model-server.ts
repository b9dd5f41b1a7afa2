/**
 * A real InferenceServer over in-memory model folders and a fake backend, for unit tests of
 * server-level behaviour (response cache, warmup, rate limiter) without ONNX Runtime: every
 * instance is a FakeInstance (OUTPUTk = INPUTk + 1) that the test can hold or auto-answer.
 */
import type { Backend, ModelInstance, ModelLoadInput } from '../../core/backend.ts';
import { InferenceServer, type InferenceServerInit } from '../../core/inference-server.ts';
import type { ModelSignature } from '../../core/model-config.ts';
import { OverlayModelSource } from '../../core/model-source-overlay.ts';
import type { Clock } from '../../core/clock.ts';
import { FakeInstance } from './fake-backend.ts';

/** A FakeInstance that reports a model signature (the repository validates configs against it). */
export class SignedFakeInstance extends FakeInstance {
  override readonly signature: ModelSignature;
  readonly model: string;

  constructor(model: string, signature: ModelSignature, device = 'cpu') {
    super(device);
    this.model = model;
    this.signature = signature;
  }
}

/** One in-memory model: its config text, signature and extra files (e.g. `warmup/x.bin`). */
export interface FakeModel {
  name: string;
  config: string;
  signature: ModelSignature;
  files?: Record<string, Uint8Array>;
}

/** A signature of FP32 INPUT0..n-1 → OUTPUT0..n-1 with item dims `dims`, batching or not. */
export function fp32Signature(dims: number[], batching: boolean, inputs = 1): ModelSignature {
  const shape = batching ? [-1, ...dims] : dims;
  const list = (p: string) => Array.from({ length: inputs }, (_, k) => ({ name: `${p}${k}`, datatype: 'FP32' as const, shape }));
  return { inputs: list('INPUT'), outputs: list('OUTPUT') };
}

/** The config.pbtxt of such a model, with `extra` appended (instance_group, response_cache, …). */
export function fp32Config(name: string, dims: number[], maxBatch: number, extra = '', inputs = 1): string {
  const io = (p: string) => Array.from({ length: inputs }, (_, k) => `{ name: "${p}${k}" data_type: TYPE_FP32 dims: [ ${dims.join(', ')} ] }`).join(', ');
  return `name: "${name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: ${maxBatch}\ninput [ ${io('INPUT')} ]\noutput [ ${io('OUTPUT')} ]\n${extra}\n`;
}

/** A server, its fake instances by model, and a way to make every instance answer at once. */
export interface FakeModelServer {
  server: InferenceServer;
  /** Instances created so far, per model name (in creation order). */
  instances: Map<string, SignedFakeInstance[]>;
  /** Makes every current and future instance answer at once. */
  autoResolve(on: boolean): void;
}

/** Starts an InferenceServer with the fake backend over `models`. */
export async function startFakeModelServer(
  models: readonly FakeModel[],
  init: Partial<InferenceServerInit> & { clock?: Clock; autoResolve?: boolean; start?: boolean } = {},
): Promise<FakeModelServer> {
  const instances = new Map<string, SignedFakeInstance[]>();
  let auto = init.autoResolve ?? true;
  const signatures = new Map(models.map((m) => [m.name, m.signature]));
  const backend: Backend = {
    name: 'fake-cpu',
    platforms: ['onnxruntime_onnx', 'onnxruntime'],
    defaultModelFilename: 'model.onnx',
    deviceClass: 'cpu',
    priority: 10,
    init: async () => undefined,
    load: async (input: ModelLoadInput): Promise<ModelInstance> => {
      const inst = new SignedFakeInstance(input.modelName, signatures.get(input.modelName)!);
      inst.autoResolve = auto;
      const list = instances.get(input.modelName) ?? [];
      list.push(inst);
      instances.set(input.modelName, list);
      return inst;
    },
  };
  const enc = new TextEncoder();
  const sources = models.map((m) => new OverlayModelSource(m.name, new Map<string, Uint8Array>([
    ['config.pbtxt', enc.encode(m.config)],
    ['1/model.onnx', new Uint8Array([1])],
    ...Object.entries(m.files ?? {}),
  ])));
  const server = new InferenceServer({ sources, backends: [backend], ...init });
  // `start: false` lets a test watch the load (e.g. warmup before READY) and call start itself.
  if (init.start !== false) await server.start();
  return {
    server,
    instances,
    autoResolve(on: boolean) {
      auto = on;
      for (const list of instances.values()) for (const i of list) i.autoResolve = on;
    },
  };
}
