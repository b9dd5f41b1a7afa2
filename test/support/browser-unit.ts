/**
 * Runs a browser-side unit-test page in real Chromium and collects its results.
 *
 * The page is a TypeScript module under test/ (e.g. test/browser/pages/worker-protocol.page.ts),
 * bundled here with esbuild like the product, and loaded on a blank cross-origin-isolated page
 * whose document carries the same `infermesh-config` JSON as the contribute page; the product's
 * real assets are served beside it under `/contribute/` (the bundled onnxruntime-web worker at
 * `/contribute/ort-web.worker.js`, onnxruntime-web's runtime under `/contribute/ort/`), so a
 * test page can start the real worker.
 *
 * Protocol: when done, the page sets
 * `globalThis.__testResults = { done: true, passed: string[], failed: { name, error }[] }`.
 * A page that throws before that, or never finishes, fails with its console attached.
 */
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { silentLogger } from '../../core/logger.ts';
import { ContributeBundler, DEFAULT_BUNDLE_TARGET, PROJECT_ROOT } from '../../node-host/contribute-bundle.ts';
import { ContributeRoute, ISOLATION_HEADERS } from '../../node-host/contribute-route.ts';
import { scriptSafeJson } from '../../node-host/contribute-page.ts';
import { openTab, waitInTab, type Tab } from './chromium.ts';

/** What a test page reports. */
export interface BrowserUnitResults {
  done: boolean;
  passed: string[];
  failed: { name: string; error: string }[];
}

/** A server for test pages plus the product's /contribute assets. */
export interface BrowserUnitServer {
  url: string;
  close(): Promise<void>;
}

/** Bundles `entry` (absolute or repository-relative) and serves it at `/test/page.js` on an isolated page at `/test/`. */
export async function startBrowserUnitServer(entry: string): Promise<BrowserUnitServer> {
  const result = await build({
    absWorkingDir: PROJECT_ROOT, entryPoints: [resolve(PROJECT_ROOT, entry)], bundle: true, write: false, format: 'esm',
    platform: 'browser', target: DEFAULT_BUNDLE_TARGET, sourcemap: 'inline', conditions: ['onnxruntime-web-use-extern-wasm'],
    define: { 'process.env.NODE_ENV': '"production"' }, logLevel: 'silent',
  });
  const pageJs = result.outputFiles[0].contents;
  const route = new ContributeRoute({
    bundler: new ContributeBundler({ logger: silentLogger }), listenAddrs: () => [], peerId: 'none', logger: silentLogger,
  });
  const config = { bootstrap: [], swarmKey: null, ortBase: '/contribute/ort/', workerUrl: '/contribute/ort-web.worker.js' };
  const html = `<!doctype html><meta charset="utf-8"><title>infermesh browser tests</title>
<script type="application/json" id="infermesh-config">${scriptSafeJson(config)}</script>
<main id="infermesh-test"></main>
<script type="module" src="/test/page.js"></script>`;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (route.matches(path)) {
      void route.handle(req, res, path);
      return;
    }
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
    if (path === '/test/' || path === '/test') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(html);
    } else if (path === '/test/page.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(pageJs);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end(`${path} not found`);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/test/`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** Opens the test page and waits for its results. */
export async function runBrowserUnitPage(browser: Browser, url: string, timeoutMs: number): Promise<{ results: BrowserUnitResults; tab: Tab }> {
  const tab = await openTab(browser, 'unit');
  // An uncaught error (a module that fails to load, a throw outside any test) ends the wait at once.
  let onError!: (e: Error) => void;
  const crashed = new Promise<never>((_, reject) => { onError = (e) => reject(new Error(`the test page threw: ${e.message}\n--- tab console ---\n${tab.log()}`)); });
  crashed.catch(() => undefined);
  tab.page.on('pageerror', onError);
  try {
    await tab.page.goto(url);
    const results = await Promise.race([crashed, waitInTab<BrowserUnitResults>(tab, 'the test page to finish (globalThis.__testResults.done)', () => {
      const r = (globalThis as { __testResults?: BrowserUnitResults }).__testResults;
      return r?.done ? r : undefined;
    }, { timeoutMs })]);
    return { results, tab };
  } finally {
    tab.page.off('pageerror', onError);
  }
}
