/**
 * The strategy calls around a hedged request, in one place so the HTTP proxy
 * (src/proxy/http/exchange.ts) and the simulator (src/sim/engine.ts) drive a strategy the same
 * way. Pure: no timers, no I/O; the caller owns the timer and the attempts. Hedging follows Dean
 * and Barroso, "The Tail at Scale" (2013): send a copy of a slow request to another backend and
 * use whichever answers first.
 *
 * The sequence, as exchange.ts runs it:
 * 1. Each attempt starts with ctx.attempt = its index and its backend pushed on ctx.tried, then
 *    ActiveStrategy.started.
 * 2. After the first attempt started, when the request is `hedgeable` (and complete): arm a
 *    timer for `hedgeDelay` ms, unless NO_HEDGE. Armed once per request.
 * 3. The timer fires with exactly one attempt in flight and no response yet: `sendHedge` takes a
 *    budget token (Strategy.tryHedge) and picks with ctx.hedge = true (ctx.tried holds the
 *    backend already in flight); `start` launches the copy as in step 1, still seeing
 *    ctx.hedge = true; ctx.hedge is false again afterwards.
 * 4. The first response head wins: the other attempt is ended with outcome kind 'cancelled',
 *    then `hedgeSettled` (when a hedge was sent), then the response header hooks, then the
 *    winner's own ended.
 * A failed attempt while another is in flight needs no decision (that one may still answer);
 * when the last one fails, AttemptPolicy.afterFailure decides between failover, retry and
 * giving up.
 */
import type { Backend } from '../pool/backend.js';
import type { ActiveStrategy } from '../strategies/active.js';
import type { PickContext, Strategy } from '../strategies/types.js';

export const NO_HEDGE = -1;

/** A request may be hedged: safe to send twice, and its body (if any) kept whole and small enough. */
export function hedgeable(idempotent: boolean, replayable: boolean, bodyBytes: number, maxBodyBytes: number): boolean {
  return idempotent && replayable && bodyBytes <= maxBodyBytes;
}

/** Delay of the hedge timer for this request, or NO_HEDGE when the strategy does not hedge it. */
export function hedgeDelay(strategy: Strategy, ctx: PickContext): number {
  if (strategy.hedgeDelayMs === undefined) return NO_HEDGE;
  const delay = strategy.hedgeDelayMs(ctx);
  return delay >= 0 ? delay : NO_HEDGE;
}

/**
 * The hedge timer fired: asks the strategy for a token and a backend, and calls `start` with it
 * (ctx.hedge is true during the pick and the start). False when no copy was sent.
 */
export function sendHedge(active: ActiveStrategy, ctx: PickContext, start: (b: Backend) => void): boolean {
  const strategy = active.strategy;
  if (strategy.tryHedge === undefined || !strategy.tryHedge(ctx)) return false;
  ctx.hedge = true;
  const b = active.pick(ctx);
  if (b !== undefined) start(b);
  ctx.hedge = false;
  return b !== undefined;
}

/** A response won a request that had sent a hedge; `hedgeWon` when it is the copy's. */
export function hedgeSettled(active: ActiveStrategy, hedgeWon: boolean): void {
  active.strategy.onHedgeResult?.(hedgeWon);
}
