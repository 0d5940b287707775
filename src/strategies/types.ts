/**
 * The seam between the data plane and the balancing algorithms. The proxy (and the
 * simulator) only ever call these methods; no code outside a strategy branches on its name.
 */
import type { Backend, Outcome } from '../pool/backend.js';
import type { LoadReport } from '../orca/report.js';
import type { Pool } from '../pool/pool.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { z } from 'zod';
import type { Config, StrategyName } from '../config/schema.js';

export type { StrategyName };

/** What a strategy needs from a request; TCP mode refuses `httpRequest` strategies at config time. */
export type StrategyNeeds = 'none' | 'clientAddress' | 'httpRequest';

/**
 * Per-request context, owned by the caller and reused across its attempts (no allocation per
 * pick). `tried` lists backends this request already used, so retries and hedges go elsewhere.
 */
export class PickContext {
  /** Affinity key (beta1), extracted by the caller as the active definition's `requestKey` says. */
  key: string | undefined = undefined;
  clientAddress = '';
  /** 0 for the first attempt, then 1, 2... for retries and hedges. */
  attempt = 0;
  readonly tried: Backend[] = [];
  /**
   * Parallel to `tried`: the backend's requests in flight just before each attempt was sent
   * (written by the attempt race). A latency sample then says how fast the backend was at that
   * load, which alpha1 learns per load level (Prequal's latency-by-requests-in-flight).
   */
  readonly loads: number[] = [];
  /** True when this attempt is a hedge (a second copy racing the first). */
  hedge = false;
  /**
   * Times the hedge timer fired for this request (set by the attempt race before `tryHedge`).
   * 0 when `hedgeDelayMs` is asked for the first time; after a refused `tryHedge` it is asked
   * again, and may name a later moment to look again.
   */
  hedgeChecks = 0;

  reset(): void {
    this.key = undefined;
    this.clientAddress = '';
    this.attempt = 0;
    this.tried.length = 0;
    this.loads.length = 0;
    this.hedge = false;
    this.hedgeChecks = 0;
  }
}

/** The load `b` had when this request's attempt on it was sent, or -1 when it was not sent there. */
export function loadAtSend(ctx: PickContext, b: Backend): number {
  const tried = ctx.tried;
  for (let i = 0; i < tried.length; i++) if (tried[i] === b) return i < ctx.loads.length ? ctx.loads[i]! : -1;
  return -1;
}

/** True when `b` was already used by this request. */
export function excluded(ctx: PickContext, b: Backend): boolean {
  const tried = ctx.tried;
  for (let i = 0; i < tried.length; i++) if (tried[i] === b) return true;
  return false;
}

export interface Strategy {
  readonly name: StrategyName;
  /** Sync and allocation-free: a ready backend not in `ctx.tried`, or undefined if none. */
  pick(ctx: PickContext): Backend | undefined;
  /** An attempt was sent to `b` (after the pool recorded it). */
  onStart?(b: Backend, ctx: PickContext): void;
  /** An attempt ended (after the pool recorded it). May be an attempt started under another strategy. */
  onEnd?(b: Backend, outcome: Outcome, ctx: PickContext | undefined): void;
  /** A response header seen by the proxy, for strategies that read one (beta1's X-Cache). */
  readonly responseHeader?: string;
  onResponseHeader?(b: Backend, value: string): void;
  /** A backend reported its load (ORCA); `report` is only valid during the call (it is reused). */
  onLoadReport?(b: Backend, report: LoadReport): void;
  /**
   * Delay after which the first attempt should be hedged, or -1 for no hedge. Asked again, with
   * `ctx.hedgeChecks` > 0, after `tryHedge` refused: the delay until it looks once more.
   */
  hedgeDelayMs?(ctx: PickContext): number;
  /** The hedge timer fired (`ctx.hedgeChecks` counts it): may we send a copy now (takes a budget token)? */
  tryHedge?(ctx: PickContext): boolean;
  /** The hedge race ended; `hedgeWon` when the copy's response was used. */
  onHedgeResult?(hedgeWon: boolean): void;
  /** Per-backend fields for `/api/algorithm-metrics` (names as the original project used them). */
  serverMetrics?(b: Backend): Record<string, unknown>;
  /** Fields for `<name>_global` in `/api/algorithm-metrics`, for strategies that have them. */
  globalMetrics?(): Record<string, unknown>;
  /** Stop timers, if any (strategies normally have none: they use the clock passed to them). */
  dispose?(): void;
}

export interface StrategyDeps {
  pool: Pool;
  clock: Clock;
  random: Random;
  config: Config;
}

/**
 * Where the data plane takes a request's key from: a header, a query parameter, the path, a
 * cookie or the client address (in TCP mode only the client address exists).
 */
export type KeySpec =
  | { readonly header: string }
  | { readonly query: string }
  | { readonly path: true }
  | { readonly cookie: string }
  | { readonly clientIp: true };

/** What a hedging strategy asks of the data plane (see `requestPolicy` in the registry). */
export interface HedgingSettings {
  /** Largest request body buffered so the request can be hedged. */
  readonly maxBodyBytes: number;
  /** A request with this header set to "true" may be retried and hedged whatever its method; null: none. */
  readonly idempotentHeader: string | null;
}

/**
 * One strategy as the rest of Ballast sees it: its name, its options (the config key named
 * after it), and what the data plane must do for it. Listed once in registry.ts.
 * `Name` and `Options` keep the literal name and the zod type, so the config schema and its
 * types are built from the registry. Declare one with its type spelled out
 * (`StrategyDefinition<'beta1', typeof beta1Options>`): inferred, it would depend on Config,
 * which depends on it.
 */
export interface StrategyDefinition<Name extends string = StrategyName, Options extends z.ZodType = z.ZodType> {
  readonly name: Name;
  /** Schema of the config key named after the strategy; every option has a default. */
  readonly options: Options;
  /** What it needs from a request under this config (beta1's depends on its key source). */
  needs(config: Config): StrategyNeeds;
  /**
   * Where the proxy takes `ctx.key` from while this strategy runs; asked only when `needs` is
   * not 'none' (and then expected).
   */
  requestKey?(config: Config): KeySpec;
  /**
   * Its hedging settings. They apply whichever strategy runs: requests are buffered for replay
   * up to the largest `maxBodyBytes`, and the idempotency header marks requests retryable too.
   */
  hedging?(config: Config): HedgingSettings;
  /** One line for `--help`, the API and the docs. */
  readonly summary: string;
  create(deps: StrategyDeps): Strategy;
}
