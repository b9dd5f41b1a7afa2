/**
 * A core `ModelSource` whose files come from the mesh: the repository a tab serves from holds
 * the models the tab chose ("pinned"), each with the file list a peer advertised in its status
 * (path, SHA-256, size — ModelStatus.files). Reading a file takes it from the cache
 * (blob-cache.ts, verified by hash), else fetches it over the blob protocol from a peer that
 * advertises that hash (trying the next one on failure), verifies it, and caches it.
 *
 * The core's model repository then loads these models exactly as it loads a directory:
 * `list('')` shows the pinned models as folders, `list('m/1')` the files of version 1, and so on.
 * {@link MeshModelSource.prefetch} downloads a model's files up front with progress, so a load
 * that follows reads from memory and a failed download is reported before loading starts.
 */
import type { ModelSource, SourceEntry } from '../core/model-source.ts';
import { InferError, isInferError } from '../protocol/errors.ts';
import type { BlobCache } from './blob-cache.ts';

/** One file of a pinned model. `path` is relative to the model folder (`1/model.onnx`). */
export interface MeshFile {
  path: string;
  /** Lowercase hex SHA-256. */
  sha256: string;
  size: number;
}

/** Fetches a verified blob from one peer (mesh/blob-protocol.ts `fetchBlob`, bound to the tab's node). */
export type BlobFetcher = (peer: string, sha256: string, options: { maxBytes: number; onProgress?: (received: number, total: number) => void; signal?: AbortSignal }) => Promise<Uint8Array>;

/** Options of {@link MeshModelSource}. */
export interface MeshModelSourceInit {
  fetch: BlobFetcher;
  /** Peers that advertise a file with this hash, best first (connected ones first). */
  peersWith: (sha256: string) => string[];
  cache: BlobCache;
}

/** Download progress of one model: bytes in hand (cached or received) of the total. */
export type ModelProgress = (received: number, total: number) => void;

/** Path segments must be plain names: a peer's file list must not escape the model folder. */
const SAFE_SEGMENT = /^(?!\.\.?$)[^/\\\0]+$/;

/**
 * Checks a file list from a peer: relative POSIX paths of safe segments, no duplicates, 64-hex
 * hashes, non-negative sizes. Returns what is wrong, or undefined.
 */
export function checkFileList(files: readonly MeshFile[]): string | undefined {
  const seen = new Set<string>();
  for (const f of files) {
    if (f.path.length === 0 || !f.path.split('/').every((s) => SAFE_SEGMENT.test(s))) return `file path '${f.path}' is not a relative path inside the model folder`;
    if (seen.has(f.path)) return `file '${f.path}' is listed twice`;
    seen.add(f.path);
    if (!/^[0-9a-f]{64}$/.test(f.sha256)) return `file '${f.path}' has no valid SHA-256`;
    if (!Number.isSafeInteger(f.size) || f.size < 0) return `file '${f.path}' has an invalid size ${f.size}`;
  }
  return undefined;
}

export class MeshModelSource implements ModelSource {
  readonly description = 'mesh (files by SHA-256 over /infermesh/blob/1.0.0)';
  readonly #init: MeshModelSourceInit;
  readonly #models = new Map<string, readonly MeshFile[]>();
  /** Files downloaded and not yet released: a load right after a prefetch reads these. */
  readonly #held = new Map<string, Uint8Array>();
  /** Downloads in flight by hash, so two readers of one file share one transfer. */
  readonly #inflight = new Map<string, Promise<Uint8Array>>();

  constructor(init: MeshModelSourceInit) {
    this.#init = init;
  }

  /**
   * Makes `name` part of this repository with the given files.
   * @throws InferError INVALID_ARG when the list is unsafe or malformed.
   */
  pin(name: string, files: readonly MeshFile[]): void {
    if (!SAFE_SEGMENT.test(name)) throw new InferError('INVALID_ARG', `model name '${name}' cannot be a folder name`);
    const problem = checkFileList(files);
    if (problem) throw new InferError('INVALID_ARG', `model '${name}': ${problem}`);
    this.#models.set(name, [...files]);
  }

  /** Removes `name` from the repository and drops its held bytes. */
  unpin(name: string): void {
    this.release(name);
    this.#models.delete(name);
  }

  /** The pinned files of `name`. */
  filesOf(name: string): readonly MeshFile[] | undefined {
    return this.#models.get(name);
  }

  /** Drops the in-memory copies of `name`'s files (they stay in the cache). */
  release(name: string): void {
    for (const f of this.#models.get(name) ?? []) this.#held.delete(f.sha256);
  }

  /**
   * Downloads (or takes from the cache) every file of a pinned model, reporting progress over
   * the model's total size. Holds them in memory until {@link release}. Resolves with how many
   * bytes came from the cache and how many over the mesh.
   */
  async prefetch(name: string, onProgress?: ModelProgress, signal?: AbortSignal): Promise<{ cached: number; downloaded: number }> {
    const files = this.#models.get(name);
    if (!files) throw new InferError('NOT_FOUND', `model '${name}' is not pinned in the mesh source`);
    const total = files.reduce((n, f) => n + f.size, 0);
    const got = new Map<string, number>();
    const report = () => onProgress?.([...got.values()].reduce((a, b) => a + b, 0), total);
    report();
    const out = { cached: 0, downloaded: 0 };
    for (const f of files) {
      signal?.throwIfAborted();
      let fromMesh = false;
      const bytes = this.#held.get(f.sha256) ?? await this.#blob(name, f, (r) => { fromMesh = true; got.set(f.path, r); report(); }, signal);
      this.#held.set(f.sha256, bytes);
      if (fromMesh) out.downloaded += bytes.byteLength;
      else out.cached += bytes.byteLength;
      got.set(f.path, f.size);
      report();
    }
    return out;
  }

  async list(dir: string): Promise<SourceEntry[]> {
    const parts = dir === '' ? [] : dir.split('/');
    if (parts.length === 0) return [...this.#models.keys()].sort().map((name) => ({ name, kind: 'directory' as const }));
    const files = this.#models.get(parts[0]);
    if (!files) throw new InferError('NOT_FOUND', `'${dir}' does not exist in the mesh source`);
    const prefix = parts.slice(1).join('/');
    const entries = new Map<string, SourceEntry['kind']>();
    for (const f of files) {
      if (prefix !== '' && !f.path.startsWith(`${prefix}/`)) continue;
      const rest = (prefix === '' ? f.path : f.path.slice(prefix.length + 1)).split('/');
      entries.set(rest[0], rest.length === 1 ? 'file' : 'directory');
    }
    if (entries.size === 0 && prefix !== '') throw new InferError('NOT_FOUND', `'${dir}' does not exist in the mesh source`);
    return [...entries].map(([name, kind]) => ({ name, kind })).sort((a, b) => a.name.localeCompare(b.name));
  }

  async read(path: string): Promise<Uint8Array> {
    const { model, file } = this.#find(path);
    if (!file) throw new InferError('NOT_FOUND', `'${path}' does not exist in the mesh source`);
    return this.#held.get(file.sha256) ?? this.#blob(model, file);
  }

  async exists(path: string): Promise<boolean> {
    const parts = path.split('/');
    const files = this.#models.get(parts[0]);
    if (!files) return false;
    const rel = parts.slice(1).join('/');
    return rel === '' || files.some((f) => f.path === rel || f.path.startsWith(`${rel}/`));
  }

  #find(path: string): { model: string; file?: MeshFile } {
    const slash = path.indexOf('/');
    const model = slash < 0 ? path : path.slice(0, slash);
    const rel = slash < 0 ? '' : path.slice(slash + 1);
    return { model, file: this.#models.get(model)?.find((f) => f.path === rel) };
  }

  /** A file's verified bytes: cache, a transfer already running, or a new download. */
  async #blob(model: string, f: MeshFile, onProgress?: (received: number) => void, signal?: AbortSignal): Promise<Uint8Array> {
    const cached = await this.#init.cache.get(f.sha256);
    if (cached) return cached;
    let p = this.#inflight.get(f.sha256);
    if (!p) {
      p = this.#download(model, f, onProgress, signal).finally(() => this.#inflight.delete(f.sha256));
      this.#inflight.set(f.sha256, p);
    }
    return p;
  }

  async #download(model: string, f: MeshFile, onProgress?: (received: number) => void, signal?: AbortSignal): Promise<Uint8Array> {
    const peers = this.#init.peersWith(f.sha256);
    const failures: string[] = [];
    for (const peer of peers) {
      signal?.throwIfAborted();
      try {
        const bytes = await this.#init.fetch(peer, f.sha256, { maxBytes: f.size, onProgress: (r) => onProgress?.(r), signal });
        if (bytes.byteLength !== f.size) {
          failures.push(`${peer.slice(-8)}: ${bytes.byteLength} bytes instead of the advertised ${f.size}`);
          continue;
        }
        await this.#init.cache.put(f.sha256, bytes);
        return bytes;
      } catch (e) {
        if (signal?.aborted) throw e;
        failures.push(`${peer.slice(-8)}: ${isInferError(e) || e instanceof Error ? e.message : String(e)}`);
      }
    }
    const why = peers.length === 0 ? 'no peer advertises it any more' : `every peer failed (${failures.join('; ')})`;
    throw new InferError('UNAVAILABLE', `cannot download '${f.path}' of model '${model}' (sha256 ${f.sha256.slice(0, 12)}…, ${f.size} bytes): ${why}`);
  }
}
