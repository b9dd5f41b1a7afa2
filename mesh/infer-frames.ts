/**
 * What both sides of the infer stream protocol (`/infermesh/infer/1.0.0`) share: frame size
 * bounds and the length-prefixed framing over a libp2p 3 stream.
 *
 * Wire: a stream carries request/response pairs, one at a time. Each message is an unsigned
 * varint length followed by that many bytes of protobuf (`MeshInferRequest` from the caller,
 * `MeshInferResponse` back). The caller may send the next request on the same stream after
 * reading a response (stream reuse: no per-request stream negotiation); it closes or resets
 * the stream to stop, and a reset mid-request cancels that request on the serving side.
 */
import { lpStream } from '@libp2p/utils';
import type { LengthPrefixedStream } from '@libp2p/utils';
import type { Stream } from '@libp2p/interface';
import { DEFAULT_DECODE_LIMITS } from '../protocol/limits.ts';

/**
 * The largest frame either side reads: the protocol's body limit (256 MiB by default, see
 * protocol/limits.ts), so anything the HTTP frontend accepts can be forwarded. it-length-prefixed
 * and @libp2p/utils default to 4 MiB, which would cut off a single 1024×1024 FP32 image.
 */
export const DEFAULT_MAX_INFER_FRAME_BYTES = DEFAULT_DECODE_LIMITS.maxBodyBytes;

/**
 * 256 streams per connection and direction for this protocol (libp2p: 32 inbound, 64
 * outbound). One in-flight request holds one stream; a burst beyond the limit is refused by
 * the muxer and surfaces as UNAVAILABLE, so this bounds concurrency per peer pair.
 */
export const DEFAULT_MAX_INFER_STREAMS = 256;

/** Bytes a varint length prefix can take for frames up to 2^53 (more than any limit here). */
const MAX_VARINT_BYTES = 8;

/**
 * Length-prefixed framing over `stream` with an explicit frame bound. The read buffer must hold
 * a whole frame plus its prefix: @libp2p/utils aborts the stream when its buffer (4 MiB by
 * default) overflows.
 */
export function frames(stream: Stream, maxFrameBytes: number): LengthPrefixedStream<Stream> {
  return lpStream(stream, { maxDataLength: maxFrameBytes, maxBufferSize: maxFrameBytes + MAX_VARINT_BYTES });
}

/** True when a stream can carry another request/response pair. */
export function reusable(stream: Stream): boolean {
  return stream.status === 'open' && stream.writeStatus === 'writable' && stream.readStatus === 'readable'
    && stream.remoteWriteStatus === 'writable';
}
