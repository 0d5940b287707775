/**
 * Requests waiting for a backend slot when every ready backend is at its connection limit
 * (HAProxy's maxconn / maxqueue): a bounded FIFO. Each freed slot wakes the oldest waiter,
 * which picks again.
 *
 * An intrusive doubly linked list: the waiters carry their own links, so joining, leaving
 * (timeout, client gone) and waking are O(1) with no allocation, and a waiter that leaves is
 * unlinked at once. (An array with lazy skipping kept every abandoned waiter, and through it
 * its request and body buffers, until a slot freed up: unbounded when none ever did.)
 */
export interface SlotWaiter {
  /** True while in the queue; managed by the queue. */
  queued: boolean;
  queuePrev: SlotWaiter | null;
  queueNext: SlotWaiter | null;
  /** A slot may be free: try to dispatch again (may queue again). */
  wake(): void;
}

export class SlotQueue {
  private first: SlotWaiter | null = null;
  private last: SlotWaiter | null = null;
  private waiting = 0;

  constructor(public capacity: number) {}

  /** Joins the end of the queue; false when it is full. */
  push(w: SlotWaiter): boolean {
    if (this.waiting >= this.capacity || w.queued) return false;
    w.queued = true;
    w.queuePrev = this.last;
    w.queueNext = null;
    if (this.last === null) this.first = w;
    else this.last.queueNext = w;
    this.last = w;
    this.waiting++;
    return true;
  }

  /** The waiter stopped waiting (timeout, client gone): unlinked now, nothing of it is kept. */
  leave(w: SlotWaiter): void {
    if (!w.queued) return;
    const { queuePrev: prev, queueNext: next } = w;
    if (prev === null) this.first = next;
    else prev.queueNext = next;
    if (next === null) this.last = prev;
    else next.queuePrev = prev;
    w.queuePrev = null;
    w.queueNext = null;
    w.queued = false;
    this.waiting--;
  }

  /** A request ended somewhere: wake the oldest waiter, if any. */
  slotFreed(): void {
    const w = this.first;
    if (w === null) return;
    this.leave(w);
    w.wake();
  }

  get length(): number {
    return this.waiting;
  }
}
