/**
 * An intrusive doubly linked FIFO for scheduler queues.
 *
 * Why not an array: a cancelled or timed-out request must leave the middle of the queue at
 * once (its client is told immediately and `pendingCount` drops), and `Array.shift` / `splice`
 * are O(n) on big queues. Nodes carry their own links, so push, shift and remove are O(1)
 * and allocate nothing.
 */

/** The links a queued item carries. Initialise all three to `null`. */
export interface QueueNode<T> {
  prev: T | null;
  next: T | null;
  /** The queue the node is in, or null; lets `remove` be safe on a node already gone. */
  queue: object | null;
}

/** A FIFO of intrusive nodes with O(1) push, shift and removal from anywhere. */
export class LinkedQueue<T extends QueueNode<T>> {
  /** Oldest node (next to leave), or null when empty. */
  head: T | null = null;
  /** Newest node, or null when empty. */
  tail: T | null = null;
  /** Number of nodes. */
  length = 0;

  /** Appends `node` (which must not be in any queue). */
  push(node: T): void {
    node.queue = this;
    node.next = null;
    node.prev = this.tail;
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.length++;
  }

  /** Removes and returns the oldest node, or null when empty. */
  shift(): T | null {
    const node = this.head;
    if (node !== null) this.remove(node);
    return node;
  }

  /** Unlinks `node`; returns false (and does nothing) when it is not in this queue. */
  remove(node: T): boolean {
    if (node.queue !== this) return false;
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = null;
    node.next = null;
    node.queue = null;
    this.length--;
    return true;
  }
}
