/**
 * Which requests may share one execution, and which outputs that execution computes.
 *
 * Rule (COMPAT-NOTES §3.4 rule 4; Triton `RequiredEqualInputs`): requests are batched only
 * when they carry the same set of inputs, with the same datatypes and equal dimensions after
 * the batch dimension. Inputs marked `allow_ragged_batch` are held to the same rule here: a
 * ragged batch needs `batch_input` support in the backend, which infermesh's backends lack,
 * and concatenating unequal rows along dimension 0 would be wrong.
 *
 * Requests may ask for different outputs: the batch computes the union, and each request
 * receives its own subset in its own order.
 */
import type { Tensor } from '../protocol/tensor.ts';
import type { ScheduledRequest } from './scheduler.ts';

/** The input called `name` in `inputs`, trying index `hint` first (inputs usually share an order). */
function inputNamed(inputs: readonly Tensor[], name: string, hint: number): Tensor | undefined {
  const t = inputs[hint];
  if (t !== undefined && t.name === name) return t;
  for (const x of inputs) if (x.name === name) return x;
  return undefined;
}

/**
 * True when `a` and `b` may run in one batch: same input names, datatypes and non-batch
 * dimensions. Allocation-free, O(inputs²) worst case (inputs are few).
 */
export function sameBatchShape(a: ScheduledRequest, b: ScheduledRequest): boolean {
  if (a === b) return true;
  const ai = a.inputs;
  const bi = b.inputs;
  if (ai.length !== bi.length) return false;
  for (let i = 0; i < ai.length; i++) {
    const x = ai[i];
    const y = inputNamed(bi, x.name, i);
    if (y === undefined || y.datatype !== x.datatype || y.shape.length !== x.shape.length) return false;
    for (let d = 1; d < x.shape.length; d++) if (x.shape[d] !== y.shape[d]) return false;
  }
  return true;
}

/** True when two output lists name the same outputs in the same order. */
function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The outputs a batch must compute: the union of every request's `outputNames`, in order of
 * first appearance. Returns the first request's own array when all requests agree (the usual
 * case), so nothing is allocated.
 */
export function outputUnion(requests: readonly ScheduledRequest[]): string[] {
  const first = requests[0].outputNames;
  let i = 1;
  while (i < requests.length && sameNames(first, requests[i].outputNames)) i++;
  if (i === requests.length) return first;
  const union = first.slice();
  const seen = new Set(union);
  for (; i < requests.length; i++) {
    for (const n of requests[i].outputNames) {
      if (!seen.has(n)) {
        seen.add(n);
        union.push(n);
      }
    }
  }
  return union;
}

/**
 * `wanted` picked out of `tensors` (which are in `union` order). Returns `tensors` itself
 * when `wanted` is the union.
 */
export function selectOutputs(tensors: Tensor[], union: readonly string[], wanted: readonly string[]): Tensor[] {
  if (sameNames(union, wanted)) return tensors;
  const out = new Array<Tensor>(wanted.length);
  for (let i = 0; i < wanted.length; i++) {
    const at = union.indexOf(wanted[i]);
    out[i] = tensors[at];
  }
  return out;
}
