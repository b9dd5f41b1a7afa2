/**
 * Which models a tab serves: the models the mesh offers (from peers' status reports: each
 * model's files, sizes and load), filtered to what the tab can run, chosen by name or
 * automatically, and never more than the memory budget.
 *
 * Pure (no DOM, no libp2p): the tab feeds it the peer directory; unit tests feed it reports.
 *
 * - An offer is one model as advertised: the files of its root folder and of its highest
 *   advertised version (a tab serves the latest version only), the hosts that advertise
 *   exactly those files, and the demand on it (requests queued or executing across the mesh).
 * - Memory: a model counts {@link DEFAULT_MEMORY_FACTOR} × its file size against the budget
 *   (the file's bytes while the session is built, then the session's own copy of the weights).
 * - `auto`: the most demanded models first (then the scarcer — fewer hosts — then the smaller),
 *   up to {@link DEFAULT_AUTO_MAX_MODELS}, each only if it still fits in the budget.
 */
import type { PeerStatus } from '../protocol/mesh-pb.ts';
import type { MeshFile } from './model-source-mesh.ts';

/** Each model counts twice its file size: bytes during session creation plus the session's weights. */
export const DEFAULT_MEMORY_FACTOR = 2;

/** 512 MiB: a tab on an ordinary laptop can spare this without the browser killing it. */
export const DEFAULT_BUDGET_BYTES = 512 * 1024 * 1024;

/** 3 models at most in automatic mode: a tab serves a few small models well rather than many badly. */
export const DEFAULT_AUTO_MAX_MODELS = 3;

/** Platforms a tab can run (onnxruntime-web). */
export const TAB_PLATFORMS: readonly string[] = ['onnxruntime_onnx', 'onnxruntime'];

/** One model as the mesh offers it. */
export interface ModelOffer {
  name: string;
  /** The version whose files are offered (the highest advertised). */
  version: string;
  platform: string;
  /** Root files plus that version's files. */
  files: MeshFile[];
  /** Their total size. */
  bytes: number;
  /** Peers that advertise exactly these files. */
  hosts: string[];
  /** Requests queued or executing for this model across the mesh (all peers' reports). */
  demand: number;
}

/** A peer's report as the offer builder reads it. */
export interface ReportView {
  peerId: string;
  status: Pick<PeerStatus, 'models'>;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Files of the model's root folder and of `version`'s folder. */
function filesOfVersion(files: readonly { path: string; sha256: Uint8Array; size: number }[], version: string): MeshFile[] {
  return files
    .filter((f) => !f.path.includes('/') || f.path.startsWith(`${version}/`))
    .map((f) => ({ path: f.path, sha256: hex(f.sha256), size: f.size }));
}

/**
 * The models offered by `reports` (the tab's own report excluded by the caller). Per model the
 * offer with the highest version wins, then the one most hosts advertise. Models without
 * files (hosts that do not share them) are left out.
 */
export function offersFrom(reports: readonly ReportView[]): ModelOffer[] {
  const byKey = new Map<string, ModelOffer>();
  const demand = new Map<string, number>();
  for (const r of reports) {
    for (const m of r.status.models) {
      demand.set(m.name, (demand.get(m.name) ?? 0) + m.queued + m.inFlight);
      if (m.files.length === 0 || m.versions.length === 0) continue;
      const version = [...m.versions].sort((a, b) => Number(b) - Number(a))[0];
      const files = filesOfVersion(m.files, version);
      if (!files.some((f) => f.path.startsWith(`${version}/`))) continue;
      const key = `${m.name}\n${files.map((f) => `${f.path}:${f.sha256}`).sort().join('\n')}`;
      const o = byKey.get(key);
      if (o) o.hosts.push(r.peerId);
      else byKey.set(key, { name: m.name, version, platform: m.platform, files, bytes: files.reduce((n, f) => n + f.size, 0), hosts: [r.peerId], demand: 0 });
    }
  }
  const best = new Map<string, ModelOffer>();
  for (const o of byKey.values()) {
    const b = best.get(o.name);
    if (!b || Number(o.version) > Number(b.version) || (o.version === b.version && o.hosts.length > b.hosts.length)) best.set(o.name, o);
  }
  return [...best.values()].map((o) => ({ ...o, demand: demand.get(o.name) ?? 0 })).sort((a, b) => a.name.localeCompare(b.name));
}

/** What the tab is asked to serve: named models, or `auto`. */
export type ModelRequest = { mode: 'auto' } | { mode: 'named'; names: string[] };

/** Options of {@link chooseModels}. */
export interface ChoiceInit {
  offers: readonly ModelOffer[];
  request: ModelRequest;
  budgetBytes: number;
  /** Models the tab serves already, with their bytes: they keep their share of the budget. */
  loaded?: readonly { name: string; bytes: number }[];
  memoryFactor?: number;
  autoMaxModels?: number;
}

/** The decision: models to load now, and why others are not. */
export interface ModelChoice {
  load: ModelOffer[];
  /** Requested (or automatic candidates) that are not loaded, with the reason. */
  skipped: { name: string; reason: string }[];
  /** Named models no peer offers (yet): the tab keeps waiting for them. */
  waiting: string[];
}

/** A size for people: `1.5 MB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** Chooses what to load next; models in `loaded` are never chosen again nor evicted. */
export function chooseModels(init: ChoiceInit): ModelChoice {
  const factor = init.memoryFactor ?? DEFAULT_MEMORY_FACTOR;
  const loaded = new Map((init.loaded ?? []).map((l) => [l.name, l.bytes]));
  let left = init.budgetBytes - [...loaded.values()].reduce((n, b) => n + b * factor, 0);
  const out: ModelChoice = { load: [], skipped: [], waiting: [] };
  const byName = new Map(init.offers.map((o) => [o.name, o]));
  const consider = (o: ModelOffer): boolean => {
    if (!TAB_PLATFORMS.includes(o.platform)) {
      out.skipped.push({ name: o.name, reason: `platform '${o.platform}' does not run in a browser (onnxruntime-web serves ${TAB_PLATFORMS.join(', ')})` });
      return false;
    }
    const need = o.bytes * factor;
    if (need > left) {
      out.skipped.push({ name: o.name, reason: `needs about ${formatBytes(need)} (${factor} × its ${formatBytes(o.bytes)} of files) but only ${formatBytes(Math.max(0, left))} of the ${formatBytes(init.budgetBytes)} budget is left` });
      return false;
    }
    left -= need;
    out.load.push(o);
    return true;
  };
  if (init.request.mode === 'named') {
    for (const name of init.request.names) {
      if (loaded.has(name) || out.load.some((o) => o.name === name)) continue;
      const o = byName.get(name);
      if (!o) out.waiting.push(name);
      else consider(o);
    }
    return out;
  }
  const max = init.autoMaxModels ?? DEFAULT_AUTO_MAX_MODELS;
  const candidates = init.offers.filter((o) => !loaded.has(o.name))
    .sort((a, b) => b.demand - a.demand || a.hosts.length - b.hosts.length || a.bytes - b.bytes || a.name.localeCompare(b.name));
  for (const o of candidates) {
    // A model no tab can run (ensemble, JS model) is skipped for that reason, not counted against the maximum.
    if (!TAB_PLATFORMS.includes(o.platform)) {
      consider(o);
      continue;
    }
    if (loaded.size + out.load.length >= max) {
      out.skipped.push({ name: o.name, reason: `automatic mode serves at most ${max} models` });
      continue;
    }
    consider(o);
  }
  return out;
}
