/**
 * KServe v2 HTTP/REST endpoints exactly as Triton answers them (COMPAT-NOTES §1, §10):
 * health, metadata, infer (JSON and binary tensor extension), config, statistics and the
 * model repository extension, with Triton's status codes and `{"error": ...}` bodies.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync, deflateSync } from 'node:zlib';
import { HTTP_STATUS, InferError, invalidArg, isInferError, toWireError, unsupported } from '../protocol/errors.ts';
import { allowedMethods, matchRoute, type Route } from '../protocol/http-routes.ts';
import { binaryOutputNames, decodeHttpInferRequest, encodeErrorBody, encodeHttpInferResponse } from '../protocol/http-infer.ts';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from '../protocol/limits.ts';
import { httpRepositoryParameters, readLoadParameters, readUnloadParameters } from '../protocol/repository-parameters.ts';
import type { InferenceServer } from '../core/inference-server.ts';
import type { Logger } from '../core/logger.ts';
import type { MeshService } from '../mesh/mesh-service.ts';
import { readBody } from './http-body.ts';
import { DRAIN_QUIET_MS, DrainTracker } from './drain-tracker.ts';
import { orRemote } from './mesh-fallback.ts';
import type { ContributeRoute } from './contribute-route.ts';

/** Options of the HTTP endpoint. */
export interface HttpServerOptions {
  host?: string;
  port?: number;
  /** Largest request body accepted, compressed or not. */
  maxBodyBytes?: number;
  limits?: DecodeLimits;
  /** Allowed CORS origin (`*` or an origin); off when undefined (Triton has no CORS, issue #5971). */
  corsOrigin?: string;
  /** When set, infer and metadata cover every model of the mesh, and GET /v2/mesh answers. */
  mesh?: MeshService;
  /** When set, `/contribute` serves the browser contributor page (outside KServe's /v2). */
  contribute?: ContributeRoute;
  logger: Logger;
}

/** Default body limit: Triton caps JSON inputs at 64 MiB; binary bodies may be larger. */
export const DEFAULT_MAX_BODY_BYTES = 512 * 1024 * 1024;

const JSON_TYPE = 'application/json';

export class KServeHttpServer {
  readonly #core: InferenceServer;
  readonly #opts: HttpServerOptions;
  readonly #server: Server;
  readonly #limits: DecodeLimits;
  /** HTTP requests received and not yet answered, and the last arrival: what the drain waits for. */
  readonly #tracker = new DrainTracker();
  #draining = false;

  constructor(core: InferenceServer, options: HttpServerOptions) {
    this.#core = core;
    this.#opts = options;
    this.#limits = options.limits ?? DEFAULT_DECODE_LIMITS;
    this.#server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => { void this.#handle(req, res); });
    this.#server.on('connection', () => this.#tracker.touch());
  }

  /** Starts listening; resolves with the bound port (port 0 binds a free one). */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port ?? 8000, this.#opts.host ?? '0.0.0.0', () => {
        this.#server.off('error', reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /**
   * Graceful stop, first half. Readiness turns false at once (so load balancers and peers stop
   * sending), but the listener stays open and everything that arrives is answered, each answer
   * closing its connection. Only when nothing is in flight and nothing has arrived for
   * `quietMs` does the listener close: closing it earlier resets connections still waiting in
   * the kernel's accept queue, i.e. requests a client has already sent. Bounded by `timeoutMs`.
   */
  async drain(timeoutMs: number, quietMs = DRAIN_QUIET_MS): Promise<void> {
    this.beginDrain();
    const deadline = performance.now() + timeoutMs;
    await this.#tracker.settle(deadline, quietMs);
    await new Promise<void>((resolve) => {
      // closeIdleConnections spares connections that never sent a request (a client's spare
      // pooled socket, a browser's preconnect): Node counts them from their connect time, and
      // close() would wait for its 60 s headers timeout. Past the drain's deadline, close them.
      const timer = setTimeout(() => this.#server.closeAllConnections(), Math.max(0, deadline - performance.now()));
      this.#server.close(() => { clearTimeout(timer); resolve(); });
      this.#server.closeIdleConnections();
    });
  }

  /**
   * Readiness turns false and every answer closes its connection, but requests are served as
   * usual: the shutdown grace period, while load balancers and peers stop sending here.
   */
  beginDrain(): void {
    this.#draining = true;
  }

  /** HTTP requests received and not yet answered. */
  get inflight(): number {
    return this.#tracker.inflight;
  }

  /** Closes every connection at once (after the drain). */
  closeAllConnections(): void {
    this.#server.closeAllConnections();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // While draining, every answer closes its connection, so no connection outlives the drain.
    if (this.#draining) res.shouldKeepAlive = false;
    this.#tracker.begin();
    res.once('close', () => this.#tracker.end());
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    // Before CORS on purpose: the contribute page carries the swarm key of a private mesh, so
    // no other origin may read it, whatever --cors-origin allows for the KServe routes.
    if (this.#opts.contribute?.matches(path)) return this.#opts.contribute.handle(req, res, path);
    if (this.#opts.corsOrigin) {
      res.setHeader('Access-Control-Allow-Origin', this.#opts.corsOrigin);
      res.setHeader('Access-Control-Expose-Headers', 'Inference-Header-Content-Length');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
          'Access-Control-Allow-Headers': 'Content-Type, Inference-Header-Content-Length, Content-Encoding, Accept-Encoding',
          'Access-Control-Max-Age': '600',
        });
        res.end();
        return;
      }
    }
    const route = matchRoute(path);
    try {
      if (route.kind === 'not-found') return sendError(res, 404, 'Not Found');
      if (!allowedMethods(route).includes(req.method ?? '')) return sendError(res, 405, 'Method Not Allowed');
      await this.#dispatch(route, req, res);
    } catch (e) {
      const w = toWireError(e);
      // An error that is not an InferError is a bug somewhere: worth a log line for the operator.
      if (!isInferError(e)) this.#opts.logger.error('request failed', { path, reason: w.message });
      if (!res.headersSent) sendError(res, HTTP_STATUS[w.code], w.message);
      else res.destroy();
    }
  }

  async #dispatch(route: Exclude<Route, { kind: 'not-found' }>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const core = this.#core;
    switch (route.kind) {
      case 'health': {
        const ok = route.which === 'live' ? core.isLive() : core.isReady() && !this.#draining;
        res.writeHead(ok ? 200 : 400, { 'Content-Length': '0' });
        res.end();
        return;
      }
      case 'server-metadata':
        return sendJson(res, 200, core.metadata());
      case 'stats-all':
        return sendJson(res, 200, core.statistics());
      case 'model':
        return this.#model(route, req, res);
      case 'repository-index': {
        const body = await this.#jsonBody(req);
        const ready = body?.ready;
        if (ready !== undefined && typeof ready !== 'boolean') throw invalidArg("Invalid value for 'ready': expected a boolean");
        return sendJson(res, 200, core.repositoryIndex(ready === true));
      }
      case 'repository-control': {
        if (route.repository !== undefined) throw unsupported("'repository_name' specification is not supported");
        // A load may carry model files (base64 `file:` parameters): the body limit is the infer one.
        const body = await this.#jsonBody(req, route.action === 'load' ? this.#opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES : undefined);
        const params = httpRepositoryParameters(body?.parameters, (s) => {
          const b = Buffer.from(s, 'base64');
          return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
        });
        if (route.action === 'load') {
          await core.loadModel(route.model, readLoadParameters(params));
        } else {
          await core.unloadModel(route.model, readUnloadParameters(params));
        }
        res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': '0' });
        res.end();
        return;
      }
      case 'mesh':
        if (!this.#opts.mesh) throw new InferError('NOT_FOUND', 'this server is not part of a mesh (started with --no-mesh)');
        return sendJson(res, 200, this.#opts.mesh.snapshot());
      case 'logging': case 'trace': case 'shared-memory':
        throw unsupported(`this endpoint is not implemented by infermesh (not listed in GET /v2 extensions)`);
    }
  }

  async #model(route: Extract<Route, { kind: 'model' }>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const core = this.#core;
    const { model, version } = route;
    const mesh = this.#opts.mesh;
    switch (route.action) {
      case 'metadata':
        return sendJson(res, 200, orRemote(() => core.modelMetadata(model, version), () => mesh?.remoteMetadata(model, version)));
      case 'config': return sendJson(res, 200, core.modelConfig(model, version));
      case 'stats': return sendJson(res, 200, core.statistics(model, version));
      case 'ready':
        orRemote(() => core.modelReady(model, version), () => mesh?.remoteMetadata(model, version));
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
        return;
      case 'infer': return this.#infer(model, version, req, res);
      default:
        throw unsupported(`'${route.action}' is not implemented by infermesh`);
    }
  }

  async #infer(model: string, version: string | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, this.#opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    const rawHeader = req.headers['inference-header-content-length'];
    let headerLength: number | undefined;
    if (rawHeader !== undefined) {
      headerLength = Number(rawHeader);
      if (!Number.isSafeInteger(headerLength) || headerLength < 0 || headerLength > body.byteLength) {
        throw invalidArg(`Inference-Header-Content-Length ${String(rawHeader)} must be an integer in [0, ${body.byteLength}] (the body's length)`);
      }
    }
    let rawInput: { name: string; datatype: import('../protocol/datatypes.ts').DataType; shape: number[] } | undefined;
    if (headerLength === 0) rawInput = rawInputOf(this.#core, model, version);
    const request = decodeHttpInferRequest(body, { modelName: model, modelVersion: version, headerLength, limits: this.#limits, rawInput });

    // A client that goes away cancels its queued request (ARCHITECTURE-GUIDE §3).
    const abort = new AbortController();
    const onClose = () => { if (!res.writableFinished) abort.abort(); };
    res.once('close', onClose);
    const response = this.#opts.mesh
      ? await this.#opts.mesh.infer(request, { signal: abort.signal })
      : await this.#core.infer(request, { signal: abort.signal });
    const binary = headerLength === 0 ? new Set(response.outputs.map((o) => o.name)) : binaryOutputNames(request, response.outputs.map((o) => o.name));
    const encoded = encodeHttpInferResponse(response, { binaryOutputs: binary });
    const headers: Record<string, string> = { 'Content-Type': encoded.contentType };
    if (encoded.contentType !== JSON_TYPE) headers['Inference-Header-Content-Length'] = String(encoded.headerLength);
    const encoding = chooseEncoding(req.headers['accept-encoding']);
    if (encoding) {
      const joined = Buffer.concat(encoded.chunks);
      const compressed = encoding === 'gzip' ? gzipSync(joined) : deflateSync(joined);
      headers['Content-Encoding'] = encoding;
      headers['Content-Length'] = String(compressed.byteLength);
      res.writeHead(200, headers);
      res.end(compressed);
      return;
    }
    let total = 0;
    for (const c of encoded.chunks) total += c.byteLength;
    headers['Content-Length'] = String(total);
    res.writeHead(200, headers);
    if (encoded.chunks.length === 1) {
      res.end(encoded.chunks[0]);
      return;
    }
    res.cork();
    for (const c of encoded.chunks) res.write(c);
    res.end();
  }

  async #jsonBody(req: IncomingMessage, maxBytes = 16 * 1024 * 1024): Promise<Record<string, unknown> | undefined> {
    const body = await readBody(req, maxBytes);
    if (body.byteLength === 0) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(body));
    } catch (e) {
      throw invalidArg(`request body is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidArg('request body must be a JSON object');
    return parsed as Record<string, unknown>;
  }
}

/** The single input a raw binary request (header length 0) feeds (binary_data.md "Raw Binary Request"). */
function rawInputOf(server: InferenceServer, model: string, version?: string) {
  const config = server.modelConfig(model, version);
  if (config.input.length !== 1) {
    throw invalidArg(`raw binary request (Inference-Header-Content-Length: 0) needs a model with exactly one input, but '${model}' has ${config.input.length}`);
  }
  const input = config.input[0];
  const datatype = (input.data_type === 'TYPE_STRING' ? 'BYTES' : input.data_type.slice(5)) as import('../protocol/datatypes.ts').DataType;
  const shape = config.max_batch_size > 0 ? [1, ...input.dims] : [...input.dims];
  return { name: input.name, datatype, shape };
}

function chooseEncoding(accept: string | undefined): 'gzip' | 'deflate' | undefined {
  if (!accept) return undefined;
  const a = accept.toLowerCase();
  if (/\bgzip\b/.test(a)) return 'gzip';
  if (/\bdeflate\b/.test(a)) return 'deflate';
  return undefined;
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  const body = encodeErrorBody(message);
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}

