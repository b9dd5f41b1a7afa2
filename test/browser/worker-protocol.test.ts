/**
 * The browser-side unit tests of the page ↔ onnxruntime-web worker protocol, run in real
 * headless Chromium against the real bundled worker (test/support/browser-unit.ts), and the
 * harness's own check that it reports a failing or crashing page as a failure.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/chromium.ts';
import { PROJECT_ROOT } from '../../node-host/contribute-bundle.ts';
import { runBrowserUnitPage, startBrowserUnitServer } from '../support/browser-unit.ts';

/** The test page the browser-host side writes (results protocol: test/support/browser-unit.ts). */
const PAGE = 'test/browser/pages/worker-protocol.page.ts';

let browser: Browser;
beforeAll(async () => { browser = await launchChromium({ webgpu: true }); }, 120_000);
afterAll(async () => { await browser?.close(); });

test('the worker protocol tests pass in Chromium', async () => {
  if (!existsSync(join(PROJECT_ROOT, PAGE))) throw new Error(`${PAGE} is missing: it holds the browser-side tests of the worker protocol`);
  const server = await startBrowserUnitServer(PAGE);
  try {
    const { results, tab } = await runBrowserUnitPage(browser, server.url, 240_000);
    await tab.close();
    const report = results.failed.map((f) => `✗ ${f.name}: ${f.error}`).join('\n');
    expect(results.failed, `browser tests failed:\n${report}\n(passed: ${results.passed.join(', ')})`).toEqual([]);
    expect(results.passed.length).toBeGreaterThan(0);
    process.stderr.write(`worker protocol in Chromium: ${results.passed.length} passed (${results.passed.join('; ')})\n`);
  } finally {
    await server.close();
  }
}, 300_000);

describe('the harness itself', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'infermesh-unit-page-')); });
  afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

  test('reports a failing test and a passing one', async () => {
    const page = join(dir, 'failing.page.ts');
    writeFileSync(page, `
      const isolated = crossOriginIsolated;
      const config = JSON.parse(document.getElementById('infermesh-config')!.textContent!);
      (globalThis as any).__testResults = { done: true, passed: isolated ? ['isolated'] : [], failed: [{ name: 'meant to fail', error: 'worker at ' + config.workerUrl }] };
    `);
    const server = await startBrowserUnitServer(page);
    try {
      const { results, tab } = await runBrowserUnitPage(browser, server.url, 60_000);
      await tab.close();
      expect(results.passed).toEqual(['isolated']);
      expect(results.failed).toEqual([{ name: 'meant to fail', error: 'worker at /contribute/ort-web.worker.js' }]);
    } finally {
      await server.close();
    }
  }, 120_000);

  test('a page that throws fails at once instead of timing out', async () => {
    const page = join(dir, 'throwing.page.ts');
    writeFileSync(page, "throw new Error('boom at load');\n");
    const server = await startBrowserUnitServer(page);
    try {
      const started = Date.now();
      await expect(runBrowserUnitPage(browser, server.url, 60_000)).rejects.toThrow(/the test page threw: boom at load/);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      await server.close();
    }
  }, 120_000);
});
