/**
 * Change detection for poll mode (Triton's `--model-control-mode poll`, COMPAT-NOTES §4.2): a
 * fingerprint of a model folder's files, split into the model-level part (config.pbtxt,
 * label files, `configs/`, anything not a version folder) and one part per version folder, so
 * that a poll reloads only what changed: a new or changed version folder loads that version;
 * a changed config or label file reloads every version; an unchanged model is left alone.
 *
 * Like Triton (ModelTimestamp in model_repository_manager.cc), files are compared by metadata:
 * size and modification time from the source's optional `stat`. A source without `stat`
 * (a browser source over `fetch` or the mesh) falls back to hashing the contents.
 */
import type { ModelLocation } from './model-repository-scan.ts';
import type { ModelSource } from './model-source.ts';

/** A model folder's state, comparable between two polls. */
export interface ModelFingerprint {
  /** Everything in the model folder that is not a version folder. */
  readonly model: string;
  /** Each version folder's contents, by version number. */
  readonly versions: ReadonlyMap<number, string>;
}

/**
 * Deepest folder nesting looked at below a model folder: ONNX external-data layouts
 * (`1/model.onnx/model.onnx` + weight files) need 2; anything deeper is not a model layout
 * Triton knows, and the bound keeps a symlink loop from recursing forever.
 */
export const DEFAULT_FINGERPRINT_MAX_DEPTH = 6;

/**
 * Entries looked at per model folder; the rest is not compared. A stray dataset copied into a
 * model folder must not make every poll walk millions of files.
 */
export const DEFAULT_FINGERPRINT_MAX_ENTRIES = 10_000;

const VERSION_DIR = /^[1-9][0-9]*$/;

/** Reads the fingerprint of one model folder. Missing entries (deleted mid-walk) count as absent. */
export async function fingerprintModel(loc: ModelLocation): Promise<ModelFingerprint> {
  const budget = { entries: DEFAULT_FINGERPRINT_MAX_ENTRIES };
  const model: string[] = [];
  const versions = new Map<number, string>();
  for (const e of await loc.source.list(loc.name)) {
    if (hidden(e.name)) continue;
    const path = `${loc.name}/${e.name}`;
    if (e.kind === 'directory' && VERSION_DIR.test(e.name) && Number.isSafeInteger(Number(e.name))) {
      versions.set(Number(e.name), await digestTree(loc.source, path, 1, budget));
    } else {
      model.push(`${e.name}=${e.kind === 'directory' ? `{${await digestTree(loc.source, path, 1, budget)}}` : await digestFile(loc.source, path)}`);
    }
  }
  return { model: model.join(';'), versions };
}

/** True when two fingerprints describe the same files. */
export function sameFingerprint(a: ModelFingerprint, b: ModelFingerprint): boolean {
  if (a.model !== b.model || a.versions.size !== b.versions.size) return false;
  for (const [v, d] of a.versions) if (b.versions.get(v) !== d) return false;
  return true;
}

async function digestTree(source: ModelSource, dir: string, depth: number, budget: { entries: number }): Promise<string> {
  if (depth > DEFAULT_FINGERPRINT_MAX_DEPTH) return '…';
  let entries;
  try {
    entries = await source.list(dir);
  } catch {
    return '!';
  }
  const parts: string[] = [];
  for (const e of entries) {
    if (hidden(e.name)) continue;
    if (--budget.entries < 0) return `${parts.join(';')};…`;
    const path = `${dir}/${e.name}`;
    parts.push(`${e.name}=${e.kind === 'directory' ? `{${await digestTree(source, path, depth + 1, budget)}}` : await digestFile(source, path)}`);
  }
  return parts.join(';');
}

/**
 * Hidden entries (`.DS_Store`, an editor's `.config.pbtxt.swp`, a copy tool's `.part` file)
 * are not part of a model; counting them would reload a model whenever an editor opens a file.
 * The repository scan skips hidden model folders the same way.
 */
function hidden(name: string): boolean {
  return name.startsWith('.');
}

async function digestFile(source: ModelSource, path: string): Promise<string> {
  try {
    if (source.stat) {
      const s = await source.stat(path);
      return s === undefined ? '!' : `${s.size}@${s.mtimeMs}`;
    }
    const bytes = await source.read(path);
    return `${bytes.byteLength}#${fnv1a(bytes).toString(16)}`;
  } catch {
    return '!';
  }
}

/**
 * 32-bit FNV-1a: enough to notice an edited file between two polls (a collision would need
 * the same length and a 1 in 4·10⁹ chance), with no dependency (core has no crypto module).
 */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
