/**
 * Where a repository's files come from: a directory on disk (Node), the mesh's blob protocol
 * or `fetch` (browser). Paths are POSIX-style and relative to the repository root.
 */

/** One entry of a directory listing. */
export interface SourceEntry {
  name: string;
  kind: 'file' | 'directory';
}

/** What a source can tell about a file or directory without reading it (change detection). */
export interface SourceStat {
  kind: 'file' | 'directory';
  /** Bytes (files); 0 for directories. */
  size: number;
  /** Last modification, ms since the epoch (any monotonic change counter works too). */
  mtimeMs: number;
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
  /**
   * Size and modification time of `path`, or undefined when it does not exist. Optional:
   * poll mode uses it to notice changed files cheaply; without it, it hashes file contents.
   */
  stat?(path: string): Promise<SourceStat | undefined>;
  /** A local filesystem path for `path`, when the source has one. */
  localPath?(path: string): string | undefined;
}
