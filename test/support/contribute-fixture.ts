/**
 * A KServe HTTP server whose `/contribute` route bundles a stand-in browser runtime from a
 * temporary project root, so the route, the bundler and the headers are tested without the real
 * browser-host/ (and without onnxruntime): the entries only record that they ran.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceServer } from '../../core/inference-server.ts';
import { silentLogger, type Logger } from '../../core/logger.ts';
import { KServeHttpServer } from '../../node-host/http-server.ts';
import { ContributeBundler } from '../../node-host/contribute-bundle.ts';
import { ContributeRoute } from '../../node-host/contribute-route.ts';

/** Stand-in page entry: publishes what the page saw (config, isolation) on window.__contribute. */
export const FAKE_MAIN = `
import { worker } from './lib.ts';
const el = document.getElementById('infermesh-config');
const config = JSON.parse(el ? el.textContent ?? 'null' : 'null');
const w = new Worker(new URL(config.workerUrl, location.href), { type: 'module' });
const reply = await new Promise<unknown>((resolve) => { w.onmessage = (e) => resolve(e.data); w.postMessage('ping'); });
(globalThis as any).__contribute = { config, isolated: crossOriginIsolated, sab: typeof SharedArrayBuffer === 'function', reply, lib: worker() };
`;

/** Stand-in page template, shaped like browser-host/contribute.html. */
export const FAKE_TEMPLATE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stand-in</title>
<script type="application/json" id="infermesh-config">null</script>
</head><body><div id="im-panel"></div>
<script type="module" src="/contribute/contribute.js"></script>
</body></html>
`;

/** Stand-in worker: answers one message, saying whether it is isolated too. */
export const FAKE_WORKER = `
self.onmessage = (e: MessageEvent) => { (self as any).postMessage({ echo: e.data, isolated: (self as any).crossOriginIsolated }); };
`;

/** A project root with browser-host/ stand-ins; `files` overrides or adds files (relative paths). */
export function fakeProjectRoot(files: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'infermesh-contribute-'));
  mkdirSync(join(root, 'browser-host'));
  const all: Record<string, string> = {
    'browser-host/contribute-main.ts': FAKE_MAIN,
    'browser-host/ort-web.worker.ts': FAKE_WORKER,
    'browser-host/lib.ts': "export const worker = (): string => 'lib-ok';\n",
    'browser-host/contribute.html': FAKE_TEMPLATE,
    ...files,
  };
  for (const [rel, text] of Object.entries(all)) writeFileSync(join(root, rel), text);
  return root;
}

/** A running server with a contribute route over a fake root. */
export interface ContributeFixture {
  url: string;
  root: string;
  http: KServeHttpServer;
  route: ContributeRoute;
  close(): Promise<void>;
}

/** Starts a KServe server (no models) on 127.0.0.1 with a contribute route bundling `root`. */
export async function startContributeFixture(o: {
  root: string; cacheDir?: string | null; listenAddrs?: string[]; peerId?: string; swarmKeyText?: string; logger?: Logger; contribute?: boolean;
  corsOrigin?: string;
}): Promise<ContributeFixture> {
  const logger = o.logger ?? silentLogger;
  const core = new InferenceServer({ sources: [], backends: [], logger });
  await core.start();
  const route = new ContributeRoute({
    bundler: new ContributeBundler({ logger, root: o.root, cacheDir: o.cacheDir ?? null, minify: false }),
    listenAddrs: () => o.listenAddrs ?? ['/ip4/127.0.0.1/tcp/4004/ws', '/ip4/127.0.0.1/tcp/4003'],
    peerId: o.peerId ?? '12D3KooWFakePeer', swarmKeyText: o.swarmKeyText, logger,
  });
  const http = new KServeHttpServer(core, { host: '127.0.0.1', port: 0, logger, corsOrigin: o.corsOrigin, contribute: o.contribute === false ? undefined : route });
  const addr = await http.listen();
  return {
    url: `http://127.0.0.1:${addr.port}`, root: o.root, http, route,
    close: async () => {
      await http.drain(0, 0);
      http.closeAllConnections();
      await core.stop(0);
      rmSync(o.root, { recursive: true, force: true });
    },
  };
}
