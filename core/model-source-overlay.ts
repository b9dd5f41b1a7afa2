/**
 * An in-memory model folder built from a load request's file overrides (the model repository
 * extension's `file:<version>/<name>` parameters, COMPAT-NOTES §1.12). Triton writes them to a
 * temporary model directory and loads from there; here they stay in memory, which works the
 * same in every runtime (the browser has no directory to write to) and leaves nothing behind.
 */
import { InferError, invalidArg, notFound } from '../protocol/errors.ts';
import { FILE_PARAMETER_PREFIX as FILE_OVERRIDE_PREFIX } from '../protocol/repository-parameters.ts';
import type { ModelSource, SourceEntry, SourceStat } from './model-source.ts';

/**
 * A read-only ModelSource holding one model folder `<model>/…` given as files. Directories are
 * implied by the file paths. Paths are relative to the (virtual) repository root like every
 * other source, so the repository reads it exactly as it reads a directory on disk.
 */
export class OverlayModelSource implements ModelSource {
  readonly description: string;
  readonly #files = new Map<string, Uint8Array>();
  readonly #dirs = new Map<string, Map<string, SourceEntry['kind']>>();
  /** One timestamp for every file: the overlay never changes after construction. */
  readonly #createdMs: number;

  /**
   * @param model the model folder name
   * @param files contents by path inside the model folder (`1/model.onnx`), already normalised
   * @param createdMs reported as every entry's modification time
   */
  constructor(model: string, files: ReadonlyMap<string, Uint8Array>, createdMs = 0) {
    this.description = `file overrides of the load request for '${model}'`;
    this.#createdMs = createdMs;
    this.#dirs.set('', new Map([[model, 'directory']]));
    for (const [rel, bytes] of files) {
      const parts = [model, ...rel.split('/')];
      this.#files.set(parts.join('/'), bytes);
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join('/');
        let entries = this.#dirs.get(dir);
        if (!entries) this.#dirs.set(dir, (entries = new Map()));
        entries.set(parts[i], i === parts.length - 1 ? 'file' : 'directory');
      }
    }
  }

  async list(dir: string): Promise<SourceEntry[]> {
    const entries = this.#dirs.get(trimSlashes(dir));
    if (!entries) throw notFound(`'${dir}' does not exist in the ${this.description}`);
    return [...entries].map(([name, kind]) => ({ name, kind })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async read(path: string): Promise<Uint8Array> {
    const bytes = this.#files.get(trimSlashes(path));
    if (!bytes) throw notFound(`'${path}' does not exist in the ${this.description}`);
    return bytes;
  }

  async exists(path: string): Promise<boolean> {
    const p = trimSlashes(path);
    return this.#files.has(p) || this.#dirs.has(p);
  }

  async stat(path: string): Promise<SourceStat | undefined> {
    const p = trimSlashes(path);
    const bytes = this.#files.get(p);
    if (bytes) return { kind: 'file', size: bytes.byteLength, mtimeMs: this.#createdMs };
    return this.#dirs.has(p) ? { kind: 'directory', size: 0, mtimeMs: this.#createdMs } : undefined;
  }
}

/**
 * Validates the override file names of a load request and returns the files by normalised path
 * inside the model folder. Like Triton (LocalizeRepoAgent): `.` and `..` segments are resolved
 * and a path that leaves the model folder is refused; a path used both as a file and as a
 * directory is refused. `file:` keys without a path are refused too.
 */
export function normalizeFileOverrides(files: Iterable<readonly [key: string, bytes: Uint8Array]>): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [key, bytes] of files) {
    if (!key.startsWith(FILE_OVERRIDE_PREFIX)) throw invalidArg(`'${key}' is not a file override parameter (they are named '${FILE_OVERRIDE_PREFIX}<version>/<file name>')`);
    const raw = key.slice(FILE_OVERRIDE_PREFIX.length);
    const parts: string[] = [];
    let escapes = raw.startsWith('/') || raw.includes('\\') || raw.includes('\0');
    for (const seg of raw.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') {
        if (parts.length === 0) escapes = true;
        else parts.pop();
        continue;
      }
      parts.push(seg);
    }
    const path = parts.join('/');
    if (escapes || path === '') {
      throw invalidArg(`Invalid file parameter '${key}' with normalized path '${path}' must stay within model directory (name files relative to the model folder, e.g. '${FILE_OVERRIDE_PREFIX}1/model.onnx')`);
    }
    out.set(path, bytes);
  }
  const paths = [...out.keys()];
  for (const p of paths) {
    const clash = paths.find((q) => q.startsWith(`${p}/`));
    if (clash) throw invalidArg(`Invalid file parameter '${FILE_OVERRIDE_PREFIX}${clash}', directory has been created as a file ('${FILE_OVERRIDE_PREFIX}${p}')`);
  }
  return out;
}

/** Triton's model-name check for loads (ValidateModelName): the name becomes a folder name. */
export function validateModelName(name: string): void {
  if (name === '') throw invalidArg('model name must not be empty');
  if (name.trim() === '') throw invalidArg('model name must not contain only whitespace characters');
  if (name.includes('..') || name.includes('/') || name.includes('\\')) {
    throw new InferError('INVALID_ARG', `invalid model name '${name}', model name must not contain path traversal characters`);
  }
}

function trimSlashes(p: string): string {
  return p.replace(/^\/+|\/+$/g, '');
}
