/**
 * The running strategy, switchable at run time, and the single done path for attempts.
 *
 * The proxy and the simulator call `pick`, `started` and `ended` here. `ended` updates the
 * pool first (in-flight, latency, failures) and then whichever strategy runs now, so a switch
 * in the middle of a request loses nothing: the pool's state carries over and the new
 * strategy simply starts hearing about outcomes.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Backend, InflightEntry, Outcome } from '../pool/backend.js';
import type { LoadReport } from '../orca/report.js';
import type { Pool } from '../pool/pool.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { Config, StrategyName } from '../config/schema.js';
import { strategyDefinition } from './registry.js';
import type { KeySpec, PickContext, Strategy, StrategyDefinition, StrategyNeeds } from './types.js';

/** Observers of attempt outcomes other than the strategy (outlier detection, stats). */
export type OutcomeObserver = (b: Backend, outcome: Outcome, now: number) => void;

export class UnknownStrategyError extends Error {}

export class ActiveStrategy {
  strategy: Strategy;
  definition: StrategyDefinition;
  /** The running strategy wants `ctx.key` filled in (beta1); read on every request. */
  needsKey = false;
  /** Where `ctx.key` comes from while `needsKey` (the definition's `requestKey`), else undefined. */
  requestKey: KeySpec | undefined = undefined;
  private readonly observers: OutcomeObserver[] = [];
  private readonly changeListeners: Array<() => void> = [];

  constructor(
    readonly pool: Pool,
    private readonly clock: Clock,
    private readonly random: Random,
    private config: Config,
    name: StrategyName,
  ) {
    this.definition = ActiveStrategy.definition(name, config);
    this.strategy = this.definition.create({ pool, clock, random, config });
    this.resolveRequestNeeds();
  }

  /** The definition for `name`, or an error saying why it cannot run in `mode`. */
  static definition(name: string, config: Config): StrategyDefinition {
    const def = strategyDefinition(name);
    if (def === undefined) throw new UnknownStrategyError(`unknown strategy "${name}"`);
    if (config.mode === 'tcp' && def.needs(config) === 'httpRequest') {
      throw new UnknownStrategyError(`strategy "${name}" needs HTTP requests and cannot run in tcp mode`);
    }
    return def;
  }

  get name(): StrategyName {
    return this.strategy.name;
  }

  get needs(): StrategyNeeds {
    return this.definition.needs(this.config);
  }

  /** Replaces the strategy; in-flight requests keep running, pool state is kept. */
  switchTo(name: string): void {
    const def = ActiveStrategy.definition(name, this.config);
    const next = def.create({ pool: this.pool, clock: this.clock, random: this.random, config: this.config });
    this.strategy.dispose?.();
    this.strategy = next;
    this.definition = def;
    this.resolveRequestNeeds();
  }

  /**
   * New config (reload). The running strategy is kept when its name and its own options (the
   * config key named after it) are unchanged, so what it learned (EWMAs, feedback weights,
   * hedge budget, per-backend counts, the smooth-WRR cycle) survives a reload that only touched
   * timeouts or servers; strategies read membership from the pool on every pick, so added and
   * removed servers reach a kept one. Otherwise it is rebuilt with the new options: strategies
   * fix derived tables from their options at construction, and a rebuild is what a switch does.
   */
  reconfigure(config: Config, name: StrategyName = this.name): void {
    const keep = name === this.name && isDeepStrictEqual(config[name], this.config[name]);
    this.config = config;
    if (!keep) this.switchTo(name);
    else this.resolveRequestNeeds();
  }

  /**
   * Calls `listener` after every switch and reconfigure, once the new strategy's `needsKey` and
   * `requestKey` are set (the proxy rebuilds its key source from them).
   */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  private resolveRequestNeeds(): void {
    this.needsKey = this.definition.needs(this.config) !== 'none';
    this.requestKey = this.needsKey ? this.definition.requestKey?.(this.config) : undefined;
    for (let i = 0; i < this.changeListeners.length; i++) this.changeListeners[i]!();
  }

  addObserver(observer: OutcomeObserver): void {
    this.observers.push(observer);
  }

  pick(ctx: PickContext): Backend | undefined {
    return this.strategy.pick(ctx);
  }

  /**
   * An attempt goes out to `b`; `entry.startedAt` is its start on this clock. `reserved`: a
   * connection limit's `b.tryReserve` already counted it.
   */
  started(b: Backend, entry: InflightEntry, ctx: PickContext, reserved = false): void {
    this.pool.begin(b, entry, reserved);
    this.strategy.onStart?.(b, ctx);
  }

  /**
   * `b` reported its load: kept on the backend (for the API, and for a strategy switched to
   * later), then passed to the running strategy. The proxy and the simulator both call this.
   */
  loadReported(b: Backend, report: LoadReport): void {
    if (report !== b.reported.latest) b.reported.record(report, this.clock.now());
    this.strategy.onLoadReport?.(b, report);
  }

  /** The attempt ended; exactly once per `started`. */
  ended(b: Backend, entry: InflightEntry, outcome: Outcome, ctx: PickContext | undefined): void {
    const now = this.clock.now();
    this.pool.end(b, entry, outcome, now);
    this.strategy.onEnd?.(b, outcome, ctx);
    for (let i = 0; i < this.observers.length; i++) this.observers[i]!(b, outcome, now);
  }
}
