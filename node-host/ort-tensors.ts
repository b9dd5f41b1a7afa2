/**
 * Pure conversions between infermesh's protocol tensors and what onnxruntime-node takes and
 * gives, shared by the main thread (inputs are checked and converted before they are posted)
 * and the session worker (signatures); what onnxruntime-web shares lives in
 * protocol/ort-tensor-map.ts. Does not import onnxruntime-node: ORT's values are described
 * structurally, by the fields read here.
 */
import type { ModelSignature, TensorSignature } from '../core/model-config.ts';
import { ORT_TO_DATATYPE, toOrtInput } from '../protocol/ort-tensor-map.ts';
import type { Tensor } from '../protocol/tensor.ts';
import { transferList } from '../protocol/tensor-transfer.ts';
import type { WireInput } from './ort-protocol.ts';

/** The message of anything thrown. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String((e as { message?: unknown } | null)?.message ?? e);
}

/**
 * ORT's native errors start with a source location and the failed check
 * (`/onnxruntime_src/...cc:136 ... was false. Failed to get a WebGPU adapter: ...`); keeps
 * the sentence after the check, which is the part a human can act on.
 */
export function ortReason(e: unknown): string {
  const m = errorMessage(e).trim();
  const i = m.lastIndexOf(' was false. ');
  return m.startsWith('/') && i >= 0 ? m.slice(i + ' was false. '.length) : m;
}

/**
 * A protocol tensor as the worker needs it, checked on the main thread so a bad request
 * fails before it is posted (protocol/ort-tensor-map.ts). Typed arrays are copied into a buffer
 * of their own (`ownCopy`): the caller's array may be a view into a large shared pooled
 * buffer (structured clone would copy all of it) or into a SharedArrayBuffer (clone would
 * share it with a worker still reading after an abort), and the copy can be transferred, not
 * copied again.
 */
export function toWireInput(t: Tensor): WireInput {
  return toOrtInput(t, 'onnxruntime-node');
}

/** The buffers of `inputs` to transfer: all of them are the copies toWireInput made. */
export function inputTransferList(inputs: readonly WireInput[]): ArrayBuffer[] {
  return transferList(inputs.map((t) => t.data));
}

/** What the worker reads of ORT's input/output metadata (`Ort.InferenceSession.ValueMetadata`). */
export type OrtValueMetadataLike =
  | { readonly name: string; readonly isTensor: false }
  | { readonly name: string; readonly isTensor: true; readonly type: string; readonly shape: readonly (number | string)[] };

/** ORT's input/output metadata as infermesh signatures; symbolic dimensions become -1. */
export function toSignature(meta: readonly OrtValueMetadataLike[], what: string): TensorSignature[] {
  return meta.map((m) => {
    if (!m.isTensor) throw new Error(`${what} '${m.name}' is not a tensor (sequence/map); only tensor inputs and outputs are served`);
    const datatype = ORT_TO_DATATYPE[m.type];
    if (!datatype) throw new Error(`${what} '${m.name}' has ORT type '${m.type}', which has no KServe datatype`);
    return { name: m.name, datatype, shape: m.shape.map((d) => (typeof d === 'number' ? d : -1)) };
  });
}

/** Both sides of a session's signature. */
export function sessionSignature(inputs: readonly OrtValueMetadataLike[], outputs: readonly OrtValueMetadataLike[]): ModelSignature {
  return { inputs: toSignature(inputs, 'input'), outputs: toSignature(outputs, 'output') };
}
