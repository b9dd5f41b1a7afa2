/**
 * Turning several requests into one batched execution and back: inputs are concatenated
 * along dimension 0, outputs are sliced along dimension 0 (COMPAT-NOTES §3.4; Triton's
 * backends do the same when the dynamic batcher hands them several requests).
 *
 * Cost model: one allocation and one `set` per input per batch; outputs are split into
 * `subarray` views of the batch output (no copies), so a request's answer shares memory with
 * the batch — fine because nothing writes to outputs after the backend returns them.
 */
import { allocTyped } from '../protocol/datatypes.ts';
import type { TypedTensorArray } from '../protocol/datatypes.ts';
import { InferError, internal } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/tensor.ts';

/** Elements in one row (everything but dimension 0) of `shape`. */
function rowElements(shape: readonly number[]): number {
  let n = 1;
  for (let i = 1; i < shape.length; i++) n *= shape[i];
  return n;
}

/** The tensor called `name` in `inputs` (requests carry inputs in any order). */
function findTensor(inputs: readonly Tensor[], name: string, hint: number): Tensor | undefined {
  // Requests of one batch usually list inputs in the same order: try the same index first.
  const t = inputs[hint];
  if (t !== undefined && t.name === name) return t;
  for (const x of inputs) if (x.name === name) return x;
  return undefined;
}

/** True when `a` and `b` have equal dimensions after dimension 0. */
function sameRowShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 1; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Concatenates each named input of every request along dimension 0, returning one tensor per
 * name in `inputNames` order. With exactly one request its own tensors are returned untouched
 * (zero copy). Throws INTERNAL when requests disagree on datatype or non-batch dimensions —
 * the batcher groups requests so that this cannot happen.
 */
export function concatBatch(requests: readonly (readonly Tensor[])[], inputNames: readonly string[]): Tensor[] {
  const out: Tensor[] = new Array<Tensor>(inputNames.length);
  if (requests.length === 1) {
    const only = requests[0];
    for (let i = 0; i < inputNames.length; i++) {
      const t = findTensor(only, inputNames[i], i);
      if (t === undefined) throw internal(`batch assembly: input '${inputNames[i]}' is missing from the request`);
      out[i] = t;
    }
    return out;
  }
  for (let i = 0; i < inputNames.length; i++) {
    const name = inputNames[i];
    const parts = new Array<Tensor>(requests.length);
    let rows = 0;
    let elements = 0;
    for (let r = 0; r < requests.length; r++) {
      const t = findTensor(requests[r], name, i);
      if (t === undefined) throw internal(`batch assembly: input '${name}' is missing from request ${r} of the batch`);
      const first = parts[0] ?? t;
      if (t.datatype !== first.datatype || !sameRowShape(t.shape, first.shape) || t.shape.length === 0) {
        throw internal(`batch assembly: input '${name}' of request ${r} has ${t.datatype}${JSON.stringify(t.shape)}, `
          + `which cannot be batched with ${first.datatype}${JSON.stringify(first.shape)}`);
      }
      parts[r] = t;
      rows += t.shape[0];
      elements += t.data.length;
    }
    const head = parts[0];
    const shape = head.shape.slice();
    shape[0] = rows;
    if (head.datatype === 'BYTES') {
      const data: Uint8Array[] = new Array<Uint8Array>(elements);
      let k = 0;
      for (const p of parts) for (const el of p.data as Uint8Array[]) data[k++] = el;
      out[i] = { name, datatype: 'BYTES', shape, data };
    } else {
      const data = allocTyped(head.datatype, elements);
      let offset = 0;
      for (const p of parts) {
        // Same datatype → same typed-array kind, so `set` is a straight memory copy.
        (data as { set(a: ArrayLike<number | bigint>, o: number): void }).set(p.data as TypedTensorArray, offset);
        offset += p.data.length;
      }
      out[i] = { name, datatype: head.datatype, shape, data };
    }
  }
  return out;
}

/**
 * Slices each batched output along dimension 0 into one output list per request:
 * `result[r]` holds every output (in `outputs` order) for the request of batch size
 * `batchSizes[r]`. Typed data become `subarray` views; BYTES become array slices. With one
 * request its outputs are returned untouched once their leading dimension is checked.
 *
 * Throws INTERNAL (reason BACKEND) naming the output when its leading dimension is not the
 * batch total or its data does not fill its shape: the model does not batch along dimension 0
 * although its config says max_batch_size > 0.
 */
export function splitBatch(outputs: readonly Tensor[], batchSizes: readonly number[]): Tensor[][] {
  let total = 0;
  for (const b of batchSizes) total += b;
  for (const t of outputs) {
    const lead = t.shape.length === 0 ? undefined : t.shape[0];
    if (lead !== total) {
      throw new InferError('INTERNAL', `output '${t.name}' has shape ${JSON.stringify(t.shape)} but the batch holds ${total} `
        + `row(s): the model does not batch along dimension 0 although its config sets max_batch_size > 0`, 'BACKEND');
    }
    if (t.data.length !== total * rowElements(t.shape)) {
      throw new InferError('INTERNAL', `output '${t.name}' holds ${t.data.length} element(s), not the ${total * rowElements(t.shape)} `
        + `its shape ${JSON.stringify(t.shape)} needs`, 'BACKEND');
    }
  }
  const result: Tensor[][] = new Array<Tensor[]>(batchSizes.length);
  if (batchSizes.length === 1) {
    result[0] = outputs as Tensor[];
    return result;
  }
  for (let r = 0; r < batchSizes.length; r++) result[r] = new Array<Tensor>(outputs.length);
  for (let o = 0; o < outputs.length; o++) {
    const t = outputs[o];
    const row = rowElements(t.shape);
    let start = 0;
    for (let r = 0; r < batchSizes.length; r++) {
      const rows = batchSizes[r];
      const end = start + rows * row;
      const shape = t.shape.slice();
      shape[0] = rows;
      const data = t.datatype === 'BYTES'
        ? (t.data as Uint8Array[]).slice(start, end)
        : (t.data as TypedTensorArray).subarray(start, end);
      result[r][o] = { name: t.name, datatype: t.datatype, shape, data };
      start = end;
    }
  }
  return result;
}
