/**
 * The load tester's public shapes: what a run is asked to do and what it reports. The CLI, the
 * admin API's worker and the benchmark all speak these, so they are plain data (they cross a
 * worker_threads boundary by structured clone: no functions, no class instances).
 */

export type Arrivals = 'poisson' | 'constant';

/** One load run. Closed loop when `rate` is absent, open loop when it is set. */
export interface LoadOptions {
  /** Target, `http:` or `https:`; its path and query are sent (with the key inserted, see `keys`). */
  url: string;
  method?: string;
  /** Extra request headers, in order. */
  headers?: Array<[string, string]>;
  body?: string;
  /**
   * Closed loop: the number of concurrent requests (each on its own keep-alive connection).
   * Open loop: the most connections used; arrivals that find them all busy wait, and that wait
   * counts in their latency. Default 10 closed; open loop enough for 200 ms per request at the
   * rate (rate / 5, at least 32, at most 1000).
   */
  connections?: number;
  /** Stop after this many requests. */
  requests?: number;
  /** Stop starting requests after this many seconds. Default 10 when neither is given. */
  durationS?: number;
  /** Open loop: requests per second, started on a schedule whatever the responses do. */
  rate?: number;
  /** Open loop: gaps between starts are exponential (poisson) or equal (constant). Default poisson. */
  arrivals?: Arrivals;
  /** Send one of this many keys (`key-0` ... `key-(K-1)`) as `X-Key` and as the last path segment. */
  keys?: number;
  /** Zipf exponent of the key popularity: 0 uniform, 1 classic skew. Default 1 when `keys` is set. */
  zipf?: number;
  /** Per request, from its send to the end of the body. Default 10000 ms. */
  timeoutMs?: number;
  /** Open a fresh connection for every request (`Connection: close`) instead of keep-alive. */
  newConnection?: boolean;
  /** Seeds arrivals and keys, so two runs with one seed send the same sequence. Default random. */
  seed?: number;
  /** How often `onProgress` is called. Default 250 ms. */
  progressIntervalMs?: number;
}

/** What `runLoad` calls back with while running (at most every `progressIntervalMs`). */
export interface LoadProgress {
  /** Requests finished (any outcome). */
  done: number;
  succeeded: number;
  failed: number;
  inflight: number;
  elapsedS: number;
  /** `requests` if the run is bounded by count, else null. */
  total: number | null;
  /** `durationS` if the run is bounded by time, else null. */
  durationS: number | null;
  /** 0..1, whichever bound is nearer. */
  fraction: number;
  /** Responses so far with `X-Cache: HIT` / `MISS` (the bench splits hit rates by phase with these). */
  cacheHits: number;
  cacheMisses: number;
}

export interface LoadHooks {
  onProgress?: (p: LoadProgress) => void;
  /** Aborting stops new requests; in-flight ones finish (within the timeout) and are counted. */
  signal?: AbortSignal;
}

/** Latency figures in milliseconds. */
export interface LatencySummary {
  /** Number of values: responses of any status plus timeouts (connection errors are not timed). */
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface FailureCounts {
  total: number;
  /** Responses with status 400-499. */
  http4xx: number;
  /** Responses with status 500-599. */
  http5xx: number;
  /** No complete response within the timeout (connect timeouts included). */
  timeout: number;
  /** Refused, reset, closed early, or any other transport error. */
  connection: number;
  /** A status outside 200-599 (an HTTP/1.0 server answering 1xx as final, say). */
  otherStatus: number;
}

export interface BackendShare {
  /** The `X-Backend` header value, `(none)` for responses without one. */
  backend: string;
  count: number;
  /** count / all responses. */
  share: number;
}

/** Cache verdicts seen in `X-Cache` response headers (the demo backends' cache simulation). */
export interface CacheCounts {
  /** Responses with `X-Cache: HIT`. */
  hits: number;
  /** Responses with `X-Cache: MISS`. */
  misses: number;
  /** hits / (hits + misses). */
  hitRate: number;
}

/** Latency histogram bucket for charts: values <= leMs (the last bucket has leMs null, +inf). */
export interface LatencyBucket {
  leMs: number | null;
  count: number;
}

export interface OpenLoopReport {
  targetRate: number;
  arrivals: Arrivals;
  /** Requests started per second over the sending window. */
  achievedRate: number;
  /** The rate of the schedule actually drawn (Poisson draws wander from the target in short runs). */
  scheduledRate: number;
  /** achievedRate is within 5% of scheduledRate and no start was 100 ms or more behind its schedule. */
  held: boolean;
  /** How late the latest start was compared with its schedule (waiting for a free connection). */
  maxStartLagMs: number;
}

export interface LoadResult {
  url: string;
  method: string;
  mode: 'closed' | 'open';
  connections: number;
  keys: number | null;
  zipf: number | null;
  seed: number;
  /** True when the run was stopped early by its signal. */
  aborted: boolean;
  /** Requests started; every one ends as succeeded or one failure kind, so sent = succeeded + failed.total. */
  sent: number;
  /** 2xx and 3xx responses. */
  succeeded: number;
  failed: FailureCounts;
  /** From the first start to the last end, seconds. */
  durationS: number;
  /** Requests finished per second (any outcome). */
  throughput: number;
  /** Succeeded per second. */
  goodput: number;
  latencyMs: LatencySummary;
  latencyBuckets: LatencyBucket[];
  /** Response counts by status code, e.g. {"200": 990, "503": 10}. */
  statusCodes: Record<string, number>;
  /** Transport error codes seen (ECONNREFUSED, UND_ERR_SOCKET, ...), at most 32 distinct. */
  errorCodes: Record<string, number>;
  /** Share per `X-Backend`, largest first; at most 256 distinct names, the rest as `(other)`. */
  backends: BackendShare[];
  /** Cache hits and misses from `X-Cache`; absent or null when no response carried the header. */
  cache?: CacheCounts | null;
  /** Open loop only. */
  openLoop: OpenLoopReport | null;
  /** Things the reader must know, e.g. that the open-loop rate was not held. */
  warnings: string[];
}

export type RampKind = 'connections' | 'rate';

/** A stress run: load steps of rising concurrency (or rate) until a threshold is crossed. */
export interface StressOptions extends Omit<LoadOptions, 'connections' | 'rate' | 'requests' | 'durationS'> {
  /** What rises per step. Default connections (closed loop); rate runs open-loop steps. */
  ramp?: RampKind;
  /** First level. Default 10 connections or 100 req/s. */
  start?: number;
  /** Added per step. Default equal to start. */
  step?: number;
  /** Last level tried. Default 500 connections or 10000 req/s. */
  max?: number;
  /** Seconds per step. Default 5. */
  stepDurationS?: number;
  /** A step fails when more than this fraction of requests fail. Default 0.01. */
  maxErrorRate?: number;
  /** A step fails when its p99 latency is above this, ms. Default 1000. */
  maxP99Ms?: number;
  /** Rate ramp: connections per step (default from the rate as in `LoadOptions.connections`). */
  connections?: number;
}

export interface StressStep {
  /** Connections or requests/s of this step. */
  level: number;
  held: boolean;
  /** Why the step failed, when it did. */
  reason: string | null;
  result: LoadResult;
}

export interface StressResult {
  ramp: RampKind;
  /** Step i ran with seed + i. */
  seed: number;
  maxErrorRate: number;
  maxP99Ms: number;
  steps: StressStep[];
  /** The highest step that held, null if even the first failed. */
  knee: StressStep | null;
  /** Why the ramp stopped: a failed step's reason, `reached max`, or `aborted`. */
  stoppedBy: string;
}

export interface StressProgress {
  step: number;
  level: number;
  load: LoadProgress;
}

export interface StressHooks {
  onProgress?: (p: StressProgress) => void;
  onStep?: (s: StressStep) => void;
  signal?: AbortSignal;
}
