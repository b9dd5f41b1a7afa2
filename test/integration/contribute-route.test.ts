/**
 * The `/contribute` route and its bundler over real HTTP on 127.0.0.1, with a stand-in browser
 * runtime (test/support/contribute-fixture.ts). The real page in real Chromium is tested in
 * test/browser/.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ContributeBundler, bundleContribute, isOrtRuntimeFile } from '../../node-host/contribute-bundle.ts';
import { browserBootstrap, renderContributePage, scriptSafeJson } from '../../node-host/contribute-page.ts';
import { parseServeArgs } from '../../node-host/cli.ts';
import { createNodeLogger } from '../../node-host/logger-node.ts';
import { FAKE_TEMPLATE, fakeProjectRoot, startContributeFixture, type ContributeFixture } from '../support/contribute-fixture.ts';

const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
const PEER = '12D3KooWFakePeer';

function configOf(html: string): Record<string, unknown> {
  const m = /<script type="application\/json" id="infermesh-config">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error(`page has no infermesh-config script:\n${html}`);
  return JSON.parse(m[1]) as Record<string, unknown>;
}

function expectIsolated(res: Response): void {
  for (const [k, v] of Object.entries(ISOLATION)) expect(res.headers.get(k), k).toBe(v);
}

let fixture: ContributeFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

describe('browserBootstrap', () => {
  test('keeps WebSocket addresses only, appends the peer id, drops wildcards', () => {
    expect(browserBootstrap(['/ip4/10.0.0.5/tcp/8003', '/ip4/10.0.0.5/tcp/8004/ws', '/ip4/0.0.0.0/tcp/8004/ws', `/ip4/127.0.0.1/tcp/8004/ws/p2p/${PEER}`], PEER))
      .toEqual([`/ip4/10.0.0.5/tcp/8004/ws/p2p/${PEER}`, `/ip4/127.0.0.1/tcp/8004/ws/p2p/${PEER}`]);
  });

  test('puts the name the browser used (Host header) first, with each WebSocket port', () => {
    const addrs = ['/ip4/127.0.0.1/tcp/8004/ws', '/ip4/10.0.0.5/tcp/8004/ws', '/ip4/10.0.0.5/tcp/8003'];
    expect(browserBootstrap(addrs, PEER, 'mesh.example:8000')).toEqual([
      `/dns/mesh.example/tcp/8004/ws/p2p/${PEER}`, `/ip4/127.0.0.1/tcp/8004/ws/p2p/${PEER}`, `/ip4/10.0.0.5/tcp/8004/ws/p2p/${PEER}`,
    ]);
    // The same address through the Host header and the listen list appears once.
    expect(browserBootstrap(addrs, PEER, '10.0.0.5:8000')).toEqual([`/ip4/10.0.0.5/tcp/8004/ws/p2p/${PEER}`, `/ip4/127.0.0.1/tcp/8004/ws/p2p/${PEER}`]);
    expect(browserBootstrap(['/ip6/::1/tcp/8004/ws'], PEER, '[::1]:8000')).toEqual([`/ip6/::1/tcp/8004/ws/p2p/${PEER}`]);
    expect(browserBootstrap(['/ip4/127.0.0.1/tcp/8003'], PEER, 'localhost:8000')).toEqual([]);
    expect(browserBootstrap(addrs, PEER, 'bad host\u0000')).toHaveLength(2);
  });

  test('config JSON cannot close its script element; $ in values is taken literally', () => {
    const html = renderContributePage(FAKE_TEMPLATE, { bootstrap: ['</script><script>alert(1)</script>', "$&$1$'"], swarmKey: null, ortBase: '/o/', workerUrl: '/w.js' });
    expect(html.match(/<\/script>/g)).toHaveLength(2); // the config's and the entry's own
    expect(configOf(html).bootstrap).toEqual(['</script><script>alert(1)</script>', "$&$1$'"]);
    expect(scriptSafeJson('\u2028<!--')).toBe('"\\u2028\\u003c!--"');
  });

  test('the template: null config for a standalone page, the entry URL replaced, drift is an error', () => {
    const standalone = renderContributePage(FAKE_TEMPLATE, null, { script: './contribute.js' });
    expect(standalone).toContain('<script type="application/json" id="infermesh-config">null</script>');
    expect(standalone).toContain('<script type="module" src="./contribute.js"></script>');
    expect(() => renderContributePage('<html></html>', null)).toThrow(/no <script type="application\/json" id="infermesh-config"> element/);
    expect(() => renderContributePage(FAKE_TEMPLATE.replace('/contribute/contribute.js', '/x.js'), null, { script: './c.js' })).toThrow(/does not load its entry/);
  });
});

describe('GET /contribute', () => {
  test('serves the page with the host WebSocket address, swarm key and asset URLs, isolated', async () => {
    const key = '/key/swarm/psk/1.0.0/\n/base16/\n' + 'ab'.repeat(32);
    fixture = await startContributeFixture({ root: fakeProjectRoot(), swarmKeyText: key });
    const res = await fetch(`${fixture.url}/contribute?bootstrap=x`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expectIsolated(res);
    const html = await res.text();
    const port = new URL(fixture.url).port;
    expect(configOf(html)).toEqual({
      // the Host header (127.0.0.1:port) gives the same address as the listen list: once
      bootstrap: [`/ip4/127.0.0.1/tcp/4004/ws/p2p/${PEER}`],
      swarmKey: key,
      ortBase: '/contribute/ort/',
      workerUrl: '/contribute/ort-web.worker.js',
    });
    expect(port).not.toBe('');
    expect(html).toContain('<script type="module" src="/contribute/contribute.js"></script>');
    expect(html).toContain('<div id="im-panel">'); // the template's, not a page of the host's own
    for (const p of ['/contribute/', '/contribute/index.html']) expect((await fetch(fixture.url + p)).status).toBe(200);
  });

  test('with --cors-origin set, the page (it carries the swarm key) gets no CORS headers; KServe routes keep theirs', async () => {
    const key = '/key/swarm/psk/1.0.0/\n/base16/\n' + 'cd'.repeat(32);
    fixture = await startContributeFixture({ root: fakeProjectRoot(), swarmKeyText: key, corsOrigin: '*' });
    const page = await fetch(`${fixture.url}/contribute`, { headers: { origin: 'https://elsewhere.example' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('access-control-allow-origin')).toBeNull();
    expect(configOf(await page.text()).swarmKey).toBe(key);
    const kserve = await fetch(`${fixture.url}/v2/health/live`, { headers: { origin: 'https://elsewhere.example' } });
    expect(kserve.headers.get('access-control-allow-origin')).toBe('*');
  });

  test('open mesh: swarmKey null; HEAD answers headers only', async () => {
    fixture = await startContributeFixture({ root: fakeProjectRoot() });
    expect(configOf(await (await fetch(`${fixture.url}/contribute`)).text()).swarmKey).toBeNull();
    const head = await fetch(`${fixture.url}/contribute`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expectIsolated(head);
    expect(await head.text()).toBe('');
  });

  test('serves the bundled entry and worker (gzip when asked, ETag revalidation) and their source maps', async () => {
    fixture = await startContributeFixture({ root: fakeProjectRoot() });
    const js = await fetch(`${fixture.url}/contribute/contribute.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expectIsolated(js);
    const text = await js.text();
    expect(text).toContain('lib-ok'); // the import of lib.ts was bundled in
    expect(text).toContain('//# sourceMappingURL=contribute.js.map');
    expect(text).not.toMatch(/from\s*['"]\.\/lib\.ts['"]/);

    const worker = await fetch(`${fixture.url}/contribute/ort-web.worker.js`);
    expect(worker.status).toBe(200);
    expectIsolated(worker);
    const map = await fetch(`${fixture.url}/contribute/contribute.js.map`);
    expect(map.status).toBe(200);
    expect((await map.json() as { sources: string[] }).sources.some((s) => s.endsWith('browser-host/lib.ts'))).toBe(true);

    // node's fetch decodes gzip itself; ask with a raw request to see the encoding.
    const { request } = await import('node:http');
    const raw = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      request(`${fixture!.url}/contribute/contribute.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      }).on('error', reject).end();
    });
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(raw.body).toString()).toBe(text);

    const etag = js.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${fixture.url}/contribute/contribute.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  test('serves onnxruntime-web runtime files and nothing else from its dist folder', async () => {
    fixture = await startContributeFixture({ root: fakeProjectRoot() });
    const wasm = await fetch(`${fixture.url}/contribute/ort/ort-wasm-simd-threaded.wasm`, { method: 'HEAD' });
    expect(wasm.status).toBe(200);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect(Number(wasm.headers.get('content-length'))).toBeGreaterThan(1_000_000);
    expectIsolated(wasm);
    const mjs = await fetch(`${fixture.url}/contribute/ort/ort-wasm-simd-threaded.jsep.mjs`);
    expect(mjs.status).toBe(200);
    expect(mjs.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await mjs.text()).length).toBeGreaterThan(1000);
    const full = await fetch(`${fixture.url}/contribute/ort/ort-wasm-simd-threaded.wasm`);
    const bytes = new Uint8Array(await full.arrayBuffer());
    expect([...bytes.subarray(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]); // "\0asm"
    expect(bytes.byteLength).toBe(Number(wasm.headers.get('content-length')));
    expect((await fetch(`${fixture.url}/contribute/ort/ort-wasm-simd-threaded.wasm`, { headers: { 'if-none-match': wasm.headers.get('etag')! } })).status).toBe(304);

    // (fetch resolves '../' itself, so a traversal arrives encoded or outside /contribute)
    for (const bad of ['ort.all.js', '../../package.json', '..%2F..%2Fpackage.json', 'ort-wasm-simd-threaded.nope.wasm', '%2E%2E/ort.all.js']) {
      const r = await fetch(`${fixture.url}/contribute/ort/${bad}`);
      expect(r.status, bad).toBe(404);
      expect((await r.text()).length, bad).toBeLessThan(400); // an explanation, not a file
    }
    expect(isOrtRuntimeFile('ort-wasm-simd-threaded.jsep.wasm')).toBe(true);
    expect(isOrtRuntimeFile('ort-wasm-simd-threaded.wasm.map')).toBe(false);
  });

  test('unknown assets are 404, other methods 405; KServe routes are untouched', async () => {
    fixture = await startContributeFixture({ root: fakeProjectRoot() });
    const missing = await fetch(`${fixture.url}/contribute/nope.js`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('bundle files: ');
    expect((await fetch(`${fixture.url}/contribute/x/../../etc/passwd`)).status).toBe(404);
    const post = await fetch(`${fixture.url}/contribute`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    // /contributed is not the page; /v2 answers as before
    const other = await fetch(`${fixture.url}/contributed`);
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({ error: 'Not Found' });
    const ready = await fetch(`${fixture.url}/v2/health/live`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('cross-origin-embedder-policy')).toBeNull();
    expect((await fetch(`${fixture.url}/v2`)).status).toBe(200);
  });

  test('with the route off (--no-contribute) /contribute is an ordinary 404', async () => {
    fixture = await startContributeFixture({ root: fakeProjectRoot(), contribute: false });
    const res = await fetch(`${fixture.url}/contribute`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'Not Found' });
    expect(parseServeArgs(['--model-repository', 'x', '--no-contribute']).contribute).toBe(false);
    expect(parseServeArgs(['--model-repository', 'x']).contribute).toBe(true);
  });

  test('a bundle that fails answers 500 with esbuild\'s error, and recovers once the source is fixed', async () => {
    const lines: string[] = [];
    const logger = createNodeLogger({ level: 'info', write: (l) => lines.push(l) });
    const root = fakeProjectRoot({ 'browser-host/lib.ts': 'export const worker = ( => 1;\n' });
    fixture = await startContributeFixture({ root, logger });
    const res = await fetch(`${fixture.url}/contribute`);
    expect(res.status).toBe(500);
    expectIsolated(res);
    const text = await res.text();
    expect(text).toContain('could not build the contribute page');
    expect(text).toMatch(/browser-host\/lib\.ts:1:\d+: /);
    expect((await fetch(`${fixture.url}/contribute/contribute.js`)).status).toBe(500);
    expect(lines.some((l) => l.includes('cannot build the page'))).toBe(true);
    // KServe keeps working while the page is broken
    expect((await fetch(`${fixture.url}/v2/health/live`)).status).toBe(200);
    writeFileSync(join(root, 'browser-host/lib.ts'), "export const worker = (): string => 'fixed';\n");
    const fixed = await fetch(`${fixture.url}/contribute/contribute.js`);
    expect(fixed.status).toBe(200);
    expect(await fixed.text()).toContain('fixed');
    expect(lines.some((l) => l.includes('bundling the browser runtime'))).toBe(true);
    expect(lines.some((l) => l.includes('bundle ready'))).toBe(true);
  });

  test('a missing page template is a clear 500', async () => {
    const root = fakeProjectRoot();
    rmSync(join(root, 'browser-host', 'contribute.html'));
    fixture = await startContributeFixture({ root });
    const res = await fetch(`${fixture.url}/contribute`);
    expect(res.status).toBe(500);
    expect(await res.text()).toMatch(/cannot read the page template browser-host\/contribute\.html/);
  });

  test('a missing browser runtime is a clear 500', async () => {
    const root = fakeProjectRoot();
    rmSync(join(root, 'browser-host', 'ort-web.worker.ts'));
    fixture = await startContributeFixture({ root });
    const res = await fetch(`${fixture.url}/contribute`);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('browser-host/ort-web.worker.ts does not exist');
  });
});

describe('ContributeBundler', () => {
  test('builds once per process, shares a build between concurrent callers, reuses the disk cache until an input changes', async () => {
    const root = fakeProjectRoot();
    const cacheDir = mkdtempSync(join(tmpdir(), 'infermesh-bundle-cache-'));
    try {
      const a = new ContributeBundler({ logger: createNodeLogger({ level: 'error' }), root, cacheDir, minify: false });
      const [b1, b2] = await Promise.all([a.get(), a.get()]);
      expect(b1).toBe(b2);
      expect(b1.origin).toBe('built');
      expect(await a.get()).toBe(b1);
      expect([...b1.files.keys()].sort()).toEqual(['contribute.js', 'contribute.js.map', 'ort-web.worker.js', 'ort-web.worker.js.map']);

      // another process (a new bundler) reads the cache: same bytes
      const fromCache = await new ContributeBundler({ logger: createNodeLogger({ level: 'error' }), root, cacheDir, minify: false }).get();
      expect(fromCache.origin).toBe('disk-cache');
      expect(new TextDecoder().decode(fromCache.files.get('contribute.js')!.body)).toBe(new TextDecoder().decode(b1.files.get('contribute.js')!.body));

      // a changed input (even one only imported) invalidates it
      writeFileSync(join(root, 'browser-host/lib.ts'), "export const worker = (): string => 'changed';\n");
      utimesSync(join(root, 'browser-host/lib.ts'), new Date(), new Date(Date.now() + 5_000));
      const rebuilt = await new ContributeBundler({ logger: createNodeLogger({ level: 'error' }), root, cacheDir, minify: false }).get();
      expect(rebuilt.origin).toBe('built');
      expect(new TextDecoder().decode(rebuilt.files.get('contribute.js')!.body)).toContain('changed');
      // other build options do not read a cache written with different ones
      expect((await new ContributeBundler({ logger: createNodeLogger({ level: 'error' }), root, cacheDir, minify: true }).get()).origin).toBe('built');
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  test('bundleContribute reports esbuild errors with file:line:col', async () => {
    const root = fakeProjectRoot({ 'browser-host/contribute-main.ts': "import { nothing } from './missing.ts';\nconsole.log(nothing);\n" });
    try {
      await expect(bundleContribute({ root })).rejects.toThrow(/browser-host\/contribute-main\.ts:1:\d+: Could not resolve "\.\/missing\.ts"/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
