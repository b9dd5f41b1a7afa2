/**
 * The standard gRPC health service (`grpc.health.v1.Health`, grpc/grpc doc/health-checking.md)
 * as Triton serves it: SERVING while the server is ready, NOT_SERVING otherwise — readiness,
 * not liveness (COMPAT-NOTES §1.2), so a load balancer stops sending to a host that drains or
 * whose models are not ready.
 */
import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthCheckRequest, HealthCheckResponse } from '../protocol/health-pb.ts';
import { INFERENCE_SERVICE_NAME } from './grpc-service-definition.ts';

/**
 * How often a Watch stream re-reads readiness: the core has no readiness event, and one read
 * per second per watcher costs nothing; the gRPC server pushes changes it causes (a drain) at once.
 */
export const DEFAULT_HEALTH_WATCH_POLL_MS = 1000;

/** The services Check knows: the whole server ("") and the inference service. */
const KNOWN_SERVICES: ReadonlySet<string> = new Set(['', INFERENCE_SERVICE_NAME]);

type Status = HealthCheckResponse.ServingStatus;

interface Watcher {
  call: ServerWritableStream<Buffer, Uint8Array>;
  service: string;
  last?: Status;
}

/** Check and Watch handlers over a readiness function. */
export class GrpcHealthService {
  readonly #serving: () => boolean;
  readonly #pollMs: number;
  readonly #watchers = new Set<Watcher>();
  #timer: NodeJS.Timeout | undefined;

  constructor(serving: () => boolean, options: { pollMs?: number } = {}) {
    this.#serving = serving;
    this.#pollMs = options.pollMs ?? DEFAULT_HEALTH_WATCH_POLL_MS;
  }

  /** The implementation for `grpc.Server.addService(healthServerDefinition, …)`. */
  handlers(): UntypedServiceImplementation {
    return {
      Check: (call: ServerUnaryCall<Buffer, Uint8Array>, callback: sendUnaryData<Uint8Array>) => {
        let service: string;
        try {
          service = HealthCheckRequest.decode(call.request).service;
        } catch (e) {
          callback({ code: GrpcStatus.INVALID_ARGUMENT, details: `HealthCheckRequest is not a valid protobuf message (${(e as Error).message})` });
          return;
        }
        if (!KNOWN_SERVICES.has(service)) {
          callback({ code: GrpcStatus.NOT_FOUND, details: `unknown service '${service}': ask for '' (the server) or '${INFERENCE_SERVICE_NAME}'` });
          return;
        }
        callback(null, HealthCheckResponse.encode({ status: this.#status(service) }));
      },
      Watch: (call: ServerWritableStream<Buffer, Uint8Array>) => {
        let service = '';
        try {
          service = HealthCheckRequest.decode(call.request).service;
        } catch (e) {
          call.emit('error', { code: GrpcStatus.INVALID_ARGUMENT, details: `HealthCheckRequest is not a valid protobuf message (${(e as Error).message})` });
          return;
        }
        const w: Watcher = { call, service };
        this.#watchers.add(w);
        call.on('cancelled', () => this.#drop(w));
        call.on('close', () => this.#drop(w));
        this.#push(w);
        this.#timer ??= setInterval(() => this.changed(), this.#pollMs);
      },
    };
  }

  /** Re-reads readiness and tells every watcher whose status changed. */
  changed(): void {
    for (const w of this.#watchers) this.#push(w);
  }

  /** Sends every watcher its final status and ends its stream (server shutdown). */
  close(): void {
    for (const w of [...this.#watchers]) {
      this.#push(w);
      this.#drop(w);
      w.call.end();
    }
  }

  #status(service: string): Status {
    // Watch answers SERVICE_UNKNOWN for a service it does not know and keeps watching (the spec).
    if (!KNOWN_SERVICES.has(service)) return 'SERVICE_UNKNOWN';
    return this.#serving() ? 'SERVING' : 'NOT_SERVING';
  }

  #push(w: Watcher): void {
    const s = this.#status(w.service);
    if (s === w.last) return;
    w.last = s;
    w.call.write(HealthCheckResponse.encode({ status: s }));
  }

  #drop(w: Watcher): void {
    this.#watchers.delete(w);
    if (this.#watchers.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
