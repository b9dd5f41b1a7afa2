/**
 * The serving side of the infer stream protocol (see infer-frames.ts for the wire): decodes each
 * request within the decode limits, refuses at once when admission control says the host is
 * full (OVERLOADED) or the deadline already passed (DEADLINE_EXCEEDED), runs it with a signal
 * that fires when the caller resets the stream or the deadline passes, and answers a response
 * or a MeshError. Requests on one stream are served one after another.
 */
import { InferError, toWireError } from '../protocol/errors.ts';
import type { WireError } from '../protocol/errors.ts';
import type { InferRequest, InferResponse } from '../protocol/infer.ts';
import { resolveDecodeLimits } from '../protocol/limits.ts';
import type { DecodeLimits } from '../protocol/limits.ts';
import { decodeMeshInferRequest, encodeMeshInferResponse } from '../protocol/mesh-infer-codec.ts';
import { systemClock } from '../core/clock.ts';
import type { Clock } from '../core/clock.ts';
import { silentLogger } from '../core/logger.ts';
import type { Logger } from '../core/logger.ts';
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import type { MeshNode } from './mesh-node.ts';
import { INFER_PROTOCOL } from './protocol-ids.ts';
import { DEFAULT_MAX_INFER_STREAMS, frames } from './infer-frames.ts';

/** What the serving function gets besides the request. */
export interface MeshServeOptions {
  /** Fires when the caller cancels (resets the stream), the connection drops, or the deadline passes. */
  signal: AbortSignal;
  /** Absolute deadline (unix ms) the caller set, if any; forward it to further hops. */
  deadlineUnixMs?: number;
  /** The calling peer. */
  peer: PeerId;
  /** The caller's trace id, for logs. */
  traceId?: string;
}

/** Runs one request locally (typically `InferenceServer.infer`). Rejects with an InferError. */
export type MeshServeFn = (req: InferRequest, opts: MeshServeOptions) => Promise<InferResponse>;

/** Options of {@link handleInfer}. */
export interface InferHandlerOptions {
  /** Decode bounds for requests (default: protocol/limits.ts defaults). */
  limits?: DecodeLimits;
  /** Largest request frame read (default: `limits.maxBodyBytes`). */
  maxFrameBytes?: number;
  /**
   * Admission control: called before each request; `false` refuses it at once with OVERLOADED
   * (retryable) so the caller tries another peer instead of queueing here.
   */
  admit?: () => boolean;
  /** Concurrent infer streams per connection and direction (default {@link DEFAULT_MAX_INFER_STREAMS}). */
  maxStreams?: number;
  /** Clock for deadlines (wall time) and the deadline timer. */
  clock?: Clock;
  logger?: Logger;
}

/** Counters of a handler, for tests and metrics. */
export interface InferHandlerStats {
  /** Streams accepted. */
  streams: number;
  /** Requests answered (response or error). */
  requests: number;
  /** Requests cancelled by the caller while being served. */
  cancelled: number;
}

/** A registered handler: its counters and how to unregister it. */
export interface InferHandler {
  readonly stats: InferHandlerStats;
  /** Unregisters the protocol; streams being served finish their current request. */
  stop(): Promise<void>;
}

/** Rejects with the signal's reason once it aborts. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

const cancelledByCaller = () => new DOMException('the caller cancelled the request', 'AbortError');
const deadlinePassed = () => new DOMException('the request deadline passed', 'TimeoutError');

/**
 * Serves `/infermesh/infer/1.0.0` on `node` with `serve`. Register after `node.start()` or
 * before; libp2p keeps the handler across restarts of the node.
 */
export async function handleInfer(node: MeshNode, serve: MeshServeFn, options: InferHandlerOptions = {}): Promise<InferHandler> {
  const limits = options.limits ?? resolveDecodeLimits();
  const maxFrame = options.maxFrameBytes ?? limits.maxBodyBytes;
  const clock = options.clock ?? systemClock;
  const log = (options.logger ?? silentLogger).child({ component: 'infer-handler' });
  const self = node.peerId.toString();
  const stats: InferHandlerStats = { streams: 0, requests: 0, cancelled: 0 };
  const maxStreams = options.maxStreams ?? DEFAULT_MAX_INFER_STREAMS;

  /** Produces the answer frame for one request frame; never throws. */
  async function answer(frame: Uint8Array, peer: PeerId, gone: AbortSignal): Promise<Uint8Array> {
    const fail = (error: WireError) => encodeMeshInferResponse({ error });
    let env;
    try {
      env = decodeMeshInferRequest(frame, limits);
    } catch (e) {
      return fail(toWireError(e));
    }
    if (options.admit && !options.admit()) {
      return fail({ code: 'OVERLOADED', message: `peer ${self} is at capacity and refused the request; send it to another peer`, reason: 'REJECTED' });
    }
    const deadline = env.deadlineUnixMs;
    const now = clock.epochMs();
    if (deadline !== undefined && deadline <= now) {
      return fail({
        code: 'DEADLINE_EXCEEDED',
        message: `the request's deadline passed ${Math.round(now - deadline)} ms before peer ${self} received it; `
          + 'allow more time, or check the clocks of both peers (deadlines are absolute wall-clock times)',
        reason: 'OTHER',
      });
    }
    const ac = new AbortController();
    const onGone = () => ac.abort(cancelledByCaller());
    gone.addEventListener('abort', onGone, { once: true });
    const timer = deadline === undefined ? undefined : clock.setTimer(() => ac.abort(deadlinePassed()), deadline - now);
    try {
      // stop waiting at the deadline or cancellation even when `serve` ignores its signal
      const response = await Promise.race([
        serve(env.request, { signal: ac.signal, deadlineUnixMs: deadline, peer, traceId: env.traceId }),
        aborted(ac.signal),
      ]);
      return encodeMeshInferResponse({ response });
    } catch (e) {
      if (ac.signal.aborted && (ac.signal.reason as Error)?.name === 'TimeoutError') {
        return fail({ code: 'DEADLINE_EXCEEDED', message: `the request's deadline passed while peer ${self} was serving it`, reason: 'OTHER' });
      }
      return fail(toWireError(e));
    } finally {
      if (timer !== undefined) clock.clearTimer(timer);
      gone.removeEventListener('abort', onGone);
    }
  }

  async function onStream(stream: Stream, connection: Connection): Promise<void> {
    stats.streams++;
    const peer = connection.remotePeer;
    const lp = frames(stream, maxFrame);
    const gone = new AbortController();
    const onClose = () => gone.abort(cancelledByCaller());
    stream.addEventListener('close', onClose, { once: true });
    try {
      while (!gone.signal.aborted) {
        let frame: Uint8Array;
        try {
          frame = (await lp.read({ signal: gone.signal })).subarray();
        } catch (e) {
          // the caller closed the stream (normal end of reuse), reset it, or sent an oversized frame
          if ((e as Error).name === 'InvalidDataLengthError') {
            const error = new InferError('INVALID_ARG', `request frame exceeds ${maxFrame} bytes, the infer frame limit of peer ${self}`);
            await lp.write(encodeMeshInferResponse({ error: toWireError(error) }), { signal: gone.signal }).catch(() => undefined);
            stream.abort(error);
          }
          break;
        }
        const reply = await answer(frame, peer, gone.signal);
        if (gone.signal.aborted) {
          stats.cancelled++;
          break;
        }
        stats.requests++;
        await lp.write(reply, { signal: gone.signal });
      }
    } catch (e) {
      log.debug('infer stream ended with an error', { peer: peer.toString(), reason: (e as Error)?.message ?? String(e) });
    } finally {
      stream.removeEventListener('close', onClose);
      if (stream.status === 'open') await stream.close().catch((e: Error) => stream.abort(e));
    }
  }

  await node.libp2p.handle(INFER_PROTOCOL, onStream, { maxInboundStreams: maxStreams, maxOutboundStreams: maxStreams });
  return {
    stats,
    stop: () => node.libp2p.unhandle(INFER_PROTOCOL),
  };
}
