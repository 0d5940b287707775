/**
 * Service-time distributions for the demo backend (and the same grammar for the benchmark):
 *   fixed:MS            every request takes MS
 *   uniform:MIN-MAX     uniform between MIN and MAX ms (the original backend: uniform:10-50)
 *   lognormal:MEDIAN:SIGMA   heavy-ish tail around MEDIAN ms
 */
import type { Random } from '../util/random.js';

export type ServiceTime =
  | { kind: 'fixed'; ms: number }
  | { kind: 'uniform'; min: number; max: number }
  | { kind: 'lognormal'; median: number; sigma: number };

export function parseServiceTime(text: string): ServiceTime {
  // Split at the first colon only: lognormal's parameters contain another one.
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  const num = (s: string | undefined): number => {
    const n = Number(s);
    if (s === undefined || s.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`bad service time "${text}"`);
    return n;
  };
  switch (kind) {
    case 'fixed':
      return { kind, ms: num(rest) };
    case 'uniform': {
      const [a, b] = rest.split('-');
      const min = num(a);
      const max = num(b);
      if (max < min) throw new Error(`bad service time "${text}": MAX below MIN`);
      return { kind, min, max };
    }
    case 'lognormal': {
      const [m, s] = rest.split(':');
      return { kind, median: num(m), sigma: num(s) };
    }
    default:
      throw new Error(`bad service time "${text}": expected fixed:MS, uniform:MIN-MAX or lognormal:MEDIAN:SIGMA`);
  }
}

/** Standard normal by Box-Muller (one of the pair is dropped: simplicity over speed here). */
function gaussian(random: Random): number {
  const u = 1 - random.next();
  const v = random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function sampleServiceTime(dist: ServiceTime, random: Random): number {
  switch (dist.kind) {
    case 'fixed':
      return dist.ms;
    case 'uniform':
      return dist.min + (dist.max - dist.min) * random.next();
    case 'lognormal':
      return dist.median * Math.exp(dist.sigma * gaussian(random));
  }
}

export function formatServiceTime(dist: ServiceTime): string {
  switch (dist.kind) {
    case 'fixed':
      return `fixed:${dist.ms}`;
    case 'uniform':
      return `uniform:${dist.min}-${dist.max}`;
    case 'lognormal':
      return `lognormal:${dist.median}:${dist.sigma}`;
  }
}
