/**
 * A small typed gRPC client for tests: `inference.GRPCInferenceService` and
 * `grpc.health.v1.Health` through @grpc/grpc-js with the same protons codecs the server uses
 * (node-host/grpc-service-definition.ts), the way a third-party client built from Triton's
 * `grpc_service.proto` would talk to infermesh.
 *
 *   const c = createGrpcClient(server.grpcUrl);          // '127.0.0.1:port'
 *   const res = await c.infer(request);                    // InferResponse (raw contents)
 *   await c.infer(request, { typedContents: true });       // InferTensorContents instead of raw
 *   const s = c.stream(); s.send(req1); s.send(req2); await s.next(); s.end(); await s.done;
 *   await expectGrpcError(c.infer(bad), grpcStatus.INVALID_ARGUMENT, 'expected');
 *   c.close();
 *
 * Every method rejects with grpc-js's ServiceError (`code`, `details`) on a non-OK status.
 * Results are shaped like the HTTP endpoint's JSON where there is one (model metadata, config,
 * statistics, index), so tests can compare both transports with toEqual.
 */
import { credentials, makeGenericClientConstructor, Metadata, status as grpcStatus, type Client, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'vitest';
import type { DataType } from '../../protocol/datatypes.ts';
import type { InferRequest, InferResponse } from '../../protocol/infer.ts';
import * as pb from '../../protocol/inference-pb.ts';
import { HealthCheckRequest, HealthCheckResponse } from '../../protocol/health-pb.ts';
import { decodeModelInferResponse, inferRequestToProto } from '../../protocol/mesh-infer-codec.ts';
import { decodeStreamInferResponse, type StreamInferResult } from '../../protocol/grpc-infer.ts';
import { decodeProtoBinary } from '../../core/proto-binary.ts';
import { MODEL_CONFIG } from '../../core/model-config-schema.ts';
import { withPrimitiveDefaults } from '../../core/proto-defaults.ts';
import type { MessageDescriptor } from '../../core/proto-descriptor.ts';
import type { DurationStat, InferenceStats, ModelStatistics } from '../../core/model-stats.ts';
import { healthClientDefinition, inferenceClientDefinition, type InferenceRpc } from '../../node-host/grpc-service-definition.ts';

export { grpcStatus };

/** Per-call options. */
export interface CallOptions {
  /** Deadline in ms from now (grpc-timeout header). */
  deadlineMs?: number;
  /** Request metadata (headers). */
  metadata?: Record<string, string>;
  /** Aborting cancels the call. */
  signal?: AbortSignal;
}

/** Infer options. */
export interface GrpcInferOptions extends CallOptions {
  /** Send tensors as typed InferTensorContents instead of raw_input_contents (not for FP16/BF16). */
  typedContents?: boolean;
}

/** One open ModelStreamInfer call. */
export interface GrpcInferStream {
  /** Sends a request: an InferRequest (raw contents), a protons message, or encoded bytes. */
  send(req: InferRequest | pb.ModelInferRequest | Uint8Array): void;
  /** The next answer in arrival order (rejects after `timeoutMs`, default 10 s, or when the stream fails). */
  next(timeoutMs?: number): Promise<StreamInferResult>;
  /** Half-closes: the server ends the stream once everything sent is answered. */
  end(): void;
  cancel(): void;
  /** The stream's final status (OK included); never rejects. */
  done: Promise<{ code: number; details: string }>;
}

/** The client; see the file comment. */
export interface GrpcClient {
  serverLive(opts?: CallOptions): Promise<boolean>;
  serverReady(opts?: CallOptions): Promise<boolean>;
  modelReady(name: string, version?: string, opts?: CallOptions): Promise<boolean>;
  serverMetadata(opts?: CallOptions): Promise<{ name: string; version: string; extensions: string[] }>;
  /** Model metadata shaped like `GET /v2/models/m`. */
  modelMetadata(name: string, version?: string, opts?: CallOptions): Promise<{ name: string; versions: string[]; platform: string; inputs: TensorMeta[]; outputs: TensorMeta[] }>;
  /** ModelInfer with an InferRequest (raw contents, or typed with `typedContents`). */
  infer(req: InferRequest, opts?: GrpcInferOptions): Promise<InferResponse>;
  /** ModelInfer with a protons message or encoded bytes; the answer undecoded (protons object). */
  inferRaw(req: pb.ModelInferRequest | Uint8Array, opts?: CallOptions): Promise<pb.ModelInferResponse>;
  /** The ModelConfig RPC's config, decoded and with defaults printed: shaped like `GET /v2/models/m/config`. */
  modelConfig(name: string, version?: string, opts?: CallOptions): Promise<Record<string, unknown>>;
  /** The encoded `inference.ModelConfig` bytes as sent. */
  modelConfigBytes(name: string, version?: string, opts?: CallOptions): Promise<Uint8Array>;
  /** Statistics shaped like `GET /v2/models[/m]/stats`. */
  modelStatistics(name?: string, version?: string, opts?: CallOptions): Promise<{ model_stats: StatisticsJson[] }>;
  /** Repository index shaped like `POST /v2/repository/index` (empty fields left out). */
  repositoryIndex(ready?: boolean, opts?: CallOptions): Promise<{ name: string; version?: string; state?: string; reason?: string }[]>;
  /** RepositoryModelLoad; `parameters` values map to string/bool/int64/bytes params. */
  loadModel(name: string, parameters?: Record<string, string | boolean | bigint | Uint8Array>, opts?: CallOptions & { repositoryName?: string }): Promise<void>;
  unloadModel(name: string, opts?: CallOptions & { repositoryName?: string }): Promise<void>;
  /** Any unary RPC with a protons request object (or bytes); resolves with the response bytes. */
  call(rpc: InferenceRpc, request: object | Uint8Array, opts?: CallOptions): Promise<Uint8Array>;
  stream(opts?: CallOptions): GrpcInferStream;
  /** grpc.health.v1.Health/Check. */
  healthCheck(service?: string, opts?: CallOptions): Promise<HealthCheckResponse.ServingStatus>;
  /** grpc.health.v1.Health/Watch: statuses in arrival order. */
  healthWatch(service?: string): { next(timeoutMs?: number): Promise<HealthCheckResponse.ServingStatus>; cancel(): void };
  close(): void;
}

/** One model version's statistics as the HTTP endpoint prints them (core/model-stats.ts). */
export type StatisticsJson = Omit<ModelStatistics, 'inference_stats' | 'response_stats' | 'memory_usage'> & {
  inference_stats: InferenceStats & Record<string, DurationStat>;
  response_stats: Record<string, Record<string, DurationStat>>;
  memory_usage: { type: string; id: number; byte_size: number }[];
};

/** A tensor of model metadata. */
export interface TensorMeta {
  name: string;
  datatype: string;
  shape: number[];
}

type Callback = (err: ServiceError | null, res?: Buffer) => void;
type UnaryFn = (req: unknown, md: Metadata, opts: { deadline?: number }, cb: Callback) => { cancel(): void };

/** Client definitions whose responses stay bytes: this helper decodes each with its codec. */
function rawResponses(def: typeof inferenceClientDefinition) {
  return Object.fromEntries(Object.entries(def).map(([k, m]) => [k, { ...m, responseDeserialize: (b: Buffer) => b }]));
}

const InferenceClient = makeGenericClientConstructor(rawResponses(inferenceClientDefinition), 'GRPCInferenceService');
const HealthClient = makeGenericClientConstructor(rawResponses(healthClientDefinition), 'Health');

/** grpc-js client options: no message size limits on the test side (the server's are under test). */
const CLIENT_OPTIONS = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };

function metadataOf(opts: CallOptions): Metadata {
  const md = new Metadata();
  for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
  return md;
}

function callOptions(opts: CallOptions): { deadline?: number } {
  return opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs };
}

/** An InferRequest as a ModelInferRequest with typed contents (Triton's non-raw form). */
export function typedContentsRequest(req: InferRequest): pb.ModelInferRequest {
  const msg = inferRequestToProto(req);
  msg.rawInputContents = [];
  msg.inputs.forEach((t, i) => { t.contents = typedContents(req.inputs[i].datatype, req.inputs[i].data); });
  return msg;
}

function typedContents(dt: DataType, data: InferRequest['inputs'][number]['data']): pb.InferTensorContents {
  const c: pb.InferTensorContents = {
    boolContents: [], intContents: [], int64Contents: [], uintContents: [], uint64Contents: [], fp32Contents: [], fp64Contents: [], bytesContents: [],
  };
  const nums = () => Array.from(data as ArrayLike<number>);
  switch (dt) {
    case 'BOOL': c.boolContents = Array.from(data as Uint8Array, (b) => b !== 0); break;
    case 'INT8': case 'INT16': case 'INT32': c.intContents = nums(); break;
    case 'INT64': c.int64Contents = Array.from(data as BigInt64Array); break;
    case 'UINT8': case 'UINT16': case 'UINT32': c.uintContents = nums(); break;
    case 'UINT64': c.uint64Contents = Array.from(data as BigUint64Array); break;
    case 'FP32': c.fp32Contents = nums(); break;
    case 'FP64': c.fp64Contents = nums(); break;
    case 'BYTES': c.bytesContents = (data as Uint8Array[]).map((b) => Uint8Array.from(b)); break;
    default: throw new Error(`${dt} has no typed contents field; send it raw`);
  }
  return c;
}

/**
 * A decoded config with defaults printed as the HTTP endpoint prints them: proto3 defaults
 * (core/proto-defaults.ts), plus the default of a field known by two names (an alias group such
 * as ModelEnsembling field 2), which the printer treats as the plain field it is on the wire.
 */
function printedLikeHttp(desc: MessageDescriptor, obj: Record<string, unknown>): Record<string, unknown> {
  const out = withPrimitiveDefaults(desc, obj);
  for (const [, members] of desc.oneofs) {
    const fields = members.map((m) => desc.byName.get(m)!);
    const alias = fields.every((f) => f.number === fields[0].number);
    if (alias && fields.every((f) => out[f.name] === undefined) && fields[0].type.kind === 'scalar') out[fields[0].name] = 0;
  }
  for (const f of desc.fields) {
    if (f.type.kind !== 'message' || out[f.name] === undefined) continue;
    const sub = f.type.message;
    const v = out[f.name];
    if (f.label === 'repeated') out[f.name] = (v as Record<string, unknown>[]).map((e) => printedLikeHttp(sub, e));
    else if (f.label === 'map') out[f.name] = Object.fromEntries(Object.entries(v as Record<string, Record<string, unknown>>).map(([k, e]) => [k, printedLikeHttp(sub, e)]));
    else out[f.name] = printedLikeHttp(sub, v as Record<string, unknown>);
  }
  return out;
}

/** Waits for items pushed by callbacks, in order. */
class AsyncQueue<T> {
  #items: T[] = [];
  #waiters: { resolve: (v: T) => void; reject: (e: Error) => void }[] = [];
  #failure: Error | undefined;

  push(v: T): void {
    const w = this.#waiters.shift();
    if (w) w.resolve(v);
    else this.#items.push(v);
  }

  fail(e: Error): void {
    this.#failure = e;
    for (const w of this.#waiters.splice(0)) w.reject(e);
  }

  next(timeoutMs: number, what: string): Promise<T> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift()!);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== entry);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const entry = {
        resolve: (v: T) => { clearTimeout(timer); resolve(v); },
        reject: (e: Error) => { clearTimeout(timer); reject(e); },
      };
      this.#waiters.push(entry);
    });
  }
}

/** Asserts that a call fails with a gRPC status `code` whose details contain every `parts`; returns the details. */
export async function expectGrpcError(p: Promise<unknown>, code: number, ...parts: string[]): Promise<string> {
  let err: ServiceError | undefined;
  try {
    await p;
  } catch (e) {
    err = e as ServiceError;
  }
  expect(err, 'expected the call to fail').toBeDefined();
  expect({ code: err!.code, details: err!.details }).toMatchObject({ code });
  for (const part of parts) expect(err!.details).toContain(part);
  return err!.details;
}

/** Creates a client for `host:port` (insecure channel). */
export function createGrpcClient(url: string): GrpcClient {
  const client = new InferenceClient(url, credentials.createInsecure(), CLIENT_OPTIONS) as Client & Record<string, UnaryFn>;
  const health = new HealthClient(url, credentials.createInsecure(), CLIENT_OPTIONS) as Client & Record<string, UnaryFn>;

  const unary = (target: Record<string, UnaryFn>, rpc: string, request: object | Uint8Array, opts: CallOptions = {}): Promise<Uint8Array> =>
    new Promise((resolve, reject) => {
      const call = target[rpc](request, metadataOf(opts), callOptions(opts), (err, res) => (err ? reject(err) : resolve(new Uint8Array(res!))));
      opts.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  const call = (rpc: InferenceRpc, request: object | Uint8Array, opts?: CallOptions) => unary(client, rpc, request, opts);

  const self: GrpcClient = {
    serverLive: async (opts) => pb.ServerLiveResponse.decode(await call('ServerLive', {}, opts)).live,
    serverReady: async (opts) => pb.ServerReadyResponse.decode(await call('ServerReady', {}, opts)).ready,
    modelReady: async (name, version = '', opts) => pb.ModelReadyResponse.decode(await call('ModelReady', { name, version }, opts)).ready,
    serverMetadata: async (opts) => {
      const m = pb.ServerMetadataResponse.decode(await call('ServerMetadata', {}, opts));
      return { name: m.name, version: m.version, extensions: m.extensions };
    },
    modelMetadata: async (name, version = '', opts) => {
      const m = pb.ModelMetadataResponse.decode(await call('ModelMetadata', { name, version }, opts));
      const t = (x: pb.ModelMetadataResponse.TensorMetadata) => ({ name: x.name, datatype: x.datatype, shape: x.shape.map(Number) });
      return { name: m.name, versions: m.versions, platform: m.platform, inputs: m.inputs.map(t), outputs: m.outputs.map(t) };
    },
    infer: async (req, opts = {}) => {
      const msg = opts.typedContents ? typedContentsRequest(req) : inferRequestToProto(req);
      return decodeModelInferResponse(await call('ModelInfer', pb.ModelInferRequest.encode(msg), opts));
    },
    inferRaw: async (req, opts) => pb.ModelInferResponse.decode(await call('ModelInfer', req instanceof Uint8Array ? req : pb.ModelInferRequest.encode(req), opts)),
    modelConfigBytes: async (name, version = '', opts) => pb.ModelConfigResponse.decode(await call('ModelConfig', { name, version }, opts)).config,
    modelConfig: async (name, version, opts) => printedLikeHttp(MODEL_CONFIG, decodeProtoBinary(MODEL_CONFIG, await self.modelConfigBytes(name, version, opts))),
    modelStatistics: async (name = '', version = '', opts) => {
      const r = pb.ModelStatisticsResponse.decode(await call('ModelStatistics', { name, version }, opts));
      const d = (x: pb.StatisticDuration | undefined) => ({ count: Number(x?.count ?? 0n), ns: Number(x?.ns ?? 0n) });
      return {
        model_stats: r.modelStats.map((s) => ({
          name: s.name, version: s.version, last_inference: Number(s.lastInference), inference_count: Number(s.inferenceCount),
          execution_count: Number(s.executionCount),
          inference_stats: {
            success: d(s.inferenceStats?.success), fail: d(s.inferenceStats?.fail), queue: d(s.inferenceStats?.queue),
            compute_input: d(s.inferenceStats?.computeInput), compute_infer: d(s.inferenceStats?.computeInfer),
            compute_output: d(s.inferenceStats?.computeOutput), cache_hit: d(s.inferenceStats?.cacheHit), cache_miss: d(s.inferenceStats?.cacheMiss),
          },
          response_stats: Object.fromEntries([...s.responseStats].map(([k, v]) => [k, {
            compute_infer: d(v.computeInfer), compute_output: d(v.computeOutput), success: d(v.success), fail: d(v.fail),
            empty_response: d(v.emptyResponse), cancel: d(v.cancel),
          }])),
          batch_stats: s.batchStats.map((b) => ({
            batch_size: Number(b.batchSize), compute_input: d(b.computeInput), compute_infer: d(b.computeInfer), compute_output: d(b.computeOutput),
          })),
          memory_usage: s.memoryUsage.map((m) => ({ type: m.type, id: Number(m.id), byte_size: Number(m.byteSize) })),
        })),
      };
    },
    repositoryIndex: async (ready = false, opts) => {
      const r = pb.RepositoryIndexResponse.decode(await call('RepositoryIndex', { repositoryName: '', ready }, opts));
      return r.models.map((m) => ({
        name: m.name, ...(m.version ? { version: m.version } : {}), ...(m.state ? { state: m.state } : {}), ...(m.reason ? { reason: m.reason } : {}),
      }));
    },
    loadModel: async (name, parameters = {}, opts = {}) => {
      const params = new Map<string, pb.ModelRepositoryParameter>();
      for (const [k, v] of Object.entries(parameters)) {
        if (typeof v === 'string') params.set(k, { stringParam: v });
        else if (typeof v === 'boolean') params.set(k, { boolParam: v });
        else if (typeof v === 'bigint') params.set(k, { int64Param: v });
        else params.set(k, { bytesParam: Uint8Array.from(v) });
      }
      await call('RepositoryModelLoad', { repositoryName: opts.repositoryName ?? '', modelName: name, parameters: params }, opts);
    },
    unloadModel: async (name, opts = {}) => {
      await call('RepositoryModelUnload', { repositoryName: opts.repositoryName ?? '', modelName: name, parameters: new Map() }, opts);
    },
    call,
    stream: (opts = {}) => {
      const duplex = (client as unknown as Record<string, (md: Metadata, o: object) => import('@grpc/grpc-js').ClientDuplexStream<Uint8Array, Buffer>>)
        .ModelStreamInfer(metadataOf(opts), callOptions(opts));
      const queue = new AsyncQueue<StreamInferResult>();
      let resolveDone!: (s: { code: number; details: string }) => void;
      const done = new Promise<{ code: number; details: string }>((r) => { resolveDone = r; });
      duplex.on('data', (b: Buffer) => queue.push(decodeStreamInferResponse(new Uint8Array(b))));
      duplex.on('status', (s: { code: number; details: string }) => {
        resolveDone({ code: s.code, details: s.details });
        queue.fail(Object.assign(new Error(`stream ended: ${s.code} ${s.details}`), { code: s.code, details: s.details }));
      });
      duplex.on('error', () => undefined); // reported through 'status'
      opts.signal?.addEventListener('abort', () => duplex.cancel(), { once: true });
      return {
        send: (req) => {
          const bytes = req instanceof Uint8Array ? req : pb.ModelInferRequest.encode('inputs' in req && 'parameters' in req && req.parameters instanceof Map
            ? req as pb.ModelInferRequest : inferRequestToProto(req as InferRequest));
          duplex.write(bytes);
        },
        next: (timeoutMs = 10_000) => queue.next(timeoutMs, 'stream response'),
        end: () => duplex.end(),
        cancel: () => duplex.cancel(),
        done,
      };
    },
    healthCheck: async (service = '', opts) => HealthCheckResponse.decode(await unary(health, 'Check', { service } as HealthCheckRequest, opts)).status,
    healthWatch: (service = '') => {
      const s = (health as unknown as Record<string, (req: object, md: Metadata) => import('@grpc/grpc-js').ClientReadableStream<Buffer>>)
        .Watch({ service }, new Metadata());
      const queue = new AsyncQueue<HealthCheckResponse.ServingStatus>();
      s.on('data', (b: Buffer) => queue.push(HealthCheckResponse.decode(new Uint8Array(b)).status));
      s.on('status', (st: { code: number; details: string }) => queue.fail(new Error(`watch ended: ${st.code} ${st.details}`)));
      s.on('error', () => undefined);
      return { next: (timeoutMs = 10_000) => queue.next(timeoutMs, 'health status'), cancel: () => s.cancel() };
    },
    close: () => {
      client.close();
      health.close();
    },
  };
  return self;
}
