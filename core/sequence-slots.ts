/**
 * The bookkeeping of the sequence batcher: live sequences, the batch slots of each instance,
 * and the backlog of sequences waiting for a slot (COMPAT-NOTES §3.5 "Strategies"; Triton
 * `src/sequence_batch_scheduler/`).
 *
 * A sequence holds one slot from the moment it is admitted until its END request has run or it
 * has been idle for `max_sequence_idle_microseconds`; a slot belongs to one instance, so every
 * request of a sequence runs on the same instance, one at a time, in arrival order. A sequence
 * that finds no free slot waits in the backlog (its requests queue up meanwhile) and takes the
 * next slot that frees, oldest first.
 */
import type { TimerHandle } from './clock.ts';
import { LinkedQueue } from './queue.ts';
import type { QueueNode } from './queue.ts';
import { QueuedRequest } from './queued-request.ts';
import type { EntryOwner } from './queued-request.ts';
import type { ScheduledRequest, SequenceFlags } from './scheduler.ts';
import type { Tensor } from '../protocol/tensor.ts';

/** A request of a sequence inside the batcher. */
export class SequenceEntry extends QueuedRequest {
  readonly sequence: Sequence;
  readonly flags: SequenceFlags;

  constructor(request: ScheduledRequest, flags: SequenceFlags, enqueuedAt: number, owner: EntryOwner, sequence: Sequence) {
    super(request, enqueuedAt, owner);
    this.flags = flags;
    this.sequence = sequence;
  }
}

/** One live sequence (one correlation id). It is its own backlog node. */
export class Sequence implements QueueNode<Sequence> {
  prev: Sequence | null = null;
  next: Sequence | null = null;
  queue: LinkedQueue<Sequence> | null = null;

  readonly key: string;
  readonly id: bigint | string;
  /** Its requests not yet dispatched, in arrival order. */
  readonly requests = new LinkedQueue<QueuedRequest>();
  /** The slot it holds; undefined while in the backlog. */
  slot: Slot | undefined = undefined;
  /** Its request now executing, if any (at most one: requests of a sequence run in order). */
  executing: SequenceEntry | undefined = undefined;
  /** Implicit state to feed its next request (one per state pair); undefined = the initial state. */
  state: Tensor[] | undefined = undefined;
  /** True once a request of it has been dispatched (a sequence whose START was cancelled never began). */
  began = false;
  /** The last request accepted carried END: a further request must START a new sequence. */
  closing = false;
  /** Releases it after `max_sequence_idle_microseconds` without requests. */
  idleTimer: TimerHandle | undefined = undefined;

  constructor(key: string, id: bigint | string) {
    this.key = key;
    this.id = id;
  }

  /** Its next request to dispatch (the oldest queued), when it is not executing one. */
  get head(): SequenceEntry | undefined {
    return this.executing === undefined ? (this.requests.head as SequenceEntry | null) ?? undefined : undefined;
  }
}

/** A batch slot of one instance. */
export interface Slot {
  readonly instance: InstanceSlots;
  /** Position in the instance's batch (the row it fills, for the direct strategy). */
  readonly index: number;
  sequence: Sequence | undefined;
}

/** An instance, its slots, and whether it is executing a batch. */
export interface InstanceSlots {
  readonly index: number;
  readonly slots: Slot[];
  busy: boolean;
}

/** Builds `instances` × `slotsPerInstance` empty slots. */
export function makeInstanceSlots(instances: number, slotsPerInstance: number): InstanceSlots[] {
  return Array.from({ length: instances }, (_, index) => {
    const inst: InstanceSlots = { index, slots: [], busy: false };
    for (let s = 0; s < slotsPerInstance; s++) inst.slots.push({ instance: inst, index: s, sequence: undefined });
    return inst;
  });
}

/**
 * The free slot a new sequence takes: the lowest slot index, then the lowest instance, as
 * Triton's ready-slot queue orders them. Sequences thus spread over the instances first (each
 * instance runs its own batches, so that is where the parallelism is) and fill low rows first
 * (a direct batch is as long as its highest used row).
 */
export function pickFreeSlot(instances: readonly InstanceSlots[]): Slot | undefined {
  const perInstance = instances[0]?.slots.length ?? 0;
  for (let s = 0; s < perInstance; s++) {
    for (const inst of instances) {
      const slot = inst.slots[s];
      if (slot.sequence === undefined) return slot;
    }
  }
  return undefined;
}
