/**
 * The discrete-event simulator: one scenario, one strategy, one seed.
 *
 * It runs the real balancing code on virtual time: the strategy from the registry behind an
 * ActiveStrategy, the real Pool (in-flight lists, peak-EWMA latency, failure history), the
 * real attempt race (src/balancer/race.ts: failover, retries and their budget, hedging, in the
 * order the HTTP proxy runs them, since it is the same code) and the real outlier detector
 * (src/health/outlier.ts), all reading a ManualClock that the engine moves from event to event.
 * Only the network, the servers and the active health checks (a fixed detection delay per
 * event) are simulated. Every attempt goes through ActiveStrategy.started / ended exactly once,
 * as in the proxy. Not modelled: the proxy's per-backend connection limit and queue
 * (limits.maxConnectionsPerBackend, off by default) and request or response bodies.
 *
 * Random streams are separate and seeded from the run's seed: arrivals and keys (so every
 * strategy faces the same requests at the same instants), service times, and the strategy's
 * own. The same seed gives the same result bit for bit.
 *
 * Cost: a request is a handful of heap operations (O(log pending)) plus the strategy's pick.
 * Requests, attempts and their InflightEntry are pooled objects, events are numbers in typed
 * arrays (src/sim/event-queue.ts), and per-attempt timeouts, all of the same length, expire in
 * start order, so they sit in a FIFO ring instead of the heap.
 */
import { parseConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Backend, InflightEntry, Outcome, OutcomeKind } from '../pool/backend.js';
import { OutlierDetector } from '../health/outlier.js';
import { Pool } from '../pool/pool.js';
import { AttemptPolicy } from '../balancer/policy.js';
import { AttemptRace, type RaceEnv, type RaceLoss, type RacePort } from '../balancer/race.js';
import { ActiveStrategy } from '../strategies/active.js';
import { requestPolicy } from '../strategies/registry.js';
import type { PickContext } from '../strategies/types.js';
import { ManualClock } from '../util/clock.js';
import { SeededRandom } from '../util/random.js';
import { makeArrivals } from './arrivals.js';
import { makeSampler } from './distributions.js';
import { EventQueue } from './event-queue.js';
import type { Scenario } from './scenario.js';
import { SimServer } from './server.js';
import { ZipfSampler } from './zipf.js';
import { LoadReport } from '../orca/report.js';

const EV_COMPLETE = 1; // ref: attempt; service finished (or a pause moved it: check the work clock)
const EV_HEDGE = 2; // ref: request; its hedge timer
const EV_REFUSED = 3; // ref: attempt; the connection to a dead server fails
const EV_TIMELINE = 4; // ref: index in scenario.events
const EV_DETECT = 5; // ref: server id; gen 0: health checks see it down, 1: up
const EV_SWEEP = 6; // the earliest outlier ejection expires

/** Key strings are made once per key up to this many keys (beyond, one string per request). */
const KEY_NAME_CACHE = 1 << 20;
/** A run stops with an error past this many events per request (a bug, not a workload). */
const MAX_EVENTS_PER_REQUEST = 1_000;

/** A simulated request: its attempt race, and the race's port onto the simulation. */
class SimRequest implements RacePort<SimAttempt> {
  readonly race: AttemptRace<SimAttempt>;
  gen = 0;
  arrival = 0;
  keyId = -1;
  constructor(
    readonly index: number,
    private readonly sim: Simulation,
    env: RaceEnv,
  ) {
    this.race = new AttemptRace(this, env);
  }
  get ctx(): PickContext {
    return this.race.ctx;
  }
  create(b: Backend, hedge: boolean): SimAttempt {
    return this.sim.createAttempt(this, b, hedge);
  }
  send(a: SimAttempt): void {
    this.sim.sendAttempt(a);
  }
  abort(): void {
    // The server learns nothing (as a real backend would not); a queued copy is dropped when
    // the scenario says so (cancelQueued), once it reaches the head of its server's queue.
  }
  released(a: SimAttempt): void {
    this.sim.attemptReleased(a);
  }
  armHedge(delayMs: number): void {
    this.sim.armHedge(this, delayMs);
  }
  disarmHedge(): void {
    // A stale hedge event finds the race decided (or the request's generation moved on).
  }
  wait(): boolean {
    return false; // connection limits are not modelled
  }
  lost(_reason: RaceLoss): void {
    this.sim.finish(this, false);
  }
  retried(_b: Backend, decision: 'failover' | 'retry'): void {
    this.sim.countRetry(decision);
  }
  hedgeSent(): void {
    this.sim.countHedge(false);
  }
  hedgeWon(): void {
    this.sim.countHedge(true);
  }
}

class SimAttempt implements InflightEntry {
  startedAt = 0;
  inflightPrev: InflightEntry | null = null;
  inflightNext: InflightEntry | null = null;
  gen = 0;
  free = true;
  req: SimRequest | null = null;
  backend!: Backend;
  server: SimServer<SimAttempt> | null = null;
  keyId = -1;
  hedge = false;
  /** The proxy is done with it (answered, failed or cancelled; set by the race); the pool's entry is released. */
  ended = true;
  headersAt = 0;
  readonly outcome: Outcome = { kind: 'ok', status: 0, latencyMs: 0 };
  /** The server is done with it (served, dropped from its queue, refused, or it died). */
  serverDone = true;
  inService = false;
  /** Index in its server's in-service list. */
  slot = -1;
  workEnd = 0;
  hit = false;
  constructor(readonly index: number) {}
}

export interface ServerResult {
  name: string;
  /** Attempts that reached it (hedges and retries included). */
  attempts: number;
  share: number;
  /** Cache hit rate (0..1), null without a cache. */
  hitRate: number | null;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
}

/**
 * A part of the run delimited by the scenario's events: `before` the first, `during` from the
 * first to the last (absent when they coincide), `after` the last. Requests and losses are
 * counted by arrival time, cache lookups when service starts.
 */
export interface PhaseResult {
  phase: 'before' | 'during' | 'after';
  fromMs: number;
  toMs: number;
  requests: number;
  /** Requests that got no answer. */
  failed: number;
  /** Cache hits over lookups in the phase (0..1), null without a cache. */
  hitRate: number | null;
}

export interface RunResult {
  scenario: string;
  strategy: string;
  seed: number;
  requests: number;
  /** Answered requests; `failed` got no answer (no backend, or the last attempt failed). */
  completed: number;
  failed: number;
  /** Client-side latency of answered requests, from arrival to response, in ms. */
  latency: LatencySummary;
  /** Mean time attempts waited in server queues before service started, ms. */
  meanQueueWaitMs: number;
  attempts: number;
  hedges: number;
  hedgesWon: number;
  retries: number;
  failovers: number;
  retriesDenied: number;
  /** Passive ejections (outlier detection) during the run. */
  ejections: number;
  cancelled: number;
  timeouts: number;
  resets: number;
  refused: number;
  /** Attempts beyond one per request, as a percentage of requests; split into hedges and retries (failovers included). */
  extraLoadPercent: number;
  hedgePercent: number;
  retryPercent: number;
  /** Server cache hits over lookups (0..1), null without a cache. */
  cacheHitRate: number | null;
  /** Attempts of the busiest server over the mean per server (1 = perfectly even). */
  maxAvgLoad: number;
  servers: ServerResult[];
  /** By phase of the scenario's timeline; empty without events. */
  phases: PhaseResult[];
  simulatedMs: number;
  events: number;
}

export interface RunOptions {
  seed: number;
  /** Called after every attempt start (pool counters updated); tests check load bounds with it. */
  onAttemptStart?: (b: Backend, ctx: PickContext, pool: Pool) => void;
}

/** Independent seeds for the run's random streams. */
function streamSeed(seed: number, stream: number): number {
  let z = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Nearest-rank percentile of a sorted array. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function simulatedConfig(scenario: Scenario): Config {
  return parseConfig({ ...scenario.config, servers: serverSpecs(scenario) }, `scenario "${scenario.name}" config`);
}

function serverSpecs(scenario: Scenario): { host: string; port: number; weight: number; name: string }[] {
  const specs = [];
  for (let i = 0; i < scenario.servers; i++) {
    let weight = 1;
    for (const o of scenario.overrides) if (o.server === i && o.weight !== undefined) weight = o.weight;
    specs.push({ host: 'sim', port: i + 1, weight, name: `s${i}` });
  }
  return specs;
}

export class Simulation {
  private readonly clock = new ManualClock(0);
  private readonly pool: Pool;
  /** The running strategy (tests reach it to observe or script it). */
  readonly active: ActiveStrategy;
  private readonly policy: AttemptPolicy;
  private readonly outlier: OutlierDetector;
  /** Time of the pending EV_SWEEP, Infinity when none. */
  private sweepAt = Infinity;
  private readonly queue = new EventQueue(4096);
  private readonly servers: SimServer<SimAttempt>[] = [];
  private nextPort: number;

  private readonly arrivalRandom: SeededRandom;
  private readonly serviceRandom: SeededRandom;
  private readonly sampler;
  private readonly zipf: ZipfSampler | null;
  private readonly keyNames: (string | undefined)[] = [];

  private readonly requests: SimRequest[] = [];
  private readonly freeRequests: SimRequest[] = [];
  private readonly attempts: SimAttempt[] = [];
  private readonly freeAttempts: SimAttempt[] = [];
  private readonly inService: SimAttempt[][] = [];

  // Timeouts: attempts in start order with their generation (a FIFO ring).
  private toRing: (SimAttempt | null)[] = new Array<SimAttempt | null>(1024).fill(null);
  private toGens = new Int32Array(1024);
  private toHead = 0;
  private toCount = 0;

  private readonly raceEnv: RaceEnv;

  private latencies: Float64Array;
  private completed = 0;
  private failed = 0;
  private totalAttempts = 0;
  private firstAttempts = 0;
  private hedges = 0;
  private hedgesWon = 0;
  private retries = 0;
  private failovers = 0;
  private cancelled = 0;
  private timeouts = 0;
  private resets = 0;
  private refused = 0;
  private queueWaitSum = 0;
  private serviceStarts = 0;
  private events = 0;

  private readonly timeoutMs: number;
  private readonly connectFailMs: number;
  private readonly cancelQueued: boolean;
  private readonly idempotentShare: number;
  private readonly stallP: number;
  private readonly stallMs: number;
  private readonly pauseP: number;
  private readonly pauseMs: number;
  private readonly missPenaltyMs: number;
  private readonly cacheCapacity: number | null;
  private readonly reportLoad: boolean;
  /** Times of the first and last timeline event (Infinity without events); phase counters by index. */
  private firstEventMs = Infinity;
  private lastEventMs = Infinity;
  private readonly phaseRequests = [0, 0, 0];
  private readonly phaseFailed = [0, 0, 0];
  private readonly phaseLookups = [0, 0, 0];
  private readonly phaseHits = [0, 0, 0];
  /** Reused for every simulated load report (the strategy copies what it keeps). */
  private readonly loadReport = new LoadReport();

  constructor(
    private readonly scenario: Scenario,
    readonly strategyName: string,
    private readonly options: RunOptions,
  ) {
    const seed = options.seed >>> 0;
    const config = simulatedConfig(scenario);
    const specs = serverSpecs(scenario);
    this.nextPort = specs.length + 1;
    this.pool = new Pool(specs, { clock: this.clock, startHealthy: true });
    this.active = new ActiveStrategy(this.pool, this.clock, new SeededRandom(streamSeed(seed, 3)), config, strategyName as Config['strategy']);
    this.policy = new AttemptPolicy(config.retries, this.clock);
    // Passive health checks as the app wires them. Active checks are modelled by the events'
    // detectMs, so an ejected backend returns when its backoff ends (swept on virtual time).
    this.outlier = new OutlierDetector(this.pool, config.outlierDetection, { clock: this.clock, activeChecks: false, autoSweep: false });
    this.active.addObserver(this.outlier.observe);
    this.pool.onChange(() => this.armSweep());
    this.arrivalRandom = new SeededRandom(streamSeed(seed, 1));
    this.serviceRandom = new SeededRandom(streamSeed(seed, 2));
    this.sampler = makeSampler(scenario.service);
    this.zipf = scenario.keys === null ? null : new ZipfSampler(scenario.keys.count, scenario.keys.zipf);
    this.cacheCapacity = scenario.cache === null ? null : scenario.cache.capacity;
    this.missPenaltyMs = scenario.cache === null ? 0 : scenario.cache.missPenaltyMs;
    this.timeoutMs = config.timeouts.responseHeadersMs;
    const clock = this.clock;
    this.raceEnv = {
      active: this.active,
      policy: this.policy,
      now: () => clock.now(),
      settings: { maxConnectionsPerBackend: 0, maxHedgeBodyBytes: requestPolicy(config).maxHedgeBodyBytes },
    };
    this.connectFailMs = scenario.proxy.connectFailMs;
    this.cancelQueued = scenario.proxy.cancelQueued;
    this.idempotentShare = scenario.proxy.idempotentShare;
    this.stallP = scenario.stall.probability;
    this.stallMs = scenario.stall.ms;
    this.pauseP = scenario.pause.probability;
    this.pauseMs = scenario.pause.ms;
    this.reportLoad = scenario.loadReports !== 'off';
    for (const b of this.pool.backends) {
      let slots = scenario.slots;
      let factor = 1;
      for (const o of scenario.overrides) {
        if (o.server !== b.port - 1) continue;
        if (o.slots !== undefined) slots = o.slots;
        if (o.factor !== undefined) factor = o.factor;
      }
      this.addServer(b, slots, factor);
    }
    this.latencies = new Float64Array(scenario.requests);
  }

  private addServer(b: Backend, slots: number, factor: number): void {
    this.servers[b.id] = new SimServer<SimAttempt>(b, slots, factor, this.cacheCapacity, this.clock.now());
    this.inService[b.id] = [];
  }

  run(): RunResult {
    const sc = this.scenario;
    const durationMs = (sc.requests / sc.rate) * 1000;
    sc.events.forEach((e, i) => this.queue.push(e.at * durationMs, EV_TIMELINE, i, 0));
    if (sc.events.length > 0) {
      this.firstEventMs = Math.min(...sc.events.map((e) => e.at * durationMs));
      this.lastEventMs = Math.max(...sc.events.map((e) => e.at * durationMs));
    }
    const arrivals = makeArrivals(sc.arrivals, sc.rate, this.arrivalRandom);
    let left = sc.requests;
    let nextArrival = arrivals.next(0);
    const maxEvents = MAX_EVENTS_PER_REQUEST * sc.requests + 10_000;
    const queue = this.queue;
    const clock = this.clock;
    for (;;) {
      const th = queue.peekTime();
      // Most attempts end long before their timeout: drop those entries without an event.
      while (this.toCount > 0 && (this.toRing[this.toHead]!.gen !== this.toGens[this.toHead] || this.toRing[this.toHead]!.ended)) {
        this.popTimeout();
      }
      const tt = this.toCount > 0 ? this.toRing[this.toHead]!.startedAt + this.timeoutMs : Infinity;
      const ta = left > 0 ? nextArrival : Infinity;
      if (th === Infinity && tt === Infinity && ta === Infinity) break;
      if (++this.events > maxEvents) throw new Error(`simulation: more than ${maxEvents} events; stopping (a bug in the model)`);
      if (th <= tt && th <= ta) {
        queue.pop();
        clock.set(queue.time);
        this.dispatch(queue.kind, queue.ref, queue.gen, queue.time);
      } else if (tt <= ta) {
        clock.set(tt);
        this.expireTimeout(tt);
      } else {
        clock.set(ta);
        this.arrive(ta);
        if (--left > 0) nextArrival = arrivals.next(ta);
      }
    }
    return this.result();
  }

  private dispatch(kind: number, ref: number, gen: number, t: number): void {
    switch (kind) {
      case EV_COMPLETE: {
        const a = this.attempts[ref]!;
        if (a.gen === gen && a.inService) this.complete(a, t);
        break;
      }
      case EV_HEDGE: {
        const req = this.requests[ref]!;
        if (req.gen === gen) req.race.hedgeDue();
        break;
      }
      case EV_REFUSED: {
        const a = this.attempts[ref]!;
        if (a.gen === gen && !a.ended) {
          this.refused++;
          this.fail(a, 'connect');
        }
        break;
      }
      case EV_TIMELINE:
        this.timeline(ref, t);
        break;
      case EV_SWEEP:
        if (t === this.sweepAt) {
          this.sweepAt = Infinity;
          this.outlier.sweep(t);
          this.armSweep();
        }
        break;
      case EV_DETECT: {
        const s = this.servers[ref]!;
        if (s.backend.removed) break;
        if (gen === 0 && !s.alive) this.pool.setHealthy(s.backend, false);
        if (gen === 1 && s.alive) this.pool.setHealthy(s.backend, true);
        break;
      }
    }
  }

  /** Schedules a sweep at the earliest ejection expiry (ejections are rare: a scan is fine). */
  private armSweep(): void {
    let earliest = Infinity;
    for (const b of this.pool.backends) if (b.ejectedUntil !== 0 && b.ejectedUntil < earliest) earliest = b.ejectedUntil;
    if (earliest < this.sweepAt) {
      this.sweepAt = earliest;
      this.queue.push(earliest, EV_SWEEP, 0, 0);
    }
  }

  // --- requests ---------------------------------------------------------------------------

  private keyName(id: number): string {
    if (id >= KEY_NAME_CACHE) return `k${id}`;
    let name = this.keyNames[id];
    if (name === undefined) {
      name = `k${id}`;
      this.keyNames[id] = name;
    }
    return name;
  }

  /** 0 before the first event, 1 between the first and the last, 2 from the last on. */
  private phaseOf(t: number): number {
    return t < this.firstEventMs ? 0 : t < this.lastEventMs ? 1 : 2;
  }

  private arrive(t: number): void {
    const req = this.freeRequests.pop() ?? this.newRequest();
    req.arrival = t;
    this.phaseRequests[this.phaseOf(t)]!++;
    const race = req.race;
    race.reset();
    // Drawn from the arrival stream, so all strategies see the same keys and methods.
    if (this.zipf !== null) {
      req.keyId = this.zipf.sample(this.arrivalRandom);
      race.ctx.key = this.keyName(req.keyId);
    } else {
      req.keyId = -1;
    }
    race.idempotent = this.idempotentShare >= 1 || this.arrivalRandom.next() < this.idempotentShare;
    // Requests carry no body here: replayable, and whole from the start.
    race.start();
  }

  private newRequest(): SimRequest {
    const r = new SimRequest(this.requests.length, this, this.raceEnv);
    this.requests.push(r);
    return r;
  }

  private newAttempt(): SimAttempt {
    const a = new SimAttempt(this.attempts.length);
    this.attempts.push(a);
    return a;
  }

  /** @internal RacePort.create: a pooled attempt of `req` on `b`. */
  createAttempt(req: SimRequest, b: Backend, hedge: boolean): SimAttempt {
    const a = this.freeAttempts.pop() ?? this.newAttempt();
    if (req.race.attempts === 0) this.firstAttempts++;
    a.free = false;
    a.req = req;
    a.backend = b;
    a.server = this.servers[b.id]!;
    a.keyId = req.keyId;
    a.hedge = hedge;
    a.ended = false;
    a.headersAt = 0;
    a.outcome.status = 0;
    a.serverDone = false;
    a.inService = false;
    a.hit = false;
    return a;
  }

  /** @internal RacePort.send: the server gets the attempt (the pool and strategy already know). */
  sendAttempt(a: SimAttempt): void {
    const s = a.server!;
    const req = a.req!;
    const t = this.clock.now();
    this.totalAttempts++;
    s.attempts++;
    this.options.onAttemptStart?.(a.backend, req.ctx, this.pool);
    this.pushTimeout(a);
    if (!s.alive) {
      a.serverDone = true;
      this.queue.push(t + this.connectFailMs, EV_REFUSED, a.index, a.gen);
    } else if (s.busy < s.slots) {
      this.startService(s, a, t);
    } else {
      s.enqueue(a);
    }
    // As the HTTP proxy does when a whole request's first attempt is sent: arm the hedge timer.
    if (!a.hedge) req.race.requestComplete(0);
  }

  /** @internal RacePort.armHedge. */
  armHedge(req: SimRequest, delayMs: number): void {
    this.queue.push(this.clock.now() + delayMs, EV_HEDGE, req.index, req.gen);
  }

  /** @internal RacePort.released: the race reported the attempt's outcome. */
  attemptReleased(a: SimAttempt): void {
    if (a.outcome.kind === 'cancelled') this.cancelled++;
    this.release(a);
  }

  /** @internal */
  countRetry(decision: 'failover' | 'retry'): void {
    if (decision === 'failover') this.failovers++;
    else this.retries++;
  }

  /** @internal */
  countHedge(won: boolean): void {
    if (won) this.hedgesWon++;
    else this.hedges++;
  }

  /** Response headers arrived for `a`: it wins (the race cancels the other), and is answered at once. */
  private respond(a: SimAttempt, t: number): void {
    const req = a.req!;
    const race = req.race;
    if (!race.won(a)) return;
    // The order the HTTP proxy follows, as the race settled it: loser cancelled, hedge result,
    // then the response's headers, and the winner's own outcome last (there, when its body
    // completes; here, at once).
    const strategy = this.active.strategy;
    if (strategy.responseHeader !== undefined && a.keyId >= 0 && this.cacheCapacity !== null) {
      strategy.onResponseHeader?.(a.backend, a.hit ? 'HIT' : 'MISS');
    }
    // The server's load report rides on the response, read where the proxy reads it.
    if (this.reportLoad) this.active.loadReported(a.backend, a.server!.load.report(t, this.loadReport));
    a.outcome.status = 200;
    race.finished(a, 'ok');
    this.finish(req, true, t);
  }

  /** The attempt `a` failed with `kind`: the race fails over, retries or gives up. */
  private fail(a: SimAttempt, kind: OutcomeKind): void {
    a.req!.race.failed(a, kind);
  }

  /** @internal The request is over: answered (`ok`) or lost. */
  finish(req: SimRequest, ok: boolean, t = this.clock.now()): void {
    if (ok) this.latencies[this.completed++] = t - req.arrival;
    else {
      this.failed++;
      this.phaseFailed[this.phaseOf(req.arrival)]!++;
    }
    // Stale hedge timers of this request see a new generation.
    req.gen++;
    this.freeRequests.push(req);
  }

  /** Returns an attempt to the pool once neither the proxy nor its server holds it. */
  private release(a: SimAttempt): void {
    if (a.free || !a.ended || !a.serverDone) return;
    a.free = true;
    a.gen++;
    a.req = null;
    a.server = null;
    this.freeAttempts.push(a);
  }

  // --- timeouts ---------------------------------------------------------------------------

  private pushTimeout(a: SimAttempt): void {
    if (this.toCount === this.toRing.length) {
      const n = this.toRing.length * 2;
      const ring = new Array<SimAttempt | null>(n).fill(null);
      const gens = new Int32Array(n);
      for (let i = 0; i < this.toCount; i++) {
        const j = (this.toHead + i) % this.toRing.length;
        ring[i] = this.toRing[j]!;
        gens[i] = this.toGens[j]!;
      }
      this.toRing = ring;
      this.toGens = gens;
      this.toHead = 0;
    }
    const j = (this.toHead + this.toCount) % this.toRing.length;
    this.toRing[j] = a;
    this.toGens[j] = a.gen;
    this.toCount++;
  }

  private popTimeout(): void {
    this.toRing[this.toHead] = null;
    this.toHead = this.toHead + 1 === this.toRing.length ? 0 : this.toHead + 1;
    this.toCount--;
  }

  /** The oldest attempt's timeout expired (the main loop dropped finished ones first). */
  private expireTimeout(t: number): void {
    const a = this.toRing[this.toHead]!;
    this.popTimeout();
    this.timeouts++;
    // The server keeps working on it (it does not know); a queued copy is dropped if configured.
    this.fail(a, 'timeout');
  }

  // --- servers ----------------------------------------------------------------------------

  private startService(s: SimServer<SimAttempt>, a: SimAttempt, t: number): void {
    const random = this.serviceRandom;
    s.busy++;
    a.inService = true;
    const list = this.inService[s.backend.id]!;
    a.slot = list.length;
    list.push(a);
    let work = this.sampler.sample(random) * s.factor;
    if (this.stallP > 0 && random.next() < this.stallP) work += this.stallMs;
    if (s.cache !== null && a.keyId >= 0) {
      s.lookups++;
      a.hit = s.cache.access(a.keyId);
      const phase = this.phaseOf(t);
      this.phaseLookups[phase]!++;
      if (a.hit) {
        s.hits++;
        this.phaseHits[phase]!++;
      }
      else work += this.missPenaltyMs;
    }
    if (this.pauseP > 0 && random.next() < this.pauseP) s.pause(t, this.pauseMs);
    a.workEnd = s.workAt(t) + work;
    s.load.begin(t);
    this.queueWaitSum += t - a.startedAt;
    this.serviceStarts++;
    this.queue.push(s.completionTime(a.workEnd, t), EV_COMPLETE, a.index, a.gen);
  }

  private removeInService(s: SimServer<SimAttempt>, a: SimAttempt): void {
    const list = this.inService[s.backend.id]!;
    const last = list.pop()!;
    if (last !== a) {
      list[a.slot] = last;
      last.slot = a.slot;
    }
    a.slot = -1;
    a.inService = false;
  }

  private complete(a: SimAttempt, t: number): void {
    const s = a.server!;
    // A pause started during service: the work is not done yet.
    if (a.workEnd - s.workAt(t) > 1e-6) {
      this.queue.push(s.completionTime(a.workEnd, t), EV_COMPLETE, a.index, a.gen);
      return;
    }
    this.removeInService(s, a);
    a.serverDone = true;
    s.busy--;
    s.load.end(t);
    this.startNext(s, t);
    if (!a.ended) this.respond(a, t);
    this.release(a);
  }

  private startNext(s: SimServer<SimAttempt>, t: number): void {
    while (s.busy < s.slots) {
      const next = s.dequeue();
      if (next === null) return;
      if (next.ended && this.cancelQueued) {
        next.serverDone = true;
        this.release(next);
        continue;
      }
      this.startService(s, next, t);
    }
  }

  private timeline(index: number, t: number): void {
    const e = this.scenario.events[index]!;
    switch (e.action) {
      case 'join':
        for (let i = 0; i < e.count; i++) {
          const port = this.nextPort++;
          const b = this.pool.add({ host: 'sim', port, weight: 1, name: `s${port - 1}` });
          this.addServer(b, this.scenario.slots, 1);
        }
        return;
      default:
        break;
    }
    const s = this.serverAt(e.server!);
    if (s === undefined) return;
    switch (e.action) {
      case 'die':
        if (s.alive) this.die(s, t, e.detectMs);
        break;
      case 'revive':
        if (!s.alive) {
          s.alive = true;
          s.restart(t);
          this.queue.push(t + e.detectMs, EV_DETECT, s.backend.id, 1);
        }
        break;
      case 'leave':
        this.pool.remove(s.backend);
        break;
      case 'slow':
        s.factor = e.factor!;
        break;
    }
  }

  /** The server by its scenario index (0-based, in the order servers were created). */
  private serverAt(index: number): SimServer<SimAttempt> | undefined {
    for (const s of this.servers) if (s !== undefined && s.backend.port === index + 1) return s;
    return undefined;
  }

  /** The process dies: connections refused from now on, everything it held is reset. */
  private die(s: SimServer<SimAttempt>, t: number, detectMs: number): void {
    s.alive = false;
    const victims: SimAttempt[] = [];
    const list = this.inService[s.backend.id]!;
    for (const a of list) {
      a.inService = false;
      a.slot = -1;
      victims.push(a);
    }
    list.length = 0;
    s.drain((a) => victims.push(a));
    s.restart(t);
    for (const a of victims) a.serverDone = true;
    for (const a of victims) {
      if (a.ended) this.release(a);
      else {
        this.resets++;
        this.fail(a, 'reset');
      }
    }
    this.queue.push(t + detectMs, EV_DETECT, s.backend.id, 0);
  }

  // --- results ----------------------------------------------------------------------------

  private result(): RunResult {
    const sc = this.scenario;
    const lat = this.latencies.subarray(0, this.completed);
    let sum = 0;
    for (let i = 0; i < lat.length; i++) sum += lat[i]!;
    lat.sort();
    const n = sc.requests;
    let lookups = 0;
    let hits = 0;
    let maxAttempts = 0;
    const servers: ServerResult[] = [];
    const list = this.servers.filter((s) => s !== undefined);
    for (const s of list) {
      lookups += s.lookups;
      hits += s.hits;
      if (s.attempts > maxAttempts) maxAttempts = s.attempts;
      servers.push({
        name: s.backend.name,
        attempts: s.attempts,
        share: this.totalAttempts === 0 ? 0 : s.attempts / this.totalAttempts,
        hitRate: s.cache === null ? null : s.lookups === 0 ? 0 : s.hits / s.lookups,
      });
    }
    const meanAttempts = this.totalAttempts / Math.max(1, list.length);
    return {
      scenario: sc.name,
      strategy: this.strategyName,
      seed: this.options.seed >>> 0,
      requests: n,
      completed: this.completed,
      failed: this.failed,
      latency: {
        p50: percentile(lat, 0.5),
        p90: percentile(lat, 0.9),
        p99: percentile(lat, 0.99),
        p999: percentile(lat, 0.999),
        mean: lat.length === 0 ? 0 : sum / lat.length,
        max: lat.length === 0 ? 0 : lat[lat.length - 1]!,
      },
      meanQueueWaitMs: this.serviceStarts === 0 ? 0 : this.queueWaitSum / this.serviceStarts,
      attempts: this.totalAttempts,
      hedges: this.hedges,
      hedgesWon: this.hedgesWon,
      retries: this.retries,
      failovers: this.failovers,
      retriesDenied: this.policy.retriesDenied,
      ejections: this.outlier.counters.ejections,
      cancelled: this.cancelled,
      timeouts: this.timeouts,
      resets: this.resets,
      refused: this.refused,
      extraLoadPercent: (100 * (this.totalAttempts - this.firstAttempts)) / n,
      hedgePercent: (100 * this.hedges) / n,
      retryPercent: (100 * (this.retries + this.failovers)) / n,
      cacheHitRate: sc.cache === null ? null : lookups === 0 ? 0 : hits / lookups,
      maxAvgLoad: meanAttempts === 0 ? 0 : maxAttempts / meanAttempts,
      servers,
      phases: this.phaseResults(),
      simulatedMs: this.clock.now(),
      events: this.events,
    };
  }

  private phaseResults(): PhaseResult[] {
    if (this.firstEventMs === Infinity) return [];
    const bounds = [0, this.firstEventMs, this.lastEventMs, this.clock.now()];
    const names = ['before', 'during', 'after'] as const;
    const out: PhaseResult[] = [];
    for (let i = 0; i < 3; i++) {
      if (i === 1 && this.firstEventMs === this.lastEventMs) continue;
      const lookups = this.phaseLookups[i]!;
      out.push({
        phase: names[i]!,
        fromMs: bounds[i]!,
        toMs: Math.max(bounds[i]!, bounds[i + 1]!),
        requests: this.phaseRequests[i]!,
        failed: this.phaseFailed[i]!,
        hitRate: this.cacheCapacity === null ? null : lookups === 0 ? 0 : this.phaseHits[i]! / lookups,
      });
    }
    return out;
  }

  /** The answered requests' latencies, sorted (valid after `run`). */
  sortedLatencies(): Float64Array {
    return this.latencies.subarray(0, this.completed);
  }
}

/** Runs one strategy on one scenario. */
export function simulateOne(scenario: Scenario, strategy: string, options: RunOptions): RunResult {
  return new Simulation(scenario, strategy, options).run();
}
