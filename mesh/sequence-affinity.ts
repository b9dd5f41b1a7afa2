/**
 * Sequence stickiness across the mesh. A stateful model keeps a sequence's state on the host
 * that runs it (core/sequence-batcher.ts), so every request of one sequence must reach that
 * same host. This table remembers, per model and sequence id, which peer took the sequence's
 * START; later requests of the sequence go straight to that peer, never through the router's
 * choice or failover.
 *
 * Rules:
 * - A START request is routed as usual; the peer each attempt goes to is recorded at once
 *   (`attempted`), so a request of the same sequence arriving meanwhile follows it.
 * - Requests of one sequence leave this host one at a time, in arrival order (each waits until
 *   the previous one is answered). Without this, two requests on two pooled streams could
 *   reach the holder out of order; they run one at a time there anyway.
 * - END clears the entry once answered; an entry not used for `idleMs` expires (the holder
 *   forgets idle sequences too, after its own `max_sequence_idle_microseconds`, and then
 *   answers Triton's "must specify the START flag" error itself). Expired entries are swept
 *   from the least recently used end on every request, so abandoned sequences (no END) go
 *   too. The table is bounded (least recently used entries go first), and so are the replay
 *   logs, per sequence and all together.
 * - A request for a sequence this host has no entry for is routed as usual: whichever host
 *   receives it answers for itself (normally Triton's START error).
 * - When the holding peer is gone (no longer in the directory, or unreachable and
 *   disconnected), the request fails with UNAVAILABLE naming the sequence, the model and the
 *   peer, and telling the client to restart with sequence_start — unless the sequence was
 *   started with `infermesh_sequence_replay: true`: then this host kept a copy of every request
 *   since START and replays them on a newly routed peer (the model must be deterministic and
 *   its state implicit; the replayed answers are discarded), then sends the request.
 *
 * Pure logic over injected functions (no libp2p here), so it is unit-tested with fakes.
 */
import { InferError, isInferError } from '../protocol/errors.ts';
import type { InferRequest, InferResponse } from '../protocol/infer.ts';
import type { Tensor } from '../protocol/tensor.ts';
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { SequenceFlags } from '../core/scheduler.ts';
import { formatSequenceId, sequenceFlagsOf, sequenceKey } from '../core/sequence-params.ts';

/**
 * 10 minutes without a request before an entry is forgotten. Generous on purpose: forgetting
 * too early would send the rest of a live sequence to a host that never saw its START, while
 * remembering too long costs only the entry (the holder itself forgets idle sequences after its
 * model's `max_sequence_idle_microseconds` and then answers the START error).
 */
export const DEFAULT_SEQUENCE_AFFINITY_IDLE_MS = 600_000;

/** Entries kept at most (about 200 bytes each); beyond it the least recently used are dropped. */
export const DEFAULT_MAX_SEQUENCE_AFFINITIES = 100_000;

/** Request parameter by which a client asks for replay on peer loss (a boolean, given with START). */
export const SEQUENCE_REPLAY_PARAMETER = 'infermesh_sequence_replay';

/** Requests kept for replay per sequence; a longer sequence stops being replayable. */
export const DEFAULT_MAX_REPLAY_REQUESTS = 1_000;

/** Tensor bytes kept for replay per sequence (64 MiB); beyond it the sequence stops being replayable. */
export const DEFAULT_MAX_REPLAY_BYTES = 64 * 1024 * 1024;

/**
 * Tensor bytes kept for replay by all sequences together (256 MiB): the per-sequence limits
 * alone allow 100k entries × 64 MiB. Four sequences at the per-sequence limit fit; past it,
 * sequences stop being replayable (they still run) rather than this host running out of memory.
 */
export const DEFAULT_MAX_REPLAY_TOTAL_BYTES = 256 * 1024 * 1024;

/** Per-call options passed through to the senders. */
export interface SequenceCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** What the table needs from its mesh service. */
export interface SequenceAffinityInit {
  /** This host's peer id (local entries run on the local core). */
  selfId: () => string;
  /** Routes a request as usual (router choice and failover); calls `attempted` per attempt. */
  route: (req: InferRequest, options: SequenceCallOptions) => Promise<InferResponse>;
  /** Runs a request on this host's own server. */
  local: (req: InferRequest, options: SequenceCallOptions) => Promise<InferResponse>;
  /** Sends a request to one peer, no failover. */
  remote: (peerId: string, req: InferRequest, options: SequenceCallOptions) => Promise<InferResponse>;
  /** True when the peer is in the directory (it has reported and not expired). */
  known: (peerId: string) => boolean;
  /** True when there is an open connection to the peer. */
  connected: (peerId: string) => boolean;
  clock?: Pick<Clock, 'now'>;
  idleMs?: number;
  maxEntries?: number;
  maxReplayRequests?: number;
  maxReplayBytes?: number;
  /** Replay bytes kept by all sequences together (DEFAULT_MAX_REPLAY_TOTAL_BYTES). */
  maxReplayTotalBytes?: number;
}

/** One sequence's holder and, when replay was asked for, its requests since START. */
interface Affinity {
  peerId: string | undefined;
  lastUsed: number;
  /** Requests since START (copies), or undefined when replay is off or over its limits. */
  replay: InferRequest[] | undefined;
  replayBytes: number;
  /** Why replay is off, for the error message. */
  replayOff: string;
}

/** Counters for metrics and tests. */
export interface SequenceAffinityCounters {
  /** Requests sent to the peer holding their sequence. */
  sticky: number;
  /** Sequences that failed because their holder was gone. */
  lost: number;
  /** Sequences replayed on a new peer after their holder was gone. */
  replayed: number;
}

/** The sequence → peer table of one mesh service (see the file comment). */
export class SequenceAffinity {
  readonly counters: SequenceAffinityCounters = { sticky: 0, lost: 0, replayed: 0 };
  readonly #init: SequenceAffinityInit;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #idleMs: number;
  readonly #max: number;
  /** Insertion order = least recently used first (entries are re-inserted when used). */
  readonly #entries = new Map<string, Affinity>();
  /** The last request of each sequence still in flight from here: the next one waits for it. */
  readonly #chains = new Map<string, Promise<void>>();
  /** Sum of `replayBytes` over the entries in `#entries`. */
  #replayTotal = 0;

  constructor(init: SequenceAffinityInit) {
    this.#init = init;
    this.#clock = init.clock ?? systemClock;
    this.#idleMs = init.idleMs ?? DEFAULT_SEQUENCE_AFFINITY_IDLE_MS;
    this.#max = init.maxEntries ?? DEFAULT_MAX_SEQUENCE_AFFINITIES;
  }

  /** Sequences remembered now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Replay bytes kept now by all sequences together. */
  get replayBytes(): number {
    return this.#replayTotal;
  }

  /** The peer holding a sequence, if remembered (for tests and status). */
  holder(model: string, id: bigint | string): string | undefined {
    return this.#live(keyOf(model, id))?.peerId;
  }

  /**
   * Runs one request of a sequence (see the file comment). `flags` are the request's parsed
   * sequence parameters.
   */
  infer(req: InferRequest, flags: SequenceFlags, options: SequenceCallOptions): Promise<InferResponse> {
    const key = keyOf(req.modelName, flags.id);
    const prev = this.#chains.get(key);
    const run = prev === undefined ? this.#send(key, req, flags, options) : prev.then(() => this.#send(key, req, flags, options));
    const settled = run.then(noop, noop);
    this.#chains.set(key, settled);
    void settled.then(() => { if (this.#chains.get(key) === settled) this.#chains.delete(key); });
    return run;
  }

  /**
   * Called by the router for each attempt of a routed request: a START request's sequence is
   * now held by `peerId`. Ignores requests that are not a sequence START.
   */
  attempted(req: InferRequest, peerId: string): void {
    let flags: SequenceFlags | undefined;
    try {
      flags = sequenceFlagsOf(req.parameters);
    } catch {
      return;
    }
    if (!flags?.start) return;
    const a = this.#entries.get(keyOf(req.modelName, flags.id));
    if (a !== undefined) a.peerId = peerId;
  }

  // ---------------------------------------------------------------------------------------

  async #send(key: string, req: InferRequest, flags: SequenceFlags, options: SequenceCallOptions): Promise<InferResponse> {
    this.#sweep();
    if (flags.start) return this.#start(key, req, flags, options);
    const a = this.#live(key);
    if (a?.peerId === undefined) return this.#init.route(req, options);
    this.#touch(key, a);
    let resp: InferResponse;
    try {
      resp = await this.#onHolder(a.peerId, req, options);
    } catch (e) {
      if (!this.#gone(a.peerId, e)) throw e;
      resp = await this.#recover(key, a, req, flags, options, a.peerId);
    }
    this.#after(key, a, req, flags);
    return resp;
  }

  async #start(key: string, req: InferRequest, flags: SequenceFlags, options: SequenceCallOptions): Promise<InferResponse> {
    const replay = req.parameters[SEQUENCE_REPLAY_PARAMETER] === true;
    const a: Affinity = { peerId: undefined, lastUsed: this.#clock.now(), replay: replay ? [] : undefined, replayBytes: 0, replayOff: replay ? '' : `it was started without '${SEQUENCE_REPLAY_PARAMETER}: true'` };
    this.#delete(key);
    if (replay && this.#replayTotal >= this.#maxTotal()) this.#replayOff(a, this.#totalReason());
    this.#entries.set(key, a);
    this.#trim();
    let resp: InferResponse;
    try {
      resp = await this.#init.route(req, options);
    } catch (e) {
      // Nothing took the START (no host, refusals): there is no sequence to follow.
      if (a.peerId === undefined && this.#entries.get(key) === a) this.#delete(key);
      throw e;
    }
    this.#after(key, a, req, flags);
    return resp;
  }

  /** After an answered request: keep a replay copy, or forget the sequence at END. */
  #after(key: string, a: Affinity, req: InferRequest, flags: SequenceFlags): void {
    if (flags.end) {
      if (this.#entries.get(key) === a) this.#delete(key);
      return;
    }
    // An entry already forgotten (expired, trimmed) keeps nothing: its bytes are no longer counted.
    if (a.replay === undefined || this.#entries.get(key) !== a) return;
    const bytes = requestBytes(req);
    const maxRequests = this.#init.maxReplayRequests ?? DEFAULT_MAX_REPLAY_REQUESTS;
    const maxBytes = this.#init.maxReplayBytes ?? DEFAULT_MAX_REPLAY_BYTES;
    if (a.replay.length + 1 > maxRequests || a.replayBytes + bytes > maxBytes) {
      this.#replayOff(a, `it grew past the replay limit (${maxRequests} requests, ${maxBytes} bytes)`);
      return;
    }
    if (this.#replayTotal + bytes > this.#maxTotal()) {
      this.#replayOff(a, this.#totalReason());
      return;
    }
    a.replay.push(copyRequest(req));
    a.replayBytes += bytes;
    this.#replayTotal += bytes;
  }

  #maxTotal(): number {
    return this.#init.maxReplayTotalBytes ?? DEFAULT_MAX_REPLAY_TOTAL_BYTES;
  }

  #totalReason(): string {
    return `this host's replay logs reached their overall limit (${this.#maxTotal()} bytes for all sequences together)`;
  }

  /** Stops keeping a sequence's replay log (releasing its bytes), saying why for the error message. */
  #replayOff(a: Affinity, why: string): void {
    // Only entries in the table count bytes (#delete zeroes the others), so this is exact.
    this.#replayTotal -= a.replayBytes;
    a.replay = undefined;
    a.replayBytes = 0;
    a.replayOff = why;
  }

  /** Forgets an entry; its replay bytes stop counting (the only way entries leave the table). */
  #delete(key: string): void {
    const a = this.#entries.get(key);
    if (a === undefined) return;
    this.#entries.delete(key);
    this.#replayTotal -= a.replayBytes;
    a.replay = undefined;
    a.replayBytes = 0;
    if (a.replayOff === '') a.replayOff = 'this host forgot it (idle too long, or too many sequences)';
  }

  /**
   * Drops expired entries from the least recently used end, so sequences abandoned without END
   * (a crashed client) do not stay until their own key is used again. Amortised O(1): each
   * entry is dropped once, and the sweep stops at the first live one (Map order = last use).
   */
  #sweep(): void {
    const now = this.#clock.now();
    for (const [key, a] of this.#entries) {
      if (now - a.lastUsed <= this.#idleMs) break;
      this.#delete(key);
    }
  }

  #onHolder(peerId: string, req: InferRequest, options: SequenceCallOptions): Promise<InferResponse> {
    this.counters.sticky++;
    if (peerId === this.#init.selfId()) return this.#init.local(req, options);
    if (!this.#init.known(peerId) && !this.#init.connected(peerId)) {
      return Promise.reject(new InferError('UNAVAILABLE', `peer ${peerId} is no longer in the mesh directory`));
    }
    return this.#init.remote(peerId, req, options);
  }

  /** True when `e` means the holder itself is gone (not an answer from a living holder). */
  #gone(peerId: string, e: unknown): boolean {
    if (peerId === this.#init.selfId()) return false;
    if (!isInferError(e) || e.code !== 'UNAVAILABLE') return false;
    return !this.#init.connected(peerId);
  }

  /** The holder is gone: replay the sequence on a new peer, or fail with the clear error. */
  async #recover(key: string, a: Affinity, req: InferRequest, flags: SequenceFlags, options: SequenceCallOptions, lost: string): Promise<InferResponse> {
    const model = req.modelName;
    const id = formatSequenceId(flags.id);
    const log = a.replay;
    if (log === undefined || log.length === 0) {
      if (this.#entries.get(key) === a) this.#delete(key);
      this.counters.lost++;
      throw new InferError('UNAVAILABLE', `sequence ${id} of model ${model} was held by peer ${lost}, which is gone; restart the sequence with sequence_start`
        + (a.replayOff ? ` (it cannot be replayed: ${a.replayOff})` : ''));
    }
    a.peerId = undefined;
    try {
      // The START goes through the router (which records the new holder), the rest to it.
      await this.#init.route(log[0], options);
      const holder = a.peerId as string | undefined;
      if (holder === undefined) throw new InferError('UNAVAILABLE', 'no host took the replayed START');
      for (let i = 1; i < log.length; i++) await this.#onHolder(holder, log[i], options);
      this.counters.replayed++;
      return await this.#onHolder(holder, req, options);
    } catch (e) {
      if (this.#entries.get(key) === a) this.#delete(key);
      this.counters.lost++;
      const why = e instanceof Error ? e.message : String(e);
      throw new InferError('UNAVAILABLE', `sequence ${id} of model ${model} was held by peer ${lost}, which is gone, and replaying its `
        + `${log.length} request(s) on another peer failed (${why}); restart the sequence with sequence_start`);
    }
  }

  /** The entry for `key` unless it expired (then it is dropped). */
  #live(key: string): Affinity | undefined {
    const a = this.#entries.get(key);
    if (a === undefined) return undefined;
    if (this.#clock.now() - a.lastUsed > this.#idleMs) {
      this.#delete(key);
      return undefined;
    }
    return a;
  }

  #touch(key: string, a: Affinity): void {
    a.lastUsed = this.#clock.now();
    // Re-insert: Map order is then least recently used first.
    this.#entries.delete(key);
    this.#entries.set(key, a);
  }

  #trim(): void {
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#delete(oldest);
    }
  }
}

function noop(): void {}

/** One key per model and sequence id (numbers and strings never collide, see sequence-params.ts). */
function keyOf(model: string, id: bigint | string): string {
  return `${model}\u0000${sequenceKey(id)}`;
}

/**
 * A deep copy of a request for the replay log: transports hand requests whose tensors are
 * views into buffers they reuse once the request is answered.
 */
function copyRequest(req: InferRequest): InferRequest {
  const copyTensor = <T extends Tensor>(t: T): T => ({
    ...t,
    shape: t.shape.slice(),
    data: Array.isArray(t.data) ? t.data.map((b) => b.slice()) : t.data.slice(),
  });
  const out: InferRequest = { ...req, parameters: { ...req.parameters }, inputs: req.inputs.map(copyTensor) };
  // Replayed requests are not STARTs except the first; the flags stay as sent.
  if (req.outputs) out.outputs = req.outputs.map((o) => ({ ...o }));
  return out;
}

function requestBytes(req: InferRequest): number {
  let n = 0;
  for (const t of req.inputs) n += Array.isArray(t.data) ? t.data.reduce((s, b) => s + b.byteLength + 4, 0) : t.data.byteLength;
  return n;
}
