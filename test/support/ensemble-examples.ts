/**
 * Helpers for tests of the example ensemble `ensemble_add_mlp` (simple → mlp_preprocess →
 * dense_mlp): inputs, the same pipeline run step by step over HTTP, and comparisons.
 */
import type { InferResponse } from '../../protocol/infer.ts';
import type { Tensor } from '../../protocol/tensor.ts';
import type { KServeClient } from './kserve-client.ts';

/** Two rows of 16 INT32 values, different per row and per input. */
export function addMlpInputs(seed = 1): Tensor[] {
  const a = Int32Array.from({ length: 32 }, (_, i) => ((i * 7 + seed * 13) % 41) - 20);
  const b = Int32Array.from({ length: 32 }, (_, i) => ((i * 5 + seed * 3) % 23) - 11);
  return [
    { name: 'INPUT0', datatype: 'INT32', shape: [2, 16], data: a },
    { name: 'INPUT1', datatype: 'INT32', shape: [2, 16], data: b },
  ];
}

/** Runs ensemble_add_mlp's five steps one request at a time, as a client would by hand. */
export async function addMlpByHand(client: KServeClient, inputs: Tensor[]): Promise<Record<string, Tensor>> {
  const infer = (modelName: string, ins: Tensor[]) => client.infer({ modelName, parameters: {}, inputs: ins }, { binaryOutputs: true });
  const out = (r: InferResponse, name: string) => r.outputs.find((o) => o.name === name)!;
  const simple = await infer('simple', inputs);
  const sum = out(simple, 'OUTPUT0');
  const diff = out(simple, 'OUTPUT1');
  const pre = async (t: Tensor) => out(await infer('mlp_preprocess', [{ ...t, name: 'INT_VALUES' }]), 'FEATURES');
  const [sumFeatures, diffFeatures] = [await pre(sum), await pre(diff)];
  const mlp = async (t: Tensor) => out(await infer('dense_mlp', [{ ...t, name: 'input' }]), 'output');
  return { SUM: sum, DIFF: diff, MLP_SUM: await mlp(sumFeatures), MLP_DIFF: await mlp(diffFeatures), sumFeatures };
}

/** Largest absolute difference between two FP32 tensors of equal length. */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.data.length !== b.data.length) throw new Error(`tensors '${a.name}' and '${b.name}' differ in length: ${a.data.length} vs ${b.data.length}`);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return m;
}

/** dense_mlp may see the two branches as one batch of 4 or two of 2; GEMM rounding can differ by batch. */
export const MLP_TOLERANCE = 1e-4;
