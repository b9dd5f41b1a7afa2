/**
 * The `infermesh` command line. The only reader of process.argv and process.env
 * (ARCHITECTURE-GUIDE §6). Flag names follow Triton's where Triton has them.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { DEFAULT_MESH_LISTEN, serve, type ServeOptions } from './serve.ts';
import { DEFAULT_GRPC_PORT } from './grpc-server.ts';
import { writeNewIdentity, writeNewSwarmKey } from './mesh-files.ts';
import { peerIdOf } from '../mesh/identity.ts';
import { DEFAULT_CLIENT_WAIT_MS, inferCommand, peersCommand } from './mesh-client-commands.ts';
import { createNodeLogger, type LogLevel } from './logger-node.ts';
import { parseCacheConfig, parseRateLimit } from './cli-cache-rate-limit.ts';

const USAGE = `infermesh — a decentralized inference mesh that speaks Triton's protocols

Usage:
  infermesh serve --model-repository DIR [options]
  infermesh keygen --swarm-key FILE | --identity FILE
  infermesh peers --bootstrap MULTIADDR [--swarm-key FILE] [--json]
  infermesh infer --bootstrap MULTIADDR --model NAME [--model-version N] --input REQUEST.json [--swarm-key FILE]
  infermesh --help | --version

serve options (Triton's names and defaults where Triton has them):
  --model-repository DIR        model repository (repeatable; Triton layout: DIR/<model>/<version>/model.onnx)
  --host ADDR                   address to bind (default 0.0.0.0)
  --http-port N                 KServe v2 HTTP port (default 8000; 0 = a free port)
  --grpc-port N                 KServe v2 / Triton gRPC port (default 8001; 0 = a free port)
  --allow-grpc true|false       serve gRPC (default true)
  --metrics-port N              Prometheus metrics port (default 8002; 0 = a free port)
  --allow-metrics true|false    serve metrics (default true)
  --model-control-mode MODE     none (default) | poll | explicit
  --repository-poll-secs N      rescan interval in poll mode (default 15)
  --load-model NAME             model to load at start in explicit mode (repeatable; '*' = all)
  --strict-model-config         do not auto-complete configs from the model files (deprecated in Triton)
  --disable-auto-complete-config   same as --strict-model-config
  --strict-readiness true|false ready only when every model is ready (default true)
  --exit-timeout-secs N         on SIGINT/SIGTERM wait this long for in-flight requests (default 30)
  --shutdown-grace-secs S       on SIGINT/SIGTERM first stop advertising models (mesh status, readiness) and keep
                                  serving S seconds before draining (default: 3.5 with the mesh, 0 without;
                                  counts within --exit-timeout-secs)
  --backend-config onnxruntime,KEY=VALUE   ONNX Runtime options (repeatable):
                                  intra-op-threads=N, inter-op-threads=N, enable-webgpu=true, allow-spinning=false
  --cors-origin ORIGIN          send CORS headers allowing ORIGIN ('*' for any) — off by default
  --http-max-body-bytes N       largest request body (default 536870912)
  --cache-config local,size=N   response cache size in bytes for models with response_cache { enable: true }
                                  (default 67108864; size=0 turns the cache off)
  --rate-limit off|execution_count   off (default), or run an instance only when its rate_limiter resources are free
  --rate-limit-resource NAME:COUNT[:DEVICE]   available count of a resource (repeatable; default: the largest
                                  count any instance asks for)
  --id NAME                     server name reported by GET /v2 (default infermesh)
  --log-verbose N               1 or more logs debug lines (default 0)
  --log-format text|json        log line format (default text)
  --help                        this text

mesh options (serve joins the mesh unless --no-mesh):
  --listen MULTIADDR            address to listen on (repeatable; default /ip4/0.0.0.0/tcp/8003 and /ip4/0.0.0.0/tcp/8004/ws)
  --bootstrap MULTIADDR         a peer to join through, ending in /p2p/<peer id> (repeatable)
  --swarm-key FILE              private mesh: only nodes with the same key file connect
  --identity FILE               keep this host's peer id across restarts (created if missing)
  --allow-peer PEERID           only these peers may connect (repeatable)
  --no-mesh                     serve alone, without joining a mesh
  --no-contribute               do not serve the browser contributor page at /contribute (served by default
                                  on the HTTP port when in a mesh; in a private mesh it hands out the swarm key)

keygen:
  infermesh keygen --swarm-key FILE    write a new private-mesh key (give every node the same file)
  infermesh keygen --identity FILE     write a new identity (Ed25519) and print its peer id

Examples:
  infermesh serve --model-repository examples/models
  infermesh serve --model-repository /models --http-port 0 --grpc-port 0 --metrics-port 0 --model-control-mode explicit --load-model simple
`;

/** Raised for a command line a person must correct; printed without a stack. */
class UsageError extends Error {
  override name = 'UsageError';
}

/** A non-negative number of seconds (fractions allowed), or undefined when the flag is absent. */
function seconds(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 86400) throw new UsageError(`--${name} must be a number of seconds in [0, 86400], got '${v}'`);
  return n;
}

function int(name: string, v: string | undefined, fallback: number, min = 0, max = 65535): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got '${v}'`);
  return n;
}

function bool(name: string, v: string | undefined, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (['true', '1', 'on', 'yes'].includes(v.toLowerCase())) return true;
  if (['false', '0', 'off', 'no'].includes(v.toLowerCase())) return false;
  throw new UsageError(`--${name} must be true or false, got '${v}'`);
}

/** Parses `serve` arguments into ServeOptions. Exported for tests. */
export function parseServeArgs(args: string[]): ServeOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      'model-repository': { type: 'string', multiple: true },
      host: { type: 'string' },
      'http-port': { type: 'string' },
      'grpc-port': { type: 'string' },
      'allow-grpc': { type: 'string' },
      'metrics-port': { type: 'string' },
      'allow-metrics': { type: 'string' },
      'model-control-mode': { type: 'string' },
      'repository-poll-secs': { type: 'string' },
      'load-model': { type: 'string', multiple: true },
      'strict-model-config': { type: 'boolean' },
      'disable-auto-complete-config': { type: 'boolean' },
      'strict-readiness': { type: 'string' },
      'exit-timeout-secs': { type: 'string' },
      'shutdown-grace-secs': { type: 'string' },
      'backend-config': { type: 'string', multiple: true },
      'cors-origin': { type: 'string' },
      'http-max-body-bytes': { type: 'string' },
      id: { type: 'string' },
      'log-verbose': { type: 'string' },
      'log-format': { type: 'string' },
      listen: { type: 'string', multiple: true },
      bootstrap: { type: 'string', multiple: true },
      'swarm-key': { type: 'string' },
      identity: { type: 'string' },
      'allow-peer': { type: 'string', multiple: true },
      'no-mesh': { type: 'boolean' },
      'cache-config': { type: 'string', multiple: true },
      'rate-limit': { type: 'string' },
      'rate-limit-resource': { type: 'string', multiple: true },
      'no-contribute': { type: 'boolean' },
    },
  });
  const repos = values['model-repository'] ?? [];
  if (repos.length === 0) throw new UsageError('--model-repository DIR is required (try: --model-repository examples/models)');
  const mode = values['model-control-mode'] ?? 'none';
  if (mode !== 'none' && mode !== 'poll' && mode !== 'explicit') throw new UsageError(`--model-control-mode must be none, poll or explicit, got '${mode}'`);
  const loadModels = values['load-model'] ?? [];
  if (loadModels.length > 0 && mode !== 'explicit') throw new UsageError('--load-model needs --model-control-mode explicit (in other modes every model loads)');
  if (loadModels.includes('*') && loadModels.length > 1) throw new UsageError("--load-model '*' must be given alone");
  const logFormat = values['log-format'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new UsageError(`--log-format must be text or json, got '${logFormat}'`);
  // PATH lets the ORT backend look for nvidia-smi, to say when a GPU is present but CUDA is not set up.
  const ort: ServeOptions['ort'] = { searchPath: process.env.PATH };
  for (const entry of values['backend-config'] ?? []) {
    const m = /^([^,]+),([^=]+)=(.*)$/.exec(entry);
    if (!m) throw new UsageError(`--backend-config must look like onnxruntime,KEY=VALUE, got '${entry}'`);
    const [, backend, key, value] = m;
    if (backend !== 'onnxruntime') throw new UsageError(`--backend-config: unknown backend '${backend}' (infermesh has: onnxruntime)`);
    if (key === 'intra-op-threads') ort.intraOpNumThreads = int(key, value, 0, 0, 1024);
    else if (key === 'inter-op-threads') ort.interOpNumThreads = int(key, value, 0, 0, 1024);
    else if (key === 'enable-webgpu') ort.enableWebGpu = bool(key, value, false);
    else if (key === 'allow-spinning') ort.allowSpinning = bool(key, value, true);
    else if (key === 'default-max-batch-size') ort.defaultMaxBatchSize = int(key, value, 4, 0, 1 << 20);
    else throw new UsageError(`--backend-config onnxruntime: unknown key '${key}' (known: intra-op-threads, inter-op-threads, enable-webgpu, allow-spinning, default-max-batch-size)`);
  }
  const verbose = int('log-verbose', values['log-verbose'], 0, 0, 10);
  return {
    repositories: repos,
    host: values.host ?? '0.0.0.0',
    httpPort: int('http-port', values['http-port'], 8000),
    grpcPort: bool('allow-grpc', values['allow-grpc'], true) ? int('grpc-port', values['grpc-port'], DEFAULT_GRPC_PORT) : undefined,
    metricsPort: bool('allow-metrics', values['allow-metrics'], true) ? int('metrics-port', values['metrics-port'], 8002) : undefined,
    controlMode: mode,
    pollSeconds: int('repository-poll-secs', values['repository-poll-secs'], 15, 1, 86400),
    loadModels,
    autoComplete: !(values['strict-model-config'] || values['disable-auto-complete-config']),
    strictReadiness: bool('strict-readiness', values['strict-readiness'], true),
    exitTimeoutSecs: int('exit-timeout-secs', values['exit-timeout-secs'], 30, 0, 86400),
    shutdownGraceSecs: seconds('shutdown-grace-secs', values['shutdown-grace-secs']),
    corsOrigin: values['cors-origin'],
    maxBodyBytes: int('http-max-body-bytes', values['http-max-body-bytes'], 512 * 1024 * 1024, 1024, 2 ** 31 - 1),
    id: values.id,
    responseCacheBytes: parseCacheConfig(values['cache-config'] ?? []),
    rateLimit: parseRateLimit(values['rate-limit'], values['rate-limit-resource'] ?? []),
    ort,
    logLevel: (verbose > 0 ? 'debug' : 'info') as LogLevel,
    logFormat,
    contribute: !values['no-contribute'],
    mesh: values['no-mesh'] ? undefined : {
      listen: values.listen ?? DEFAULT_MESH_LISTEN,
      bootstrap: values.bootstrap ?? [],
      swarmKeyFile: values['swarm-key'],
      identityFile: values.identity,
      allowPeers: values['allow-peer'] ?? [],
    },
  };
}

/** `infermesh peers` / `infermesh infer`: a client-only peer that joins briefly. */
async function clientCommand(command: 'peers' | 'infer', args: string[]): Promise<number> {
  const { values } = parseArgs({
    args, strict: true, options: {
      bootstrap: { type: 'string', multiple: true }, 'swarm-key': { type: 'string' }, json: { type: 'boolean' },
      model: { type: 'string' }, 'model-version': { type: 'string' }, input: { type: 'string' }, 'wait-ms': { type: 'string' },
      'log-verbose': { type: 'string' },
    },
  });
  const logger = createNodeLogger({ level: int('log-verbose', values['log-verbose'], 0, 0, 10) > 0 ? 'debug' : 'warn' });
  const base = {
    bootstrap: values.bootstrap ?? [], swarmKeyFile: values['swarm-key'], logger,
    waitMs: int('wait-ms', values['wait-ms'], DEFAULT_CLIENT_WAIT_MS, 0, 600_000),
    write: (s: string) => { process.stdout.write(s); },
  };
  if (base.bootstrap.length === 0) throw new UsageError(`${command} needs --bootstrap MULTIADDR (a host logs it as "mesh listening multiaddr=…")`);
  if (command === 'peers') return peersCommand({ ...base, json: values.json ?? false });
  if (!values.model || !values.input) throw new UsageError('infer needs --model NAME and --input REQUEST.json (a KServe v2 JSON inference request)');
  return inferCommand({ ...base, model: values.model, version: values['model-version'], inputFile: values.input });
}

/** `infermesh keygen`: writes a swarm key or an identity file. */
async function keygen(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { 'swarm-key': { type: 'string' }, identity: { type: 'string' } } });
  if (!values['swarm-key'] && !values.identity) throw new UsageError('keygen needs --swarm-key FILE or --identity FILE');
  if (values['swarm-key']) {
    writeNewSwarmKey(values['swarm-key']);
    process.stdout.write(`wrote swarm key ${values['swarm-key']} (give every node of the mesh this file: --swarm-key ${values['swarm-key']})\n`);
  }
  if (values.identity) {
    const key = await writeNewIdentity(values.identity);
    process.stdout.write(`wrote identity ${values.identity}; peer id ${peerIdOf(key).toString()}\n`);
  }
  return 0;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Runs the command line; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 1 : 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(packageVersion() + '\n');
    return 0;
  }
  try {
    if (command === 'serve') {
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(USAGE);
        return 0;
      }
      const options = parseServeArgs(rest);
      const logger = createNodeLogger({ level: options.logLevel, format: options.logFormat });
      const handle = await serve({ ...options, version: packageVersion() }, logger);
      return await handle.untilStopped();
    }
    if (command === 'keygen') return await keygen(rest);
    if (command === 'peers' || command === 'infer') return await clientCommand(command, rest);
    throw new UsageError(`unknown command '${command}' (try: infermesh serve --help)`);
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.name === 'UsageError' || err.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`infermesh: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    process.stderr.write(`infermesh: ${err.message}\n`);
    return 1;
  }
}
