import type { Clock } from './clock.js';

/**
 * A token bucket on an injected clock: `deposit` adds a share of a token per request, `refill`
 * adds a floor per second, `take` spends one.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;
  constructor(
    private capacity: number,
    private readonly refillPerSecond: number,
    private readonly clock: Clock,
    initial = capacity,
  ) {
    this.tokens = Math.min(capacity, initial);
    this.at = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    if (this.refillPerSecond > 0 && now > this.at) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) / 1000) * this.refillPerSecond);
    }
    this.at = now;
  }

  deposit(amount: number): void {
    this.refill();
    this.tokens = Math.min(this.capacity, this.tokens + amount);
  }

  /** A new cap (tokens above it are dropped). */
  setCapacity(capacity: number): void {
    this.refill();
    this.capacity = capacity;
    if (this.tokens > capacity) this.tokens = capacity;
  }

  take(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  get available(): number {
    this.refill();
    return this.tokens;
  }
}
