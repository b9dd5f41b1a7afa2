/**
 * `npm run build:browser`: the browser contributor as a static folder (default dist/contribute/,
 * git-ignored) that any web server can host, pointed at any mesh: open
 * `index.html?bootstrap=/dns/host/tcp/8004/ws/p2p/<peer id>`, or type the address in the page.
 *
 *   node scripts/build-browser.ts [--out DIR] [--bootstrap MULTIADDR]... [--swarm-key FILE]
 *
 * --bootstrap bakes default addresses into the page; --swarm-key bakes in a private mesh's key
 * (anyone who can load the page can then join: host it accordingly).
 *
 * The folder holds index.html, the two bundles with source maps, the onnxruntime-web runtime
 * files the bundle references (ort/), and `_headers` (Netlify / Cloudflare Pages syntax) with the
 * COOP/COEP headers the server must send for WebAssembly threads; servers without that file
 * need the same two headers configured by hand (the page still works without them, on one thread).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleContribute, ortDistDir, PROJECT_ROOT } from '../node-host/contribute-bundle.ts';
import { CONTRIBUTE_TEMPLATE, renderContributePage, type ContributeConfig } from '../node-host/contribute-page.ts';
import { ISOLATION_HEADERS } from '../node-host/contribute-route.ts';
import { readSwarmKey } from '../node-host/mesh-files.ts';

/** Where the folder goes unless --out says otherwise. */
export const DEFAULT_OUT_DIR = join(PROJECT_ROOT, 'dist', 'contribute');

/** The `ort-wasm-simd-threaded*.mjs` loaders a bundle names (each has a `.wasm` beside it). */
export function referencedOrtLoaders(bundleText: string): string[] {
  return [...new Set(bundleText.match(/ort-wasm-simd-threaded(?:\.[a-z]+)?\.mjs/g) ?? [])].sort();
}

/** Builds the standalone folder; returns the files written (relative to `out`). */
export async function buildStandalone(o: { out: string; bootstrap?: string[]; swarmKeyFile?: string; log?: (s: string) => void }): Promise<string[]> {
  const log = o.log ?? (() => undefined);
  const started = performance.now();
  const { files } = await bundleContribute();
  rmSync(o.out, { recursive: true, force: true });
  mkdirSync(join(o.out, 'ort'), { recursive: true });
  const written: string[] = [];
  const write = (name: string, body: Uint8Array | string) => {
    writeFileSync(join(o.out, name), body);
    written.push(name);
  };
  for (const [name, f] of files) write(name, f.body);

  const worker = new TextDecoder().decode(files.get('ort-web.worker.js')?.body ?? new Uint8Array());
  const loaders = referencedOrtLoaders(worker);
  if (loaders.length === 0) throw new Error('the worker bundle names no onnxruntime-web runtime file (ort-wasm-simd-threaded*.mjs); is browser-host/ort-web.worker.ts importing onnxruntime-web?');
  const ortDir = ortDistDir();
  for (const mjs of loaders) {
    for (const name of [mjs, mjs.replace(/\.mjs$/, '.wasm')]) {
      if (!existsSync(join(ortDir, name))) throw new Error(`onnxruntime-web has no ${name} in ${ortDir}`);
      copyFileSync(join(ortDir, name), join(o.out, 'ort', name));
      written.push(`ort/${name}`);
    }
  }

  // Only what was asked for is baked in; the page finds ort/ and the worker beside its own
  // script (relative URLs: the folder works wherever it is hosted) and asks for a bootstrap
  // address when it has none.
  const config: Partial<ContributeConfig> = {};
  if (o.bootstrap?.length) config.bootstrap = o.bootstrap;
  if (o.swarmKeyFile) config.swarmKey = new TextDecoder().decode(readSwarmKey(o.swarmKeyFile));
  const template = readFileSync(join(PROJECT_ROOT, CONTRIBUTE_TEMPLATE), 'utf8');
  write('index.html', renderContributePage(template, Object.keys(config).length > 0 ? config : null, { script: './contribute.js' }));
  const headers = Object.entries(ISOLATION_HEADERS).map(([k, v]) => `  ${k}: ${v}`).join('\n');
  write('_headers', `# COOP/COEP make the page cross-origin isolated: onnxruntime-web needs it for WebAssembly threads.\n/*\n${headers}\n`);
  log(`built ${relative(process.cwd(), o.out) || '.'} in ${Math.round(performance.now() - started)} ms: ${written.length} files (onnxruntime-web: ${loaders.join(', ')})`);
  return written;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, bootstrap: { type: 'string', multiple: true }, 'swarm-key': { type: 'string' } } });
  const out = resolve(values.out ?? DEFAULT_OUT_DIR);
  await buildStandalone({ out, bootstrap: values.bootstrap, swarmKeyFile: values['swarm-key'], log: (s) => process.stdout.write(s + '\n') });
  process.stdout.write(`serve it with the headers in ${join(out, '_headers')} and open index.html?bootstrap=<a host's /ws multiaddr ending in /p2p/<peer id>>\n`);
}

if (import.meta.main) {
  main().catch((e: Error) => {
    process.stderr.write(`build:browser failed: ${e.message}\n`);
    process.exitCode = 1;
  });
}
