/**
 * This node's own unacknowledged sends, per peer, with the time each one started.
 *
 * The router adds them to a peer's gossiped queue (ARCHITECTURE-GUIDE §7): gossip cannot
 * know what this node sent since the last report. Start times let the router's
 * `'since-report'` option add only the sends a report cannot have seen; the default adds
 * them all, which measured better (docs/SCHEDULING.md, design study).
 */

/** One send in flight; returned by {@link InflightSends.begin}, handed back to `end`. */
export interface SendTicket {
  /** The peer the request went to. */
  readonly peerId: string;
  /** When it started, on the router's clock (ms). */
  readonly startedAt: number;
}

/** Per-peer lists of sends in flight, oldest first. */
export class InflightSends {
  readonly #byPeer = new Map<string, SendTicket[]>();

  /** Records a send to `peerId` starting at `now`; pass the ticket to {@link end}. */
  begin(peerId: string, now: number): SendTicket {
    const ticket: SendTicket = { peerId, startedAt: now };
    let list = this.#byPeer.get(peerId);
    if (list === undefined) this.#byPeer.set(peerId, (list = []));
    list.push(ticket);
    return ticket;
  }

  /** Marks the send finished (answered, failed or abandoned). Ending twice is harmless. */
  end(ticket: SendTicket): void {
    const list = this.#byPeer.get(ticket.peerId);
    if (list === undefined) return;
    const i = list.indexOf(ticket);
    if (i < 0) return;
    list.splice(i, 1);
    // Drop empty lists so a mesh with churn does not accumulate one entry per peer ever seen.
    if (list.length === 0) this.#byPeer.delete(ticket.peerId);
  }

  /** Sends to `peerId` in flight now. */
  count(peerId: string): number {
    return this.#byPeer.get(peerId)?.length ?? 0;
  }

  /**
   * Sends to `peerId` in flight that started strictly after `since` (ms, same clock).
   * Lists are in start order (the clock is monotonic), so the scan walks back from the
   * newest and stops at the first older one; lists hold one client's sends to one peer,
   * so they are short.
   */
  countStartedAfter(peerId: string, since: number): number {
    const list = this.#byPeer.get(peerId);
    if (list === undefined) return 0;
    let n = 0;
    for (let i = list.length - 1; i >= 0 && list[i].startedAt > since; i--) n++;
    return n;
  }
}
