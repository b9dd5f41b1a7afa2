/**
 * Where a tab keeps the model files it downloaded, keyed by SHA-256, so a reload does not
 * download them again: Cache Storage when the page may use it (a secure context: https or
 * localhost), else memory (lost on reload, and the status panel says so).
 *
 * Every read is verified against its hash: a cache entry that was truncated or tampered with is
 * deleted and counts as a miss (the file is then fetched from the mesh again).
 */
import { sha256Hex } from '../mesh/blob-protocol.ts';

/** A content-addressed store of model files. */
export interface BlobCache {
  /** `Cache Storage (…)` or `memory (…)`, for the status panel. */
  readonly description: string;
  /** The verified bytes of `sha256`, or undefined. */
  get(sha256: string): Promise<Uint8Array | undefined>;
  /** Stores `bytes` (already verified by the caller); failures (quota) are reported, not thrown. */
  put(sha256: string, bytes: Uint8Array): Promise<void>;
  delete(sha256: string): Promise<void>;
}

/** The Cache Storage cache's name; bump the suffix if the key layout changes. */
export const BLOB_CACHE_NAME = 'infermesh-model-blobs-v1';

/** Path prefix of the synthetic request URLs entries are stored under (never fetched). */
const KEY_PREFIX = '/.infermesh-blob/';

/** Blobs held in memory (tests; pages without Cache Storage). */
export class MemoryBlobCache implements BlobCache {
  readonly description: string;
  readonly #blobs = new Map<string, Uint8Array>();

  constructor(description = 'memory (files are downloaded again after a reload)') {
    this.description = description;
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    return this.#blobs.get(sha256);
  }

  async put(sha256: string, bytes: Uint8Array): Promise<void> {
    this.#blobs.set(sha256, bytes);
  }

  async delete(sha256: string): Promise<void> {
    this.#blobs.delete(sha256);
  }
}

/** Blobs in the page's Cache Storage, verified on every read. */
export class CacheStorageBlobCache implements BlobCache {
  readonly description = 'Cache Storage (kept across reloads)';
  readonly #cache: Cache;
  readonly #origin: string;
  readonly #onError: (message: string) => void;

  constructor(cache: Cache, origin: string, onError: (message: string) => void = () => undefined) {
    this.#cache = cache;
    this.#origin = origin;
    this.#onError = onError;
  }

  #key(sha256: string): string {
    return `${this.#origin}${KEY_PREFIX}${sha256}`;
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    const res = await this.#cache.match(this.#key(sha256)).catch(() => undefined);
    if (!res) return undefined;
    const bytes = new Uint8Array(await res.arrayBuffer());
    if ((await sha256Hex(bytes)) !== sha256) {
      this.#onError(`cached file ${sha256} is corrupt; downloading it again`);
      await this.delete(sha256);
      return undefined;
    }
    return bytes;
  }

  async put(sha256: string, bytes: Uint8Array): Promise<void> {
    try {
      const body = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
      await this.#cache.put(this.#key(sha256), new Response(body, { headers: { 'content-length': String(bytes.byteLength) } }));
    } catch (e) {
      this.#onError(`could not cache a ${bytes.byteLength}-byte model file (${(e as Error)?.message ?? String(e)}); it will be downloaded again after a reload`);
    }
  }

  async delete(sha256: string): Promise<void> {
    await this.#cache.delete(this.#key(sha256)).catch(() => undefined);
  }
}

/** Cache Storage when available (secure contexts), else memory with the reason. */
export async function openBlobCache(onError?: (message: string) => void): Promise<BlobCache> {
  const g = globalThis as { caches?: CacheStorage; location?: { origin: string }; isSecureContext?: boolean };
  if (!g.caches || !g.location) {
    const why = g.isSecureContext === false ? 'the page is not a secure context (https or localhost)' : 'this browser has no Cache Storage';
    return new MemoryBlobCache(`memory: ${why}, so files are downloaded again after a reload`);
  }
  try {
    return new CacheStorageBlobCache(await g.caches.open(BLOB_CACHE_NAME), g.location.origin, onError);
  } catch (e) {
    return new MemoryBlobCache(`memory: Cache Storage refused (${(e as Error)?.message ?? String(e)}), so files are downloaded again after a reload`);
  }
}
