/**
 * The one tensor shape that crosses every boundary (HTTP, gRPC, mesh, worker, backend):
 * plain data, serialisable, transferable. See ARCHITECTURE-GUIDE §2.
 */
import type { DataType, TypedTensorArray } from './datatypes.ts';

/** Tensor contents: a typed array for fixed-size types, one Uint8Array per element for BYTES. */
export type TensorData = TypedTensorArray | Uint8Array[];

/** A named tensor. `shape` is the full shape (batch dimension included when there is one). */
export interface Tensor {
  name: string;
  datatype: DataType;
  shape: number[];
  data: TensorData;
}

/** Number of elements of a shape (1 for a scalar shape `[]`). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Number of elements actually held by `data`. */
export function dataLength(data: TensorData): number {
  return data.length;
}
