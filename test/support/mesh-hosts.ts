/**
 * Helpers for multi-process mesh tests: each host is a real `infermesh serve` process on
 * 127.0.0.1 with its own temporary model repository, and the tests observe it only from outside
 * (HTTP, `/v2/mesh`, `/metrics`, signals), like an operator would. Every process started here
 * is tracked so that a test can kill them all, also when it fails.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, spawnServer, type ServerProcess } from './spawn-server.ts';
import { KServeClient } from './kserve-client.ts';
import { EXAMPLES } from './test-server.ts';

/** A running host: the process plus a client for its HTTP endpoint. */
export interface MeshHost extends ServerProcess {
  name: string;
  client: KServeClient;
  /** Its mesh peer id (always set: hosts here join the mesh). */
  peerId: string;
  /** Its TCP mesh address, ending in /p2p/<peer id>, for other hosts' --bootstrap. */
  meshAddr: string;
}

/** One peer of `GET /v2/mesh` (the fields the tests read). */
export interface MeshPeerView {
  peer_id: string;
  connected: boolean;
  age_ms: number | null;
  models: { name: string; versions: string[]; throughput: number }[];
}

/** `GET /v2/mesh`. */
export interface MeshView {
  peer_id: string;
  addresses: string[];
  role: string;
  peers: MeshPeerView[];
}

/** What a host is started with besides the fixed test flags. */
export interface HostOptions {
  /** Model repository directory (see {@link makeRepo}). */
  repo: string;
  /** Multiaddrs (…/p2p/<id>) to bootstrap from. */
  bootstrap?: string[];
  swarmKey?: string;
  identity?: string;
  allowPeers?: string[];
  /** Any further `serve` flags. */
  extra?: string[];
}

/**
 * Starts and tracks hosts. `close` SIGKILLs whatever is still running: test hosts hold
 * nothing worth draining, SIGKILL also ends a SIGSTOPped process, and it never waits on a
 * host that hangs. A process-exit hook kills them too if the test runner itself goes away.
 */
export class HostGroup {
  readonly hosts: MeshHost[] = [];
  readonly #dirs: string[] = [];
  /** Starts still waiting for their host to listen; {@link close} waits for them. */
  readonly #starting = new Set<Promise<unknown>>();
  #closed = false;
  readonly #onExit = () => { for (const h of this.hosts) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGKILL'); };

  constructor() {
    process.once('exit', this.#onExit);
  }

  /** A temporary directory removed by {@link close}. */
  tempDir(prefix = 'infermesh-mesh-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }

  /**
   * A model repository holding copies of the named example models (so a host serves exactly
   * these); `configs` replaces a model's config.pbtxt. No names: an empty repository.
   */
  makeRepo(models: string[], configs: Record<string, string> = {}): string {
    for (const m of Object.keys(configs)) if (!models.includes(m)) throw new Error(`config given for '${m}', which is not in the repository`);
    const repo = this.tempDir('infermesh-repo-');
    for (const m of models) {
      cpSync(join(EXAMPLES, m), join(repo, m), { recursive: true });
      if (configs[m] !== undefined) writeFileSync(join(repo, m, 'config.pbtxt'), configs[m]);
    }
    return repo;
  }

  /** Starts `infermesh serve` on loopback with OS-chosen ports and waits until it listens. */
  async start(name: string, o: HostOptions): Promise<MeshHost> {
    if (this.#closed) throw new Error(`host group closed; not starting ${name}`);
    const args = [
      '--model-repository', o.repo, '--host', '127.0.0.1', '--http-port', '0', '--metrics-port', '0',
      '--listen', '/ip4/127.0.0.1/tcp/0', '--exit-timeout-secs', '0',
      // one ORT thread per host: several hosts share two cores
      '--backend-config', 'onnxruntime,intra-op-threads=1',
    ];
    for (const b of o.bootstrap ?? []) args.push('--bootstrap', b);
    if (o.swarmKey !== undefined) args.push('--swarm-key', o.swarmKey);
    if (o.identity !== undefined) args.push('--identity', o.identity);
    for (const p of o.allowPeers ?? []) args.push('--allow-peer', p);
    args.push(...(o.extra ?? []));
    const starting = spawnServer(args);
    this.#starting.add(starting);
    let proc: ServerProcess;
    try {
      proc = await starting;
    } finally {
      this.#starting.delete(starting);
    }
    const meshAddr = proc.meshAddrs.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && !a.includes('/ws'));
    if (this.#closed || proc.peerId === undefined || meshAddr === undefined) {
      proc.child.kill('SIGKILL');
      throw new Error(this.#closed ? `host group closed while ${name} started` : `host ${name} did not log its mesh peer id and TCP address:\n${proc.log()}`);
    }
    const host: MeshHost = { ...proc, name, client: new KServeClient(proc.httpUrl), peerId: proc.peerId, meshAddr };
    this.hosts.push(host);
    return host;
  }

  /**
   * SIGKILLs every host (also those still starting), waits (bounded) for them to exit, and
   * removes the temporary directories. Call from afterAll/afterEach; idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    // a start in flight either fails or kills its host itself once it sees #closed
    await Promise.allSettled([...this.#starting]);
    const hosts = this.hosts.splice(0);
    for (const h of hosts) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGKILL');
    await Promise.all(hosts.map((h) => Promise.race([h.exited, delay(5_000)])));
    for (const d of this.#dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    process.removeListener('exit', this.#onExit);
  }
}

/** Runs `infermesh keygen` and resolves with its stdout (rejects on a non-zero exit or after 15 s). */
export function keygen(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, 'keygen', ...args], { encoding: 'utf8', timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`infermesh keygen ${args.join(' ')} failed (${err.message}): ${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Writes a new identity with `infermesh keygen --identity` and resolves with the peer id it prints. */
export async function keygenIdentity(file: string): Promise<string> {
  const out = await keygen(['--identity', file]);
  const m = /peer id (\S+)/.exec(out);
  if (!m) throw new Error(`keygen --identity printed no peer id: ${out}`);
  return m[1];
}

/** `GET /v2/mesh` of a host, bounded so that a hung host fails the test instead of stalling it. */
export async function meshOf(host: MeshHost, timeoutMs = 2_000): Promise<MeshView> {
  const res = await fetch(`${host.httpUrl}/v2/mesh`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`GET /v2/mesh on ${host.name}: HTTP ${res.status} ${await res.text()}`);
  return await res.json() as MeshView;
}

/** The peer `peerId` in a host's mesh view, if listed. */
export function peerIn(view: MeshView, peerId: string): MeshPeerView | undefined {
  return view.peers.find((p) => p.peer_id === peerId);
}

/** True when `view` lists `peerId` with a current report naming every model in `models`. */
export function listsPeer(view: MeshView, peerId: string, models: string[] = []): boolean {
  const p = peerIn(view, peerId);
  return p !== undefined && p.age_ms !== null && models.every((m) => p.models.some((x) => x.name === m));
}

/**
 * True when `view` lists `peerId` advertising a measured throughput (> 0) for `model`. A peer
 * that has never run the model advertises 0, and the router does not send it mesh traffic while
 * a measured peer serves the model (router.ts, weighted-sample.ts), so tests that need traffic
 * on every host warm each one up directly and wait for this first.
 */
export function advertisesThroughput(view: MeshView, peerId: string, model: string): boolean {
  return (peerIn(view, peerId)?.models.find((m) => m.name === model)?.throughput ?? 0) > 0;
}

/** A one-line summary of a mesh view for failure messages: each peer with its report age and models. */
export function summarize(view: MeshView): string {
  const peers = view.peers.map((p) => `${p.peer_id.slice(-6)}${p.connected ? '' : '(disconnected)'} age=${p.age_ms} [${p.models.map((m) => `${m.name}@${Math.round(m.throughput)}/s`).join(' ')}]`);
  return `${view.peer_id.slice(-6)} sees ${peers.length === 0 ? 'nobody' : peers.join(', ')}`;
}

/** A sample of a Prometheus text exposition (no labels given: the unlabelled sample). */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels} `)) return Number(line.slice(name.length + labels.length + 1));
  }
  return undefined;
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `probe` every `intervalMs` until it returns something other than undefined/false, and
 * returns that; throws after `timeoutMs` naming `what` and the last thing seen. A probe that
 * throws counts as "not yet" (a host may be busy) and its error is reported on timeout.
 */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs, intervalMs = 50 }: { timeoutMs: number; intervalMs?: number },
): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return { value: v, ms: performance.now() - start };
      last = v;
    } catch (e) {
      last = e;
    }
    if (performance.now() - start > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await delay(intervalMs);
  }
}

/**
 * Checks that `bad` stays false for `windowMs` (polling every `intervalMs`), throwing as soon
 * as it is seen true. For "never" assertions, which can only be checked over a bounded window.
 */
export async function holdsFor(what: string, bad: () => Promise<boolean>, { windowMs, intervalMs = 100 }: { windowMs: number; intervalMs?: number }): Promise<void> {
  const end = performance.now() + windowMs;
  for (;;) {
    if (await bad()) throw new Error(`${what} happened within ${windowMs} ms`);
    if (performance.now() >= end) return;
    await delay(intervalMs);
  }
}
