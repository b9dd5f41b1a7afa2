/**
 * `/contribute` on a node host's HTTP port: the page that turns a browser tab into a mesh peer,
 * its bundled scripts, and onnxruntime-web's runtime files.
 *
 *   GET /contribute                      the page, with this host's WebSocket multiaddrs and the
 *                                        mesh's swarm key in its config (contribute-page.ts)
 *   GET /contribute/contribute.js        page entry (esbuild bundle, contribute-bundle.ts)
 *   GET /contribute/ort-web.worker.js    the onnxruntime-web worker (same bundle)
 *   GET /contribute/*.map                their source maps
 *   GET /contribute/ort/<file>           onnxruntime-web's ort-wasm-simd-threaded*.wasm|.mjs
 *
 * Every answer carries `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`: only a cross-origin isolated page gets
 * SharedArrayBuffer, which onnxruntime-web's multi-threaded WebAssembly needs (without it ORT
 * silently falls back to one thread). These paths are outside KServe's `/v2`, so no Triton
 * route changes; `--no-contribute` turns them off (they then answer 404 like any unknown path).
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/logger.ts';
import { ContributeBundleError, isOrtRuntimeFile, ortDistDir, type BundleFile, type ContributeBundler } from './contribute-bundle.ts';
import { browserBootstrap, CONTRIBUTE_TEMPLATE, ContributeTemplateError, renderContributePage, type ContributeConfig } from './contribute-page.ts';

/** The page's path; its assets live under `${CONTRIBUTE_PATH}/`. */
export const CONTRIBUTE_PATH = '/contribute';

/** Headers that make the page cross-origin isolated (SharedArrayBuffer → WebAssembly threads). */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  // Same-origin loads need no CORP, but a page elsewhere embedding these files would otherwise
  // be refused under its own COEP with a confusing error; say it plainly.
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

/**
 * One day: onnxruntime-web's files change only with its version (the ETag then changes too);
 * a returning tab should not download 28 MB of WebAssembly again.
 */
export const DEFAULT_ORT_MAX_AGE_S = 86_400;

/** Options of {@link ContributeRoute}. */
export interface ContributeRouteInit {
  bundler: ContributeBundler;
  /** This host's mesh listen addresses (read per request: they are known only once the mesh listens). */
  listenAddrs: () => string[];
  peerId: string;
  /** Text of the swarm key file (private mesh) or undefined (open mesh). */
  swarmKeyText?: string;
  logger: Logger;
  /** onnxruntime-web's dist folder (default: the installed package). */
  ortDir?: string;
}

/** Serves `/contribute` and its assets. */
export class ContributeRoute {
  readonly #init: ContributeRouteInit;
  readonly #log: Logger;
  #ortDir?: string;
  #warnedNoWs = false;
  /** gzip of bundle files, made once on first request. */
  readonly #gzipped = new WeakMap<BundleFile, { body: Uint8Array; etag: string }>();

  constructor(init: ContributeRouteInit) {
    this.#init = init;
    this.#log = init.logger.child({ component: 'contribute' });
  }

  /** True for the paths this route answers. */
  matches(path: string): boolean {
    return path === CONTRIBUTE_PATH || path.startsWith(`${CONTRIBUTE_PATH}/`);
  }

  /** The page's config for a request that came in with HTTP Host `hostHeader`. */
  config(hostHeader?: string): ContributeConfig {
    const bootstrap = browserBootstrap(this.#init.listenAddrs(), this.#init.peerId, hostHeader);
    if (bootstrap.length === 0 && !this.#warnedNoWs) {
      this.#warnedNoWs = true;
      this.#log.warn('contribute page: this host has no WebSocket mesh address, so browsers cannot join through it; add e.g. --listen /ip4/0.0.0.0/tcp/8004/ws', { listen: this.#init.listenAddrs().join(',') });
    }
    return { bootstrap, swarmKey: this.#init.swarmKeyText ?? null, ortBase: `${CONTRIBUTE_PATH}/ort/`, workerUrl: `${CONTRIBUTE_PATH}/ort-web.worker.js` };
  }

  /** Answers a request whose path {@link matches}. Never throws. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendText(res, 405, `${req.method} is not allowed on ${path}: use GET`);
    }
    try {
      if (path === CONTRIBUTE_PATH || path === `${CONTRIBUTE_PATH}/` || path === `${CONTRIBUTE_PATH}/index.html`) return await this.#page(req, res);
      const rest = path.slice(CONTRIBUTE_PATH.length + 1);
      if (rest.startsWith('ort/')) return this.#ortFile(req, res, rest.slice(4));
      return await this.#bundleFile(req, res, rest);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if ((e as Error).name === 'ContributeBundleError' || (e as Error).name === 'ContributeTemplateError') {
        this.#log.error('contribute page: cannot build the page', { reason: (e as Error).message });
        return sendText(res, 500, `infermesh could not build the contribute page.\n\n${(e as ContributeBundleError).message}\n`);
      }
      this.#log.error('contribute page: request failed', { path, reason: (e as Error)?.message ?? String(e) });
      return sendText(res, 500, `internal error serving ${path}: ${(e as Error)?.message ?? String(e)}\n`);
    }
  }

  async #page(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Build before answering: a page whose script fails to load is blank; an esbuild error
    // shown in place of the page says what is wrong.
    await this.#init.bundler.get();
    const html = renderContributePage(readTemplate(this.#init.bundler.root), this.config(req.headers.host));
    const body = Buffer.from(html);
    // The config names live addresses and maybe the swarm key: never cache it.
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(body.byteLength), 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async #bundleFile(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    if (!/^[\w.-]+\.(js|map)$/.test(name)) return sendText(res, 404, `${CONTRIBUTE_PATH}/${name} does not exist (the page is at ${CONTRIBUTE_PATH})\n`);
    const bundle = await this.#init.bundler.get();
    const file = bundle.files.get(name);
    if (!file) return sendText(res, 404, `${CONTRIBUTE_PATH}/${name} does not exist (bundle files: ${[...bundle.files.keys()].join(', ')})\n`);
    let entry = this.#gzipped.get(file);
    if (!entry) {
      entry = { body: gzipSync(file.body), etag: `"${createHash('sha256').update(file.body).digest('base64url').slice(0, 22)}"` };
      this.#gzipped.set(file, entry);
    }
    const headers: Record<string, string> = { 'Content-Type': file.contentType, 'Cache-Control': 'no-cache', ETag: entry.etag, Vary: 'Accept-Encoding' };
    if (req.headers['if-none-match'] === entry.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? entry.body : file.body;
    if (gzip) headers['Content-Encoding'] = 'gzip';
    headers['Content-Length'] = String(body.byteLength);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  #ortFile(req: IncomingMessage, res: ServerResponse, name: string): void {
    if (!isOrtRuntimeFile(name)) return sendText(res, 404, `${CONTRIBUTE_PATH}/ort/${name}: only onnxruntime-web's runtime files (ort-wasm-simd-threaded*.wasm|.mjs) are served here\n`);
    this.#ortDir ??= this.#init.ortDir ?? ortDistDir();
    const full = join(this.#ortDir, name);
    const st = statSync(full, { throwIfNoEntry: false });
    if (!st?.isFile()) return sendText(res, 404, `${CONTRIBUTE_PATH}/ort/${name} is not in the installed onnxruntime-web (${this.#ortDir})\n`);
    const etag = `"${st.size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}"`;
    const headers: Record<string, string> = {
      'Content-Type': name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript; charset=utf-8',
      'Cache-Control': `public, max-age=${DEFAULT_ORT_MAX_AGE_S}`,
      ETag: etag,
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    headers['Content-Length'] = String(st.size);
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(full);
    stream.on('error', (e) => { this.#log.warn('contribute page: reading an onnxruntime-web file failed', { file: full, reason: e.message }); res.destroy(e); });
    stream.pipe(res);
  }
}

/** The page template, read per request (4 KB; an edited template shows on reload). */
function readTemplate(root: string): string {
  try {
    return readFileSync(join(root, CONTRIBUTE_TEMPLATE), 'utf8');
  } catch (e) {
    throw new ContributeTemplateError(`cannot read the page template ${CONTRIBUTE_TEMPLATE}: ${(e as Error).message}`);
  }
}

function sendText(res: ServerResponse, status: number, text: string): void {
  const body = Buffer.from(text);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.byteLength), 'Cache-Control': 'no-store' });
  res.end(body);
}
