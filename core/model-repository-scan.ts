/**
 * Reading a Triton model repository's layout through a ModelSource: which models exist,
 * which numeric version folders they have, and their raw config. COMPAT-NOTES §4.1.
 */
import { InferError } from '../protocol/errors.ts';
import type { ModelConfig, ModelVersionPolicy } from './model-config.ts';
import type { ModelSource } from './model-source.ts';
import { parseModelConfigJson, parseModelConfigText } from './model-config-parse.ts';

/** A model folder found in one repository. */
export interface ModelLocation {
  name: string;
  source: ModelSource;
}

/**
 * Model folders of every source. A name found in two or more sources is reported in
 * `duplicates` and not loaded (Triton: "model appears in two or more repositories").
 */
export async function scanRepositories(sources: readonly ModelSource[]): Promise<{ models: Map<string, ModelLocation>; duplicates: Set<string> }> {
  const models = new Map<string, ModelLocation>();
  const duplicates = new Set<string>();
  for (const source of sources) {
    for (const entry of await source.list('')) {
      if (entry.kind !== 'directory' || entry.name.startsWith('.')) continue;
      if (models.has(entry.name)) duplicates.add(entry.name);
      else models.set(entry.name, { name: entry.name, source });
    }
  }
  for (const d of duplicates) models.delete(d);
  return { models, duplicates };
}

/**
 * Version folders of a model: numeric names not starting with '0' (Triton ignores the rest,
 * COMPAT-NOTES §4.1), ascending.
 */
export async function listVersions(loc: ModelLocation): Promise<number[]> {
  const versions: number[] = [];
  for (const e of await loc.source.list(loc.name)) {
    if (e.kind === 'directory' && /^[1-9][0-9]*$/.test(e.name)) {
      const v = Number(e.name);
      if (Number.isSafeInteger(v)) versions.push(v);
    }
  }
  return versions.sort((a, b) => a - b);
}

/** The raw (not yet normalised) config of a model: config.pbtxt, else config.json, else empty. */
export async function readRawConfig(loc: ModelLocation): Promise<{ raw: Partial<ModelConfig>; file?: string }> {
  const decoder = new TextDecoder();
  for (const file of ['config.pbtxt', 'config.json']) {
    const path = `${loc.name}/${file}`;
    if (!(await loc.source.exists(path))) continue;
    const text = decoder.decode(await loc.source.read(path));
    const raw = file.endsWith('.json') ? parseModelConfigJson(text, path) : parseModelConfigText(text, path);
    return { raw, file: path };
  }
  return { raw: {} };
}

/** The versions a policy selects from those present (COMPAT-NOTES §3.2). Default: latest 1. */
export function selectVersions(present: readonly number[], policy: ModelVersionPolicy | undefined): number[] {
  if (policy?.all) return [...present];
  if (policy?.specific) {
    const wanted = new Set(policy.specific.versions.map(Number));
    return present.filter((v) => wanted.has(v));
  }
  const n = policy?.latest?.num_versions ?? 1;
  return present.slice(Math.max(0, present.length - n));
}

/**
 * The model file of a version. ONNX models may be a file `model.onnx` or a folder
 * `model.onnx/` holding `model.onnx` plus external-data files (COMPAT-NOTES §4.1).
 * Several names: the first present wins (a JS model may be `model.js`, `.mjs` or `.ts`).
 */
export async function resolveModelFile(loc: ModelLocation, version: number, filename: string | readonly string[]): Promise<string> {
  const names = typeof filename === 'string' ? [filename] : filename;
  const entries = await loc.source.list(`${loc.name}/${version}`);
  for (const name of names) {
    const path = `${loc.name}/${version}/${name}`;
    const entry = entries.find((e) => e.name === name);
    if (entry) return entry.kind === 'directory' ? `${path}/${name}` : path;
  }
  const found = entries.map((e) => e.name).join(', ') || 'nothing';
  const expected = names.map((n) => `'${loc.name}/${version}/${n}'`).join(' or ');
  throw new InferError('INVALID_ARG', `model '${loc.name}' version ${version}: expected model file ${expected} but found ${found}; `
    + `put the model there or set default_model_filename in config.pbtxt`);
}
