/**
 * The typed inference request and response every transport decodes into and encodes from.
 * Shapes follow KServe v2 (shared/reference/kserve-v2-required_api.md) with tensor data
 * already decoded into typed arrays (see tensor.ts).
 */
import type { Tensor } from './tensor.ts';

/**
 * A request/response parameter value. int64 values beyond 2^53 travel as strings, except a
 * request's `sequence_id`: the binary codecs (gRPC, mesh) give it as a bigint (its uint64
 * value) so a large numeric id stays numeric (protocol/mesh-infer-codec.ts). JSON never
 * produces a bigint.
 */
export type ParamValue = string | number | boolean | bigint;

/** KServe v2 `$parameters`. */
export type Parameters = Record<string, ParamValue>;

/** An input tensor with its per-input parameters (`binary_data_size`, …). */
export interface InferInput extends Tensor {
  parameters?: Parameters;
}

/** A requested output (`binary_data`, `classification`, …). */
export interface RequestedOutput {
  name: string;
  parameters?: Parameters;
}

/** A decoded inference request. */
export interface InferRequest {
  modelName: string;
  /** Requested version as given ("" or undefined = the server picks the latest READY version). */
  modelVersion?: string;
  id?: string;
  parameters: Parameters;
  inputs: InferInput[];
  /** Outputs to return; undefined = all outputs of the model. */
  outputs?: RequestedOutput[];
}

/** A decoded inference response. */
export interface InferResponse {
  modelName: string;
  modelVersion: string;
  id?: string;
  parameters?: Parameters;
  outputs: Tensor[];
}
