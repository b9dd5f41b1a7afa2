/**
 * A ModelSource over a local directory (Triton's `--model-repository DIR`).
 * Paths are resolved inside the root; `..` and absolute paths are refused.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { InferError } from '../protocol/errors.ts';
import type { ModelSource, SourceEntry, SourceStat } from '../core/model-source.ts';

export class FsModelSource implements ModelSource {
  readonly root: string;
  readonly description: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.description = this.root;
  }

  #path(rel: string): string {
    if (isAbsolute(rel) || normalize(rel).split(/[\\/]/).includes('..')) {
      throw new InferError('INVALID_ARG', `path '${rel}' leaves the model repository`);
    }
    const full = join(this.root, rel);
    if (full !== this.root && !full.startsWith(this.root + sep)) throw new InferError('INVALID_ARG', `path '${rel}' leaves the model repository`);
    return full;
  }

  async list(dir: string): Promise<SourceEntry[]> {
    try {
      const entries = await readdir(this.#path(dir), { withFileTypes: true });
      const out: SourceEntry[] = [];
      for (const e of entries) {
        // Follow symbolic links: repositories are often assembled from links.
        let kind: SourceEntry['kind'] | undefined = e.isDirectory() ? 'directory' : e.isFile() ? 'file' : undefined;
        if (e.isSymbolicLink()) {
          const s = await stat(join(this.#path(dir), e.name)).catch(() => undefined);
          kind = s?.isDirectory() ? 'directory' : s?.isFile() ? 'file' : undefined;
        }
        if (kind) out.push({ name: e.name, kind });
      }
      return out.sort((a, b) => a.name.localeCompare(b.name));
    } catch (e) {
      throw notFoundOr(e, `${this.root}/${dir}`);
    }
  }

  async read(path: string): Promise<Uint8Array> {
    try {
      const b = await readFile(this.#path(path));
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      throw notFoundOr(e, `${this.root}/${path}`);
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await stat(this.#path(path));
      return true;
    } catch {
      return false;
    }
  }

  /** Follows symbolic links (a repository assembled from links changes when a link target does). */
  async stat(path: string): Promise<SourceStat | undefined> {
    try {
      const s = await stat(this.#path(path));
      return { kind: s.isDirectory() ? 'directory' : 'file', size: s.isDirectory() ? 0 : s.size, mtimeMs: s.mtimeMs };
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw notFoundOr(e, `${this.root}/${path}`);
    }
  }

  localPath(path: string): string {
    return this.#path(path);
  }
}

function notFoundOr(e: unknown, where: string): InferError {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new InferError('NOT_FOUND', `'${where}' does not exist`);
  return new InferError('INTERNAL', `cannot read '${where}': ${(e as Error).message}`);
}
