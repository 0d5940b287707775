/**
 * A simulation across strategies: the same scenario and seed for each, so every strategy faces
 * the same arrivals and keys, one after the other on this thread (runs are short; the machine's
 * cores are better left to whatever else runs).
 */
import { performance } from 'node:perf_hooks';
import { availableStrategies } from '../strategies/registry.js';
import { simulateOne, type RunResult } from './engine.js';
import type { Scenario } from './scenario.js';

export interface SimulationReport {
  scenario: Scenario;
  seed: number;
  strategies: string[];
  results: RunResult[];
  /** Wall-clock time of the whole run (not part of the deterministic result). */
  wallMs: number;
}

/** Every strategy the registry has, in documentation order. */
export function defaultStrategies(): string[] {
  return availableStrategies();
}

export function runSimulation(scenario: Scenario, strategies: readonly string[], seed: number): SimulationReport {
  const t0 = performance.now();
  const results = strategies.map((s) => simulateOne(scenario, s, { seed }));
  return { scenario, seed: seed >>> 0, strategies: [...strategies], results, wallMs: performance.now() - t0 };
}
