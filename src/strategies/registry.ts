/**
 * Strategies by name. Each algorithm lives in its own file (its options in a sibling
 * `<name>.options.ts`) and is listed here once; the config schema, the list of names and what
 * the data plane does for a strategy all come from this list, so nothing else in Ballast needs
 * to know which ones exist.
 */
import type { Config } from '../config/schema.js';
import { alpha1 } from './alpha1.js';
import { beta1 } from './beta1.js';
import { healthScore } from './health-score.js';
import { leastConnections } from './least-connections.js';
import { responseTime } from './response-time.js';
import { roundRobin } from './round-robin.js';
import { weightedRoundRobin } from './weighted-round-robin.js';
import type { StrategyDefinition } from './types.js';

/** Every strategy, in documentation order (the order of the config keys and of the names). */
export const STRATEGIES = [roundRobin, leastConnections, healthScore, weightedRoundRobin, responseTime, alpha1, beta1] as const;

export type StrategyName = (typeof STRATEGIES)[number]['name'];

type NamesOf<T extends readonly StrategyDefinition<string>[]> = {
  readonly [I in keyof T]: T[I] extends StrategyDefinition<infer N> ? N : never;
};

/** The names, in documentation order, as a tuple of literals (for `z.enum`). */
export const STRATEGY_NAMES = STRATEGIES.map((d) => d.name) as unknown as NamesOf<typeof STRATEGIES>;

const byName = new Map<string, StrategyDefinition>(STRATEGIES.map((d) => [d.name, d]));

export function strategyDefinition(name: string): StrategyDefinition | undefined {
  return byName.get(name);
}

/** Names of the strategies that can run, in documentation order. */
export function availableStrategies(): StrategyName[] {
  return [...STRATEGY_NAMES];
}

/** How the data plane treats requests, whichever strategy runs (resolved at start and on reload). */
export interface RequestPolicy {
  /** Header marking a request idempotent (retryable and hedgeable whatever its method), or null. */
  readonly idempotentHeader: string | null;
  /** Largest request body buffered so it can be hedged (0 when no strategy hedges). */
  readonly maxHedgeBodyBytes: number;
}

/**
 * The hedging settings every strategy declares, combined: the largest body limit, and the
 * first idempotency header set (in registry order). They hold under every strategy, not only
 * the one declaring them, so a run-time switch never changes which requests may be replayed.
 */
export function requestPolicy(config: Config): RequestPolicy {
  let idempotentHeader: string | null = null;
  let maxHedgeBodyBytes = 0;
  for (const def of STRATEGIES) {
    const h = def.hedging?.(config);
    if (h === undefined) continue;
    maxHedgeBodyBytes = Math.max(maxHedgeBodyBytes, h.maxBodyBytes);
    idempotentHeader ??= h.idempotentHeader;
  }
  return { idempotentHeader, maxHedgeBodyBytes };
}
