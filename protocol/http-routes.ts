/**
 * KServe v2 / Triton HTTP routing: which endpoint a path names and which methods it allows.
 * Mirrors Triton's regexes (COMPAT-NOTES §1.1); kept free of I/O so every host (and the
 * mesh's HTTP forwarding) routes identically.
 */

/** The model sub-resources of `/v2/models/{m}[/versions/{v}]/...`. */
export type ModelAction = 'metadata' | 'infer' | 'ready' | 'config' | 'stats' | 'generate' | 'generate_stream' | 'trace';

/** A matched endpoint. */
export type Route =
  | { kind: 'health'; which: 'live' | 'ready' }
  | { kind: 'server-metadata' }
  | { kind: 'stats-all' }
  | { kind: 'logging' }
  | { kind: 'trace' }
  | { kind: 'model'; model: string; version?: string; action: ModelAction }
  | { kind: 'repository-index'; repository?: string }
  | { kind: 'repository-control'; repository?: string; model: string; action: 'load' | 'unload' }
  | { kind: 'shared-memory' }
  /** infermesh's own: this host and its peer directory. */
  | { kind: 'mesh' }
  | { kind: 'not-found' };

const SERVER = /^\/v2(?:\/health\/(live|ready))?$/;
const MODEL = /^\/v2\/models\/([^/]+)(?:\/versions\/([0-9]+))?(?:\/(infer|generate|generate_stream|ready|config|stats|trace\/setting))?$/;
const REPOSITORY = /^\/v2\/repository(?:\/([^/]+))?\/(index|models\/([^/]+)\/(load|unload))$/;
const SHM = /^\/v2\/(?:system|cuda)sharedmemory(?:\/region\/([^/]+))?\/(status|register|unregister)$/;

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Matches a request path (without query string) to an endpoint. */
export function matchRoute(path: string): Route {
  if (path === '/v2/models/stats') return { kind: 'stats-all' };
  if (path === '/v2/logging') return { kind: 'logging' };
  if (path === '/v2/trace/setting') return { kind: 'trace' };
  if (path === '/v2/mesh') return { kind: 'mesh' };
  let m = SERVER.exec(path);
  if (m) return m[1] ? { kind: 'health', which: m[1] as 'live' | 'ready' } : { kind: 'server-metadata' };
  m = MODEL.exec(path);
  if (m) {
    const model = decode(m[1]);
    if (model === undefined) return { kind: 'not-found' };
    const action = (m[3] === 'trace/setting' ? 'trace' : m[3] ?? 'metadata') as ModelAction;
    // Triton: a versioned trace path falls through to 404.
    if (action === 'trace' && m[2] !== undefined) return { kind: 'not-found' };
    return { kind: 'model', model, ...(m[2] !== undefined ? { version: m[2] } : {}), action };
  }
  m = REPOSITORY.exec(path);
  if (m) {
    const repository = m[1] === undefined ? undefined : decode(m[1]);
    if (m[2] === 'index') return { kind: 'repository-index', ...(repository !== undefined ? { repository } : {}) };
    const model = decode(m[3]);
    if (model === undefined) return { kind: 'not-found' };
    return { kind: 'repository-control', ...(repository !== undefined ? { repository } : {}), model, action: m[4] as 'load' | 'unload' };
  }
  if (SHM.test(path)) return { kind: 'shared-memory' };
  return { kind: 'not-found' };
}

/** Methods each endpoint accepts; anything else gets 405 (Triton checks method per handler). */
export function allowedMethods(route: Route): readonly string[] {
  switch (route.kind) {
    case 'health': case 'server-metadata': case 'stats-all': case 'mesh': return ['GET'];
    case 'logging': case 'trace': return ['GET', 'POST'];
    case 'repository-index': case 'repository-control': return ['POST'];
    case 'model':
      if (route.action === 'infer' || route.action === 'generate' || route.action === 'generate_stream') return ['POST'];
      if (route.action === 'trace') return ['GET', 'POST'];
      return ['GET'];
    case 'shared-memory': return ['GET', 'POST'];
    case 'not-found': return [];
  }
}
