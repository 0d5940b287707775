/**
 * The sequence of strategy calls around hedged requests and further attempts, in one place so
 * the HTTP proxy and the simulator (src/sim) drive a strategy identically. Pure: no timers, no
 * I/O; the caller owns the timer and the attempts. Hedging follows Dean and Barroso, "The Tail
 * at Scale" (2013): send a copy of a slow request to another server, use the first answer.
 *
 * One request, as the caller runs it:
 * 1. First attempt started (ActiveStrategy.started): `hedgeDelay` gives the delay of the hedge
 *    timer, or NO_HEDGE.
 * 2. The timer fires while the first attempt is still the only one and unanswered:
 *    `pickHedge` asks the strategy for a budget token and picks the copy's backend with
 *    ctx.tried = [first] and ctx.hedge = true; undefined means no hedge. The caller starts the
 *    copy like any attempt (ActiveStrategy.started).
 * 3. The first response wins. The caller ends the loser with outcome kind 'cancelled'
 *    (ActiveStrategy.ended), then calls `hedgeSettled` once for the hedge sent: won when the
 *    copy's response was used (false when the first won, or when neither answered).
 * A failed attempt while another is still racing needs no decision: the other may still answer.
 * When the last one fails, AttemptPolicy.afterFailure decides, and `prepareNextAttempt` sets up
 * the context for the failover or retry pick.
 */
import type { Backend } from '../pool/backend.js';
import type { ActiveStrategy } from '../strategies/active.js';
import { excluded, type PickContext, type Strategy } from '../strategies/types.js';

export const NO_HEDGE = -1;

/**
 * Hedge delay for a request whose first attempt just started, or NO_HEDGE: the request must be
 * safe to send twice (`hedgeable`: idempotent, body replayable), another backend must be ready,
 * and the strategy must want one.
 */
export function hedgeDelay(strategy: Strategy, ctx: PickContext, hedgeable: boolean, readyCount: number): number {
  if (!hedgeable || readyCount < 2 || strategy.hedgeDelayMs === undefined) return NO_HEDGE;
  const delay = strategy.hedgeDelayMs(ctx);
  return delay >= 0 && Number.isFinite(delay) ? delay : NO_HEDGE;
}

/**
 * The hedge timer fired, the first attempt (to `first`) still unanswered: the backend for the
 * copy, or undefined when the strategy declines (no budget token) or no other backend is ready.
 * On success `ctx` is left as the copy's pick saw it (tried = [first], hedge = true, attempt + 1).
 */
export function pickHedge(active: ActiveStrategy, ctx: PickContext, first: Backend): Backend | undefined {
  const strategy = active.strategy;
  if (strategy.tryHedge === undefined) return undefined;
  // Spend no budget token when there is nowhere to send the copy.
  const ready = active.pool.ready;
  let other = false;
  for (let i = 0; i < ready.length; i++) {
    if (ready[i] !== first) {
      other = true;
      break;
    }
  }
  if (!other || !strategy.tryHedge(ctx)) return undefined;
  ctx.tried.length = 0;
  ctx.tried.push(first);
  ctx.hedge = true;
  ctx.attempt++;
  const b = active.pick(ctx);
  if (b === undefined) {
    ctx.hedge = false;
    ctx.attempt--;
  }
  return b;
}

/** The race of a hedge that was sent ended; `hedgeWon` when the copy's response was used. */
export function hedgeSettled(active: ActiveStrategy, hedgeWon: boolean): void {
  active.strategy.onHedgeResult?.(hedgeWon);
}

/** Before picking a failover or retry after the attempt to `failed`: avoid it, count the attempt. */
export function prepareNextAttempt(ctx: PickContext, failed: Backend): void {
  if (!excluded(ctx, failed)) ctx.tried.push(failed);
  ctx.hedge = false;
  ctx.attempt++;
}
