/**
 * Parsing of Triton's response-cache and rate-limiter flags for `infermesh serve`
 * (Triton `src/command_line_parser.cc`): `--cache-config local,size=N`,
 * `--rate-limit off|execution_count`, `--rate-limit-resource NAME:COUNT[:DEVICE]`.
 */
import type { RateLimiterInit, RateLimitResource } from '../core/rate-limiter.ts';

/** A command-line mistake; cli.ts prints it with the usage text (it tells errors apart by name). */
class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * `--cache-config` values (repeatable, Triton's `<cache>,<key>=<value>`) → the cache size in
 * bytes, or undefined when not given (the server's default applies). Only the `local` cache
 * exists here; `size=0` turns caching off.
 */
export function parseCacheConfig(entries: readonly string[]): number | undefined {
  let size: number | undefined;
  for (const entry of entries) {
    const m = /^([^,]+),([^=]+)=(.*)$/.exec(entry);
    if (!m) throw new UsageError(`--cache-config must look like local,size=BYTES, got '${entry}'`);
    const [, cache, key, value] = m;
    if (cache !== 'local') throw new UsageError(`--cache-config: unknown cache '${cache}' (infermesh has the 'local' cache only)`);
    if (key !== 'size') throw new UsageError(`--cache-config local: unknown key '${key}' (known: size)`);
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`--cache-config local,size must be a whole number of bytes, got '${value}'`);
    size = n;
  }
  return size;
}

/**
 * `--rate-limit` and `--rate-limit-resource` → the rate limiter init, or undefined when off.
 * Resources without `execution_count` would do nothing, so they are refused.
 */
export function parseRateLimit(mode: string | undefined, resources: readonly string[]): RateLimiterInit | undefined {
  const m = mode ?? 'off';
  if (m !== 'off' && m !== 'execution_count') throw new UsageError(`--rate-limit must be off or execution_count, got '${m}'`);
  if (m === 'off') {
    if (resources.length > 0) throw new UsageError('--rate-limit-resource needs --rate-limit execution_count');
    return undefined;
  }
  const parsed: RateLimitResource[] = resources.map((r) => {
    const parts = r.split(':');
    if (parts.length < 2 || parts.length > 3 || parts[0] === '' || !/^\d+$/.test(parts[1]) || (parts.length === 3 && !/^\d+$/.test(parts[2]))) {
      throw new UsageError(`--rate-limit-resource must look like NAME:COUNT or NAME:COUNT:DEVICE, got '${r}'`);
    }
    return { name: parts[0], count: Number(parts[1]), ...(parts.length === 3 ? { device: Number(parts[2]) } : {}) };
  });
  return { resources: parsed };
}
