/**
 * Real headless Chromium for the browser tests, driven by playwright-core (no bundled browser:
 * the system's /usr/bin/chromium). Nothing is skipped: when Chromium is missing the test fails
 * and says how to install it.
 *
 * Every page opened here records its console and page errors, so a failing wait can print what
 * the tab said ({@link Tab.log}); `INFERMESH_BROWSER_LOG=1` also echoes it to stderr live.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** The browser binary (override with CHROMIUM_PATH). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Flags for a quiet, reproducible headless run: no sandbox (CI runs as root in a container),
 * no QUIC or background traffic (the machine may have no network), /tmp instead of a small
 * /dev/shm.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

/** Added for WebGPU runs: headless Chromium on Linux then offers SwiftShader's (CPU) adapter. */
export const WEBGPU_ARGS: readonly string[] = ['--enable-unsafe-webgpu'];

/** How long a launch may take on a loaded 2-core machine. */
const LAUNCH_TIMEOUT_MS = 60_000;

/** Options of {@link launchChromium}. */
export interface LaunchOptions {
  /** Add {@link WEBGPU_ARGS}. */
  webgpu?: boolean;
  /** Further flags. */
  args?: string[];
}

/** Launches headless Chromium; fails with an install hint when it is not installed. */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM_PATH}: the browser tests need a real Chromium. `
      + 'Install it with `apt-get update && apt-get install -y chromium` (or set CHROMIUM_PATH to another Chromium binary).');
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.webgpu ? WEBGPU_ARGS : []), ...(options.args ?? [])],
    timeout: LAUNCH_TIMEOUT_MS,
  });
}

/** A page with its console recorded. */
export interface Tab {
  page: Page;
  context: BrowserContext;
  /** Console lines (`[type] text`) and page errors (`[pageerror] …`), in order. */
  lines: string[];
  /** The last `n` recorded lines, one per line, for failure messages. */
  log(n?: number): string;
  /** Closes the tab's context (as a user closing the window would). */
  close(): Promise<void>;
}

/** Opens a new page in its own context (separate storage, like a separate visitor) and records it. */
export async function openTab(browser: Browser, label = 'tab'): Promise<Tab> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const lines: string[] = [];
  const echo = process.env.INFERMESH_BROWSER_LOG === '1';
  const push = (line: string) => {
    lines.push(line);
    if (echo) process.stderr.write(`[${label}] ${line}\n`);
  };
  page.on('console', (m) => push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => push(`[pageerror] ${e.message}`));
  page.on('requestfailed', (r) => push(`[requestfailed] ${r.method()} ${r.url()}: ${r.failure()?.errorText ?? '?'}`));
  page.on('crash', () => push('[crash] the page crashed'));
  let closed = false;
  return {
    page, context, lines,
    log: (n = 60) => lines.slice(-n).join('\n'),
    close: async () => {
      if (closed) return;
      closed = true;
      await context.close().catch(() => undefined);
    },
  };
}

/**
 * Waits until `predicate` (a function evaluated in the page, with `arg`) returns something
 * truthy, and returns it. On timeout the error says `what`, shows `window.infermesh` and the
 * tab's recent console, so a failure on a slow machine can be read without a rerun.
 */
export async function waitInTab<T, A = undefined>(
  tab: Tab, what: string, predicate: (arg: A) => T | undefined | null | false, { timeoutMs, arg }: { timeoutMs: number; arg?: A },
): Promise<T> {
  try {
    const handle = await tab.page.waitForFunction(predicate as (a: unknown) => unknown, arg as unknown, { timeout: timeoutMs, polling: 100 });
    return (await handle.jsonValue()) as T;
  } catch (e) {
    const state = await snapshotOf(tab.page);
    throw new Error(`${what}: not reached within ${timeoutMs} ms (${(e as Error).message.split('\n')[0]})\nwindow.infermesh = ${state}\n--- tab console ---\n${tab.log()}`);
  }
}

/** `window.infermesh` (without functions) as JSON, or why it could not be read. */
export async function snapshotOf(page: Page): Promise<string> {
  try {
    return await page.evaluate(() => {
      const m = (globalThis as { infermesh?: unknown }).infermesh;
      return m === undefined ? 'undefined' : JSON.stringify(m, (_k, v: unknown) => (typeof v === 'function' ? undefined : v));
    });
  } catch (e) {
    return `(unreadable: ${(e as Error).message.split('\n')[0]})`;
  }
}
