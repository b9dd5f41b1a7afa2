/**
 * Starts a real infermesh server (real onnxruntime-node, real HTTP and gRPC on 127.0.0.1,
 * ports chosen by the OS) for integration tests. gRPC is on by default (`grpcUrl`, for
 * test/support/grpc-client.ts); pass `{ grpcPort: undefined }` to turn it off.
 */
import { join } from 'node:path';
import { serve, type ServeHandle, type ServeOptions } from '../../node-host/serve.ts';
import { silentLogger } from '../../core/logger.ts';
import { KServeClient } from './kserve-client.ts';

export const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples', 'models');

export interface TestServer {
  handle: ServeHandle;
  client: KServeClient;
  /** `127.0.0.1:<port>` of the gRPC endpoint (for createGrpcClient); '' when gRPC is off. */
  grpcUrl: string;
  metricsUrl: string;
  stop(): Promise<void>;
}

export async function startTestServer(overrides: Partial<ServeOptions> = {}): Promise<TestServer> {
  const handle = await serve({
    repositories: [EXAMPLES],
    host: '127.0.0.1',
    httpPort: 0,
    grpcPort: 0,
    metricsPort: 0,
    controlMode: 'none',
    pollSeconds: 15,
    loadModels: [],
    autoComplete: true,
    strictReadiness: true,
    exitTimeoutSecs: 5,
    maxBodyBytes: 64 * 1024 * 1024,
    ort: { intraOpNumThreads: 1 },
    logLevel: 'error',
    logFormat: 'text',
    handleSignals: false,
    ...overrides,
  }, silentLogger);
  return {
    handle,
    client: new KServeClient(`http://127.0.0.1:${handle.httpPort}`),
    grpcUrl: handle.grpcPort === undefined ? '' : `127.0.0.1:${handle.grpcPort}`,
    metricsUrl: `http://127.0.0.1:${handle.metricsPort}/metrics`,
    stop: () => handle.stop(),
  };
}
