/**
 * The load engine: `runLoad` drives one target with a closed or an open loop and returns what
 * it measured. The CLI, the admin API's worker thread and the benchmark all call this.
 *
 * Closed loop: C slots each send, wait for the response, send again (wrk's model). Open loop:
 * starts follow a seeded arrival schedule (Poisson or constant); a slot takes the next arrival,
 * waits for its time and sends. When every slot is busy an arrival is taken late and its
 * latency still counts from its scheduled start, so queueing shows instead of being omitted
 * (wrk2's "intended start"; Gil Tene, "How NOT to Measure Latency"). A start may go out up to
 * 1 ms early rather than sleep through the timer's granularity; then latency counts from the
 * actual send, never crediting the request with time it did not wait.
 *
 * Arrivals and keys are drawn in the order requests are claimed, one claim at a time, so one
 * seed gives one sequence of (start time, key) whatever the responses do.
 */
import type { Dispatcher } from 'undici';
import { systemClock, type Clock } from '../util/clock.js';
import { SeededRandom, entropySeed } from '../util/random.js';
import { ArrivalSchedule } from './arrivals.js';
import { createPool, errorCode, isTimeout, RequestSlot } from './client.js';
import { LoadStats } from './stats.js';
import type { Arrivals, LoadHooks, LoadOptions, LoadProgress, LoadResult, OpenLoopReport } from './types.js';
import { MAX_KEYS, ZipfKeys } from './zipf.js';

/** Upper bounds on what one run may ask for. */
export const LIMITS = {
  connections: 10_000,
  rate: 1_000_000,
  durationS: 86_400,
  timeoutMs: 3_600_000,
  keys: MAX_KEYS,
} as const;

/** A start this much later than scheduled means the connections could not keep up. */
const LAG_WARN_MS = 100;
/** The achieved open-loop rate must be within this fraction of the schedule. */
const RATE_TOLERANCE = 0.05;

/** Options that cannot run, with a message naming the option. */
export class LoadOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadOptionsError';
  }
}

/** Options resolved to concrete values, defaults applied. */
export interface LoadPlan {
  url: URL;
  method: string;
  /** undici header list: name, value, name, value, ... */
  headers: string[];
  body: Buffer | null;
  mode: 'closed' | 'open';
  connections: number;
  requests: number | null;
  durationS: number | null;
  rate: number | null;
  arrivals: Arrivals;
  keys: number | null;
  zipf: number | null;
  timeoutMs: number;
  newConnection: boolean;
  seed: number;
  progressIntervalMs: number;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new LoadOptionsError(message);
}

function positive(name: string, v: number | undefined, max: number, integer: boolean): void {
  if (v === undefined) return;
  check(typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= max && (!integer || Number.isInteger(v)), `${name} must be ${integer ? 'an integer' : 'a number'} in (0, ${max}], got ${String(v)}`);
}

/**
 * Open loop default: enough connections for 200 ms per request at the rate (Little's law),
 * so Poisson bursts on a 50 ms service rarely wait for a connection; idle ones cost little.
 */
export function defaultOpenLoopConnections(rate: number): number {
  return Math.min(1000, Math.max(32, Math.ceil(rate / 5)));
}

/** Validates options and applies defaults; throws LoadOptionsError naming the bad option. */
export function planLoad(o: LoadOptions): LoadPlan {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new LoadOptionsError(`url: not a valid URL: "${o.url}"`);
  }
  check(url.protocol === 'http:' || url.protocol === 'https:', `url: only http: and https: are supported, got "${url.protocol}"`);
  positive('connections', o.connections, LIMITS.connections, true);
  positive('requests', o.requests, Number.MAX_SAFE_INTEGER, true);
  positive('duration', o.durationS, LIMITS.durationS, false);
  positive('rate', o.rate, LIMITS.rate, false);
  positive('timeout', o.timeoutMs, LIMITS.timeoutMs, false);
  positive('keys', o.keys, LIMITS.keys, true);
  positive('progress interval', o.progressIntervalMs, 3_600_000, false);
  check(o.zipf === undefined || (Number.isFinite(o.zipf) && o.zipf >= 0 && o.zipf <= 10), `zipf must be a number in [0, 10], got ${String(o.zipf)}`);
  check(o.zipf === undefined || o.keys !== undefined, 'zipf needs keys');
  check(o.arrivals === undefined || o.arrivals === 'poisson' || o.arrivals === 'constant', `arrivals must be poisson or constant, got ${String(o.arrivals)}`);
  check(o.arrivals === undefined || o.rate !== undefined, 'arrivals needs rate (open loop)');
  check(o.seed === undefined || (Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= 0xffffffff), `seed must be an integer in [0, 4294967295], got ${String(o.seed)}`);
  const method = (o.method ?? 'GET').toUpperCase();
  check(/^[A-Z]+$/.test(method), `method: not an HTTP method: "${o.method}"`);
  const headers: string[] = [];
  for (const [name, value] of o.headers ?? []) {
    check(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name), `header: bad name "${name}"`);
    check(!/[\r\n]/.test(value), `header ${name}: value may not contain a line break`);
    headers.push(name, value);
  }

  const mode = o.rate === undefined ? 'closed' : 'open';
  const requests = o.requests ?? null;
  const durationS = o.durationS ?? (requests === null ? 10 : null);
  let connections = o.connections ?? (mode === 'open' ? defaultOpenLoopConnections(o.rate!) : 10);
  if (requests !== null && connections > requests) connections = requests;
  return {
    url,
    method,
    headers,
    body: o.body === undefined ? null : Buffer.from(o.body),
    mode,
    connections,
    requests,
    durationS,
    rate: o.rate ?? null,
    arrivals: o.arrivals ?? 'poisson',
    keys: o.keys ?? null,
    zipf: o.keys === undefined ? null : (o.zipf ?? 1),
    timeoutMs: o.timeoutMs ?? 10_000,
    newConnection: o.newConnection ?? false,
    seed: o.seed ?? entropySeed(),
    progressIntervalMs: o.progressIntervalMs ?? 250,
  };
}

/** Builds each request's dispatch options; shares one object when nothing varies per request. */
class RequestMaker {
  private readonly fixed: Dispatcher.DispatchOptions;
  private readonly prefix: string;
  private readonly search: string;
  private readonly zipf: ZipfKeys | null;

  constructor(private readonly plan: LoadPlan) {
    const { url } = plan;
    this.fixed = {
      path: url.pathname + url.search,
      method: plan.method,
      headers: plan.headers,
      body: plan.body,
      reset: plan.newConnection,
    };
    this.prefix = url.pathname.endsWith('/') ? url.pathname : url.pathname + '/';
    this.search = url.search;
    // A stream of its own, so keys do not shift when the arrival process changes.
    this.zipf = plan.keys === null ? null : new ZipfKeys(plan.keys, plan.zipf!, new SeededRandom((plan.seed + 0x9e3779b9) >>> 0));
  }

  next(): Dispatcher.DispatchOptions {
    if (this.zipf === null) return this.fixed;
    const key = `key-${this.zipf.next()}`;
    return {
      path: this.prefix + key + this.search,
      method: this.plan.method,
      headers: [...this.plan.headers, 'x-key', key],
      body: this.plan.body,
      reset: this.plan.newConnection,
    };
  }
}

/**
 * Runs one load test and resolves with its result. Rejects only on bad options
 * (LoadOptionsError); failed requests are results, not errors.
 */
export async function runLoad(options: LoadOptions, hooks: LoadHooks = {}): Promise<LoadResult> {
  const plan = planLoad(options);
  // Real time only: the run sleeps on real timers and talks to real sockets.
  return new LoadRun(plan, hooks, systemClock).run();
}

class LoadRun {
  private readonly stats = new LoadStats();
  private readonly maker: RequestMaker;
  private readonly schedule: ArrivalSchedule | null;
  private readonly startMs: number;
  private readonly deadlineMs: number;
  private claimed = 0;
  private sent = 0;
  /** Set by the signal: no new starts. */
  private stopped = false;
  /** Set when the arrival schedule passes the deadline. */
  private exhausted = false;
  private lastSendMs: number;
  private lastIntendedMs: number;
  private lastEndMs: number;
  private maxLagMs = 0;
  private maxBusyLagMs = 0;
  /** Sleeping open-loop slots, woken early on abort. */
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();

  constructor(
    private readonly plan: LoadPlan,
    private readonly hooks: LoadHooks,
    private readonly clock: Clock,
  ) {
    this.maker = new RequestMaker(plan);
    this.startMs = clock.now();
    this.lastSendMs = this.lastIntendedMs = this.lastEndMs = this.startMs;
    this.deadlineMs = plan.durationS === null ? Infinity : this.startMs + plan.durationS * 1000;
    this.schedule = plan.rate === null ? null : new ArrivalSchedule(plan.rate, plan.arrivals, new SeededRandom(plan.seed), this.startMs);
  }

  async run(): Promise<LoadResult> {
    const { plan, hooks } = this;
    const pool = createPool(plan.url.origin, plan.connections, plan.timeoutMs);
    const slots = Array.from({ length: plan.connections }, () => new RequestSlot(pool));

    const onAbort = (): void => this.stop();
    if (hooks.signal?.aborted) this.stopped = true;
    hooks.signal?.addEventListener('abort', onAbort, { once: true });

    // One sweep finds requests past their timeout: cheaper than a timer per request.
    const sweepMs = Math.min(100, Math.max(5, plan.timeoutMs / 10));
    const sweep = setInterval(() => {
      const now = this.clock.now();
      for (const s of slots) if (s.inflight && now - s.sentMs >= plan.timeoutMs) s.expire();
    }, sweepMs);
    const onProgress = hooks.onProgress;
    const progress = onProgress === undefined ? null : setInterval(() => onProgress(this.progress()), plan.progressIntervalMs);

    try {
      await Promise.all(slots.map((s) => (this.schedule === null ? this.closedLoop(s) : this.openLoop(s))));
    } finally {
      clearInterval(sweep);
      if (progress !== null) clearInterval(progress);
      hooks.signal?.removeEventListener('abort', onAbort);
      await pool.destroy().catch(() => {});
    }
    onProgress?.(this.progress());
    const result = this.result();
    this.stats.destroy();
    return result;
  }

  private stop(): void {
    this.stopped = true;
    for (const s of this.sleepers) {
      clearTimeout(s.timer);
      s.wake();
    }
    this.sleepers.clear();
  }

  private async closedLoop(slot: RequestSlot): Promise<void> {
    const { plan, clock } = this;
    for (;;) {
      if (this.stopped || (plan.requests !== null && this.claimed >= plan.requests)) return;
      const now = clock.now();
      if (now >= this.deadlineMs) return;
      this.claimed++;
      const opts = this.maker.next();
      this.sent++;
      this.lastSendMs = now;
      await slot.send(opts, now, now);
      this.record(slot);
    }
  }

  private async openLoop(slot: RequestSlot): Promise<void> {
    const { plan, clock } = this;
    const schedule = this.schedule!;
    for (;;) {
      if (this.stopped || this.exhausted || (plan.requests !== null && this.claimed >= plan.requests)) return;
      const intended = schedule.next();
      if (intended >= this.deadlineMs) {
        this.exhausted = true;
        return;
      }
      this.claimed++;
      const opts = this.maker.next();
      let now = clock.now();
      // Late already when a slot came free: every connection was busy until now.
      const busyLag = now - intended;
      if (busyLag > this.maxBusyLagMs) this.maxBusyLagMs = busyLag;
      // Sleep while more than 1 ms early: timers cannot do better than a millisecond.
      while (intended - now > 1 && !this.stopped) {
        await this.sleep(intended - now);
        now = clock.now();
      }
      if (this.stopped) return;
      // Any lateness beyond busyLag is the event loop waking us late (CPU starved, GC).
      const lag = now - intended;
      if (lag > this.maxLagMs) this.maxLagMs = lag;
      this.sent++;
      if (now > this.lastSendMs) this.lastSendMs = now;
      if (intended > this.lastIntendedMs) this.lastIntendedMs = intended;
      await slot.send(opts, Math.min(intended, now), now);
      this.record(slot);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleepers.delete(entry);
          resolve();
        }, Math.floor(ms)),
        wake: resolve,
      };
      this.sleepers.add(entry);
    });
  }

  private record(slot: RequestSlot): void {
    const end = this.clock.now();
    if (end > this.lastEndMs) this.lastEndMs = end;
    const latency = end - slot.startMs;
    const err = slot.error;
    if (err === null) this.stats.response(slot.status, latency, slot.backend, slot.cache);
    else if (isTimeout(err)) this.stats.timedOut(latency);
    else this.stats.connectionError(errorCode(err));
  }

  private progress(): LoadProgress {
    const { plan, stats } = this;
    const elapsedS = (this.clock.now() - this.startMs) / 1000;
    const done = stats.done;
    let fraction = 0;
    if (plan.requests !== null) fraction = done / plan.requests;
    if (plan.durationS !== null) fraction = Math.max(fraction, elapsedS / plan.durationS);
    return {
      done,
      succeeded: stats.succeeded,
      failed: stats.failed,
      inflight: this.sent - done,
      elapsedS,
      total: plan.requests,
      durationS: plan.durationS,
      fraction: Math.min(1, fraction),
      cacheHits: stats.cacheHits,
      cacheMisses: stats.cacheMisses,
    };
  }

  private result(): LoadResult {
    const { plan, stats } = this;
    const durationMs = this.lastEndMs - this.startMs;
    const perS = (n: number): number => (durationMs > 0 ? Math.round((n / durationMs) * 1000 * 100) / 100 : 0);
    const warnings: string[] = [];
    let openLoop: OpenLoopReport | null = null;
    if (plan.rate !== null) {
      openLoop = this.openLoopReport(plan.rate);
      if (openLoop.achievedRate < openLoop.scheduledRate * (1 - RATE_TOLERANCE)) {
        warnings.push(`open-loop rate not held: target ${plan.rate} req/s, achieved ${openLoop.achievedRate} req/s`);
      }
      if (openLoop.maxStartLagMs >= LAG_WARN_MS) {
        const why =
          this.maxBusyLagMs >= LAG_WARN_MS
            ? `because all ${plan.connections} connections were busy (raise --connections, or the target is saturated)`
            : 'because this process was starved of CPU (timers fired late)';
        warnings.push(`open-loop starts fell behind the schedule by up to ${Math.round(openLoop.maxStartLagMs)} ms ${why}; the latency of those requests includes the wait`);
      }
    }
    if (this.sent > 0 && stats.connection === this.sent) warnings.push(`every request failed to connect (${Object.keys(stats.errorCodeCounts()).join(', ')}): is the target up?`);
    if (this.stopped) warnings.push('stopped early: the figures cover the requests sent before the stop');
    return {
      url: plan.url.href,
      method: plan.method,
      mode: plan.mode,
      connections: plan.connections,
      keys: plan.keys,
      zipf: plan.zipf,
      seed: plan.seed,
      aborted: this.stopped,
      sent: this.sent,
      succeeded: stats.succeeded,
      failed: stats.failures(),
      durationS: Math.round(durationMs) / 1000,
      throughput: perS(stats.done),
      goodput: perS(stats.succeeded),
      latencyMs: stats.latencySummary(),
      latencyBuckets: stats.latencyBuckets(),
      statusCodes: stats.statusCodes(),
      errorCodes: stats.errorCodeCounts(),
      backends: stats.backendShares(),
      cache: stats.cacheCounts(),
      openLoop,
      warnings,
    };
  }

  private openLoopReport(target: number): OpenLoopReport {
    const n = this.sent;
    const base = { targetRate: target, arrivals: this.plan.arrivals, maxStartLagMs: Math.round(this.maxLagMs * 1000) / 1000 };
    if (n < 2) return { ...base, achievedRate: 0, scheduledRate: 0, held: n > 0 && this.maxLagMs < LAG_WARN_MS };
    // n starts span n - 1 gaps; compare with the gaps the schedule itself drew, so Poisson noise
    // in a short run is not mistaken for the tester falling behind.
    const sendSpan = Math.max(this.lastSendMs - this.startMs, 1e-3);
    const scheduleSpan = Math.max(this.lastIntendedMs - this.startMs, 1e-3);
    const achieved = ((n - 1) / sendSpan) * 1000;
    const scheduled = ((n - 1) / scheduleSpan) * 1000;
    const held = achieved >= scheduled * (1 - RATE_TOLERANCE) && this.maxLagMs < LAG_WARN_MS;
    return { ...base, achievedRate: Math.round(achieved * 100) / 100, scheduledRate: Math.round(scheduled * 100) / 100, held };
  }
}
