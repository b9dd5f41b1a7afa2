/**
 * Content-addressed blob transfer (`/infermesh/blob/1.0.0`): how a browser peer (or a fresh
 * node) gets model files from a peer that has them, by SHA-256.
 *
 * Wire: the caller opens a stream and sends one length-prefixed `BlobRequest`; the server
 * answers length-prefixed `BlobResponse` frames: the chunks in order (the last with
 * `final = true`), or a single `BlobError`; then closes. One blob per stream (blobs are rare
 * and large; stream setup is noise next to them).
 *
 * The fetcher trusts nothing: the announced size must fit its limit before anything is
 * allocated, chunks must arrive contiguous, and the SHA-256 of the whole must equal the
 * requested hash, or it fails and returns nothing.
 */
import { InferError } from '../protocol/errors.ts';
import type { ErrorCode } from '../protocol/errors.ts';
import { BlobRequest, BlobResponse } from '../protocol/mesh-pb.ts';
import { silentLogger } from '../core/logger.ts';
import type { Logger } from '../core/logger.ts';
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { MeshNode } from './mesh-node.ts';
import { BLOB_PROTOCOL } from './protocol-ids.ts';
import { frames } from './infer-frames.ts';

/** 1 MiB chunks: large enough that framing overhead is nil, small enough to interleave with infer traffic. */
export const DEFAULT_BLOB_CHUNK_BYTES = 1 << 20;

/** 8 MiB: the largest chunk frame a fetcher reads (servers may use chunks up to this). */
export const DEFAULT_MAX_BLOB_FRAME_BYTES = 8 << 20;

/** 2 GiB: the largest blob fetched unless the caller says otherwise (ONNX's protobuf limit). */
export const DEFAULT_MAX_BLOB_BYTES = 2 ** 31;

/** 30 s without a frame ends a fetch: a stalled peer must not hold a model download forever. */
export const DEFAULT_BLOB_IDLE_TIMEOUT_MS = 30_000;

/** 16 concurrent blob streams per connection: downloads are few, each uses bandwidth not streams. */
export const DEFAULT_MAX_BLOB_STREAMS = 16;

/** Request frames are 32 bytes of hash plus two varints. */
const MAX_REQUEST_FRAME_BYTES = 1024;

/** A readable blob: its size and a ranged reader. */
export interface BlobSource {
  size: number;
  /** Bytes [offset, offset + length); may return a view. */
  read(offset: number, length: number): Uint8Array | Promise<Uint8Array>;
  /** Called once when the transfer ends (done, failed or refused): the provider may free what it holds for it. */
  close?(): void;
}

/** Looks a blob up by its lowercase hex SHA-256; undefined when this peer does not have it. */
export type BlobProvider = (sha256Hex: string) => BlobSource | undefined | Promise<BlobSource | undefined>;

/** A BlobSource over bytes in memory. */
export function blobFromBytes(bytes: Uint8Array): BlobSource {
  return { size: bytes.byteLength, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/** Lowercase hex SHA-256 of `bytes` (WebCrypto: the same in Node and browsers). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return toHex(digest);
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function fromHex(hex: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return undefined;
  return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
}

/** Options of {@link handleBlobs}. */
export interface BlobHandlerOptions {
  chunkBytes?: number;
  maxStreams?: number;
  logger?: Logger;
}

/** Serves `/infermesh/blob/1.0.0` from `provider`. Returns a function that unregisters it. */
export async function handleBlobs(node: MeshNode, provider: BlobProvider, options: BlobHandlerOptions = {}): Promise<() => Promise<void>> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_BLOB_CHUNK_BYTES;
  const log = (options.logger ?? silentLogger).child({ component: 'blob-handler' });

  async function onStream(stream: Stream, connection: Connection): Promise<void> {
    const lp = frames(stream, MAX_REQUEST_FRAME_BYTES);
    const fail = (code: ErrorCode, message: string) => lp.write(BlobResponse.encode({ error: { code, message } }));
    let source: BlobSource | undefined;
    try {
      let req: BlobRequest;
      try {
        req = BlobRequest.decode(await lp.read({ signal: AbortSignal.timeout(DEFAULT_BLOB_IDLE_TIMEOUT_MS) }));
      } catch (e) {
        await fail('INVALID_ARG', `malformed blob request (${(e as Error).message}); send one BlobRequest frame`);
        return;
      }
      const hex = req.sha256.byteLength === 32 ? toHex(req.sha256) : undefined;
      if (hex === undefined) {
        await fail('INVALID_ARG', `blob request hash is ${req.sha256.byteLength} bytes; a SHA-256 is 32`);
        return;
      }
      source = await provider(hex);
      if (source === undefined) {
        await fail('NOT_FOUND', `peer ${node.peerId.toString()} has no blob with sha256 ${hex}`);
        return;
      }
      if (req.offset > source.size) {
        await fail('INVALID_ARG', `offset ${req.offset} is past the end of blob ${hex} (${source.size} bytes)`);
        return;
      }
      const end = req.length === 0 ? source.size : Math.min(source.size, req.offset + req.length);
      let offset = req.offset;
      do {
        const n = Math.min(chunkBytes, end - offset);
        const data = (await source.read(offset, n)) as Uint8Array<ArrayBuffer>;
        if (data.byteLength !== n) throw new Error(`blob source returned ${data.byteLength} bytes for a read of ${n}`);
        await lp.write(BlobResponse.encode({ chunk: { data, offset, totalSize: source.size, final: offset + n >= end } }));
        offset += n;
      } while (offset < end);
    } catch (e) {
      log.debug('blob stream failed', { peer: connection.remotePeer.toString(), reason: (e as Error)?.message ?? String(e) });
      await fail('INTERNAL', `blob transfer failed on the serving peer: ${(e as Error)?.message ?? String(e)}`).catch(() => undefined);
    } finally {
      try {
        source?.close?.();
      } catch (e) {
        log.debug('blob source close failed', { reason: (e as Error)?.message ?? String(e) });
      }
      if (stream.status === 'open') await stream.close().catch((e: Error) => stream.abort(e));
    }
  }

  const maxStreams = options.maxStreams ?? DEFAULT_MAX_BLOB_STREAMS;
  await node.libp2p.handle(BLOB_PROTOCOL, onStream, { maxInboundStreams: maxStreams, maxOutboundStreams: maxStreams });
  return () => node.libp2p.unhandle(BLOB_PROTOCOL);
}

/** Options of {@link fetchBlob}. */
export interface FetchBlobOptions {
  /** Refuse blobs larger than this (default {@link DEFAULT_MAX_BLOB_BYTES}). */
  maxBytes?: number;
  /** Called after each chunk with bytes received so far and the total. */
  onProgress?: (received: number, total: number) => void;
  signal?: AbortSignal;
  /** Longest wait for any one frame (default {@link DEFAULT_BLOB_IDLE_TIMEOUT_MS}). */
  idleTimeoutMs?: number;
  maxFrameBytes?: number;
}

/**
 * Fetches the blob with SHA-256 `sha256` (hex) from `peer` and verifies it.
 * @throws InferError: the peer's NOT_FOUND/INVALID_ARG/INTERNAL; INVALID_ARG when the blob is
 *   over `maxBytes` or the hash is not 64 hex digits; UNAVAILABLE (retry another peer) when
 *   the connection fails, the peer stalls, sends inconsistent chunks or data whose hash does
 *   not match; CANCELLED on abort.
 */
export async function fetchBlob(node: MeshNode, peer: PeerId | string, sha256: string, options: FetchBlobOptions = {}): Promise<Uint8Array> {
  const peerId = typeof peer === 'string' ? peerIdFromString(peer) : peer;
  const who = `peer ${peerId.toString()}`;
  const hash = fromHex(sha256);
  if (hash === undefined) throw new InferError('INVALID_ARG', `blob hash '${sha256}' is not a SHA-256 (64 hexadecimal digits)`);
  const wanted = sha256.toLowerCase();
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BLOB_BYTES;
  const idle = options.idleTimeoutMs ?? DEFAULT_BLOB_IDLE_TIMEOUT_MS;
  const bad = (msg: string) => new InferError('UNAVAILABLE', `blob ${wanted} from ${who}: ${msg}; fetch it from another peer`);
  const within = () => (options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(idle)]) : AbortSignal.timeout(idle));

  let stream: Stream | undefined;
  try {
    stream = await node.libp2p.dialProtocol(peerId, BLOB_PROTOCOL, { signal: within() });
    const lp = frames(stream, options.maxFrameBytes ?? DEFAULT_MAX_BLOB_FRAME_BYTES);
    await lp.write(BlobRequest.encode({ sha256: hash as Uint8Array<ArrayBuffer>, offset: 0, length: 0 }), { signal: within() });
    let out: Uint8Array | undefined;
    let received = 0;
    for (;;) {
      const msg = BlobResponse.decode(await lp.read({ signal: within() }));
      if (msg.error !== undefined) {
        const code = msg.error.code as ErrorCode;
        throw new InferError(['NOT_FOUND', 'INVALID_ARG', 'INTERNAL'].includes(code) ? code : 'UNAVAILABLE', `${who}: ${msg.error.message}`);
      }
      const c = msg.chunk;
      if (c === undefined) throw bad('a frame carried neither a chunk nor an error');
      if (out === undefined) {
        if (c.totalSize > maxBytes) {
          throw new InferError('INVALID_ARG', `blob ${wanted} is ${c.totalSize} bytes, over the limit of ${maxBytes}; raise maxBytes to fetch it`);
        }
        out = new Uint8Array(c.totalSize);
      }
      if (c.offset !== received || c.totalSize !== out.byteLength || received + c.data.byteLength > out.byteLength) {
        throw bad(`chunk at offset ${c.offset} (${c.data.byteLength} bytes, total ${c.totalSize}) does not continue at ${received} of ${out.byteLength}`);
      }
      out.set(c.data, received);
      received += c.data.byteLength;
      options.onProgress?.(received, out.byteLength);
      if (c.final) break;
    }
    if (received !== out.byteLength) throw bad(`transfer ended after ${received} of ${out.byteLength} bytes`);
    const got = await sha256Hex(out);
    if (got !== wanted) throw bad(`content hashes to ${got}, not the requested hash (corrupt copy)`);
    await stream.close().catch(() => undefined);
    return out;
  } catch (e) {
    stream?.abort(e instanceof Error ? e : new Error(String(e)));
    if (options.signal?.aborted) throw new InferError('CANCELLED', `blob ${wanted} fetch from ${who} was cancelled`, 'CANCELED');
    if ((e as Error)?.name === 'InferError') throw e;
    throw bad(`transfer failed (${(e as Error)?.message ?? String(e)})`);
  }
}
