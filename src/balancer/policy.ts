/**
 * When a request gets another attempt: failover, retries and their budget. The attempt race
 * (race.ts) asks it, for the HTTP proxy, the TCP proxy and the simulator alike.
 *
 * - A connect failure sends nothing, so any method fails over to another backend. This is not
 *   budgeted: a refused connection costs the dead backend nothing, and each backend is tried
 *   at most once per request, which bounds it.
 * - A reset or timeout before response headers is retried on another backend only for
 *   idempotent requests whose body can be replayed, and only while the retry budget allows
 *   (Envoy's retry budget: retries at most a share of requests, plus a small floor per second),
 *   so retries cannot multiply an outage.
 * - Once response bytes reached the client nothing is retried.
 */
import type { Clock } from '../util/clock.js';
import { TokenBucket } from '../util/token-bucket.js';
import type { OutcomeKind } from '../pool/backend.js';

export type AttemptDecision = 'failover' | 'retry' | 'give_up';

export interface AttemptState {
  /** GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or marked idempotent by header. */
  idempotent: boolean;
  /** The request body is buffered whole (or empty), so it can be sent again. */
  replayable: boolean;
  /** Some response bytes already reached the client. */
  responseStarted: boolean;
  /** Attempts made so far, this failed one included. */
  attempts: number;
}

/** Methods RFC 9110 defines as idempotent. */
export function idempotentMethod(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'PUT':
    case 'DELETE':
    case 'TRACE':
      return true;
    default:
      return false;
  }
}

export interface RetryPolicyConfig {
  enabled: boolean;
  maxAttempts: number;
  budgetPercent: number;
  minPerSecond: number;
}

export class AttemptPolicy {
  private budget: TokenBucket;
  private share: number;
  /** Requests in about the last second (a count decaying with a 1 s time constant). */
  private recent = 0;
  private recentAt: number;
  /**
   * Retries the budget refused (the simulator reports it). Retries and failovers made are
   * counted once, by the stats recorder, when the data plane hears of them (RacePort.retried).
   */
  retriesDenied = 0;

  constructor(
    private config: RetryPolicyConfig,
    private readonly clock: Clock,
  ) {
    this.share = config.budgetPercent / 100;
    this.budget = AttemptPolicy.bucket(config, clock);
    this.recentAt = clock.now();
  }

  /** The smallest capacity: a burst of a few retries is always fine. */
  private static baseCapacity(config: RetryPolicyConfig): number {
    return Math.max(5, config.minPerSecond);
  }

  private static bucket(config: RetryPolicyConfig, clock: Clock): TokenBucket {
    return new TokenBucket(AttemptPolicy.baseCapacity(config), config.minPerSecond, clock);
  }

  /** New settings (reload); the budget starts afresh. */
  reconfigure(config: RetryPolicyConfig): void {
    this.config = config;
    this.share = config.budgetPercent / 100;
    this.budget = AttemptPolicy.bucket(config, this.clock);
  }

  /**
   * Every request earns the budget its share of a retry. The budget may hold up to one second
   * of that share: a backend that dies resets all its in-flight requests at once, and at high
   * concurrency a fixed small cap would turn that burst into errors well below the share
   * (Envoy sizes its budget by active requests for the same reason). Sustained retries stay
   * bounded by the share plus the floor.
   */
  onRequest(): void {
    if (this.share <= 0) return;
    const now = this.clock.now();
    this.recent = this.recent * Math.exp(-(now - this.recentAt) / 1000) + 1;
    this.recentAt = now;
    this.budget.setCapacity(Math.max(AttemptPolicy.baseCapacity(this.config), this.share * this.recent));
    this.budget.deposit(this.share);
  }

  /** What to do after a failed attempt of kind `kind`. */
  afterFailure(kind: OutcomeKind, state: AttemptState): AttemptDecision {
    if (state.responseStarted || kind === 'ok' || kind === 'cancelled' || kind === 'http_5xx') return 'give_up';
    if (kind === 'connect') {
      return 'failover';
    }
    if (!this.config.enabled || !state.idempotent || !state.replayable) return 'give_up';
    if (state.attempts >= this.config.maxAttempts) return 'give_up';
    if (!this.budget.take()) {
      this.retriesDenied++;
      return 'give_up';
    }
    return 'retry';
  }
}
