/**
 * The Node composition root: file-system repositories + onnxruntime-node backends + the
 * core server + HTTP and metrics endpoints, with graceful shutdown on SIGINT/SIGTERM.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from '../core/logger.ts';
import { InferenceServer } from '../core/inference-server.ts';
import type { RateLimiterInit } from '../core/rate-limiter.ts';
import type { ModelControlMode } from '../core/model-repository.ts';
import { FsModelSource } from './model-source-fs.ts';
import { nodeClock } from './clock-node.ts';
import { createOrtNodeBackends } from './backend-ort-node.ts';
import { createJsBackend } from './backend-js.ts';
import { KServeHttpServer } from './http-server.ts';
import { KServeGrpcServer } from './grpc-server.ts';
import { MetricsServer } from './metrics-server.ts';
import type { LogLevel } from './logger-node.ts';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { createMeshNode } from '../mesh/mesh-node.ts';
import { MeshService } from '../mesh/mesh-service.ts';
import { DEFAULT_EXPIRY_GRACE_MS, DEFAULT_EXPIRY_INTERVALS, DEFAULT_STATUS_INTERVAL_MS } from '../mesh/peer-directory.ts';
import { loadOrCreateIdentity, readSwarmKey } from './mesh-files.ts';
import { ContributeBundler } from './contribute-bundle.ts';
import { CONTRIBUTE_PATH, ContributeRoute } from './contribute-route.ts';

/** How this host joins the mesh (`undefined` in ServeOptions = --no-mesh). */
export interface MeshOptions {
  /** Multiaddrs to listen on (TCP and WebSocket). */
  listen: string[];
  /** Peers to join through: multiaddrs ending in /p2p/<peer id>. */
  bootstrap: string[];
  /** Private network: every node needs the same key file. */
  swarmKeyFile?: string;
  /** Persisted identity (created on first use); a fresh identity each start when absent. */
  identityFile?: string;
  /** Only these peer ids may connect. */
  allowPeers: string[];
  /** Status gossip interval (default 1000 ms). */
  statusIntervalMs?: number;
}

/** Mesh listen addresses by default: TCP and WebSocket next to Triton's 8000-8002. */
export const DEFAULT_MESH_LISTEN = ['/ip4/0.0.0.0/tcp/8003', '/ip4/0.0.0.0/tcp/8004/ws'];

/**
 * Default shutdown grace of a mesh host: how long it keeps serving after publishing a status
 * report without models. Peers drop its models when that report arrives (gossipsub delivers
 * it within milliseconds; the empty report is repeated every interval in case one is lost);
 * a peer that hears none of them still drops the host when its last full report expires,
 * after DEFAULT_EXPIRY_INTERVALS intervals + DEFAULT_EXPIRY_GRACE_MS. Waiting that long means
 * no peer still routes here when the host stops serving: 3.5 s at the default 1 s interval.
 * Without the mesh the default is 0 (Triton's behaviour); --shutdown-grace-secs sets it.
 */
export function defaultShutdownGraceMs(statusIntervalMs = DEFAULT_STATUS_INTERVAL_MS): number {
  return DEFAULT_EXPIRY_INTERVALS * statusIntervalMs + DEFAULT_EXPIRY_GRACE_MS;
}

/** Everything `infermesh serve` can be told. */
export interface ServeOptions {
  repositories: string[];
  host: string;
  httpPort: number;
  /** gRPC port (Triton's default 8001; 0 = a free one); undefined = gRPC off (`--allow-grpc false`). */
  grpcPort?: number;
  /** undefined = metrics off. */
  metricsPort?: number;
  controlMode: ModelControlMode;
  pollSeconds: number;
  loadModels: string[];
  autoComplete: boolean;
  strictReadiness: boolean;
  exitTimeoutSecs: number;
  /**
   * Shutdown grace in seconds (Triton issue #6230): on SIGTERM, models are withdrawn from the
   * mesh status and readiness turns false first, and requests are still served this long
   * before the drain. Counts within exitTimeoutSecs. Default: {@link defaultShutdownGraceMs}
   * with the mesh, 0 without.
   */
  shutdownGraceSecs?: number;
  corsOrigin?: string;
  maxBodyBytes: number;
  id?: string;
  version?: string;
  /** Response cache bytes (`--cache-config local,size=N`); undefined = the core's default, 0 = off. */
  responseCacheBytes?: number;
  /** Rate limiter (`--rate-limit execution_count` + `--rate-limit-resource`); undefined = off. */
  rateLimit?: RateLimiterInit;
  ort: { intraOpNumThreads?: number; interOpNumThreads?: number; enableWebGpu?: boolean; allowSpinning?: boolean; defaultMaxBatchSize?: number; searchPath?: string };
  logLevel: LogLevel;
  logFormat: 'text' | 'json';
  /** Mesh membership; undefined = --no-mesh. */
  mesh?: MeshOptions;
  /** Serve the browser contributor page at /contribute (default true; needs the mesh). */
  contribute?: boolean;
  /** Install SIGINT/SIGTERM handlers (the CLI does; embedders and tests may not). */
  handleSignals?: boolean;
}

/** A running server. */
export interface ServeHandle {
  core: InferenceServer;
  mesh?: MeshService;
  httpPort: number;
  /** The bound gRPC port; undefined when gRPC is off. */
  grpcPort?: number;
  metricsPort?: number;
  /** Drains in-flight requests (up to the exit timeout), then closes everything. Idempotent. */
  stop(): Promise<void>;
  /** Resolves with the exit code once stopped (after a signal or stop()). */
  untilStopped(): Promise<number>;
}

/** Starts a server; resolves once it listens and the startup models have loaded (or failed). */
export async function serve(options: ServeOptions, logger: Logger): Promise<ServeHandle> {
  for (const dir of options.repositories) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new Error(`model repository '${dir}' is not a directory (resolved to ${resolve(dir)})`);
    }
  }
  const core = new InferenceServer({
    sources: options.repositories.map((d) => new FsModelSource(d)),
    backends: [
      ...createOrtNodeBackends({ logger, ...options.ort }),
      // BLS calls of JS models go through the server's callModel (the mesh router once joined).
      createJsBackend({ logger, callModel: (req, opts) => core.callModel(req, opts) }),
    ],
    name: options.id,
    version: options.version,
    controlMode: options.controlMode,
    startupModels: options.loadModels,
    strictReadiness: options.strictReadiness,
    autoComplete: options.autoComplete,
    pollSeconds: options.pollSeconds,
    defaultMaxBatchSize: options.ort.defaultMaxBatchSize,
    responseCacheBytes: options.responseCacheBytes,
    rateLimit: options.rateLimit,
    clock: nodeClock,
    logger,
  });
  logger.info('starting infermesh', {
    version: options.version, repositories: options.repositories.join(','), model_control_mode: options.controlMode,
    response_cache_bytes: core.responseCache?.maxBytes ?? 0, rate_limit: options.rateLimit ? 'execution_count' : 'off',
  });
  await core.start();
  const index = core.repositoryIndex();
  const ready = index.filter((r) => r.state === 'READY').length;
  const failed = index.filter((r) => r.state === 'UNAVAILABLE');
  logger.info('models loaded', { ready, unavailable: failed.length });
  for (const f of failed) logger.warn('model unavailable', { model: f.name, version: f.version, reason: f.reason });

  let mesh: MeshService | undefined;
  let contribute: ContributeRoute | undefined;
  if (options.mesh) {
    const m = options.mesh;
    const swarmKey = m.swarmKeyFile ? readSwarmKey(m.swarmKeyFile) : undefined;
    const identity = m.identityFile ? await loadOrCreateIdentity(m.identityFile) : undefined;
    if (identity?.created) logger.info('created a new mesh identity', { file: m.identityFile });
    const node = await createMeshNode({
      privateKey: identity?.key,
      transports: [tcp(), webSockets()],
      listen: m.listen,
      bootstrap: m.bootstrap,
      swarmKey,
      allowPeers: m.allowPeers.length > 0 ? m.allowPeers : undefined,
      logger: logger.child({ component: 'mesh' }),
    });
    mesh = new MeshService({
      node, core, statusIntervalMs: m.statusIntervalMs, logger: logger.child({ component: 'mesh' }),
      engines: () => [...new Set(core.repository.allReady().flatMap((s) => s.devices.map((d) => `onnxruntime-node:${d}`)))],
    });
    await mesh.start();
    const id = node.peerId.toString();
    logger.info('joined the mesh', { peer_id: id, private: Boolean(m.swarmKeyFile), bootstrap: m.bootstrap.length, identity: m.identityFile ?? 'ephemeral' });
    for (const a of node.multiaddrs()) logger.info('mesh listening', { multiaddr: a.toString().includes('/p2p/') ? a.toString() : `${a.toString()}/p2p/${id}` });
    if (options.contribute !== false) {
      // The page hands browsers the swarm key: whoever can load it can join a private mesh.
      contribute = new ContributeRoute({
        bundler: new ContributeBundler({ logger }), peerId: id, logger,
        listenAddrs: () => node.multiaddrs().map((a) => a.toString()),
        swarmKeyText: swarmKey ? new TextDecoder().decode(swarmKey) : undefined,
      });
    }
  }

  const http = new KServeHttpServer(core, { host: options.host, port: options.httpPort, corsOrigin: options.corsOrigin, maxBodyBytes: options.maxBodyBytes, mesh, contribute, logger });
  const httpAddr = await http.listen();
  const shown = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  let grpc: KServeGrpcServer | undefined;
  let grpcPort: number | undefined;
  if (options.grpcPort !== undefined) {
    grpc = new KServeGrpcServer(core, { host: options.host, port: options.grpcPort, maxMessageBytes: options.maxBodyBytes, mesh, logger });
    grpcPort = (await grpc.listen().catch(async (e: unknown) => {
      // a port in use is an operator error: release what started so the process can exit
      await http.drain(0, 0);
      await mesh?.stop();
      await core.stop(0);
      throw e;
    })).port;
    // logged before the HTTP line, which tools (test/support/spawn-server.ts) read as "started"
    logger.info('gRPC service listening', { url: `${shown}:${grpcPort}`, bind: `${options.host}:${grpcPort}` });
  }
  logger.info('HTTP service listening', { url: `http://${shown}:${httpAddr.port}/v2`, bind: `${options.host}:${httpAddr.port}` });
  if (contribute) logger.info('contribute a browser: open this page in a browser tab to add it to the mesh', { url: `http://${shown}:${httpAddr.port}${CONTRIBUTE_PATH}` });
  let metrics: MetricsServer | undefined;
  let metricsPort: number | undefined;
  if (options.metricsPort !== undefined) {
    metrics = new MetricsServer(core, { host: options.host, port: options.metricsPort, mesh });
    metricsPort = (await metrics.listen()).port;
    logger.info('metrics service listening', { url: `http://${shown}:${metricsPort}/metrics` });
  }

  let stopping: Promise<void> | undefined;
  let resolveStopped!: (code: number) => void;
  const stopped = new Promise<number>((r) => { resolveStopped = r; });
  const stop = () => {
    stopping ??= (async () => {
      const deadline = Date.now() + options.exitTimeoutSecs * 1000;
      // Grace first (Triton issue #6230): stop advertising, keep serving while peers (and load
      // balancers, via readiness) learn it; all within the exit timeout.
      const graceMs = Math.min(options.exitTimeoutSecs * 1000, options.shutdownGraceSecs !== undefined
        ? options.shutdownGraceSecs * 1000
        : mesh ? defaultShutdownGraceMs(options.mesh?.statusIntervalMs) : 0);
      if (graceMs > 0) {
        logger.info('stopping: grace period, no longer advertising models', { grace_ms: graceMs, mesh: Boolean(mesh) });
        http.beginDrain();
        grpc?.beginDrain();
        await mesh?.withdraw().catch((e: unknown) => logger.warn('could not publish the withdrawal', { reason: String(e) }));
        await new Promise((r) => setTimeout(r, graceMs));
      }
      logger.info('stopping: draining in-flight requests', { inflight: http.inflight + (grpc?.inflight ?? 0), exit_timeout_secs: options.exitTimeoutSecs });
      // Requests already received are answered; only then do models stop (nothing accepted is lost).
      await Promise.all([http.drain(Math.max(0, deadline - Date.now())), grpc?.drain(Math.max(0, deadline - Date.now()))]);
      // Peers were still served during the drain; now leave (callers cut off mid-request fail over).
      await mesh?.stop();
      await core.stop(Math.max(0, deadline - Date.now()));
      http.closeAllConnections();
      grpc?.close();
      await metrics?.close();
      logger.info('stopped');
      resolveStopped(0);
    })();
    return stopping;
  };
  if (options.handleSignals !== false) {
    const onSignal = (signal: string) => {
      logger.info('signal received', { signal });
      void stop();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  return { core, mesh, httpPort: httpAddr.port, grpcPort, metricsPort, stop, untilStopped: () => stopped };
}
