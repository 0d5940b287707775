/**
 * Flags `ballast simulate` and `ballast bench` share: comma lists, the scenarios with their
 * overrides, the strategies to compare, and where each scenario's chart goes.
 */
import { ScenarioError, resolveScenario, type Scenario, type ScenarioOverrides } from '../sim/scenario.js';
import { UsageError } from './command.js';

/** "a, b,,c" as ['a', 'b', 'c']; undefined when the flag is absent. */
export function commaList(flag: string | undefined): string[] | undefined {
  return flag?.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Each named scenario with the overrides applied; a bad name or override is a UsageError. */
export function resolveScenarios(names: readonly (string | undefined)[], overrides: ScenarioOverrides): Scenario[] {
  try {
    return names.map((name) => resolveScenario(name, overrides));
  } catch (err) {
    if (err instanceof ScenarioError) throw new UsageError(err.message);
    throw err;
  }
}

/** The --strategies flag (default: all `registered`); an unknown name is a UsageError. */
export function strategiesFlag(flag: string | undefined, registered: readonly string[]): string[] {
  const strategies = commaList(flag) ?? [...registered];
  for (const s of strategies) if (!registered.includes(s)) throw new UsageError(`--strategies: unknown strategy "${s}"; registered: ${registered.join(', ')}`);
  return strategies;
}

/** --chart FILE.svg: with several scenarios, FILE-<scenario>.svg for each. */
export function chartPath(base: string, scenario: string, several: boolean): string {
  if (!several) return base;
  const dot = base.toLowerCase().endsWith('.svg') ? base.length - 4 : base.length;
  return `${base.slice(0, dot)}-${scenario}${base.slice(dot)}`;
}
