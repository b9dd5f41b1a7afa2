/**
 * `inference.GRPCInferenceService` (COMPAT-NOTES §2.1) and `grpc.health.v1.Health` as
 * @grpc/grpc-js service definitions, built from the protons codecs of protocol/ (no
 * proto-loader or protobufjs at run time: the `.proto` files are compiled once by
 * `npm run generate`). One table per service names each RPC's messages; the server and the
 * client definitions are both derived from it, so they cannot disagree.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import * as pb from '../protocol/inference-pb.ts';
import { HealthCheckRequest, HealthCheckResponse } from '../protocol/health-pb.ts';

/** A protons message codec: all a method needs to (de)serialise its messages. */
export interface MessageCodec<T> {
  encode(obj: Partial<T>): Uint8Array;
  decode(buf: Uint8Array): T;
}

/** Any message codec, whatever its message type (what the RPC tables hold). */
interface AnyCodec {
  encode(obj: never): Uint8Array;
  decode(buf: Uint8Array): unknown;
}

/** One RPC: its request and response messages and which sides stream. */
export interface RpcSpec {
  readonly request: AnyCodec;
  readonly response: AnyCodec;
  readonly requestStream?: boolean;
  readonly responseStream?: boolean;
}

/** The fully qualified service name: method paths are `/inference.GRPCInferenceService/<Rpc>`. */
export const INFERENCE_SERVICE_NAME = 'inference.GRPCInferenceService';

/** Every RPC of GRPCInferenceService, in the order of COMPAT-NOTES §2.1. */
export const INFERENCE_RPCS = {
  ServerLive: { request: pb.ServerLiveRequest, response: pb.ServerLiveResponse },
  ServerReady: { request: pb.ServerReadyRequest, response: pb.ServerReadyResponse },
  ModelReady: { request: pb.ModelReadyRequest, response: pb.ModelReadyResponse },
  ServerMetadata: { request: pb.ServerMetadataRequest, response: pb.ServerMetadataResponse },
  ModelMetadata: { request: pb.ModelMetadataRequest, response: pb.ModelMetadataResponse },
  ModelInfer: { request: pb.ModelInferRequest, response: pb.ModelInferResponse },
  ModelStreamInfer: { request: pb.ModelInferRequest, response: pb.ModelStreamInferResponse, requestStream: true, responseStream: true },
  ModelConfig: { request: pb.ModelConfigRequest, response: pb.ModelConfigResponse },
  ModelStatistics: { request: pb.ModelStatisticsRequest, response: pb.ModelStatisticsResponse },
  RepositoryIndex: { request: pb.RepositoryIndexRequest, response: pb.RepositoryIndexResponse },
  RepositoryModelLoad: { request: pb.RepositoryModelLoadRequest, response: pb.RepositoryModelLoadResponse },
  RepositoryModelUnload: { request: pb.RepositoryModelUnloadRequest, response: pb.RepositoryModelUnloadResponse },
  SystemSharedMemoryStatus: { request: pb.SystemSharedMemoryStatusRequest, response: pb.SystemSharedMemoryStatusResponse },
  SystemSharedMemoryRegister: { request: pb.SystemSharedMemoryRegisterRequest, response: pb.SystemSharedMemoryRegisterResponse },
  SystemSharedMemoryUnregister: { request: pb.SystemSharedMemoryUnregisterRequest, response: pb.SystemSharedMemoryUnregisterResponse },
  CudaSharedMemoryStatus: { request: pb.CudaSharedMemoryStatusRequest, response: pb.CudaSharedMemoryStatusResponse },
  CudaSharedMemoryRegister: { request: pb.CudaSharedMemoryRegisterRequest, response: pb.CudaSharedMemoryRegisterResponse },
  CudaSharedMemoryUnregister: { request: pb.CudaSharedMemoryUnregisterRequest, response: pb.CudaSharedMemoryUnregisterResponse },
  TraceSetting: { request: pb.TraceSettingRequest, response: pb.TraceSettingResponse },
  LogSettings: { request: pb.LogSettingsRequest, response: pb.LogSettingsResponse },
} as const satisfies Record<string, RpcSpec>;

/** The names of GRPCInferenceService's RPCs. */
export type InferenceRpc = keyof typeof INFERENCE_RPCS;

/** The standard health service (grpc/grpc doc/health-checking.md). */
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

/** Check (unary) and Watch (server streaming). */
export const HEALTH_RPCS = {
  Check: { request: HealthCheckRequest, response: HealthCheckResponse },
  Watch: { request: HealthCheckRequest, response: HealthCheckResponse, responseStream: true },
} as const satisfies Record<string, RpcSpec>;

/** A Uint8Array as a Buffer over the same memory (grpc-js wants Buffers; no copy). */
function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

function definition(service: string, rpcs: Record<string, RpcSpec>, side: 'server' | 'client'): ServiceDefinition {
  const out: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, spec] of Object.entries(rpcs)) {
    const codec = spec as unknown as { request: MessageCodec<unknown>; response: MessageCodec<unknown> };
    out[name] = {
      path: `/${service}/${name}`,
      originalName: name,
      requestStream: spec.requestStream ?? false,
      responseStream: spec.responseStream ?? false,
      ...(side === 'server'
        ? {
          // Requests stay bytes: the handlers decode them with limits and answer INVALID_ARGUMENT
          // for a malformed message (a throwing deserializer makes grpc-js answer INTERNAL).
          requestDeserialize: (b: Buffer) => b,
          // Handlers encode their answers themselves (from protocol/ codecs) and hand over bytes.
          responseSerialize: (v: unknown) => asBuffer(v as Uint8Array),
          requestSerialize: (v: unknown) => asBuffer(v as Uint8Array),
          responseDeserialize: (b: Buffer) => b,
        }
        : {
          // Bytes pass through as an already encoded request (tests send hand-made messages).
          requestSerialize: (v: unknown) => asBuffer(v instanceof Uint8Array ? v : codec.request.encode(v as Partial<unknown>)),
          responseDeserialize: (b: Buffer) => codec.response.decode(b),
          requestDeserialize: (b: Buffer) => codec.request.decode(b),
          responseSerialize: (v: unknown) => asBuffer(codec.response.encode(v as Partial<unknown>)),
        }),
    };
  }
  return out;
}

/**
 * GRPCInferenceService for `grpc.Server.addService`: request messages arrive as bytes,
 * handlers answer with encoded bytes.
 */
export const inferenceServerDefinition: ServiceDefinition = definition(INFERENCE_SERVICE_NAME, INFERENCE_RPCS, 'server');

/** The health service for `grpc.Server.addService` (bytes in, bytes out, as above). */
export const healthServerDefinition: ServiceDefinition = definition(HEALTH_SERVICE_NAME, HEALTH_RPCS, 'server');

/**
 * GRPCInferenceService for `grpc.makeGenericClientConstructor`: typed messages (protons'
 * object shapes) encoded and decoded by the same codecs.
 */
export const inferenceClientDefinition: ServiceDefinition = definition(INFERENCE_SERVICE_NAME, INFERENCE_RPCS, 'client');

/** The health service for a client. */
export const healthClientDefinition: ServiceDefinition = definition(HEALTH_SERVICE_NAME, HEALTH_RPCS, 'client');
