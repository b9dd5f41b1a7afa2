/**
 * Builders shared by the ensemble unit tests: configs from pbtxt text (normalised, as the
 * repository would hold them) and a fake model caller whose calls the test answers by hand.
 */
import { normalizeModelConfig } from '../../core/model-config-normalize.ts';
import { parseModelConfigText } from '../../core/model-config-parse.ts';
import type { ModelConfig } from '../../core/model-config.ts';
import type { ModelCallOptions } from '../../core/model-caller.ts';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import type { Tensor } from '../../protocol/tensor.ts';

/** A normalised config from pbtxt text (no validation: tests of the graph check it themselves). */
export function config(text: string, modelName?: string): ModelConfig {
  const raw = parseModelConfigText(text);
  return normalizeModelConfig(raw, { modelName: modelName ?? raw.name ?? 'm', autoComplete: false });
}

/** A plain ONNX model's config: `io` as `name:TYPE:dims` entries, e.g. `x:FP32:2`. */
export function modelConfigOf(name: string, maxBatch: number, inputs: string[], outputs: string[]): ModelConfig {
  const io = (spec: string) => {
    const [n, t, dims] = spec.split(':');
    return `{ name: "${n}" data_type: TYPE_${t} dims: [ ${dims.split('x').join(', ')} ] }`;
  };
  return config(`name: "${name}" platform: "onnxruntime_onnx" max_batch_size: ${maxBatch}
input [ ${inputs.map(io).join(', ')} ] output [ ${outputs.map(io).join(', ')} ]`);
}

/**
 * A diamond: a → (b, c) → d. `b` writes the ensemble output P (also read by d), `d` writes Y.
 * All tensors FP32 [2] with max_batch_size 4.
 */
export const DIAMOND = `
name: "diamond"
platform: "ensemble"
max_batch_size: 4
input [ { name: "X" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 2 ] }, { name: "P" data_type: TYPE_FP32 dims: [ 2 ] } ]
ensemble_scheduling {
  step [
    { model_name: "a" model_version: -1 input_map { key: "x" value: "X" } output_map { key: "y" value: "a_out" } },
    { model_name: "b" model_version: -1 input_map { key: "x" value: "a_out" } output_map { key: "y" value: "P" } },
    { model_name: "c" model_version: 2 input_map { key: "x" value: "a_out" } output_map { key: "y" value: "c_out" } },
    { model_name: "d" model_version: -1 input_map [ { key: "l" value: "P" }, { key: "r" value: "c_out" } ] output_map { key: "y" value: "Y" } }
  ]
}`;

/** What each diamond step computes, element-wise on FP32. */
export const DIAMOND_FNS: Record<string, (inputs: Record<string, number>) => number> = {
  a: ({ x }) => x + 1,
  b: ({ x }) => x * 2,
  c: ({ x }) => x * 3,
  d: ({ l, r }) => l + r,
};

/** One call the fake caller received, settled by the test. */
export interface FakeModelCall {
  request: InferRequest;
  options?: ModelCallOptions;
  /** Answers with `fns[model]` applied element-wise to the inputs (output name `y`). */
  answer(): void;
  /** Answers with these tensors. */
  answerWith(outputs: Tensor[]): void;
  fail(error: unknown): void;
  settled: boolean;
}

/**
 * A ModelCaller that records every call (in start order) and leaves it pending until the test
 * answers it; with `auto`, answers at once. Aborting a call's signal rejects it with an
 * AbortError-like InferError, as the server would.
 */
export class FakeModelCaller {
  readonly calls: FakeModelCall[] = [];
  auto = false;
  readonly #fns: Record<string, (inputs: Record<string, number>) => number>;

  constructor(fns: Record<string, (inputs: Record<string, number>) => number>) {
    this.#fns = fns;
  }

  /** Names of the models called, in start order. */
  get started(): string[] {
    return this.calls.map((c) => c.request.modelName);
  }

  /** The pending call to `model` (the first one when several). */
  pending(model: string): FakeModelCall {
    const c = this.calls.find((x) => x.request.modelName === model && !x.settled);
    if (!c) throw new Error(`no pending call to '${model}'; started: ${this.started.join(', ')}`);
    return c;
  }

  readonly call = (request: InferRequest, options?: ModelCallOptions): Promise<InferResponse> => new Promise((resolve, reject) => {
    const fn = this.#fns[request.modelName];
    const call: FakeModelCall = {
      request, options, settled: false,
      answerWith: (outputs) => {
        if (call.settled) return;
        call.settled = true;
        resolve({ modelName: request.modelName, modelVersion: request.modelVersion ?? '1', outputs });
      },
      answer: () => {
        const n = request.inputs[0].data.length;
        const data = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          const args: Record<string, number> = {};
          for (const t of request.inputs) args[t.name] = Number((t.data as Float32Array)[i]);
          data[i] = fn(args);
        }
        call.answerWith([{ name: 'y', datatype: 'FP32', shape: [...request.inputs[0].shape], data }]);
      },
      fail: (error) => {
        if (call.settled) return;
        call.settled = true;
        reject(error);
      },
    };
    options?.signal?.addEventListener('abort', () => call.fail(Object.assign(new Error('Request was cancelled'), { name: 'InferError', code: 'CANCELLED', reason: 'CANCELED' })), { once: true });
    this.calls.push(call);
    if (this.auto) call.answer();
  });
}

/** Lets pending promise callbacks run (several microtask turns). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
