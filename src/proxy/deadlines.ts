/**
 * Absolute deadlines for many objects, checked by one coarse interval timer instead of a
 * setTimeout per request: creating and clearing a Timeout per request and per connection is
 * measurable at tens of thousands of requests per second, while the deadlines here (connect,
 * response headers, client header read) are seconds long and tolerate a tick of slack.
 */
export interface HasDeadline {
  /** Absolute time on the sweeper's clock; 0 means none. */
  deadline: number;
  onDeadline(now: number): void;
}

export class DeadlineSweeper {
  private readonly items = new Set<HasDeadline>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly now: () => number,
    readonly tickMs: number,
  ) {}

  add(item: HasDeadline): void {
    this.items.add(item);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), this.tickMs);
      this.timer.unref();
    }
  }

  delete(item: HasDeadline): void {
    this.items.delete(item);
  }

  sweep(): void {
    const now = this.now();
    for (const item of this.items) {
      if (item.deadline !== 0 && item.deadline <= now) {
        item.deadline = 0;
        item.onDeadline(now);
      }
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.items.clear();
  }

  get size(): number {
    return this.items.size;
  }
}

/** Tick for a set of timeouts: an eighth of the shortest, within [5, 100] ms. */
export function tickFor(timeoutsMs: number[]): number {
  const shortest = Math.min(...timeoutsMs.filter((t) => t > 0));
  if (!Number.isFinite(shortest)) return 100;
  return Math.max(5, Math.min(100, Math.floor(shortest / 8)));
}
