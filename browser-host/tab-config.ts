/**
 * How a tab adapts a model's config before loading it: the config was written for a server
 * (`instance_group { count: 2 kind: KIND_CPU }`, several versions), but a tab has one
 * onnxruntime-web worker and chose its execution provider itself (WebGPU when it works, else
 * WASM). So the tab loads every model with the owner's config except for:
 * - `instance_group`: one instance of KIND_AUTO, i.e. the tab's provider (more instances would
 *   only queue on the one worker thread and double the advertised throughput);
 * - `version_policy`: the latest version only (the one whose files the tab downloaded).
 * Everything else (batching, inputs/outputs, labels) is the owner's. The result goes to the
 * repository's load as Triton's `config` load parameter (JSON).
 */
import type { ModelConfig } from '../core/model-config.ts';
import type { ModelSource } from '../core/model-source.ts';
import { readRawConfig } from '../core/model-repository-scan.ts';

/** The tab's version of a raw config. */
export function tabConfig(raw: Partial<ModelConfig>): Partial<ModelConfig> {
  return {
    ...raw,
    instance_group: [{ count: 1, kind: 'KIND_AUTO' } as ModelConfig['instance_group'][number]],
    version_policy: { latest: { num_versions: 1 } },
  };
}

/** Reads `name`'s config from `source` and returns the tab's version as load-parameter JSON. */
export async function tabConfigJson(source: ModelSource, name: string): Promise<string> {
  const { raw } = await readRawConfig({ name, source });
  return JSON.stringify(tabConfig(raw), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
