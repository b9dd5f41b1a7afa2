/**
 * Runs `infermesh serve` as a real child process and reads the addresses it logs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '..', '..', 'node-host', 'bin.js');

export interface ServerProcess {
  child: ChildProcess;
  httpUrl: string;
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

/** Starts the CLI and waits until it logs its HTTP address (or exits). */
export function spawnServer(args: string[], timeoutMs = 30_000): Promise<ServerProcess> {
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
        resolve({ child, httpUrl: http[1], metricsUrl: metrics?.[1], peerId, meshAddrs, log: () => stderr, exited });
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before listening:\n${stderr}`)); });
  });
}
