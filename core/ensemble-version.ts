/**
 * Loading one version of an ensemble (COMPAT-NOTES §3.6): no model file, no backend, no
 * instances. The config is normalised and validated like any other (no auto-complete: there is
 * no model to read a signature from, so inputs and outputs need explicit dims), the signature
 * is the config's own inputs and outputs, and the scheduler is the ensemble scheduler.
 *
 * Composing models (decision for a mesh): Triton refuses to load an ensemble whose composing
 * models are not loaded. A mesh host may leave a step to a peer, so here the dataflow is
 * checked on its own, steps on models this host serves are checked against their configs
 * (names, types, shapes, batch sizes: INVALID_ARG at load), and steps on models it does not
 * serve are logged and looked up per request; a step that nobody serves then fails that
 * request with UNAVAILABLE naming the step and its model.
 */
import { configTypeToDataType } from '../protocol/datatypes.ts';
import type { Clock } from './clock.ts';
import type { ModelConfigLookup } from './ensemble-graph.ts';
import type { Logger } from './logger.ts';
import type { ModelCaller } from './model-caller.ts';
import type { ModelConfig, ModelSignature } from './model-config.ts';
import { ENSEMBLE_PLATFORM } from './model-config-platforms.ts';
import { normalizeModelConfig } from './model-config-normalize.ts';
import { validateModelConfig } from './model-config-validate.ts';
import type { ServedVersion } from './model-repository.ts';
import { ModelStats } from './model-stats.ts';
import { EnsembleScheduler } from './ensemble-scheduler.ts';

/** True when a raw config describes an ensemble (either marker is enough; validation checks both agree). */
export function isEnsembleConfig(raw: Partial<ModelConfig>): boolean {
  return raw.platform === ENSEMBLE_PLATFORM || raw.ensemble_scheduling !== undefined;
}

/** What loading an ensemble version needs. */
export interface EnsembleVersionInit {
  name: string;
  version: number;
  raw: Partial<ModelConfig>;
  clock: Clock;
  logger: Logger;
  callModel: ModelCaller;
  /** Configs of models this host serves now. */
  modelConfigOf: ModelConfigLookup;
  /** `clock.now()` when the load began (for loadSeconds). */
  started: number;
}

/** The signature clients see: the config's inputs and outputs with full shapes. */
export function ensembleSignature(config: ModelConfig): ModelSignature {
  const lead = config.max_batch_size > 0 ? [-1] : [];
  const sig = (t: { name: string; data_type: ModelConfig['input'][number]['data_type']; dims: number[] }) => ({
    name: t.name, datatype: configTypeToDataType(t.data_type) ?? 'FP32', shape: [...lead, ...t.dims],
  });
  return { inputs: config.input.map(sig), outputs: config.output.map(sig) };
}

/** Normalises, validates and builds a serving ensemble version; throws INVALID_ARG with the reason otherwise. */
export function loadEnsembleVersion(init: EnsembleVersionInit): ServedVersion {
  const { name, version, logger } = init;
  // No auto-complete: nothing to complete from, and Triton does not complete ensembles.
  const config = normalizeModelConfig(init.raw, { modelName: name, autoComplete: false });
  validateModelConfig(config, { modelName: name });
  const stats = new ModelStats();
  const scheduler = new EnsembleScheduler({
    config, callModel: init.callModel, clock: init.clock, stats, logger, modelConfigOf: init.modelConfigOf,
  });
  const ms = init.clock.now() - init.started;
  logger.info('model ready', {
    version, scheduler: 'ensemble', steps: scheduler.graph.steps.map((s) => s.modelName).join(','),
    max_batch_size: config.max_batch_size, load_ms: Math.round(ms),
  });
  if (scheduler.remoteSteps.length > 0) {
    logger.info('ensemble steps use models this host does not serve; each request looks for them on the mesh', {
      version, models: scheduler.remoteSteps.join(','),
    });
  }
  return {
    name, version, config, signature: ensembleSignature(config), scheduler, stats,
    devices: [], instances: [], loadSeconds: ms / 1000, labels: new Map(),
  };
}
