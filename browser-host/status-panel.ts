/**
 * The contribute page's status panel: what a person lending their tab wants to see and do.
 * Peer id, state, connected hosts, execution provider and why, the models (size, download
 * progress, device), requests served, a live throughput chart (inline SVG, no chart library),
 * errors, the model picker (automatic or chosen from what the mesh offers, sizes shown), and
 * pause / resume / leave buttons. Plain DOM; the page re-renders it on every change.
 *
 * The picker is rebuilt only when the set of offered models changes, so a person's ticks are
 * not wiped by the once-a-second refresh.
 */
import { formatBytes, type ModelRequest } from './model-choice.ts';
import type { TabSnapshot } from './mesh-browser.ts';

/** What the panel's buttons do. */
export interface PanelActions {
  pause(): void;
  resume(): void;
  leave(): void;
  setModels(request: ModelRequest): void;
}

/** Chart size in SVG user units. */
const CHART_W = 360;
const CHART_H = 80;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The throughput chart as SVG markup: a polyline scaled to the largest sample. */
export function throughputSvg(samples: readonly number[], width = CHART_W, height = CHART_H): string {
  const max = Math.max(1, ...samples);
  const n = Math.max(2, samples.length);
  // the top 16 units hold the labels; the line uses the rest
  const top = 16;
  const pts = samples.map((v, i) => `${((i / (n - 1)) * width).toFixed(1)},${(height - 2 - (v / max) * (height - top - 4)).toFixed(1)}`).join(' ');
  const last = samples.length > 0 ? samples[samples.length - 1] : 0;
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="items per second, last ${samples.length} seconds">`
    + `<rect x="0" y="0" width="${width}" height="${height}" class="chart-bg"/>`
    + (samples.length > 1 ? `<polyline points="${pts}" class="chart-line"/>` : '')
    + `<text x="4" y="12" class="chart-label">max ${max.toFixed(1)}/s</text>`
    + `<text x="${width - 4}" y="12" text-anchor="end" class="chart-label">now ${last.toFixed(1)} items/s</text>`
    + '</svg>';
}

export class StatusPanel {
  readonly #root: HTMLElement;
  readonly #actions: PanelActions;
  #offerKey = '';
  readonly #picked = new Set<string>();

  constructor(root: HTMLElement, actions: PanelActions) {
    this.#root = root;
    this.#actions = actions;
    root.innerHTML = `
      <section class="card">
        <div class="row"><span class="label">State</span><span id="im-state" class="badge"></span>
          <span class="buttons"><button id="im-pause" type="button">Pause</button><button id="im-leave" type="button">Leave</button></span></div>
        <div class="row"><span class="label">Peer id</span><code id="im-peer"></code></div>
        <div class="row"><span class="label">Provider</span><span id="im-provider"></span></div>
        <div class="row"><span class="label">Hosts</span><span id="im-hosts"></span></div>
        <div class="row"><span class="label">Cache</span><span id="im-cache"></span></div>
      </section>
      <section class="card"><h2>Throughput</h2><div id="im-chart"></div><div><span class="label">Requests served</span> <strong id="im-served">0</strong></div></section>
      <section class="card"><h2>Models</h2><table><thead><tr><th>model</th><th>version</th><th>size</th><th>state</th><th>device</th><th></th></tr></thead><tbody id="im-models"></tbody></table>
        <p id="im-notes" class="notes"></p></section>
      <section class="card"><h2>Which models</h2>
        <label><input type="radio" name="im-mode" value="auto" id="im-auto"> automatic (the most requested models that fit <span id="im-budget"></span>)</label><br>
        <label><input type="radio" name="im-mode" value="named" id="im-named"> these:</label>
        <div id="im-offers" class="offers"></div><button id="im-apply" type="button">Apply</button></section>
      <section class="card"><h2>Errors</h2><ul id="im-errors" class="errors"></ul></section>`;
    this.#el('im-pause').addEventListener('click', () => {
      if (this.#el('im-pause').dataset.mode === 'resume') actions.resume();
      else actions.pause();
    });
    this.#el('im-leave').addEventListener('click', () => actions.leave());
    this.#el('im-apply').addEventListener('click', () => {
      const named = (this.#el('im-named') as HTMLInputElement).checked;
      this.#actions.setModels(named ? { mode: 'named', names: [...this.#picked] } : { mode: 'auto' });
    });
  }

  #el(id: string): HTMLElement {
    return this.#root.querySelector(`#${id}`) as HTMLElement;
  }

  /** Shows `s`. */
  render(s: TabSnapshot): void {
    const state = this.#el('im-state');
    state.textContent = s.state;
    state.className = `badge ${s.state}`;
    const pause = this.#el('im-pause') as HTMLButtonElement;
    pause.textContent = s.state === 'paused' ? 'Resume' : 'Pause';
    pause.dataset.mode = s.state === 'paused' ? 'resume' : 'pause';
    pause.disabled = s.state !== 'joined' && s.state !== 'paused';
    (this.#el('im-leave') as HTMLButtonElement).disabled = s.state === 'left';
    this.#el('im-peer').textContent = s.peerId || '—';
    this.#el('im-provider').innerHTML = s.provider ? `<strong>${esc(s.provider)}</strong> <span class="why">${esc(s.providerReason)}</span>` : '—';
    this.#el('im-hosts').innerHTML = s.connectedHosts.length === 0 ? 'none connected'
      : `${s.connectedHosts.length}: ${s.connectedHosts.map((h) => `<code title="${esc(h)}">…${esc(h.slice(-8))}</code>`).join(' ')}`;
    this.#el('im-cache').textContent = s.cache || '—';
    this.#el('im-chart').innerHTML = throughputSvg(s.throughput);
    this.#el('im-served').textContent = String(s.served);
    this.#el('im-budget').textContent = `in ${formatBytes(s.budgetBytes)}`;
    this.#el('im-models').innerHTML = s.models.length === 0 ? '<tr><td colspan="6">none yet</td></tr>' : s.models.map((m) => {
      const pct = m.bytes > 0 ? Math.min(100, (100 * m.received) / m.bytes) : 100;
      const progress = m.state === 'downloading' ? `<progress max="100" value="${pct.toFixed(0)}"></progress> ${pct.toFixed(0)}%` : '';
      return `<tr data-model="${esc(m.name)}"><td>${esc(m.name)}</td><td>${esc(m.version)}</td><td>${formatBytes(m.bytes)}</td>`
        + `<td class="st ${m.state}" title="${esc(m.reason ?? '')}">${esc(m.state)}${m.reason ? `: ${esc(m.reason)}` : ''}${m.state === 'ready' && m.cachedBytes === m.bytes && m.bytes > 0 ? ' <span class="why">(from cache)</span>' : ''}</td><td>${esc(m.device ?? '')}</td><td>${progress}</td></tr>`;
    }).join('');
    const notes = [...s.waiting.map((w) => `waiting for a peer to offer '${w}'`), ...s.skipped.map((k) => `${k.name}: ${k.reason}`)];
    this.#el('im-notes').innerHTML = notes.map(esc).join('<br>');
    this.#renderOffers(s);
    this.#el('im-errors').innerHTML = s.errors.length === 0 ? '<li class="none">none</li>' : s.errors.slice(-20).map((e) => `<li>${esc(e)}</li>`).join('');
  }

  #renderOffers(s: TabSnapshot): void {
    const key = s.offers.map((o) => `${o.name}@${o.version}:${o.bytes}`).join('|');
    const auto = this.#el('im-auto') as HTMLInputElement;
    const named = this.#el('im-named') as HTMLInputElement;
    if (!auto.checked && !named.checked) {
      (s.request.mode === 'auto' ? auto : named).checked = true;
      if (s.request.mode === 'named') for (const n of s.request.names) this.#picked.add(n);
    }
    if (key === this.#offerKey) return;
    this.#offerKey = key;
    const box = this.#el('im-offers');
    box.innerHTML = s.offers.length === 0 ? '<em>no peer offers models yet</em>' : s.offers.map((o) =>
      `<label><input type="checkbox" value="${esc(o.name)}"${this.#picked.has(o.name) ? ' checked' : ''}> ${esc(o.name)} v${esc(o.version)} — ${formatBytes(o.bytes)}, ${o.hosts} host${o.hosts === 1 ? '' : 's'}</label>`).join('<br>');
    for (const cb of box.querySelectorAll<HTMLInputElement>('input[type=checkbox]')) {
      cb.addEventListener('change', () => {
        if (cb.checked) this.#picked.add(cb.value);
        else this.#picked.delete(cb.value);
        named.checked = true;
      });
    }
  }
}
