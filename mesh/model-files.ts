/**
 * The model files a host shares with the mesh: for every model it serves, the files of the
 * model folder (root files such as `config.pbtxt` and label files, plus everything under the
 * READY version folders) with their SHA-256 and size. The list travels in the status report
 * (ModelStatus.files, protocol/mesh.proto); the bytes travel over the blob protocol, looked up
 * by hash ({@link ModelFileIndex.provider}). This is how a peer without the repository — a
 * browser tab — gets a model: it reads the list from gossip and fetches each file by hash.
 *
 * Hashing reads every file, so it is lazy and in the background: it starts only once someone
 * may fetch (`wanted`: the mesh service says so when a browser tab is in its directory), runs
 * one version at a time, and a model's files are advertised from the next report after its
 * hashes are known (tabs wait for the files, browser-host/model-manager.ts). Digests are
 * cached per source file by (size, mtime) from `ModelSource.stat`, so a reload of an unchanged
 * model reads nothing. Only READY versions are indexed: an unloaded or replaced version's
 * entries (and the source they hold, which for a load with file overrides keeps every
 * override in memory) are dropped by {@link ModelFileIndex.prune}, and its files are no longer
 * served. Concurrent transfers of one file share a single read of it.
 */
import type { ModelRepository, ServedVersion } from '../core/model-repository.ts';
import type { ModelSource, SourceEntry } from '../core/model-source.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import type { ModelFile } from '../protocol/mesh-pb.ts';
import { DEFAULT_MAX_BLOB_BYTES, sha256Hex, type BlobProvider, type BlobSource } from './blob-protocol.ts';

/**
 * 256 files per model: enough for a model with external-data files in several versions, and
 * keeps a report of many models under the status size limit (a file costs about 60 bytes).
 */
export const DEFAULT_MAX_FILES_PER_MODEL = 256;

/**
 * Digests remembered per source: a repository's worth of files (a few bytes each), bounded so
 * that a poll-mode repository that keeps gaining versions cannot grow the cache forever.
 */
export const DEFAULT_MAX_CACHED_DIGESTS = 4096;

/** 8 directory levels under a version folder (`1/model.onnx/…`): deeper trees are not shared. */
const MAX_DEPTH = 8;

/** One shared file with where it is read from. */
interface IndexedFile {
  path: string;
  sha256: string;
  size: number;
  source: ModelSource;
  /** Path in the source (repository-relative). */
  sourcePath: string;
  /** Modification time when hashed (sources with `stat`): a file changed since is not served. */
  mtimeMs?: number;
}

/** A remembered digest of one source file, valid while its size and mtime are unchanged. */
interface Digest {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** Options of {@link ModelFileIndex}. */
export interface ModelFileIndexInit {
  repository: ModelRepository;
  /** Called when a model's file list became known (the host then republishes its status). */
  onChange?: () => void;
  /**
   * Whether any peer may fetch files now (default: always). Until it is true nothing is read
   * or hashed, and models are advertised without files.
   */
  wanted?: () => boolean;
  maxFilesPerModel?: number;
  /** Largest file shared (default {@link DEFAULT_MAX_BLOB_BYTES}, what a fetcher accepts). */
  maxFileBytes?: number;
  logger?: Logger;
}

/** Hashes and serves the files of the models a host serves. */
export class ModelFileIndex {
  readonly #init: ModelFileIndexInit;
  readonly #log: Logger;
  /** Per READY version: its files (root files included), once hashed; null when it cannot be shared. */
  readonly #byVersion = new Map<ServedVersion, IndexedFile[] | null>();
  readonly #pending = new Set<ServedVersion>();
  /** Files of the indexed versions by hash (same hash, same bytes: any one serves). */
  #byHash = new Map<string, IndexedFile>();
  /** Digests per source and path; weak, so a dropped override source takes its digests along. */
  readonly #digests = new WeakMap<ModelSource, Map<string, Digest>>();
  /** Reads in progress or in use by transfers, by hash, with how many transfers use each. */
  readonly #reads = new Map<string, { bytes: Promise<Uint8Array | undefined>; users: number }>();
  /** Hashing runs one version at a time, so a large repository never sits in memory at once. */
  #queue: Promise<void> = Promise.resolve();

  constructor(init: ModelFileIndexInit) {
    this.#init = init;
    this.#log = (init.logger ?? silentLogger).child({ component: 'model-files' });
  }

  /** Number of distinct files served now (by hash). */
  get sharedFiles(): number {
    return this.#byHash.size;
  }

  /** Number of files read into memory for transfers now (shared reads). */
  get openReads(): number {
    return this.#reads.size;
  }

  /**
   * The files of the given READY versions of one model, for its status entry: root files once
   * plus each version's folder. Empty while any of them is still being hashed (a partial list
   * would let a peer load a model without, say, its labels). Starts hashing what is missing
   * when files are wanted.
   */
  filesOf(versions: readonly ServedVersion[]): ModelFile[] {
    const out = new Map<string, ModelFile>();
    let complete = true;
    for (const v of versions) {
      const files = this.#byVersion.get(v);
      if (files === undefined) {
        complete = false;
        if (this.#init.wanted?.() ?? true) this.#hash(v);
        continue;
      }
      if (files === null) return [];
      for (const f of files) out.set(f.path, { path: f.path, sha256: fromHex(f.sha256), size: f.size });
    }
    return complete ? [...out.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) : [];
  }

  /**
   * Forgets the files of versions that are no longer READY (unloaded, replaced by a reload):
   * they are not served any more and their sources can be collected. Cheap; the mesh service
   * calls it with every status report and the provider before every lookup.
   */
  prune(): void {
    const ready = new Set(this.#init.repository.allReady());
    let changed = false;
    for (const v of this.#byVersion.keys()) {
      if (ready.has(v)) continue;
      this.#byVersion.delete(v);
      changed = true;
    }
    if (!changed) return;
    const byHash = new Map<string, IndexedFile>();
    for (const files of this.#byVersion.values()) for (const f of files ?? []) byHash.set(f.sha256, f);
    this.#byHash = byHash;
  }

  /**
   * The blob provider over the files of the READY versions. Transfers of one file at the same
   * time share one read of it, released when the last one ends (BlobSource.close).
   */
  readonly provider: BlobProvider = async (sha256) => {
    this.prune();
    const f = this.#byHash.get(sha256);
    if (f === undefined) return undefined;
    // A file deleted or changed since it was hashed: say we do not have it rather than fail
    // midway or send other bytes (the fetcher verifies the hash anyway and tries another peer).
    if (!(await this.#unchanged(f))) return undefined;
    const bytes = await this.#acquire(f);
    if (bytes === undefined || bytes.byteLength !== f.size) {
      this.#release(sha256);
      return undefined;
    }
    let open = true;
    const source: BlobSource = {
      size: bytes.byteLength,
      read: (offset, length) => bytes.subarray(offset, offset + length),
      close: () => {
        if (!open) return;
        open = false;
        this.#release(sha256);
      },
    };
    return source;
  };

  async #unchanged(f: IndexedFile): Promise<boolean> {
    if (f.mtimeMs === undefined || !f.source.stat) return true;
    const s = await f.source.stat(f.sourcePath).catch(() => undefined);
    return s !== undefined && s.kind === 'file' && s.size === f.size && s.mtimeMs === f.mtimeMs;
  }

  #acquire(f: IndexedFile): Promise<Uint8Array | undefined> {
    let r = this.#reads.get(f.sha256);
    if (r === undefined) {
      r = { bytes: f.source.read(f.sourcePath).catch(() => undefined), users: 0 };
      this.#reads.set(f.sha256, r);
    }
    r.users++;
    return r.bytes;
  }

  #release(sha256: string): void {
    const r = this.#reads.get(sha256);
    if (r !== undefined && --r.users <= 0) this.#reads.delete(sha256);
  }

  #ready(v: ServedVersion): boolean {
    return this.#init.repository.readyVersions(v.name).includes(v);
  }

  #hash(v: ServedVersion): void {
    if (this.#pending.has(v)) return;
    this.#pending.add(v);
    this.#queue = this.#queue.then(async () => {
      try {
        // unloaded while waiting its turn: nothing to read
        const files = this.#ready(v) ? await this.#collect(v) : null;
        if (!this.#ready(v)) return;
        this.#byVersion.set(v, files);
        if (files) for (const f of files) this.#byHash.set(f.sha256, f);
        this.#init.onChange?.();
      } catch (e) {
        if (this.#ready(v)) this.#byVersion.set(v, null);
        this.#log.warn('model files not shared', { model: v.name, version: v.version, reason: (e as Error)?.message ?? String(e) });
      } finally {
        this.#pending.delete(v);
      }
    });
  }

  async #collect(v: ServedVersion): Promise<IndexedFile[] | null> {
    const loc = this.#init.repository.locate(v.name);
    if (loc === undefined) return null;
    const max = this.#init.maxFilesPerModel ?? DEFAULT_MAX_FILES_PER_MODEL;
    const maxBytes = this.#init.maxFileBytes ?? DEFAULT_MAX_BLOB_BYTES;
    const paths: string[] = [];
    for (const e of await loc.source.list(loc.name)) {
      if (e.kind === 'file' && !e.name.startsWith('.')) paths.push(e.name);
    }
    await walk(loc.source, loc.name, String(v.version), paths, 0);
    if (paths.length > max) throw new Error(`model folder has ${paths.length} files, over the limit of ${max}`);
    const tooBig = (path: string, size: number) => new Error(
      `file '${path}' is ${size} bytes, over the limit of ${maxBytes} bytes a blob transfer carries (ONNX's 2 GiB protobuf limit); the model is served here but not shared with browser tabs`);
    const out: IndexedFile[] = [];
    for (const path of paths) {
      const sourcePath = `${loc.name}/${path}`;
      const st = loc.source.stat ? await loc.source.stat(sourcePath) : undefined;
      if (st !== undefined && st.size > maxBytes) throw tooBig(path, st.size);
      const digests = this.#digestsOf(loc.source);
      const known = st === undefined ? undefined : digests.get(sourcePath);
      if (known !== undefined && known.size === st!.size && known.mtimeMs === st!.mtimeMs) {
        out.push({ path, sha256: known.sha256, size: known.size, source: loc.source, sourcePath, mtimeMs: known.mtimeMs });
        continue;
      }
      const bytes = await loc.source.read(sourcePath);
      if (bytes.byteLength > maxBytes) throw tooBig(path, bytes.byteLength);
      const sha256 = await sha256Hex(bytes);
      // Remember the digest only when the file did not change while it was read.
      const after = st === undefined ? undefined : await loc.source.stat!(sourcePath);
      if (st !== undefined && after !== undefined && after.size === bytes.byteLength && after.mtimeMs === st.mtimeMs) {
        digests.delete(sourcePath);
        digests.set(sourcePath, { size: after.size, mtimeMs: after.mtimeMs, sha256 });
        if (digests.size > DEFAULT_MAX_CACHED_DIGESTS) digests.delete(digests.keys().next().value!);
      }
      out.push({ path, sha256, size: bytes.byteLength, source: loc.source, sourcePath, mtimeMs: st?.mtimeMs });
    }
    return out;
  }

  #digestsOf(source: ModelSource): Map<string, Digest> {
    let m = this.#digests.get(source);
    if (m === undefined) {
      m = new Map();
      this.#digests.set(source, m);
    }
    return m;
  }
}

/** Appends the files under `<model>/<dir>` (recursively) to `out`, as paths relative to the model folder. */
async function walk(source: ModelSource, model: string, dir: string, out: string[], depth: number): Promise<void> {
  if (depth > MAX_DEPTH) return;
  let entries: SourceEntry[];
  try {
    entries = await source.list(`${model}/${dir}`);
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const path = `${dir}/${e.name}`;
    if (e.kind === 'file') out.push(path);
    else await walk(source, model, path, out, depth + 1);
  }
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
}

/** Lowercase hex of a file's hash, as the blob protocol takes it. */
export function fileHashHex(f: Pick<ModelFile, 'sha256'>): string {
  return Array.from(f.sha256, (x) => x.toString(16).padStart(2, '0')).join('');
}
