/**
 * Entry of the contribute page (bundled to `/contribute/contribute.js`): reads the page config
 * (page-config.ts), starts a BrowserHost when there is a bootstrap address (or asks for one),
 * drives the status panel, and publishes `window.infermesh`, a live object that tests and
 * curious people can read:
 *
 * `{ state, peerId, provider, providerReason, connectedHosts, models: [{name, version, state,
 * bytes}], served, errors, pause(), resume(), leave() }` — updated in place on every change.
 *
 * Major events are logged to the console as `[infermesh] …` lines (browserLogger).
 */
import { BrowserHost, type TabSnapshot, type TabState } from './mesh-browser.ts';
import type { ModelRequest } from './model-choice.ts';
import { readPageConfig, type PageConfig } from './page-config.ts';
import { StatusPanel } from './status-panel.ts';
import type { ProviderRequest } from './worker-protocol.ts';

/** `window.infermesh`. */
export interface InfermeshLive {
  state: TabState;
  peerId: string;
  provider: string;
  providerReason: string;
  connectedHosts: string[];
  models: { name: string; version: string; state: string; bytes: number; device?: string; reason?: string; received: number; cachedBytes?: number }[];
  served: number;
  errors: string[];
  /** What the mesh offers (name, version, bytes, hosts). */
  offers: TabSnapshot['offers'];
  pause(): Promise<void>;
  resume(): Promise<void>;
  leave(): Promise<void>;
  setModels(models: string): void;
}

declare global {
  interface Window {
    infermesh: InfermeshLive;
  }
}

const defaults = {
  ortBase: new URL('./ort/', import.meta.url).href,
  workerUrl: new URL('./ort-web.worker.js', import.meta.url).href,
};
const { config, problems } = readPageConfig(document.getElementById('infermesh-config')?.textContent, location.search, defaults);
for (const p of problems) console.warn(`[infermesh] ${p}`);

let host: BrowserHost | undefined;
const panelRoot = document.getElementById('im-panel')!;
const joinForm = document.getElementById('im-join') as HTMLFormElement;

/**
 * `window.infermesh`: every data field is an enumerable getter over the host's snapshot, so a
 * read (or `JSON.stringify(window.infermesh)`) always sees the current figures, not the last
 * redraw's.
 */
function liveObject(): InfermeshLive {
  const view = (): Omit<InfermeshLive, 'pause' | 'resume' | 'leave' | 'setModels'> => {
    const s = host?.snapshot();
    if (!s) return { state: 'starting', peerId: '', provider: '', providerReason: '', connectedHosts: [], models: [], served: 0, errors: [...problems], offers: [] };
    return {
      state: s.state, peerId: s.peerId, provider: s.provider, providerReason: s.providerReason, connectedHosts: s.connectedHosts,
      served: s.served, errors: [...problems, ...s.errors], offers: s.offers,
      models: s.models.map((m) => ({ name: m.name, version: m.version, state: m.state, bytes: m.bytes, device: m.device, reason: m.reason, received: m.received, cachedBytes: m.cachedBytes })),
    };
  };
  const live = {
    pause: async () => { await host?.pause(); },
    resume: async () => { await host?.resume(); },
    leave: async () => { await host?.leave(); },
    setModels: (models: string) => host?.setModels(parseModels(models)),
  } as InfermeshLive;
  for (const key of ['state', 'peerId', 'provider', 'providerReason', 'connectedHosts', 'models', 'served', 'errors', 'offers'] as const) {
    Object.defineProperty(live, key, { enumerable: true, get: () => view()[key] });
  }
  return live;
}
const live = liveObject();
window.infermesh = live;

function parseModels(s: string): ModelRequest {
  const names = s.split(',').map((x) => x.trim()).filter(Boolean);
  return names.length === 0 || (names.length === 1 && names[0] === 'auto') ? { mode: 'auto' } : { mode: 'named', names };
}

const panel = new StatusPanel(panelRoot, {
  pause: () => void live.pause(),
  resume: () => void live.resume(),
  leave: () => void live.leave(),
  setModels: (r) => host?.setModels(r),
});

function refresh(): void {
  if (!host) return;
  const s = host.snapshot();
  panel.render(s);
  document.title = `infermesh · ${s.state}${s.models.length ? ` · ${s.models.filter((m) => m.state === 'ready').length} model(s)` : ''}`;
}

async function join(c: PageConfig): Promise<void> {
  joinForm.hidden = true;
  panelRoot.hidden = false;
  host = new BrowserHost({
    bootstrap: c.bootstrap, swarmKey: c.swarmKey, ortBase: c.ortBase, workerUrl: c.workerUrl, provider: c.provider,
    models: c.models, budgetBytes: c.budgetBytes, debug: c.debug, onChange: refresh,
  });
  refresh();
  try {
    await host.start();
  } catch {
    // the host is in state 'error' with the reason in its errors; the panel shows it
  }
  refresh();
}

function showJoinForm(c: PageConfig): void {
  joinForm.hidden = false;
  panelRoot.hidden = true;
  const field = (name: string) => joinForm.elements.namedItem(name) as HTMLInputElement;
  field('bootstrap').value = c.bootstrap.join(',');
  field('provider').value = c.provider;
  field('swarmKey').value = c.swarmKey ?? '';
  let submitted = false;
  field('bootstrap').addEventListener('input', () => field('bootstrap').setCustomValidity(''));
  joinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (submitted) return;
    const bootstrap = field('bootstrap').value.split(',').map((x) => x.trim()).filter(Boolean);
    if (bootstrap.length === 0 || !bootstrap.every((b) => b.includes('/p2p/'))) {
      field('bootstrap').setCustomValidity('give the multiaddr of a host, ending in /ws/p2p/<peer id>');
      field('bootstrap').reportValidity();
      return;
    }
    submitted = true;
    void join({ ...c, bootstrap, provider: field('provider').value as ProviderRequest, swarmKey: field('swarmKey').value.trim() || null });
  });
}

// a tab that goes away leaves the mesh at once instead of waiting for its report to expire
addEventListener('pagehide', () => { void host?.leave(); });

if (config.bootstrap.length > 0 && config.autostart) void join(config);
else showJoinForm(config);
