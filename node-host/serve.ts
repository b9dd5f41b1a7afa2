/**
 * The Node composition root: file-system repositories + onnxruntime-node backends + the
 * core server + HTTP and metrics endpoints, with graceful shutdown on SIGINT/SIGTERM.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from '../core/logger.ts';
import { InferenceServer } from '../core/inference-server.ts';
import type { ModelControlMode } from '../core/model-repository.ts';
import { FsModelSource } from './model-source-fs.ts';
import { nodeClock } from './clock-node.ts';
import { createOrtNodeBackends } from './backend-ort-node.ts';
import { KServeHttpServer } from './http-server.ts';
import { MetricsServer } from './metrics-server.ts';
import type { LogLevel } from './logger-node.ts';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { createMeshNode } from '../mesh/mesh-node.ts';
import { MeshService } from '../mesh/mesh-service.ts';
import { loadOrCreateIdentity, readSwarmKey } from './mesh-files.ts';

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

/** Everything `infermesh serve` can be told. */
export interface ServeOptions {
  repositories: string[];
  host: string;
  httpPort: number;
  grpcPort?: number;
  /** undefined = metrics off. */
  metricsPort?: number;
  controlMode: ModelControlMode;
  pollSeconds: number;
  loadModels: string[];
  autoComplete: boolean;
  strictReadiness: boolean;
  exitTimeoutSecs: number;
  corsOrigin?: string;
  maxBodyBytes: number;
  id?: string;
  version?: string;
  ort: { intraOpNumThreads?: number; interOpNumThreads?: number; enableWebGpu?: boolean; allowSpinning?: boolean; defaultMaxBatchSize?: number; searchPath?: string };
  logLevel: LogLevel;
  logFormat: 'text' | 'json';
  /** Mesh membership; undefined = --no-mesh. */
  mesh?: MeshOptions;
  /** Install SIGINT/SIGTERM handlers (the CLI does; embedders and tests may not). */
  handleSignals?: boolean;
}

/** A running server. */
export interface ServeHandle {
  core: InferenceServer;
  mesh?: MeshService;
  httpPort: number;
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
  if (options.grpcPort !== undefined) logger.warn('the gRPC endpoint is not implemented yet; --grpc-port is ignored', { grpc_port: options.grpcPort });
  const core = new InferenceServer({
    sources: options.repositories.map((d) => new FsModelSource(d)),
    backends: createOrtNodeBackends({ logger, ...options.ort }),
    name: options.id,
    version: options.version,
    controlMode: options.controlMode,
    startupModels: options.loadModels,
    strictReadiness: options.strictReadiness,
    autoComplete: options.autoComplete,
    pollSeconds: options.pollSeconds,
    defaultMaxBatchSize: options.ort.defaultMaxBatchSize,
    clock: nodeClock,
    logger,
  });
  logger.info('starting infermesh', { version: options.version, repositories: options.repositories.join(','), model_control_mode: options.controlMode });
  await core.start();
  const index = core.repositoryIndex();
  const ready = index.filter((r) => r.state === 'READY').length;
  const failed = index.filter((r) => r.state === 'UNAVAILABLE');
  logger.info('models loaded', { ready, unavailable: failed.length });
  for (const f of failed) logger.warn('model unavailable', { model: f.name, version: f.version, reason: f.reason });

  let mesh: MeshService | undefined;
  if (options.mesh) {
    const m = options.mesh;
    const identity = m.identityFile ? await loadOrCreateIdentity(m.identityFile) : undefined;
    if (identity?.created) logger.info('created a new mesh identity', { file: m.identityFile });
    const node = await createMeshNode({
      privateKey: identity?.key,
      transports: [tcp(), webSockets()],
      listen: m.listen,
      bootstrap: m.bootstrap,
      swarmKey: m.swarmKeyFile ? readSwarmKey(m.swarmKeyFile) : undefined,
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
  }

  const http = new KServeHttpServer(core, { host: options.host, port: options.httpPort, corsOrigin: options.corsOrigin, maxBodyBytes: options.maxBodyBytes, mesh, logger });
  const httpAddr = await http.listen();
  const shown = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  logger.info('HTTP service listening', { url: `http://${shown}:${httpAddr.port}/v2`, bind: `${options.host}:${httpAddr.port}` });
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
      logger.info('stopping: draining in-flight requests', { inflight: http.inflight, exit_timeout_secs: options.exitTimeoutSecs });
      // Requests already received are answered; only then do models stop (nothing accepted is lost).
      const deadline = Date.now() + options.exitTimeoutSecs * 1000;
      await http.drain(options.exitTimeoutSecs * 1000);
      // Peers were still served during the drain; now leave (callers cut off mid-request fail over).
      await mesh?.stop();
      await core.stop(Math.max(0, deadline - Date.now()));
      http.closeAllConnections();
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
  return { core, mesh, httpPort: httpAddr.port, metricsPort, stop, untilStopped: () => stopped };
}
