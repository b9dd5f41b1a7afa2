/**
 * Builds the browser contributor's JavaScript (the page entry `browser-host/contribute-main.ts`
 * and its onnxruntime-web worker `browser-host/ort-web.worker.ts`) with esbuild, once per
 * process and only when someone asks for it (a host that nobody opens `/contribute` on never
 * pays for a bundle).
 *
 * The result is kept in memory and also on disk under `node_modules/.cache/infermesh-contribute/`
 * with the size and mtime of every input file esbuild read: the next process (the next
 * `npm start`, each test host) reuses it when no input changed, and rebuilds otherwise. A failed
 * build is not remembered: the next request tries again, so fixing the source and reloading the
 * page is enough.
 *
 * The onnxruntime-web runtime files (`ort-wasm-*.wasm` / `.mjs`, loaded by the worker at run
 * time) are not bundled; {@link ortDistDir} says where they are and
 * {@link isOrtRuntimeFile} which of them may be served.
 */
import { build, version as esbuildVersion, type BuildFailure, type Message, type Metafile } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, statSync, existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { Logger } from '../core/logger.ts';

/** The repository root (this file is node-host/contribute-bundle.ts). */
export const PROJECT_ROOT = resolve(import.meta.dirname, '..');

/** Entry points by output name (served as `/contribute/<name>.js`). */
export const CONTRIBUTE_ENTRIES: Readonly<Record<string, string>> = {
  contribute: 'browser-host/contribute-main.ts',
  'ort-web.worker': 'browser-host/ort-web.worker.ts',
};

/**
 * es2022: top-level await and class fields, which the page and libp2p use; every browser with
 * WebAssembly threads (and all with WebGPU) supports it.
 */
export const DEFAULT_BUNDLE_TARGET = 'es2022';

/**
 * Bump when the build options below change, so caches written by older code are ignored
 * (the input stamps cannot see an option change).
 */
const BUNDLE_FORMAT_VERSION = 1;

/** Default cache folder: npm's conventional place for tool caches, already git-ignored. */
export const DEFAULT_BUNDLE_CACHE_DIR = join(PROJECT_ROOT, 'node_modules', '.cache', 'infermesh-contribute');

/** One output file of the bundle. */
export interface BundleFile {
  /** Content-Type to serve it with. */
  contentType: string;
  body: Uint8Array;
}

/** The built bundle: output files by name (`contribute.js`, `contribute.js.map`, `ort-web.worker.js`, …). */
export interface ContributeBundle {
  files: ReadonlyMap<string, BundleFile>;
  /** Where it came from, for the log. */
  origin: 'built' | 'disk-cache';
  /** Build (or cache read) time in ms. */
  ms: number;
}

/** Raised when esbuild fails; `message` carries esbuild's formatted errors (file:line:col). */
export class ContributeBundleError extends Error {
  override name = 'ContributeBundleError';
}

/** Options of {@link ContributeBundler}. */
export interface ContributeBundlerInit {
  logger: Logger;
  /** Project root holding browser-host/ (default: this checkout). */
  root?: string;
  /** Disk cache folder; `null` = memory only (default {@link DEFAULT_BUNDLE_CACHE_DIR}). */
  cacheDir?: string | null;
  /** Minify (default true: the page loads ~1 MB less; the source maps still give real names). */
  minify?: boolean;
}

interface CacheManifest {
  format: number;
  esbuild: string;
  minify: boolean;
  /** Every input esbuild read: [size, mtimeMs]. */
  inputs: Record<string, [number, number]>;
  /** Output files: name → [contentType, text]. */
  outputs: Record<string, [string, string]>;
}

/**
 * Builds the contributor bundle on first use and keeps it. Concurrent callers share one build.
 */
export class ContributeBundler {
  readonly #log: Logger;
  readonly #root: string;
  readonly #cacheDir: string | null;
  readonly #minify: boolean;
  #bundle?: ContributeBundle;
  #building?: Promise<ContributeBundle>;

  constructor(init: ContributeBundlerInit) {
    this.#log = init.logger;
    this.#root = init.root ?? PROJECT_ROOT;
    this.#cacheDir = init.cacheDir === undefined ? DEFAULT_BUNDLE_CACHE_DIR : init.cacheDir;
    this.#minify = init.minify ?? true;
  }

  /** The project root whose browser-host/ is bundled. */
  get root(): string {
    return this.#root;
  }

  /** The bundle: from memory, the disk cache, or a fresh build. Rejects with {@link ContributeBundleError}. */
  get(): Promise<ContributeBundle> {
    if (this.#bundle) return Promise.resolve(this.#bundle);
    this.#building ??= this.#load().then(
      (b) => { this.#bundle = b; this.#building = undefined; return b; },
      (e: unknown) => { this.#building = undefined; throw e; },
    );
    return this.#building;
  }

  async #load(): Promise<ContributeBundle> {
    const started = performance.now();
    const cached = this.#readCache();
    if (cached) {
      const ms = Math.round(performance.now() - started);
      this.#log.info('contribute page: bundle reused from the disk cache', { dir: this.#cacheDir, ms });
      return { files: cached, origin: 'disk-cache', ms };
    }
    this.#log.info('contribute page: bundling the browser runtime with esbuild (once per process)', { entries: Object.values(CONTRIBUTE_ENTRIES).join(',') });
    const { files, metafile } = await bundleContribute({ root: this.#root, minify: this.#minify });
    const ms = Math.round(performance.now() - started);
    let bytes = 0;
    for (const [name, f] of files) if (!name.endsWith('.map')) bytes += f.body.byteLength;
    this.#log.info('contribute page: bundle ready', { ms, kib: Math.round(bytes / 1024), inputs: Object.keys(metafile.inputs).length });
    await this.#writeCache(files, metafile).catch((e: Error) => {
      // A read-only checkout still works: the bundle is rebuilt by each process.
      this.#log.warn('contribute page: could not write the bundle cache (the next start bundles again)', { dir: this.#cacheDir, reason: e.message });
    });
    return { files, origin: 'built', ms };
  }

  #manifestPath(): string | undefined {
    return this.#cacheDir === null ? undefined : join(this.#cacheDir, 'bundle.json');
  }

  #readCache(): Map<string, BundleFile> | undefined {
    const path = this.#manifestPath();
    if (path === undefined || !existsSync(path)) return undefined;
    try {
      const m = JSON.parse(readFileSync(path, 'utf8')) as CacheManifest;
      if (m.format !== BUNDLE_FORMAT_VERSION || m.esbuild !== esbuildVersion || m.minify !== this.#minify) return undefined;
      for (const [input, [size, mtime]] of Object.entries(m.inputs)) {
        const s = statSync(join(this.#root, input), { throwIfNoEntry: false });
        if (!s || s.size !== size || s.mtimeMs !== mtime) return undefined;
      }
      const files = new Map<string, BundleFile>();
      for (const [name, [contentType, text]] of Object.entries(m.outputs)) files.set(name, { contentType, body: new TextEncoder().encode(text) });
      return files;
    } catch (e) {
      this.#log.debug('contribute page: ignoring an unreadable bundle cache', { path, reason: (e as Error).message });
      return undefined;
    }
  }

  async #writeCache(files: ReadonlyMap<string, BundleFile>, metafile: Metafile): Promise<void> {
    const path = this.#manifestPath();
    if (path === undefined) return;
    const inputs: CacheManifest['inputs'] = {};
    for (const input of Object.keys(metafile.inputs)) {
      // esbuild names virtual inputs with a namespace prefix ("ns:path"); those have no file to stamp.
      const s = statSync(join(this.#root, input), { throwIfNoEntry: false });
      if (!s) return;
      inputs[input] = [s.size, s.mtimeMs];
    }
    const outputs: CacheManifest['outputs'] = {};
    const decoder = new TextDecoder();
    for (const [name, f] of files) outputs[name] = [f.contentType, decoder.decode(f.body)];
    const manifest: CacheManifest = { format: BUNDLE_FORMAT_VERSION, esbuild: esbuildVersion, minify: this.#minify, inputs, outputs };
    mkdirSync(this.#cacheDir!, { recursive: true });
    // Several hosts may start at once: each writes its own file and renames it (atomic on POSIX).
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(manifest));
    renameSync(tmp, path);
  }
}

/** Options of {@link bundleContribute}. */
export interface BundleContributeOptions {
  root?: string;
  minify?: boolean;
}

/**
 * Runs esbuild over {@link CONTRIBUTE_ENTRIES} in memory. Exported for the standalone build
 * (`npm run build:browser`) and tests.
 * @throws ContributeBundleError with esbuild's messages.
 */
export async function bundleContribute(options: BundleContributeOptions = {}): Promise<{ files: Map<string, BundleFile>; metafile: Metafile }> {
  const root = options.root ?? PROJECT_ROOT;
  const entryPoints: Record<string, string> = {};
  for (const [out, src] of Object.entries(CONTRIBUTE_ENTRIES)) {
    const abs = join(root, src);
    if (!existsSync(abs)) throw new ContributeBundleError(`${src} does not exist: the browser runtime is missing from this checkout (${abs})`);
    entryPoints[out] = abs;
  }
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints,
      outdir: 'out',
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      platform: 'browser',
      target: DEFAULT_BUNDLE_TARGET,
      minify: options.minify ?? true,
      sourcemap: 'linked',
      // Libraries test NODE_ENV to drop debug code; nothing else of `process` exists in a browser.
      define: { 'process.env.NODE_ENV': '"production"' },
      // onnxruntime-web's runtime (.wasm and its .mjs loader) is fetched at run time from
      // the page's ortBase; the default export ("bundle") would inline the loader instead.
      conditions: ['onnxruntime-web-use-extern-wasm'],
      logLevel: 'silent',
      legalComments: 'none',
    });
    const files = new Map<string, BundleFile>();
    for (const f of result.outputFiles) {
      const name = f.path.slice(f.path.lastIndexOf('/') + 1);
      files.set(name, { contentType: name.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8', body: f.contents });
    }
    return { files, metafile: result.metafile };
  } catch (e) {
    const errors = (e as BuildFailure).errors as Message[] | undefined;
    if (!errors) throw new ContributeBundleError(`esbuild failed: ${(e as Error).message}`);
    const lines = errors.slice(0, 20).map((m) => {
      const at = m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : '';
      return `${at}${m.text}${m.location?.lineText ? `\n    ${m.location.lineText}` : ''}`;
    });
    if (errors.length > 20) lines.push(`… and ${errors.length - 20} more errors`);
    throw new ContributeBundleError(`esbuild could not bundle the browser runtime (${errors.length} error${errors.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
  }
}

/** The folder holding onnxruntime-web's runtime files (its `dist/`). */
export function ortDistDir(): string {
  // Resolved, not imported: node-host must not load onnxruntime-web (ARCHITECTURE-GUIDE §1);
  // it only serves its files to browsers. package.json is not in its exports map, so go via
  // a file that is (the wasm binary) and take its folder.
  const require = createRequire(join(PROJECT_ROOT, 'package.json'));
  const wasm = require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
  return wasm.slice(0, wasm.lastIndexOf('/'));
}

/**
 * True for onnxruntime-web runtime files the worker may load (`ort-wasm-simd-threaded*.wasm`
 * and their `.mjs` loaders); everything else in its dist folder stays private.
 */
export function isOrtRuntimeFile(name: string): boolean {
  return /^ort-wasm-simd-threaded(\.[a-z]+)?\.(wasm|mjs)$/.test(name);
}
