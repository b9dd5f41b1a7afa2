/**
 * The contribute page's configuration: the JSON a node host embeds in the page
 * (`<script type="application/json" id="infermesh-config">`), overridden by URL query
 * parameters. Pure, so the rules are unit-tested in Node.
 *
 * Embedded JSON: `{ "bootstrap": [multiaddr…], "swarmKey": "<swarm key file text>" | null,
 * "ortBase": "/contribute/ort/", "workerUrl": "/contribute/ort-web.worker.js" }`.
 * Query parameters: `bootstrap` (comma-separated multiaddrs), `provider` (auto|webgpu|wasm),
 * `models` (comma-separated names, or `auto`), `budgetMb`, `autostart` (1/0, default 1),
 * `debug` (1: libp2p debug lines in the console).
 */
import { DEFAULT_BUDGET_BYTES, type ModelRequest } from './model-choice.ts';
import type { ProviderRequest } from './worker-protocol.ts';

/** The page's settings after merging the embedded JSON with the query. */
export interface PageConfig {
  bootstrap: string[];
  swarmKey: string | null;
  ortBase: string;
  workerUrl: string;
  provider: ProviderRequest;
  models: ModelRequest;
  budgetBytes: number;
  autostart: boolean;
  debug: boolean;
}

/** Where the page finds its files when the embedded config does not say (relative to the page's script). */
export interface PageDefaults {
  ortBase: string;
  workerUrl: string;
}

const PROVIDERS: readonly ProviderRequest[] = ['auto', 'webgpu', 'wasm'];

function list(s: string): string[] {
  return s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
}

/** Parses a `models` value: `auto` (or empty) → automatic, else the names. */
export function parseModelRequest(s: string): ModelRequest {
  const names = list(s);
  return names.length === 0 || (names.length === 1 && names[0] === 'auto') ? { mode: 'auto' } : { mode: 'named', names };
}

/**
 * Merges the embedded JSON (`null`/empty for a standalone page) with the query string.
 * Never throws: each bad value is replaced by its default and described in `problems`.
 */
export function readPageConfig(embedded: string | null | undefined, search: string, defaults: PageDefaults): { config: PageConfig; problems: string[] } {
  const problems: string[] = [];
  let json: Record<string, unknown> = {};
  const text = embedded?.trim() ?? '';
  if (text !== '' && text !== 'null') {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
      else problems.push('the embedded infermesh-config is not a JSON object; ignored');
    } catch (e) {
      problems.push(`the embedded infermesh-config is not valid JSON (${(e as Error).message}); ignored`);
    }
  }
  const str = (v: unknown, name: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    problems.push(`config '${name}' must be a string; ignored`);
    return undefined;
  };
  const q = new URLSearchParams(search);
  let bootstrap: string[] = [];
  if (Array.isArray(json.bootstrap) && json.bootstrap.every((b) => typeof b === 'string')) bootstrap = (json.bootstrap as string[]).filter((b) => b.trim() !== '');
  else if (json.bootstrap !== undefined) problems.push("config 'bootstrap' must be an array of multiaddr strings; ignored");
  if (q.has('bootstrap')) bootstrap = list(q.get('bootstrap')!);

  let provider: ProviderRequest = 'auto';
  const p = q.get('provider');
  if (p !== null) {
    if ((PROVIDERS as readonly string[]).includes(p)) provider = p as ProviderRequest;
    else problems.push(`provider '${p}' is not one of ${PROVIDERS.join(', ')}; using auto`);
  }

  let budgetBytes = DEFAULT_BUDGET_BYTES;
  const b = q.get('budgetMb');
  if (b !== null) {
    const mb = Number(b);
    if (Number.isFinite(mb) && mb > 0) budgetBytes = Math.round(mb * 1024 * 1024);
    else problems.push(`budgetMb '${b}' is not a positive number; using ${DEFAULT_BUDGET_BYTES / 1024 / 1024}`);
  }

  const flag = (name: string, dflt: boolean): boolean => {
    const v = q.get(name);
    if (v === null) return dflt;
    if (['1', 'true', 'yes', ''].includes(v)) return true;
    if (['0', 'false', 'no'].includes(v)) return false;
    problems.push(`${name} '${v}' is not 1 or 0; using ${dflt ? 1 : 0}`);
    return dflt;
  };

  return {
    config: {
      bootstrap,
      swarmKey: str(json.swarmKey, 'swarmKey') ?? null,
      ortBase: str(json.ortBase, 'ortBase') ?? defaults.ortBase,
      workerUrl: str(json.workerUrl, 'workerUrl') ?? defaults.workerUrl,
      provider,
      models: parseModelRequest(q.get('models') ?? 'auto'),
      budgetBytes,
      autostart: flag('autostart', true),
      debug: flag('debug', false),
    },
    problems,
  };
}
