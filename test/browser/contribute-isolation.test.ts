/**
 * The `/contribute` route in real headless Chromium, with a stand-in runtime
 * (test/support/contribute-fixture.ts): the page is cross-origin isolated (so
 * SharedArrayBuffer, hence WebAssembly threads, exist), the bundled module worker loads from
 * the config's workerUrl and is isolated too, and onnxruntime-web's files load under COEP.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium, openTab, waitInTab } from '../support/chromium.ts';
import { fakeProjectRoot, startContributeFixture, type ContributeFixture } from '../support/contribute-fixture.ts';

let browser: Browser;
let fixture: ContributeFixture;

beforeAll(async () => {
  fixture = await startContributeFixture({ root: fakeProjectRoot() });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await fixture?.close();
});

interface Seen {
  config: { bootstrap: string[]; workerUrl: string };
  isolated: boolean;
  sab: boolean;
  reply: { echo: string; isolated: boolean };
  lib: string;
}

test('the page is cross-origin isolated and its module worker runs', async () => {
  const tab = await openTab(browser, 'isolation');
  try {
    await tab.page.goto(`${fixture.url}/contribute`);
    const seen = await waitInTab<Seen>(tab, 'the stand-in page to report', () => (globalThis as { __contribute?: Seen }).__contribute, { timeoutMs: 60_000 });
    expect(seen.isolated).toBe(true);
    expect(seen.sab).toBe(true);
    expect(seen.reply).toEqual({ echo: 'ping', isolated: true });
    expect(seen.lib).toBe('lib-ok');
    expect(seen.config.bootstrap).toEqual(['/ip4/127.0.0.1/tcp/4004/ws/p2p/12D3KooWFakePeer']);
    // onnxruntime-web's runtime loads under the page's COEP (a same-origin fetch and a module import)
    // (a string: vitest rewrites `import()` inside functions of this file, which the page lacks)
    const ort = await tab.page.evaluate(`(async () => {
      const wasm = await fetch('/contribute/ort/ort-wasm-simd-threaded.wasm');
      const bytes = new Uint8Array(await wasm.arrayBuffer());
      const mod = await import('/contribute/ort/ort-wasm-simd-threaded.mjs');
      return { ok: wasm.ok, magic: [...bytes.subarray(0, 4)], factory: typeof mod.default };
    })()`);
    expect(ort).toEqual({ ok: true, magic: [0, 0x61, 0x73, 0x6d], factory: 'function' });
    expect(tab.lines.filter((l) => l.startsWith('[pageerror]') || l.startsWith('[requestfailed]'))).toEqual([]);
  } finally {
    await tab.close();
  }
}, 120_000);
