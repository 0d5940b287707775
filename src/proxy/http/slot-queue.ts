/**
 * Requests waiting for a backend slot when every ready backend is at its connection limit
 * (HAProxy's maxconn / maxqueue): a bounded FIFO. Each freed slot wakes the oldest waiter,
 * which picks again. Waiters that gave up (timeout, client gone) are skipped lazily.
 */
export interface SlotWaiter {
  /** Cleared by the waiter when it stops waiting. */
  queued: boolean;
  /** A slot may be free: try to dispatch again (may queue again). */
  wake(): void;
}

export class SlotQueue {
  private items: Array<SlotWaiter | undefined> = [];
  private head = 0;
  private waiting = 0;

  constructor(public capacity: number) {}

  push(w: SlotWaiter): boolean {
    if (this.waiting >= this.capacity) return false;
    w.queued = true;
    this.items.push(w);
    this.waiting++;
    return true;
  }

  /** The waiter stopped waiting (timeout, client gone). */
  leave(w: SlotWaiter): void {
    if (!w.queued) return;
    w.queued = false;
    this.waiting--;
  }

  /** A request ended somewhere: wake the oldest waiter, if any. */
  slotFreed(): void {
    while (this.head < this.items.length) {
      const w = this.items[this.head];
      this.items[this.head++] = undefined;
      if (w !== undefined && w.queued) {
        w.queued = false;
        this.waiting--;
        this.compact();
        w.wake();
        return;
      }
    }
    this.compact();
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }

  get length(): number {
    return this.waiting;
  }
}
