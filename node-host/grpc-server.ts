/**
 * The KServe v2 / Triton gRPC endpoint: `inference.GRPCInferenceService` (all 20 RPCs of
 * COMPAT-NOTES §2.1) and `grpc.health.v1.Health`, on @grpc/grpc-js with the protons codecs of
 * protocol/ (no proto-loader). Every RPC maps to the same InferenceServer method the HTTP
 * endpoint uses (node-host/http-server.ts), and infer goes through the mesh when one is
 * attached, so gRPC reaches remote models too.
 *
 * - Requests decode with the shared infer codec (protocol/mesh-infer-codec.ts via
 *   protocol/grpc-infer.ts) under the decode limits; answers always carry raw_output_contents.
 * - Errors become Triton's gRPC status codes (§2.6: protocol/errors.ts GRPC_STATUS) with the
 *   same messages as over HTTP; on ModelStreamInfer they come back in-band (`error_message`)
 *   and the stream stays open, unless the client opted into `triton_grpc_error: true`.
 * - A client that cancels, or whose deadline passes, cancels its queued request (the deadline
 *   also travels to the mesh peer that runs it).
 * - Shared memory, trace and log settings answer UNIMPLEMENTED, as Triton does for what it was
 *   built without (none of them is in the ServerMetadata extensions).
 * - `drain` stops like the HTTP server: readiness (ServerReady, health) turns false at once,
 *   everything that arrives is still answered, and the listener closes once idle.
 */
import {
  Server, ServerCredentials, status as GrpcStatus,
  type sendUnaryData, type ServerDuplexStream, type ServerErrorResponse, type ServerUnaryCall, type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { GRPC_STATUS, InferError, invalidArg, isInferError, toWireError, unsupported } from '../protocol/errors.ts';
import type { InferRequest, InferResponse } from '../protocol/infer.ts';
import * as pb from '../protocol/inference-pb.ts';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from '../protocol/limits.ts';
import { encodeModelInferResponse } from '../protocol/mesh-infer-codec.ts';
import {
  decodeGrpcInferRequest, encodeStreamInferError, encodeStreamInferResponse, grpcInferRequestFromProto, parseGrpcInferRequest,
} from '../protocol/grpc-infer.ts';
import type { InferenceServer } from '../core/inference-server.ts';
import type { Logger } from '../core/logger.ts';
import { MODEL_CONFIG } from '../core/model-config-schema.ts';
import { grpcRepositoryParameters, readLoadParameters, readUnloadParameters } from '../protocol/repository-parameters.ts';
import { encodeProtoBinary } from '../core/proto-binary.ts';
import type { MeshService } from '../mesh/mesh-service.ts';
import { healthServerDefinition, inferenceServerDefinition, type InferenceRpc } from './grpc-service-definition.ts';
import { GrpcHealthService } from './grpc-health.ts';
import { modelMetadataToProto, repositoryIndexToProto, serverMetadataToProto, statisticsToProto } from './grpc-convert.ts';
import { DEFAULT_MAX_BODY_BYTES } from './http-server.ts';
import { DRAIN_QUIET_MS, DrainTracker } from './drain-tracker.ts';
import { orRemote } from './mesh-fallback.ts';

/** Triton's default gRPC port (COMPAT-NOTES §0). */
export const DEFAULT_GRPC_PORT = 8001;

/**
 * Largest request message by default: the HTTP endpoint's body limit, so one request is
 * accepted or refused alike on both transports (Triton allows INT32_MAX on gRPC, §2.3).
 */
export const DEFAULT_GRPC_MAX_MESSAGE_BYTES = DEFAULT_MAX_BODY_BYTES;

/** Triton's opt-in stream header: errors end the stream with a status instead of in-band (§2.5). */
export const TRITON_GRPC_ERROR_HEADER = 'triton_grpc_error';

/**
 * Requests one ModelStreamInfer call may have in flight (received, not yet answered) before
 * the server stops reading it. Without a limit a client can pipeline requests without end and
 * they all sit in memory and in the model queues; 64 keeps a pipelining client busy (several
 * full batches) while HTTP/2 flow control holds the rest at the client.
 */
export const DEFAULT_MAX_STREAM_PENDING = 64;

/** Options of the gRPC endpoint. */
export interface GrpcServerOptions {
  host?: string;
  port?: number;
  /** Largest request message accepted (grpc-js `grpc.max_receive_message_length`). */
  maxMessageBytes?: number;
  /** Decode limits for infer requests; `maxBodyBytes` defaults to `maxMessageBytes`. */
  limits?: DecodeLimits;
  /** When set, infer, metadata and readiness cover every model of the mesh. */
  mesh?: MeshService;
  /** Requests in flight per ModelStreamInfer call before reading pauses (DEFAULT_MAX_STREAM_PENDING). */
  maxStreamPending?: number;
  logger: Logger;
}

type Unary = (request: Buffer, call: ServerUnaryCall<Buffer, Uint8Array>) => Uint8Array | Promise<Uint8Array>;

/** One open ModelStreamInfer call. */
interface OpenStream {
  call: ServerDuplexStream<Buffer, Uint8Array>;
  /** Requests received and not yet answered. */
  pending: number;
  /** The client finished sending (half-close). */
  ended: boolean;
  /** The server ended it (or it was cancelled): nothing more is written. */
  closed: boolean;
  /** Reading is paused (too many pending requests, or the client is not reading answers). */
  paused: boolean;
  /** The last write found the send buffer full; cleared on 'drain'. */
  writeBlocked: boolean;
  /** Its cancellation and deadline. */
  signal: CallSignal;
}

/** How a call's cancellation and deadline reach the request: a signal and the time left. */
interface CallSignal {
  signal: AbortSignal;
  /** Milliseconds until the call's deadline; undefined when it has none. */
  timeoutMs?: number;
  /** Aborts the requests of the call (a stream that ended while some were still running). */
  abort(reason: InferError): void;
  dispose(): void;
}

/** A model version string as Triton accepts it: empty (the server picks) or a non-negative integer. */
function checkVersion(version: string): string | undefined {
  if (version === '') return undefined;
  if (!/^[0-9]+$/.test(version)) {
    throw invalidArg(`failed to get model version from specified version string '${version}' (value must be a non-negative integer)`);
  }
  return version;
}

/** Decodes a small request message; a malformed one is the client's error (INVALID_ARGUMENT). */
function decodeMessage<T, O>(codec: { decode(buf: Uint8Array, opts?: O): T }, bytes: Uint8Array, what: string, opts?: O): T {
  try {
    return codec.decode(bytes, opts);
  } catch (e) {
    throw invalidArg(`${what} is not a valid protobuf message (${(e as Error).message}); check that the client speaks inference.GRPCInferenceService`);
  }
}

/** The gRPC endpoint of one InferenceServer (see the file comment): listen, drain, close. */
export class KServeGrpcServer {
  readonly #core: InferenceServer;
  readonly #opts: GrpcServerOptions;
  readonly #server: Server;
  readonly #limits: DecodeLimits;
  readonly #health: GrpcHealthService;
  readonly #streams = new Set<OpenStream>();
  /** Unary calls being handled plus stream requests not yet answered, and the last arrival: what the drain waits for. */
  readonly #tracker = new DrainTracker();
  #draining = false;

  constructor(core: InferenceServer, options: GrpcServerOptions) {
    this.#core = core;
    this.#opts = options;
    const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_GRPC_MAX_MESSAGE_BYTES;
    this.#limits = options.limits ?? { ...DEFAULT_DECODE_LIMITS, maxBodyBytes: maxMessageBytes };
    this.#server = new Server({
      'grpc.max_receive_message_length': maxMessageBytes,
      // Answers are as large as the model makes them; the client sets its own receive limit.
      'grpc.max_send_message_length': -1,
    });
    this.#health = new GrpcHealthService(() => this.#ready());
    this.#server.addService(inferenceServerDefinition, this.#handlers());
    this.#server.addService(healthServerDefinition, this.#health.handlers());
  }

  /** Starts listening; resolves with the bound port (port 0 binds a free one). */
  listen(): Promise<{ port: number }> {
    const host = this.#opts.host ?? '0.0.0.0';
    const port = this.#opts.port ?? DEFAULT_GRPC_PORT;
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(address, ServerCredentials.createInsecure(), (err, bound) => {
        if (err) {
          reject(new Error(`gRPC cannot listen on ${address}: ${err.message} (is another server using the port? pick another with --grpc-port, 0 for a free one, or turn gRPC off with --allow-grpc false)`));
          return;
        }
        resolve({ port: bound });
      });
    });
  }

  /** Calls and stream requests received and not yet answered. */
  get inflight(): number {
    return this.#tracker.inflight;
  }

  /**
   * Graceful stop (the HTTP server's drain, for gRPC): readiness turns false at once (ServerReady,
   * health NOT_SERVING), but everything that arrives is still answered. Once nothing is in flight
   * and nothing arrived for `quietMs`, open streams are ended (status OK), health watchers get
   * their last status, and the server shuts down; whatever is left at `timeoutMs` is cut off.
   */
  async drain(timeoutMs: number, quietMs = DRAIN_QUIET_MS): Promise<void> {
    this.beginDrain();
    const deadline = performance.now() + timeoutMs;
    await this.#tracker.settle(deadline, quietMs);
    for (const s of this.#streams) this.#closeStream(s);
    this.#health.close();
    const left = Math.max(0, deadline - performance.now());
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.#server.forceShutdown(); resolve(); }, left);
      this.#server.tryShutdown(() => { clearTimeout(timer); resolve(); });
    });
  }

  /**
   * Readiness turns false (ServerReady, health NOT_SERVING, pushed to Watch streams at once) but
   * requests are served as usual: the shutdown grace period, while load balancers stop sending.
   */
  beginDrain(): void {
    this.#draining = true;
    this.#health.changed();
  }

  /** Closes every connection at once (after the drain, or instead of it). */
  close(): void {
    this.#health.close();
    this.#server.forceShutdown();
  }

  #ready(): boolean {
    return !this.#draining && this.#core.isReady();
  }

  /** An error as the gRPC status Triton sends (§2.6), logged when it is not a protocol error (a bug). */
  #status(e: unknown, rpc: string): ServerErrorResponse {
    const w = toWireError(e);
    if (!isInferError(e)) this.#opts.logger.error('gRPC call failed', { rpc, reason: w.message });
    return Object.assign(new Error(w.message), { code: GRPC_STATUS[w.code] ?? GrpcStatus.UNKNOWN, details: w.message });
  }

  #unary(rpc: InferenceRpc, fn: Unary) {
    return (call: ServerUnaryCall<Buffer, Uint8Array>, callback: sendUnaryData<Uint8Array>) => {
      this.#tracker.begin();
      let result: Uint8Array | Promise<Uint8Array>;
      try {
        result = fn(call.request, call);
      } catch (e) {
        result = Promise.reject(e);
      }
      Promise.resolve(result)
        .then((bytes) => callback(null, bytes), (e: unknown) => callback(this.#status(e, rpc)))
        .finally(() => this.#tracker.end());
    };
  }

  /** The call's cancellation and deadline as one AbortSignal (ARCHITECTURE-GUIDE §3). */
  #callSignal(call: ServerUnaryCall<Buffer, Uint8Array> | ServerDuplexStream<Buffer, Uint8Array>): CallSignal {
    const abort = new AbortController();
    const onCancel = () => abort.abort(new InferError('CANCELLED', 'the client cancelled the call', 'CANCELED'));
    call.on('cancelled', onCancel);
    const d = call.getDeadline();
    const at = d instanceof Date ? d.getTime() : d;
    let timer: NodeJS.Timeout | undefined;
    let timeoutMs: number | undefined;
    if (Number.isFinite(at)) {
      timeoutMs = Math.max(1, at - Date.now());
      timer = setTimeout(() => abort.abort(new InferError('DEADLINE_EXCEEDED', `the call's deadline of ${timeoutMs} ms passed`)), timeoutMs);
    }
    return {
      signal: abort.signal,
      timeoutMs,
      abort: (reason) => { if (!abort.signal.aborted) abort.abort(reason); },
      dispose: () => {
        if (timer !== undefined) clearTimeout(timer);
        call.off('cancelled', onCancel);
      },
    };
  }

  /** Runs a request here or, with a mesh attached, on the best host for it. */
  #infer(req: InferRequest, cs: CallSignal): Promise<InferResponse> {
    const mesh = this.#opts.mesh;
    return mesh ? mesh.infer(req, { signal: cs.signal, timeoutMs: cs.timeoutMs }) : this.#core.infer(req, { signal: cs.signal });
  }

  #handlers(): UntypedServiceImplementation {
    const core = this.#core;
    const mesh = this.#opts.mesh;
    const notImplemented = (what: string, hint: string): Unary => () => {
      throw unsupported(`${what} is not implemented by infermesh (not listed in the ServerMetadata extensions); ${hint}`);
    };
    const shm = (kind: string) => notImplemented(`${kind} shared memory`, 'send tensors in raw_input_contents instead');
    const handlers: Record<Exclude<InferenceRpc, 'ModelStreamInfer'>, Unary> = {
      ServerLive: () => pb.ServerLiveResponse.encode({ live: core.isLive() }),
      ServerReady: () => pb.ServerReadyResponse.encode({ ready: this.#ready() }),
      ModelReady: (bytes) => {
        const r = decodeMessage(pb.ModelReadyRequest, bytes, 'ModelReadyRequest');
        const version = checkVersion(r.version);
        // Triton's ModelIsReady answers ready=false with an OK status for a model it does not
        // have or whose version is not ready; only a malformed request is an error.
        let ready: boolean;
        try {
          core.modelReady(r.name, version);
          ready = true;
        } catch (e) {
          const code = toWireError(e).code;
          if (code === 'NOT_FOUND') ready = mesh?.remoteMetadata(r.name, version) !== undefined;
          else if (code === 'UNAVAILABLE') ready = false;
          else throw e;
        }
        return pb.ModelReadyResponse.encode({ ready });
      },
      ServerMetadata: () => pb.ServerMetadataResponse.encode(serverMetadataToProto(core.metadata())),
      ModelMetadata: (bytes) => {
        const r = decodeMessage(pb.ModelMetadataRequest, bytes, 'ModelMetadataRequest');
        const version = checkVersion(r.version);
        const meta = orRemote(() => core.modelMetadata(r.name, version), () => mesh?.remoteMetadata(r.name, version));
        return pb.ModelMetadataResponse.encode(modelMetadataToProto(meta));
      },
      ModelInfer: async (bytes, call) => {
        const req = decodeGrpcInferRequest(bytes, this.#limits);
        const cs = this.#callSignal(call);
        try {
          return encodeModelInferResponse(await this.#infer(req, cs));
        } finally {
          cs.dispose();
        }
      },
      ModelConfig: (bytes) => {
        const r = decodeMessage(pb.ModelConfigRequest, bytes, 'ModelConfigRequest');
        const config = core.modelConfig(r.name, checkVersion(r.version));
        return pb.ModelConfigResponse.encode({ config: encodeProtoBinary(MODEL_CONFIG, config as unknown as Record<string, unknown>) });
      },
      ModelStatistics: (bytes) => {
        const r = decodeMessage(pb.ModelStatisticsRequest, bytes, 'ModelStatisticsRequest');
        const stats = r.name === '' ? core.statistics() : core.statistics(r.name, checkVersion(r.version));
        return pb.ModelStatisticsResponse.encode({ modelStats: statisticsToProto(stats.model_stats) });
      },
      RepositoryIndex: (bytes) => {
        // Triton ignores repository_name for the index (COMPAT-NOTES §1.1).
        const r = decodeMessage(pb.RepositoryIndexRequest, bytes, 'RepositoryIndexRequest');
        return pb.RepositoryIndexResponse.encode({ models: repositoryIndexToProto(core.repositoryIndex(r.ready)) });
      },
      RepositoryModelLoad: async (bytes) => {
        // A load may carry model files (`file:` bytes_params): bounded by the message limit, as over HTTP.
        const r = decodeMessage(pb.RepositoryModelLoadRequest, bytes, 'RepositoryModelLoadRequest', { limits: { parameters: this.#limits.maxParameters } });
        const name = this.#controlTarget(r.repositoryName, r.modelName);
        await core.loadModel(name, readLoadParameters(grpcRepositoryParameters(r.parameters)));
        return pb.RepositoryModelLoadResponse.encode({});
      },
      RepositoryModelUnload: async (bytes) => {
        const r = decodeMessage(pb.RepositoryModelUnloadRequest, bytes, 'RepositoryModelUnloadRequest', { limits: { parameters: this.#limits.maxParameters } });
        const name = this.#controlTarget(r.repositoryName, r.modelName);
        await core.unloadModel(name, readUnloadParameters(grpcRepositoryParameters(r.parameters)));
        return pb.RepositoryModelUnloadResponse.encode({});
      },
      SystemSharedMemoryStatus: shm('system'),
      SystemSharedMemoryRegister: shm('system'),
      SystemSharedMemoryUnregister: shm('system'),
      CudaSharedMemoryStatus: shm('CUDA'),
      CudaSharedMemoryRegister: shm('CUDA'),
      CudaSharedMemoryUnregister: shm('CUDA'),
      TraceSetting: notImplemented('trace', 'per-request timings are in ModelStatistics'),
      LogSettings: notImplemented('changing log settings', 'set --log-verbose and --log-format when starting the server'),
    };
    const out: UntypedServiceImplementation = {
      ModelStreamInfer: (call: ServerDuplexStream<Buffer, Uint8Array>) => this.#stream(call),
    };
    for (const [rpc, h] of Object.entries(handlers) as [InferenceRpc, Unary][]) out[rpc] = this.#unary(rpc, h);
    return out;
  }

  /** The model a load/unload names; a repository name is refused as Triton does (§1.1). */
  #controlTarget(repositoryName: string, modelName: string): string {
    if (repositoryName !== '') throw unsupported("'repository_name' specification is not supported");
    if (modelName === '') throw invalidArg('model_name is empty; name the model to load or unload');
    return modelName;
  }

  /**
   * ModelStreamInfer: every request is answered on the stream as soon as it completes (the
   * client matches answers by id), each with `triton_final_response: true`. A failed request
   * is answered in-band with `error_message` and the stream goes on; with the
   * `triton_grpc_error: true` header the first error ends the stream with its status instead.
   * When the client half-closes, the stream ends once every request is answered. Reading
   * pauses while `maxStreamPending` requests are in flight or the client is not reading the
   * answers (write backpressure), and requests still running when the stream ends with an
   * error or is cancelled are aborted.
   */
  #stream(call: ServerDuplexStream<Buffer, Uint8Array>): void {
    this.#tracker.touch();
    const cs = this.#callSignal(call);
    const s: OpenStream = { call, pending: 0, ended: false, closed: false, paused: false, writeBlocked: false, signal: cs };
    this.#streams.add(s);
    const statusErrors = String(call.metadata.get(TRITON_GRPC_ERROR_HEADER)[0] ?? '').toLowerCase() === 'true';
    const maxPending = this.#opts.maxStreamPending ?? DEFAULT_MAX_STREAM_PENDING;
    const flow = () => {
      const hold = !s.closed && (s.pending >= maxPending || s.writeBlocked);
      if (hold && !s.paused) call.pause();
      else if (!hold && s.paused) call.resume();
      s.paused = hold;
    };
    const write = (bytes: Uint8Array) => {
      if (!call.write(bytes)) s.writeBlocked = true;
    };
    const finish = () => {
      flow();
      if (s.ended && s.pending === 0) this.#closeStream(s);
    };
    call.on('drain', () => { s.writeBlocked = false; flow(); });
    // cancelled: every pending request of the stream is aborted, then it is forgotten
    call.on('cancelled', () => this.#forget(s, new InferError('CANCELLED', 'the client cancelled the call', 'CANCELED')));
    call.on('error', () => undefined); // a failed write after the client left: nothing to do
    call.on('end', () => { s.ended = true; finish(); });
    call.on('data', (bytes: Buffer) => {
      this.#tracker.begin();
      s.pending++;
      flow();
      let msg: pb.ModelInferRequest | undefined;
      void (async () => {
        try {
          msg = parseGrpcInferRequest(bytes, this.#limits);
          const res = await this.#infer(grpcInferRequestFromProto(msg, this.#limits), cs);
          if (!s.closed) write(encodeStreamInferResponse(res));
        } catch (e) {
          if (s.closed) return;
          if (statusErrors) {
            const status = this.#status(e, 'ModelStreamInfer');
            this.#forget(s, new InferError('CANCELLED', `the stream ended with an error from another of its requests: ${status.message}`, 'CANCELED'));
            call.emit('error', status);
            return;
          }
          const w = toWireError(e);
          if (!isInferError(e)) this.#opts.logger.error('gRPC stream request failed', { reason: w.message });
          write(encodeStreamInferError(w.message, { id: msg?.id, modelName: msg?.modelName, modelVersion: msg?.modelVersion }));
        } finally {
          s.pending--;
          this.#tracker.end();
          finish();
        }
      })();
    });
  }

  /** Ends a stream with status OK (the client half-closed and all is answered, or a drain). */
  #closeStream(s: OpenStream): void {
    if (s.closed) return;
    this.#forget(s);
    s.call.end();
  }

  /**
   * Marks a stream closed: nothing more is written to it, and its deadline timer stops. With a
   * reason (an error status, a cancel) its requests still running are aborted: no one will
   * read their answers, so they should not hold a place in a model queue.
   */
  #forget(s: OpenStream, abortReason?: InferError): void {
    s.closed = true;
    this.#streams.delete(s);
    if (abortReason !== undefined && s.pending > 0) s.signal.abort(abortReason);
    s.signal.dispose();
  }
}
