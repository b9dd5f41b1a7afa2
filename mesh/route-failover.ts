/**
 * One request's attempts across the mesh: choose a host, send, and on a retryable failure
 * (refusal, peer gone, stream reset) try another host, excluding the ones that failed,
 * within the request's deadline (ARCHITECTURE-GUIDE §7, §5).
 *
 * Rules, each so that no request is dropped silently or left hanging:
 * - Errors are told apart by `code` (protocol/errors.ts), never by class: RETRYABLE codes
 *   (UNAVAILABLE, OVERLOADED) move on to another host; anything else (INVALID_ARG, …) is the
 *   request's own fault or the model's, and another host would say the same, so it returns
 *   at once.
 * - No attempt starts at or after the deadline; an attempt still running when it passes is
 *   abandoned (its signal aborted) and the request rejects with DEADLINE_EXCEEDED, even if
 *   `send` ignores the signal.
 * - The caller's signal aborts the running attempt and rejects with CANCELLED.
 * - When no host is left, or `maxAttempts` is spent, the rejection is UNAVAILABLE and lists
 *   every host tried with its error, so a human can act on it.
 */
import { InferError, isInferError, RETRYABLE, toWireError } from '../protocol/errors.ts';
import type { FailureReason, WireError } from '../protocol/errors.ts';
import type { RouteCandidate, Router } from './router.ts';

/** One attempt: send the request to `candidate`; abort when `signal` fires. */
export type SendAttempt<T> = (candidate: RouteCandidate, signal: AbortSignal) => Promise<T>;

/** Per-request options for {@link Router.route}. */
export interface RouteOptions {
  /** Absolute deadline on the router's clock (`clock.now()` ms). None: bounded by attempts only. */
  deadlineMs?: number;
  /** The client's cancellation. */
  signal?: AbortSignal;
  /** What is being routed, e.g. `model 'resnet' version 2`: named in error messages, and the router's memory key. */
  label?: string;
}

/** One failed attempt, as listed in the final error. */
interface FailedAttempt {
  peerId: string;
  error: WireError;
}

type Outcome<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'error'; error: unknown }
  | { kind: 'cancelled' }
  | { kind: 'deadline' };

/**
 * The attempt loop behind {@link Router.route}. Always settles.
 */
export async function routeWithFailover<T>(
  router: Router,
  getCandidates: () => readonly RouteCandidate[],
  send: SendAttempt<T>,
  opts: RouteOptions,
): Promise<T> {
  const clock = router.clock;
  const what = opts.label ?? 'the request';
  const failed: FailedAttempt[] = [];
  const excluded = new Set<string>();
  for (;;) {
    if (opts.signal?.aborted) throw cancelled(what, failed);
    if (opts.deadlineMs !== undefined && clock.now() >= opts.deadlineMs) throw deadlineExceeded(what, failed, undefined);
    if (failed.length >= router.maxAttempts) throw exhausted(what, failed, `gave up after ${failed.length} attempts (the limit)`);
    let candidates: readonly RouteCandidate[];
    try {
      candidates = getCandidates();
    } catch (e) {
      throw new InferError('INTERNAL', `routing ${what}: reading the peer directory failed: ${toWireError(e).message}`);
    }
    const chosen = router.choose(candidates, excluded, opts.label);
    if (chosen === undefined) {
      if (failed.length === 0) {
        throw new InferError('UNAVAILABLE', `no host serves ${what}: no peer in the directory advertises it; load the model on a host or check that peers are connected`);
      }
      throw exhausted(what, failed, 'no other host serves it');
    }
    // Checked again here: reading the directory may have taken the last of the time.
    if (opts.deadlineMs !== undefined && clock.now() >= opts.deadlineMs) throw deadlineExceeded(what, failed, undefined);
    const ticket = router.begin(chosen.peerId);
    let outcome: Outcome<T>;
    try {
      outcome = await attempt(router, chosen, send, opts);
    } finally {
      // Also on abandon: a send cut by the deadline or the client no longer counts as ours.
      router.end(ticket);
    }
    if (outcome.kind === 'ok') router.noteOutcome(chosen.peerId, 'ok');
    if (outcome.kind === 'error' && !chosen.local) router.noteOutcome(chosen.peerId, peerHealthOf(toWireError(outcome.error)));
    switch (outcome.kind) {
      case 'ok':
        return outcome.value;
      case 'cancelled':
        throw cancelled(what, failed);
      case 'deadline':
        throw deadlineExceeded(what, failed, chosen.peerId);
      case 'error': {
        if (opts.signal?.aborted) throw cancelled(what, failed);
        const wire = toWireError(outcome.error);
        if (!RETRYABLE.has(wire.code)) {
          throw isInferError(outcome.error) ? outcome.error : new InferError(wire.code, wire.message, wire.reason);
        }
        failed.push({ peerId: chosen.peerId, error: wire });
        excluded.add(chosen.peerId);
      }
    }
  }
}

/** Runs one send, racing it against the caller's signal and the deadline timer. */
async function attempt<T>(router: Router, c: RouteCandidate, send: SendAttempt<T>, opts: RouteOptions): Promise<Outcome<T>> {
  const clock = router.clock;
  const controller = new AbortController();
  let stop: (o: Outcome<T>) => void = () => {};
  const stopped = new Promise<Outcome<T>>((resolve) => { stop = resolve; });
  const onAbort = () => stop({ kind: 'cancelled' });
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = opts.deadlineMs === undefined
    ? undefined
    : clock.setTimer(() => stop({ kind: 'deadline' }), Math.max(0, opts.deadlineMs - clock.now()));
  let sent: Promise<T>;
  try {
    sent = Promise.resolve(send(c, controller.signal));
  } catch (e) {
    sent = Promise.reject(e);
  }
  // Both branches of `then` are handled, so a send that rejects after being abandoned
  // never surfaces as an unhandled rejection.
  const settled = sent.then((value): Outcome<T> => ({ kind: 'ok', value }), (error: unknown): Outcome<T> => ({ kind: 'error', error }));
  try {
    const outcome = await Promise.race([settled, stopped]);
    if (outcome.kind === 'cancelled') controller.abort(new InferError('CANCELLED', 'request cancelled by the client', 'CANCELED'));
    if (outcome.kind === 'deadline') controller.abort(new InferError('DEADLINE_EXCEEDED', 'request deadline passed'));
    return outcome;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (timer !== undefined) clock.clearTimer(timer);
  }
}

/**
 * What a failed send says about the peer: UNAVAILABLE means it is gone or broken (stream reset,
 * crashed instance), unless the reason is REJECTED — a full queue, a queue timeout or a model
 * unloading there, which a healthy busy peer answers and gossip already accounts for.
 */
function peerHealthOf(w: WireError): 'unavailable' | 'other' {
  return w.code === 'UNAVAILABLE' && w.reason !== 'REJECTED' ? 'unavailable' : 'other';
}

function listAttempts(failed: readonly FailedAttempt[]): string {
  return failed.map((f) => `${f.peerId}: ${f.error.code} ${f.error.message}`).join('; ');
}

function cancelled(what: string, failed: readonly FailedAttempt[]): InferError {
  const after = failed.length === 0 ? '' : ` after ${failed.length} failed attempt(s) (${listAttempts(failed)})`;
  return new InferError('CANCELLED', `${what} was cancelled by the client${after}`, 'CANCELED');
}

function deadlineExceeded(what: string, failed: readonly FailedAttempt[], runningOn: string | undefined): InferError {
  const parts = failed.map((f) => `${f.peerId}: ${f.error.code} ${f.error.message}`);
  if (runningOn !== undefined) parts.push(`${runningOn}: no answer before the deadline`);
  const detail = parts.length === 0
    ? 'the deadline had passed before the first attempt'
    : `${parts.length} attempt(s): ${parts.join('; ')}`;
  return new InferError('DEADLINE_EXCEEDED', `deadline passed for ${what}; ${detail}; allow more time or add capacity`);
}

function exhausted(what: string, failed: readonly FailedAttempt[], why: string): InferError {
  // All refusals → REJECTED (the mesh is full, back off); otherwise OTHER (hosts failing).
  const reason: FailureReason = failed.every((f) => f.error.code === 'OVERLOADED') ? 'REJECTED' : 'OTHER';
  const peers = new Set(failed.map((f) => f.peerId)).size;
  return new InferError('UNAVAILABLE', `no host could serve ${what}: ${why}; tried ${peers} peer(s): ${listAttempts(failed)}`, reason);
}
