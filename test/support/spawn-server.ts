/**
 * Runs `infermesh serve` as a real child process and reads the addresses it logs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '..', '..', 'node-host', 'bin.js');

export interface ServerProcess {
  child: ChildProcess;
  httpUrl: string;
  /** `host:port` of the gRPC endpoint (from `gRPC service listening url=…`); undefined with --allow-grpc false. */
  grpcUrl?: string;
  metricsUrl?: string;
  /** The mesh peer id (from `joined the mesh peer_id=…`); undefined with --no-mesh. */
  peerId?: string;
  /** Dialable mesh addresses, each ending in /p2p/<peer id> (from `mesh listening multiaddr=…`); empty with --no-mesh. */
  meshAddrs: string[];
  /** Everything the process wrote to stderr so far. */
  log(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/**
 * Starts the CLI and waits until it logs its HTTP address (or exits). Unless the arguments
 * choose a gRPC port (or turn gRPC off), gRPC gets a free port: Triton's default 8001 would
 * make parallel test processes collide.
 */
export function spawnServer(args: string[], timeoutMs = 30_000): Promise<ServerProcess> {
  if (!args.includes('--grpc-port') && !args.includes('--allow-grpc')) args = [...args, '--grpc-port', '0'];
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server did not start in ${timeoutMs} ms:\n${stderr}`)); }, timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const http = /HTTP service listening url=(http:\/\/[^\s]+)\/v2/.exec(stderr);
      const metricsWanted = !args.includes('--allow-metrics');
      const metrics = /metrics service listening url=(http:\/\/[^\s]+)/.exec(stderr);
      if (http && (metrics || !metricsWanted)) {
        clearTimeout(timer);
        // serve.ts logs the mesh lines before the HTTP line, so they are complete here.
        const peerId = /joined the mesh peer_id=(\S+)/.exec(stderr)?.[1];
        const meshAddrs = [...stderr.matchAll(/mesh listening multiaddr=(\S+)/g)].map((m) => m[1]);
        const grpcUrl = /gRPC service listening url=(\S+)/.exec(stderr)?.[1];
        resolve({ child, httpUrl: http[1], grpcUrl, metricsUrl: metrics?.[1], peerId, meshAddrs, log: () => stderr, exited });
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before listening:\n${stderr}`)); });
  });
}
