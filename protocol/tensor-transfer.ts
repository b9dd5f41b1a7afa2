/**
 * Moving tensors to and from a worker (a Node worker thread or a browser Worker) by transfer
 * instead of structured-clone copies: each input is copied once into a buffer of its own,
 * then that buffer moves.
 */
import type { TypedTensorArray } from './datatypes.ts';
import type { Tensor } from './tensor.ts';

/** The typed-array classes a tensor may use, base classes only (a Node Buffer is a Uint8Array). */
const TYPED_ARRAY_CLASSES = [
  Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
] as const;

/**
 * A copy of `a` on an ArrayBuffer of its own, of exactly its length, as a plain typed array.
 * Inputs are often views into a larger buffer (a mesh frame, an HTTP body, Node's shared
 * Buffer pool) that must stay usable by their owner, and a SharedArrayBuffer cannot be
 * transferred at all: the copy is the one thing that moves. Not `a.slice()`: a Node Buffer's
 * slice is a view of the same memory, and transferring it would detach the caller's buffer.
 */
export function ownCopy<T extends TypedTensorArray>(a: T): T {
  const bytes = new Uint8Array(a.byteLength);
  bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  const Ctor = TYPED_ARRAY_CLASSES.find((C) => a instanceof C) ?? (a.constructor as new (b: ArrayBuffer) => T);
  return new (Ctor as new (b: ArrayBuffer) => T)(bytes.buffer);
}

/**
 * The distinct ArrayBuffers behind `parts` that can be transferred: never one twice (a
 * DataCloneError), never a SharedArrayBuffer (those are shared, not moved); strings are skipped.
 */
export function transferList(parts: readonly (TypedTensorArray | string[] | Uint8Array[])[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const p of parts) {
    const arrays = Array.isArray(p) ? p.filter((x): x is Uint8Array => typeof x !== 'string') : [p];
    for (const a of arrays) if (a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  }
  return [...out];
}

/** The buffers of the outputs a worker hands back without a copy. */
export function outputTransferList(outputs: readonly Tensor[]): ArrayBuffer[] {
  return transferList(outputs.map((t) => t.data));
}
