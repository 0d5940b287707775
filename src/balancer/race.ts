/**
 * The attempt race of one request: the first attempt, failover and retries after a failure,
 * at most one hedge racing the first, the retry budget, and which attempt wins. One state
 * machine for every data plane: the HTTP exchange, the TCP session and the simulator each
 * drive it through a small port (RacePort) and never call the strategy's attempt hooks
 * themselves, so they settle a race in the same order by construction:
 *
 * 1. An attempt starts: ctx.attempt = its index, its backend pushed on ctx.tried, the pool and
 *    the strategy told (ActiveStrategy.started), then the port sends it.
 * 2. Once the request is whole and hedgeable (idempotent, body kept and small enough), the
 *    strategy's hedge delay arms the port's timer, once per request. When it fires with one
 *    attempt in flight and no response begun, a budget token (Strategy.tryHedge) and a pick
 *    with ctx.hedge = true start the copy (backends at their connection limit hidden). A
 *    refused token may re-arm the timer once more if the strategy names a further delay.
 * 3. The first response head wins (`won`): every other attempt is aborted and ended
 *    'cancelled', then the strategy hears the hedge result. The data plane reads the response
 *    (its header hooks run here) and ends the winner with `finished`.
 * 4. A failed attempt while its twin still runs needs no decision. When the last one fails,
 *    AttemptPolicy decides: failover (connect failures), a budgeted retry, or giving up.
 *
 * Hedging follows Dean and Barroso, "The Tail at Scale" (2013); retry budgets Envoy's.
 * Allocation-free: at most two attempts are live at once and they sit in two slots; a race
 * object is reused for the next request with `reset()`.
 */
import type { Backend, InflightEntry, Outcome, OutcomeKind } from '../pool/backend.js';
import type { ActiveStrategy } from '../strategies/active.js';
import { PickContext, type Strategy } from '../strategies/types.js';
import type { AttemptPolicy } from './policy.js';

/** A request may be hedged: safe to send twice, and its body (if any) kept whole and small enough. */
function hedgeable(idempotent: boolean, replayable: boolean, bodyBytes: number, maxBodyBytes: number): boolean {
  return idempotent && replayable && bodyBytes <= maxBodyBytes;
}

/** Delay of the hedge timer for this request, or -1 when the strategy does not hedge it. */
function hedgeDelay(strategy: Strategy, ctx: PickContext): number {
  if (strategy.hedgeDelayMs === undefined) return -1;
  const delay = strategy.hedgeDelayMs(ctx);
  return delay >= 0 ? delay : -1;
}

/** One attempt as the race sees it: the data plane's own object (an HTTP attempt, a TCP connect, a simulated one). */
export interface RaceAttempt extends InflightEntry {
  readonly backend: Backend;
  readonly hedge: boolean;
  /** Set by the race when the attempt's outcome was reported. */
  ended: boolean;
  /** When its response head arrived (the race sets it on a win); 0 before. */
  headersAt: number;
  readonly outcome: Outcome;
}

/** Why a race ended without a response: no backend, a full queue, or the last attempt's failure. */
export type RaceLoss = 'no_backend' | 'queue_full' | OutcomeKind;

/** What a data plane does for the race: create, send and abort attempts, time hedges, answer. */
export interface RacePort<A extends RaceAttempt> {
  /** A new attempt object for `b` (nothing sent yet: the pool and strategy hear of it first). */
  create(b: Backend, hedge: boolean): A;
  /** Sends the attempt (connect, write the request). */
  send(a: A): void;
  /** Stops an attempt's I/O: it lost the race, failed, or the request is over. */
  abort(a: A): void;
  /** An attempt's outcome was reported (the pool's slot is free): per-attempt cleanup. */
  released(a: A): void;
  /** Arm the hedge timer; the data plane calls `hedgeDue()` when it fires. */
  armHedge(delayMs: number): void;
  disarmHedge(): void;
  /** Every ready backend is at its connection limit: wait for a slot (true; `woken()` follows) or not. */
  wait(): boolean;
  /** No attempt can answer: the data plane answers the client (503, 502, 504). */
  lost(reason: RaceLoss, last: Backend | undefined): void;
  /** Another attempt after a failure, before it starts. */
  retried(b: Backend, decision: 'failover' | 'retry'): void;
  hedgeSent(): void;
  hedgeWon(): void;
}

/** What every race of a proxy (or simulation) shares; `settings` may change on reload. */
export interface RaceEnv {
  readonly active: ActiveStrategy;
  readonly policy: AttemptPolicy;
  now(): number;
  readonly settings: RaceSettings;
}

export interface RaceSettings {
  /** Attempts in flight per backend (0: no limit); full backends are skipped, then waited for. */
  maxConnectionsPerBackend: number;
  /** Largest request body a hedge may copy. */
  maxHedgeBodyBytes: number;
}

export class AttemptRace<A extends RaceAttempt> {
  readonly ctx = new PickContext();
  /** Safe to send twice (method, or marked by the operator's header). */
  idempotent = false;
  /** The request body is kept whole (or empty), so it can be sent again. */
  replayable = true;
  /** Some bytes of a response reached the client (a relayed 100 Continue included): nothing is retried. */
  responseStarted = false;
  winner: A | null = null;
  /** The live attempt that carries the request body as it streams (the first, a failover or a retry); a hedge once it wins. */
  primary: A | null = null;
  /** The live hedge. */
  private other: A | null = null;
  private attemptCount = 0;
  private lastFailure: OutcomeKind = 'connect';
  private hedgeArmed = false;
  private hedged = false;

  constructor(
    private readonly port: RacePort<A>,
    private readonly env: RaceEnv,
  ) {}

  /** Ready for another request (the simulator reuses races). */
  reset(): void {
    this.ctx.reset();
    this.idempotent = false;
    this.replayable = true;
    this.responseStarted = false;
    this.winner = null;
    this.primary = null;
    this.other = null;
    this.attemptCount = 0;
    this.lastFailure = 'connect';
    this.hedgeArmed = false;
    this.hedged = false;
  }

  /** Attempts started so far (hedges and retries included). */
  get attempts(): number {
    return this.attemptCount;
  }

  /** A hedge was sent for this request (whichever attempt won). */
  get wasHedged(): boolean {
    return this.hedged;
  }

  /** Attempts in flight now (0, 1 or 2). */
  get live(): number {
    return (this.primary !== null ? 1 : 0) + (this.other !== null ? 1 : 0);
  }

  /** The request's turn: it counts toward the retry budget, then its first attempt starts. */
  start(): void {
    this.env.policy.onRequest();
    this.dispatch();
  }

  /** A slot freed up while this request waited for one: pick again. */
  woken(): void {
    this.dispatch();
  }

  /** Picks a backend (skipping those at their limit) and starts an attempt; waits or loses when none. */
  private dispatch(): void {
    const { active, settings } = this.env;
    const max = settings.maxConnectionsPerBackend;
    const ctx = this.ctx;
    let b = active.pick(ctx);
    let full = 0;
    if (max > 0) {
      // Backends at their connection limit are hidden from this pick only. The slot is
      // reserved as it is checked: other workers share the count.
      while (b !== undefined && !b.tryReserve(max)) {
        ctx.tried.push(b);
        full++;
        b = active.pick(ctx);
      }
      ctx.tried.length -= full;
    }
    if (b !== undefined) {
      this.startAttempt(b, false, max > 0);
      return;
    }
    if (full > 0) {
      if (!this.port.wait()) this.port.lost('queue_full', undefined);
      return;
    }
    this.port.lost(this.attemptCount === 0 ? 'no_backend' : this.lastFailure, undefined);
  }

  /** `reserved`: `b.tryReserve` counted this attempt already. */
  private startAttempt(b: Backend, hedge: boolean, reserved: boolean): void {
    const a = this.port.create(b, hedge);
    a.startedAt = this.env.now();
    const ctx = this.ctx;
    ctx.attempt = this.attemptCount++;
    // Without this attempt: the load the backend had when the request reached it.
    ctx.loads.length = ctx.tried.length;
    ctx.loads.push(reserved ? b.inflight - 1 : b.inflight);
    ctx.tried.push(b);
    this.env.active.started(b, a, ctx, reserved);
    if (hedge) this.other = a;
    else this.primary = a;
    this.port.send(a);
  }

  /**
   * The request is whole: arm the hedge timer if the strategy hedges it. `bodyBytes` is the
   * kept body's size. Once per request, and only while the first attempt is the only one.
   */
  requestComplete(bodyBytes: number): void {
    if (this.hedgeArmed || this.hedged || this.winner !== null || this.attemptCount !== 1) return;
    if (!hedgeable(this.idempotent, this.replayable, bodyBytes, this.env.settings.maxHedgeBodyBytes)) return;
    const delay = hedgeDelay(this.env.active.strategy, this.ctx);
    if (delay < 0) return;
    this.hedgeArmed = true;
    this.port.armHedge(delay);
  }

  /** The hedge timer fired: send a copy if the first attempt is still alone and unanswered. */
  hedgeDue(): void {
    // A timer disarmed meanwhile (a winner, a retry, the end) may still fire where the data
    // plane cannot cancel it (the simulator's events): it finds nothing to do.
    if (!this.hedgeArmed) return;
    this.hedgeArmed = false;
    if (this.winner !== null || this.responseStarted || this.live !== 1 || this.other !== null) return;
    const { active, settings } = this.env;
    // A hedge never goes to a backend at its connection limit (it would not queue: the first
    // attempt is still running). Such backends are hidden from this one pick.
    const max = settings.maxConnectionsPerBackend;
    const strategy = active.strategy;
    const ctx = this.ctx;
    ctx.hedgeChecks++;
    if (strategy.tryHedge === undefined) return;
    if (!strategy.tryHedge(ctx)) {
      // Refused now; the strategy may look again later (alpha1 keeps its last tokens for
      // requests that are still unanswered then: those become the tail).
      const again = hedgeDelay(strategy, ctx);
      if (again >= 0) {
        this.hedgeArmed = true;
        this.port.armHedge(again);
      }
      return;
    }
    const tried = ctx.tried;
    const before = tried.length;
    if (max > 0) for (const b of active.pool.ready) if (b.inflight >= max && !tried.includes(b)) tried.push(b);
    ctx.hedge = true;
    const b = active.pick(ctx);
    tried.length = before; // unhide the full backends
    // The pick saw room; another worker may have taken it since: no hedge then.
    if (b !== undefined && (max === 0 || b.tryReserve(max))) {
      this.hedged = true;
      this.port.hedgeSent();
      this.startAttempt(b, true, max > 0); // still seeing ctx.hedge = true, as the strategy's onStart should
    }
    ctx.hedge = false;
  }

  /**
   * A response head arrived on `a`: it wins. Every other attempt is aborted and ended
   * 'cancelled', then the strategy hears whether the hedge won. False when the race was
   * already decided (a late head of a loser: the caller ignores it).
   */
  won(a: A): boolean {
    if (this.winner !== null || a.ended) return false;
    this.winner = a;
    a.headersAt = this.env.now();
    this.responseStarted = true;
    if (this.hedgeArmed) {
      this.hedgeArmed = false;
      this.port.disarmHedge();
    }
    const loser = a === this.primary ? this.other : this.primary;
    if (loser !== null) this.cancel(loser);
    if (a !== this.primary) {
      // The hedge won: it carries the response from now on.
      this.primary = a;
      this.other = null;
    }
    if (this.hedged) {
      this.env.active.strategy.onHedgeResult?.(a.hedge);
      if (a.hedge) this.port.hedgeWon();
    }
    return true;
  }

  /** The winner's response is complete (`ok`, or `http_5xx` for the outlier detector). */
  finished(a: A, kind: OutcomeKind): void {
    this.end(a, kind);
  }

  /**
   * The attempt `a` failed. True when it was the winner (the response was under way: nothing
   * can be retried, the data plane cuts the client). Otherwise the race goes on: the twin may
   * still answer, or the policy fails over, retries, or the race is lost (`port.lost`).
   */
  failed(a: A, kind: OutcomeKind): boolean {
    if (a.ended) return false;
    this.port.abort(a);
    this.end(a, kind);
    if (a === this.winner) return true;
    this.lastFailure = kind;
    if (this.live > 0) return false; // the hedge twin may still answer
    const decision = this.env.policy.afterFailure(kind, this);
    if (decision === 'give_up') {
      if (this.hedgeArmed) {
        this.hedgeArmed = false;
        this.port.disarmHedge();
      }
      this.port.lost(kind, a.backend);
      return false;
    }
    // Hedging is for a first attempt that is alone and slow; a retry is never hedged.
    if (this.hedgeArmed) {
      this.hedgeArmed = false;
      this.port.disarmHedge();
    }
    this.port.retried(a.backend, decision);
    this.dispatch();
    return false;
  }

  /** The request is over without its race (client gone, malformed body, answered early): stop every attempt. */
  abandon(): void {
    if (this.hedgeArmed) {
      this.hedgeArmed = false;
      this.port.disarmHedge();
    }
    if (this.other !== null) this.cancel(this.other);
    if (this.primary !== null) this.cancel(this.primary);
  }

  private cancel(a: A): void {
    this.port.abort(a);
    this.end(a, 'cancelled');
  }

  /** Reports `a`'s outcome once: pool and strategy first, then the port's cleanup. */
  private end(a: A, kind: OutcomeKind): void {
    if (a.ended) return;
    a.ended = true;
    // Slots hold live attempts only: the data plane may reuse an ended one (the simulator pools them).
    if (a === this.other) this.other = null;
    else if (a === this.primary) this.primary = null;
    const outcome = a.outcome;
    outcome.kind = kind;
    outcome.latencyMs = (a.headersAt !== 0 ? a.headersAt : this.env.now()) - a.startedAt;
    this.env.active.ended(a.backend, a, outcome, this.ctx);
    this.port.released(a);
  }
}
