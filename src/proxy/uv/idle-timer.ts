/**
 * "Quiet for `ms`": one timer per quiet period, checked against the time of the last
 * activity when it fires. Re-arming a timer on every read and write is part of what made
 * net.Socket's own timeout costly here; touch() only stamps a time.
 * Fires once per quiet period; the next touch() re-arms it.
 */
export class IdleTimer {
  private ms = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastActive = 0;

  constructor(
    private readonly now: () => number,
    private readonly onIdle: () => void,
  ) {}

  /** Starts counting from now (0: never fires). */
  set(ms: number): void {
    this.clear();
    this.ms = ms;
    if (ms > 0) {
      this.lastActive = this.now();
      this.arm(ms);
    }
  }

  touch(): void {
    if (this.ms === 0) return;
    this.lastActive = this.now();
    if (this.timer === undefined) this.arm(this.ms);
  }

  clear(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Stops for good: touch() no longer re-arms. */
  stop(): void {
    this.clear();
    this.ms = 0;
  }

  private arm(delay: number): void {
    this.timer = setTimeout(this.onTimer, delay);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.ms === 0) return;
    const quiet = this.now() - this.lastActive;
    if (quiet + 1 < this.ms) return this.arm(Math.max(1, this.ms - quiet));
    this.onIdle();
  };
}
