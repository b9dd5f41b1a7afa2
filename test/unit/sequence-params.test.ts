/**
 * Sequence ids as the codecs hand them over: a gRPC int64 `sequence_id` beyond ±2^53 (a C++
 * client sends a uint64 id above 2^63 as the negative int64 with the same bits) stays a
 * numeric id — its uint64 value — and a model with a UINT64 CORRID control takes it.
 */
import { describe, expect, test } from 'vitest';
import { checkCorrid, type SequenceControls } from '../../core/sequence-controls.ts';
import { sequenceFlagsOf, sequenceIdAsUint64, sequenceKey } from '../../core/sequence-params.ts';
import { decodeGrpcInferRequest } from '../../protocol/grpc-infer.ts';
import { ModelInferRequest } from '../../protocol/inference-pb.ts';
import type { InferParameter } from '../../protocol/inference-pb.ts';

/** A gRPC ModelInferRequest with only parameters, decoded as the gRPC endpoint does. */
function viaGrpc(params: Record<string, InferParameter>) {
  const bytes = ModelInferRequest.encode({
    modelName: 'seq', modelVersion: '', id: '', inputs: [], outputs: [], rawInputContents: [], parameters: new Map(Object.entries(params)),
  });
  return decodeGrpcInferRequest(bytes).parameters;
}

const UINT64_CORRID = { corrid: { name: 'CORRID', datatype: 'UINT64' } } as SequenceControls;

describe('a gRPC sequence_id beyond ±2^53', () => {
  test('a negative int64 below -2^53 is the uint64 with its bits, and a UINT64 CORRID model takes it', () => {
    const flags = sequenceFlagsOf(viaGrpc({ sequence_id: { int64Param: -(2n ** 62n) }, sequence_start: { boolParam: true } }));
    expect(flags).toEqual({ id: 2n ** 64n - 2n ** 62n, start: true, end: false });
    expect(sequenceIdAsUint64(flags!.id)).toBe(2n ** 64n - 2n ** 62n);
    expect(() => checkCorrid(UINT64_CORRID, flags!.id, 'seq')).not.toThrow();
  });

  test('an int64 above 2^53 stays numeric: not the same sequence as the string with its digits', () => {
    const big = 2n ** 53n + 3n;
    const flags = sequenceFlagsOf(viaGrpc({ sequence_id: { int64Param: big } }));
    expect(flags?.id).toBe(big);
    expect(sequenceKey(flags!.id)).not.toBe(sequenceKey(big.toString()));
    // the same id given small enough to be a number has the same key
    expect(sequenceKey(sequenceFlagsOf({ sequence_id: -1 })!.id)).toBe(sequenceKey(sequenceFlagsOf(viaGrpc({ sequence_id: { int64Param: -1n } }))!.id));
  });

  test('bigint ids outside the 64-bit range are refused; 0n is no sequence', () => {
    expect(() => sequenceFlagsOf({ sequence_id: 2n ** 64n })).toThrow(/must be an unsigned 64-bit integer or a string, got 18446744073709551616/);
    expect(() => sequenceFlagsOf({ sequence_id: -(2n ** 63n) - 1n })).toThrow(/must be an unsigned 64-bit integer/);
    expect(sequenceFlagsOf({ sequence_id: 0n })).toBeUndefined();
  });
});
