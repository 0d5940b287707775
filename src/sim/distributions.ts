/**
 * Service-time distributions for simulated servers, in milliseconds, each drawn from an
 * injected `Random` so a seed replays them.
 *
 * - fixed: every request takes the same time (the M/D/c textbook case);
 * - exponential(mean): memoryless, the M/M/c textbook case the tests check against;
 * - lognormal(median, sigma): the usual shape of measured service times (a body with a right
 *   skew); median and sigma are those of the underlying normal's exp;
 * - pareto(scale, alpha[, cap]): a power-law tail (alpha <= 2 has infinite variance), with an
 *   optional cap standing for a server-side timeout;
 * - bimodal(fastMs, slowMs, slowShare): two populations, e.g. cache hits and misses at the
 *   application level, or a cheap and an expensive endpoint.
 */
import type { Random } from '../util/random.js';

export type ServiceSpec =
  | { kind: 'fixed'; ms: number }
  | { kind: 'exponential'; mean: number }
  | { kind: 'lognormal'; median: number; sigma: number }
  | { kind: 'pareto'; scale: number; alpha: number; cap?: number | undefined }
  | { kind: 'bimodal'; fastMs: number; slowMs: number; slowShare: number };

export interface Sampler {
  sample(random: Random): number;
  /** Exact mean of the distribution (for utilisation figures and tests). */
  readonly mean: number;
}

/** Standard normal deviates by the Box-Muller transform, the second of each pair kept for the next call. */
export class NormalSampler {
  private spare = 0;
  private hasSpare = false;

  sample(random: Random): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    // 1 - u keeps the argument of log in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - random.next()));
    const theta = 2 * Math.PI * random.next();
    this.spare = r * Math.sin(theta);
    this.hasSpare = true;
    return r * Math.cos(theta);
  }
}

class Fixed implements Sampler {
  constructor(readonly mean: number) {}
  sample(): number {
    return this.mean;
  }
}

class Exponential implements Sampler {
  constructor(readonly mean: number) {}
  sample(random: Random): number {
    return -this.mean * Math.log(1 - random.next());
  }
}

class LogNormal implements Sampler {
  private readonly normal = new NormalSampler();
  readonly mean: number;
  constructor(
    private readonly median: number,
    private readonly sigma: number,
  ) {
    this.mean = median * Math.exp((sigma * sigma) / 2);
  }
  sample(random: Random): number {
    return this.median * Math.exp(this.sigma * this.normal.sample(random));
  }
}

class Pareto implements Sampler {
  readonly mean: number;
  private readonly invAlpha: number;
  constructor(
    private readonly scale: number,
    alpha: number,
    private readonly cap: number,
  ) {
    this.invAlpha = 1 / alpha;
    if (Number.isFinite(cap)) {
      // Mean of min(X, cap): integral of the survival function (scale/x)^alpha from 0 to cap.
      const c = Math.max(cap, scale);
      this.mean =
        alpha === 1 ? scale + scale * Math.log(c / scale) : scale + (scale / (alpha - 1)) * (1 - Math.pow(scale / c, alpha - 1));
    } else {
      this.mean = alpha > 1 ? (alpha * scale) / (alpha - 1) : Infinity;
    }
  }
  sample(random: Random): number {
    const x = this.scale / Math.pow(1 - random.next(), this.invAlpha);
    return x < this.cap ? x : this.cap;
  }
}

class Bimodal implements Sampler {
  readonly mean: number;
  constructor(
    private readonly fast: number,
    private readonly slow: number,
    private readonly slowShare: number,
  ) {
    this.mean = fast * (1 - slowShare) + slow * slowShare;
  }
  sample(random: Random): number {
    return random.next() < this.slowShare ? this.slow : this.fast;
  }
}

export function makeSampler(spec: ServiceSpec): Sampler {
  switch (spec.kind) {
    case 'fixed':
      return new Fixed(spec.ms);
    case 'exponential':
      return new Exponential(spec.mean);
    case 'lognormal':
      return new LogNormal(spec.median, spec.sigma);
    case 'pareto':
      return new Pareto(spec.scale, spec.alpha, spec.cap ?? Infinity);
    case 'bimodal':
      return new Bimodal(spec.fastMs, spec.slowMs, spec.slowShare);
  }
}
