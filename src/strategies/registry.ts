/**
 * Strategies by name. Each algorithm lives in its own file and is listed here once; nothing
 * else in Ballast needs to know which ones exist.
 */
import type { StrategyName } from '../config/schema.js';
import { alpha1 } from './alpha1.js';
import { beta1 } from './beta1.js';
import { healthScore } from './health-score.js';
import { leastConnections } from './least-connections.js';
import { responseTime } from './response-time.js';
import { roundRobin } from './round-robin.js';
import { weightedRoundRobin } from './weighted-round-robin.js';
import type { StrategyDefinition } from './types.js';

const definitions: StrategyDefinition[] = [roundRobin, leastConnections, healthScore, weightedRoundRobin, responseTime, alpha1, beta1];

const byName = new Map<string, StrategyDefinition>(definitions.map((d) => [d.name, d]));

export function strategyDefinition(name: string): StrategyDefinition | undefined {
  return byName.get(name);
}

/** Names of the strategies that can run, in documentation order. */
export function availableStrategies(): StrategyName[] {
  return definitions.map((d) => d.name);
}
