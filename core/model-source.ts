/**
 * Where a repository's files come from: a directory on disk (Node), the mesh's blob protocol
 * or `fetch` (browser). Paths are POSIX-style and relative to the repository root.
 */

/** One entry of a directory listing. */
export interface SourceEntry {
  name: string;
  kind: 'file' | 'directory';
}

export interface ModelSource {
  /** Human-readable location for logs and errors (`/srv/models`, `mesh:…`). */
  readonly description: string;
  /** Entries of a directory (`''` = the repository root). Throws NOT_FOUND if absent. */
  list(dir: string): Promise<SourceEntry[]>;
  /** A file's bytes. Throws NOT_FOUND if absent. */
  read(path: string): Promise<Uint8Array>;
  /** True if the file or directory exists. */
  exists(path: string): Promise<boolean>;
  /** A local filesystem path for `path`, when the source has one. */
  localPath?(path: string): string | undefined;
}
