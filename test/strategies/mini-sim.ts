/**
 * A small discrete-event simulation for the strategy tests: open-loop Poisson arrivals, backends
 * with a fixed number of workers and a FIFO queue, lognormal service times, random stalls (a
 * backend pauses all work for a while), an optional LRU cache per backend keyed by the request
 * key (a hit costs a fifth of a miss), and hedging driven by the strategy's own hooks, the way
 * the proxy uses them: `hedgeDelayMs` when the first attempt is sent, `tryHedge` when the timer
 * fires, first response wins, the loser is cancelled (dropped from the queue, or its worker
 * finishes the now useless work), `onHedgeResult`. It runs the real strategy code through
 * ActiveStrategy on a ManualClock; everything is seeded.
 *
 * Not the project's simulator (src/sim): just enough to compare strategies in a test.
 */
import type { StrategyName } from '../../src/config/schema.js';
import type { Backend, InflightEntry } from '../../src/pool/backend.js';
import { SeededRandom } from '../../src/util/random.js';
import { PickContext } from '../../src/strategies/types.js';
import { Driver, setup } from './helpers.js';

export interface SimBackend {
  workers: number;
  /** Median service time of a miss, ms. */
  serviceMs: number;
}

export interface SimOptions {
  strategy: StrategyName;
  backends: SimBackend[];
  /** Requests per second. */
  rate: number;
  durationMs: number;
  /** Lognormal shape of service times. */
  sigma?: number;
  /** Stalls per second per backend, and how long each lasts. */
  stallsPerSecond?: number;
  stallMs?: number;
  /** Keys drawn from Zipf(s) over this many keys; none when 0. */
  keys?: number;
  zipfS?: number;
  /** LRU entries per backend (0: no cache). */
  cacheSize?: number;
  config?: Record<string, unknown>;
  seed?: number;
}

export interface SimResult {
  latencies: Float64Array;
  p50: number;
  p99: number;
  hitRate: number;
  hedges: number;
  /** Hedges by the backend of the first attempt. */
  hedgedFrom: number[];
  /** Attempts sent to a backend while it was stalled. */
  sentIntoStall: number;
  perBackend: number[];
  driver: Driver;
}

interface Attempt {
  req: Req;
  b: number;
  backend: Backend;
  entry: InflightEntry;
  ctx: PickContext;
  hedge: boolean;
  state: 'queued' | 'running' | 'done' | 'cancelled';
  finish: number;
  hit: boolean;
}

interface Req {
  arrival: number;
  key: string | undefined;
  ctx: PickContext;
  attempts: Attempt[];
  done: boolean;
}

/** Min-heap of events by time (then insertion order, for determinism). */
class Events {
  private heap: { t: number; seq: number; run: () => void }[] = [];
  private seq = 0;
  push(t: number, run: () => void): void {
    const h = this.heap;
    h.push({ t, seq: this.seq++, run });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }
  private less(a: { t: number; seq: number }, b: { t: number; seq: number }): boolean {
    return a.t < b.t || (a.t === b.t && a.seq < b.seq);
  }
  pop(): { t: number; run: () => void } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

class Lru {
  private map = new Map<string, true>();
  constructor(private readonly size: number) {}
  /** True on a hit; a miss inserts the key. */
  touch(key: string): boolean {
    if (this.size === 0) return false;
    if (this.map.delete(key)) {
      this.map.set(key, true);
      return true;
    }
    this.map.set(key, true);
    if (this.map.size > this.size) this.map.delete(this.map.keys().next().value!);
    return false;
  }
}

export function simulate(o: SimOptions): SimResult {
  const seed = o.seed ?? 1;
  const rng = new SeededRandom(seed * 7 + 1);
  const s = setup(o.backends.map(() => 1), o.config ?? {}, seed);
  const d = new Driver(s, o.strategy);
  const strat = () => d.active.strategy;
  const clock = s.clock;
  const t0 = clock.now();
  const sigma = o.sigma ?? 0.5;
  const events = new Events();
  const n = o.backends.length;

  // Stall windows per backend, drawn up front.
  const stalls: [number, number][][] = o.backends.map(() => []);
  if ((o.stallsPerSecond ?? 0) > 0) {
    for (let i = 0; i < n; i++) {
      let t = t0;
      for (;;) {
        t += (-Math.log(1 - rng.next()) / o.stallsPerSecond!) * 1000;
        if (t > t0 + o.durationMs) break;
        stalls[i]!.push([t, t + (o.stallMs ?? 300)]);
      }
    }
  }
  /** When work of `service` ms started at `start` on backend i ends, stalls included. */
  const finishTime = (i: number, start: number, service: number): number => {
    let t = start;
    let left = service;
    for (const [a, b] of stalls[i]!) {
      if (b <= t) continue;
      if (a <= t) {
        t = b;
        continue;
      }
      if (a < t + left) {
        left -= a - t;
        t = b;
      } else break;
    }
    return t + left;
  };

  const normal = () => {
    const u = 1 - rng.next();
    const v = rng.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const caches = o.backends.map(() => new Lru(o.cacheSize ?? 0));
  const queues: Attempt[][] = o.backends.map(() => []);
  const busy = o.backends.map(() => 0);
  const latencies: number[] = [];
  const perBackend = new Array<number>(n).fill(0);
  let hits = 0;
  let lookups = 0;
  let hedges = 0;
  let sentIntoStall = 0;
  const hedgedFrom = new Array<number>(n).fill(0);
  const stalled = (i: number, t: number): boolean => stalls[i]!.some(([a, b]) => a <= t && t < b);

  // Zipf sampler.
  const keyCount = o.keys ?? 0;
  const cdf = new Float64Array(keyCount);
  let zsum = 0;
  for (let i = 0; i < keyCount; i++) cdf[i] = zsum += 1 / (i + 1) ** (o.zipfS ?? 1);
  const nextKey = (): string | undefined => {
    if (keyCount === 0) return undefined;
    const u = rng.next() * zsum;
    let lo = 0;
    let hi = keyCount - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return `item${lo}`;
  };

  const startWork = (i: number): void => {
    while (busy[i]! < o.backends[i]!.workers && queues[i]!.length > 0) {
      const a = queues[i]!.shift()!;
      busy[i]!++;
      a.state = 'running';
      const key = a.req.key;
      a.hit = key !== undefined && caches[i]!.touch(key);
      const base = o.backends[i]!.serviceMs * Math.exp(sigma * normal());
      const service = a.hit ? base / 5 : base;
      a.finish = finishTime(i, clock.now(), service);
      events.push(a.finish, () => finish(a));
    }
  };

  const finish = (a: Attempt): void => {
    clock.set(a.finish);
    busy[a.b]!--;
    if (a.state === 'running') {
      a.state = 'done';
      const req = a.req;
      const cache = strat().responseHeader;
      if (cache !== undefined && a.req.key !== undefined) strat().onResponseHeader?.(a.backend, a.hit ? 'HIT' : 'MISS');
      if (a.req.key !== undefined) {
        lookups++;
        if (a.hit) hits++;
      }
      d.active.ended(a.backend, a.entry, { kind: 'ok', status: 200, latencyMs: clock.now() - a.entry.startedAt }, a.ctx);
      if (!req.done) {
        req.done = true;
        latencies.push(clock.now() - req.arrival);
        perBackend[a.b]!++;
        // Cancel the other attempts of this request.
        for (const other of req.attempts) {
          if (other === a || other.state === 'done' || other.state === 'cancelled') continue;
          if (other.state === 'queued') {
            const q = queues[other.b]!;
            q.splice(q.indexOf(other), 1);
          }
          other.state = 'cancelled';
          d.active.ended(other.backend, other.entry, { kind: 'cancelled', status: 0, latencyMs: clock.now() - other.entry.startedAt }, other.ctx);
        }
        if (req.attempts.length > 1) strat().onHedgeResult?.(a.hedge);
      }
    }
    startWork(a.b);
  };

  const send = (req: Req, hedge: boolean): boolean => {
    const b = d.active.pick(req.ctx);
    if (b === undefined) return false;
    const i = b.port - 9000;
    const entry: InflightEntry = { startedAt: clock.now(), inflightPrev: null, inflightNext: null };
    // As the proxy does: the attempt's index, its backend on ctx.tried, then started.
    req.ctx.attempt = req.ctx.tried.length;
    req.ctx.tried.push(b);
    d.active.started(b, entry, req.ctx);
    const a: Attempt = { req, b: i, backend: b, entry, ctx: req.ctx, hedge, state: 'queued', finish: 0, hit: false };
    req.attempts.push(a);
    if (stalled(i, clock.now())) sentIntoStall++;
    queues[i]!.push(a);
    startWork(i);
    return true;
  };

  const arrive = (): void => {
    const ctx = new PickContext();
    const req: Req = { arrival: clock.now(), key: nextKey(), ctx, attempts: [], done: false };
    ctx.key = req.key;
    if (!send(req, false)) return;
    const delay = strat().hedgeDelayMs?.(ctx) ?? -1;
    if (delay >= 0) {
      events.push(clock.now() + delay, () => {
        if (req.done) return;
        if (!strat().tryHedge!(ctx)) return;
        ctx.hedge = true;
        if (send(req, true)) {
          hedges++;
          hedgedFrom[req.attempts[0]!.b]!++;
        }
        ctx.hedge = false;
      });
    }
  };

  // Arrivals.
  let t = t0;
  for (;;) {
    t += (-Math.log(1 - rng.next()) / o.rate) * 1000;
    if (t > t0 + o.durationMs) break;
    events.push(t, arrive);
  }
  for (let e = events.pop(); e !== undefined; e = events.pop()) {
    clock.set(e.t);
    e.run();
  }

  const sorted = Float64Array.from(latencies).sort();
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
  return { latencies: sorted, p50: q(0.5), p99: q(0.99), hitRate: lookups === 0 ? 0 : hits / lookups, hedges, hedgedFrom, sentIntoStall, perBackend, driver: d };
}
