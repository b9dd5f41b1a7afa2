/**
 * The model files a host shares with the mesh: for every model it serves, the files of the
 * model folder (root files such as `config.pbtxt` and label files, plus everything under the
 * READY version folders) with their SHA-256 and size. The list travels in the status report
 * (ModelStatus.files, protocol/mesh.proto); the bytes travel over the blob protocol, looked up
 * by hash ({@link ModelFileIndex.provider}). This is how a peer without the repository — a
 * browser tab — gets a model: it reads the list from gossip and fetches each file by hash.
 *
 * Hashing reads every file once, so it runs in the background when a version first appears
 * (the status report is built synchronously every second); the model's files are advertised
 * from the next report on. Results are cached per served version: a reload is a new version
 * object and is hashed again.
 */
import type { ModelRepository, ServedVersion } from '../core/model-repository.ts';
import type { ModelSource, SourceEntry } from '../core/model-source.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import type { ModelFile } from '../protocol/mesh-pb.ts';
import { blobFromBytes, sha256Hex, type BlobProvider } from './blob-protocol.ts';

/**
 * 256 files per model: enough for a model with external-data files in several versions, and
 * keeps a report of many models under the status size limit (a file costs about 60 bytes).
 */
export const DEFAULT_MAX_FILES_PER_MODEL = 256;

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
}

/** Options of {@link ModelFileIndex}. */
export interface ModelFileIndexInit {
  repository: ModelRepository;
  /** Called when a model's file list became known (the host then republishes its status). */
  onChange?: () => void;
  maxFilesPerModel?: number;
  logger?: Logger;
}

/** Hashes and serves the files of the models a host serves. */
export class ModelFileIndex {
  readonly #init: ModelFileIndexInit;
  readonly #log: Logger;
  /** Per served version: its files (root files included), once hashed; null when it cannot be shared. */
  readonly #byVersion = new WeakMap<ServedVersion, IndexedFile[] | null>();
  readonly #pending = new WeakSet<ServedVersion>();
  /** Every advertised file by hash (last writer wins: same hash, same bytes). */
  readonly #byHash = new Map<string, IndexedFile>();

  constructor(init: ModelFileIndexInit) {
    this.#init = init;
    this.#log = (init.logger ?? silentLogger).child({ component: 'model-files' });
  }

  /**
   * The files of the given READY versions of one model, for its status entry: root files once
   * plus each version's folder. Empty while any of them is still being hashed (a partial list
   * would let a peer load a model without, say, its labels). Starts hashing what is missing.
   */
  filesOf(versions: readonly ServedVersion[]): ModelFile[] {
    const out = new Map<string, ModelFile>();
    let complete = true;
    for (const v of versions) {
      const files = this.#byVersion.get(v);
      if (files === undefined) {
        complete = false;
        this.#hash(v);
        continue;
      }
      if (files === null) return [];
      for (const f of files) out.set(f.path, { path: f.path, sha256: fromHex(f.sha256), size: f.size });
    }
    return complete ? [...out.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) : [];
  }

  /** The blob provider over every file advertised so far. */
  readonly provider: BlobProvider = async (sha256) => {
    const f = this.#byHash.get(sha256);
    if (f === undefined) return undefined;
    // A file deleted or changed since it was hashed: say we do not have it rather than fail
    // midway or send other bytes (the fetcher verifies the hash anyway and tries another peer).
    const bytes = await f.source.read(f.sourcePath).catch(() => undefined);
    if (bytes === undefined || bytes.byteLength !== f.size) return undefined;
    return blobFromBytes(bytes);
  };

  #hash(v: ServedVersion): void {
    if (this.#pending.has(v)) return;
    this.#pending.add(v);
    void this.#collect(v).then(
      (files) => {
        this.#byVersion.set(v, files);
        if (files) for (const f of files) this.#byHash.set(f.sha256, f);
        this.#init.onChange?.();
      },
      (e: unknown) => {
        this.#byVersion.set(v, null);
        this.#log.warn('model files not shared', { model: v.name, version: v.version, reason: (e as Error)?.message ?? String(e) });
      },
    );
  }

  async #collect(v: ServedVersion): Promise<IndexedFile[] | null> {
    const loc = this.#init.repository.locate(v.name);
    if (loc === undefined) return null;
    const max = this.#init.maxFilesPerModel ?? DEFAULT_MAX_FILES_PER_MODEL;
    const paths: string[] = [];
    for (const e of await loc.source.list(loc.name)) {
      if (e.kind === 'file' && !e.name.startsWith('.')) paths.push(e.name);
    }
    await walk(loc.source, loc.name, String(v.version), paths, 0);
    if (paths.length > max) throw new Error(`model folder has ${paths.length} files, over the limit of ${max}`);
    const out: IndexedFile[] = [];
    for (const path of paths) {
      const sourcePath = `${loc.name}/${path}`;
      const bytes = await loc.source.read(sourcePath);
      out.push({ path, sha256: await sha256Hex(bytes), size: bytes.byteLength, source: loc.source, sourcePath });
    }
    return out;
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
