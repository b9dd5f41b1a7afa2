/**
 * Picks a model's scheduler from its config, as Triton does: `ensemble_scheduling` → the
 * ensemble scheduler, `sequence_batching` → the sequence batcher, `dynamic_batching` → the
 * dynamic batcher, otherwise the default scheduler. One place, so the repository never
 * needs to know the scheduler kinds.
 */
import type { ModelCaller } from './model-caller.ts';
import { DefaultScheduler, type SchedulerInit } from './default-scheduler.ts';
import { DynamicBatcher } from './dynamic-batcher.ts';
import { EnsembleScheduler } from './ensemble-scheduler.ts';
import type { ModelConfigLookup } from './ensemble-graph.ts';
import { ENSEMBLE_PLATFORM } from './model-config-platforms.ts';
import { SequenceBatcher } from './sequence-batcher.ts';
import type { Scheduler } from './scheduler.ts';

/** Everything any scheduler kind may need. */
export interface SchedulerFactoryInit extends SchedulerInit {
  /** Calls another model (local or through the mesh): ensemble steps use it. */
  callModel: ModelCaller;
  /** Configs of models this host serves: ensembles check their steps against them. */
  modelConfigOf?: ModelConfigLookup;
  /** `initial_state { data_file }` contents by file name: the sequence batcher's implicit state (core/sequence-state.ts). */
  initialStateFiles?: ReadonlyMap<string, Uint8Array>;
}

/** The scheduler kind a config selects (for logs and status). */
export function schedulerKind(init: Pick<SchedulerInit, 'config'>): string {
  const c = init.config;
  if (c.platform === ENSEMBLE_PLATFORM) return 'ensemble';
  if (c.sequence_batching) return 'sequence_batching';
  return c.dynamic_batching ? 'dynamic_batching' : 'default';
}

/** Builds the scheduler a model's config asks for. */
export function createScheduler(init: SchedulerFactoryInit): Scheduler {
  // An ensemble has no instances: its steps are requests to other models (callModel).
  if (init.config.platform === ENSEMBLE_PLATFORM) return new EnsembleScheduler(init);
  if (init.config.sequence_batching) return new SequenceBatcher(init);
  return init.config.dynamic_batching ? new DynamicBatcher(init) : new DefaultScheduler(init);
}
