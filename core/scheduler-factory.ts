/**
 * Picks a model's scheduler from its config, as Triton does: `ensemble_scheduling` → the
 * ensemble scheduler, `sequence_batching` → the sequence batcher, `dynamic_batching` → the
 * dynamic batcher, otherwise the default scheduler. One place, so the repository never
 * needs to know the scheduler kinds.
 */
import type { ModelCaller } from './model-caller.ts';
import { DefaultScheduler, type SchedulerInit } from './default-scheduler.ts';
import { DynamicBatcher } from './dynamic-batcher.ts';
import type { Scheduler } from './scheduler.ts';

/** Everything any scheduler kind may need. */
export interface SchedulerFactoryInit extends SchedulerInit {
  /** Calls another model (local or through the mesh): ensemble steps use it. */
  callModel: ModelCaller;
}

/** The scheduler kind a config selects (for logs and status). */
export function schedulerKind(init: Pick<SchedulerInit, 'config'>): string {
  const c = init.config;
  return c.dynamic_batching ? 'dynamic_batching' : 'default';
}

/** Builds the scheduler a model's config asks for. */
export function createScheduler(init: SchedulerFactoryInit): Scheduler {
  return init.config.dynamic_batching ? new DynamicBatcher(init) : new DefaultScheduler(init);
}
