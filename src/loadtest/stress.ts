/**
 * The stress test: load steps of rising concurrency (closed loop) or rate (open loop), each a
 * full `runLoad`, until a step's error rate or p99 crosses its threshold (or, for a rate
 * ramp, the rate cannot be held). The knee is the highest step that held: the most this
 * target takes within the thresholds, to the resolution of the step size.
 */
import { entropySeed } from '../util/random.js';
import { LoadOptionsError, runLoad } from './engine.js';
import { ms } from './format.js';
import type { LoadResult, StressHooks, StressOptions, StressResult, StressStep } from './types.js';

/** More steps than this is a typo, not a plan. */
export const MAX_STEPS = 100;

export interface StressPlan {
  ramp: 'connections' | 'rate';
  levels: number[];
  stepDurationS: number;
  maxErrorRate: number;
  maxP99Ms: number;
  seed: number;
}

/** Validates the ramp and lists its levels; throws LoadOptionsError naming the bad option. */
export function planStress(o: StressOptions): StressPlan {
  const ramp = o.ramp ?? 'connections';
  if (ramp !== 'connections' && ramp !== 'rate') throw new LoadOptionsError(`ramp must be connections or rate, got ${String(ramp)}`);
  const start = o.start ?? (ramp === 'rate' ? 100 : 10);
  const step = o.step ?? start;
  const max = o.max ?? (ramp === 'rate' ? 10_000 : 500);
  const stepDurationS = o.stepDurationS ?? 5;
  const maxErrorRate = o.maxErrorRate ?? 0.01;
  const maxP99Ms = o.maxP99Ms ?? 1000;
  const integer = ramp === 'connections';
  for (const [name, v] of [['start', start], ['step', step], ['max', max]] as const) {
    if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new LoadOptionsError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`);
  }
  if (max < start) throw new LoadOptionsError(`max (${max}) is below start (${start})`);
  const count = Math.floor((max - start) / step + 1e-9) + 1;
  if (count > MAX_STEPS) throw new LoadOptionsError(`${count} steps from ${start} to ${max} by ${step}: at most ${MAX_STEPS}`);
  if (!(stepDurationS > 0 && stepDurationS <= 3600)) throw new LoadOptionsError(`step duration must be in (0, 3600] s, got ${String(stepDurationS)}`);
  if (!(maxErrorRate >= 0 && maxErrorRate <= 1)) throw new LoadOptionsError(`max error rate must be in [0, 1], got ${String(maxErrorRate)}`);
  if (!(maxP99Ms > 0)) throw new LoadOptionsError(`max p99 must be a positive number of ms, got ${String(maxP99Ms)}`);
  const levels = Array.from({ length: count }, (_, i) => Math.round((start + i * step) * 1000) / 1000);
  return { ramp, levels, stepDurationS, maxErrorRate, maxP99Ms, seed: o.seed ?? entropySeed() };
}

/** Why a step did not hold, or null if it held. */
export function stepVerdict(plan: StressPlan, r: LoadResult): string | null {
  if (r.sent === 0) return 'no requests were sent';
  const errorRate = r.failed.total / r.sent;
  if (errorRate > plan.maxErrorRate) return `error rate ${pct(errorRate)} > ${pct(plan.maxErrorRate)}`;
  if (r.latencyMs.p99 > plan.maxP99Ms) return `p99 ${ms(r.latencyMs.p99)} ms > ${plan.maxP99Ms} ms`;
  if (r.openLoop !== null && !r.openLoop.held) return `rate not held (${r.openLoop.achievedRate} of ${r.openLoop.targetRate} req/s)`;
  return null;
}

function pct(x: number): string {
  return `${Math.round(x * 10000) / 100}%`;
}

/** Runs steps until one fails, the levels run out or the signal aborts. */
export async function runStress(options: StressOptions, hooks: StressHooks = {}): Promise<StressResult> {
  const plan = planStress(options);
  const { ramp: _r, start: _s, step: _st, max: _m, stepDurationS: _d, maxErrorRate: _e, maxP99Ms: _p, ...request } = options;
  const steps: StressStep[] = [];
  let knee: StressStep | null = null;
  let stoppedBy = 'reached max';
  for (let i = 0; i < plan.levels.length; i++) {
    if (hooks.signal?.aborted) {
      stoppedBy = 'aborted';
      break;
    }
    const level = plan.levels[i]!;
    const load = plan.ramp === 'connections'
      ? { ...request, connections: level, durationS: plan.stepDurationS, seed: (plan.seed + i) >>> 0 }
      : { ...request, rate: level, durationS: plan.stepDurationS, seed: (plan.seed + i) >>> 0 };
    const onProgress = hooks.onProgress;
    const result = await runLoad(load, {
      signal: hooks.signal,
      onProgress: onProgress === undefined ? undefined : (p) => onProgress({ step: i, level, load: p }),
    });
    const reason = result.aborted ? 'aborted' : stepVerdict(plan, result);
    const step: StressStep = { level, held: reason === null, reason, result };
    steps.push(step);
    hooks.onStep?.(step);
    if (reason !== null) {
      stoppedBy = reason;
      break;
    }
    knee = step;
  }
  return { ramp: plan.ramp, seed: plan.seed, maxErrorRate: plan.maxErrorRate, maxP99Ms: plan.maxP99Ms, steps, knee, stoppedBy };
}
