/**
 * GET /metrics: Prometheus text exposition via prom-client, on a registry of our own (never
 * the global default one, so several balancers in one process, as in tests, do not clash).
 *
 * Every Ballast metric is pulled at scrape time from the Stats object, the pool and the
 * running strategy (prom-client `collect` callbacks), so the proxy's hot path never touches
 * prom-client. The latency histogram is a small pull-only metric that renders the fixed
 * buckets Stats already counts per backend.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import { PROM_BUCKETS_MS } from '../stats/latency.js';
import { REJECT_REASONS, STATUS_CLASSES } from '../stats/stats.js';
import type { AdminContext } from './context.js';
import { isHealthy } from './views.js';

/** The label value for requests that no backend served. */
const NO_BACKEND = 'none';

/** Reads a numeric field of the running strategy's global metrics, if it has that field. */
function globalNumber(ctx: AdminContext, ...names: string[]): number | undefined {
  const g = ctx.active.strategy.globalMetrics?.();
  if (g === undefined) return undefined;
  for (const n of names) {
    const v = g[n];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

/** A histogram rendered from counts kept elsewhere (prom-client's own Histogram is push-only). */
class PullHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => { labels: Record<string, string>; counts: readonly number[]; sum: number; count: number }[],
  ) {}

  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const row of this.read()) {
      let cumulative = 0;
      for (let i = 0; i < PROM_BUCKETS_MS.length; i++) {
        cumulative += row.counts[i] ?? 0;
        values.push({ labels: { ...row.labels, le: PROM_BUCKETS_MS[i]! / 1000 }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      cumulative += row.counts[PROM_BUCKETS_MS.length] ?? 0;
      values.push({ labels: { ...row.labels, le: '+Inf' }, value: cumulative, metricName: `${this.name}_bucket` });
      values.push({ labels: row.labels, value: row.sum, metricName: `${this.name}_sum` });
      values.push({ labels: row.labels, value: row.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export function createMetricsRegistry(ctx: AdminContext): Registry {
  const registry = new Registry();
  const registers = [registry];
  const backends = () => ctx.pool.backends;

  new Counter({
    name: 'ballast_requests_total',
    help: 'Client requests (or TCP connections) finished, by backend and status class ("none": no status)',
    labelNames: ['backend', 'code'],
    registers,
    collect() {
      this.reset();
      const add = (label: string, classes: Record<string, number>) => {
        for (const code of STATUS_CLASSES) if (classes[code]! > 0) this.inc({ backend: label, code }, classes[code]!);
      };
      for (const b of backends()) add(b.name, ctx.stats.statusClassesOf(b));
      add(NO_BACKEND, ctx.stats.statusClassesOf(undefined));
    },
  });

  const latency = new PullHistogram('ballast_request_duration_seconds', 'Time from request received to response finished (or connection closed), by backend', () => {
    const rows = backends().map((b) => {
      const c = ctx.stats.buckets(b);
      return { labels: { backend: b.name }, counts: c.counts, sum: c.sumMs / 1000, count: c.count };
    });
    const none = ctx.stats.buckets(undefined);
    if (none.count > 0) rows.push({ labels: { backend: NO_BACKEND }, counts: none.counts, sum: none.sumMs / 1000, count: none.count });
    return rows;
  });
  registry.registerMetric(latency as unknown as Metric);

  const perBackendGauge = (name: string, help: string, value: (b: ReturnType<typeof backends>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of backends()) this.set({ backend: b.name }, value(b));
      },
    });
  perBackendGauge('ballast_backend_inflight', 'Requests in flight to the backend (hedges and retries included)', (b) => b.inflight);
  perBackendGauge('ballast_backend_up', '1 when the backend takes new requests (healthy, enabled, not ejected)', (b) => (b.ready ? 1 : 0));
  perBackendGauge('ballast_backend_healthy', '1 when the backend passes its health checks and is not ejected', (b) => (isHealthy(b) ? 1 : 0));
  perBackendGauge('ballast_backend_ejected', '1 while the backend is ejected by outlier detection', (b) => (b.ejectedUntil !== 0 ? 1 : 0));
  perBackendGauge('ballast_backend_enabled', '0 when an operator disabled the backend (API toggle)', (b) => (b.enabled ? 1 : 0));
  perBackendGauge('ballast_backend_weight', 'Configured weight of the backend', (b) => b.weight);

  // Load reports (ORCA): no sample for a backend that has not reported (an absent series, not a 0).
  const reportedGauge = (name: string, help: string, value: (b: ReturnType<typeof backends>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of backends()) {
          const v = b.reported.at === -Infinity ? -1 : value(b);
          if (v >= 0) this.set({ backend: b.name }, v);
        }
      },
    });
  reportedGauge('ballast_backend_reported_cpu_utilization', 'cpu_utilization of the backend\'s last load report (endpoint-load-metrics)', (b) => b.reported.latest.cpuUtilization);
  reportedGauge('ballast_backend_reported_rps', 'rps_fractional of the backend\'s last load report (endpoint-load-metrics)', (b) => b.reported.latest.rpsFractional);
  new Counter({
    name: 'ballast_backend_load_reports_total',
    help: 'Load reports (endpoint-load-metrics) per backend, by result: read, ignored (the binary form) or invalid',
    labelNames: ['backend', 'result'],
    registers,
    collect() {
      this.reset();
      for (const b of backends()) {
        const r = b.reported;
        if (r.received + r.ignored + r.invalid === 0) continue;
        this.inc({ backend: b.name, result: 'read' }, r.received);
        this.inc({ backend: b.name, result: 'ignored' }, r.ignored);
        this.inc({ backend: b.name, result: 'invalid' }, r.invalid);
      }
    },
  });

  new Counter({
    name: 'ballast_backend_failures_total',
    help: 'Failed attempts per backend (connect errors, resets, timeouts, counted 5xx)',
    labelNames: ['backend'],
    registers,
    collect() {
      this.reset();
      for (const b of backends()) this.inc({ backend: b.name }, b.totalFailures);
    },
  });

  new Counter({
    name: 'ballast_retries_total',
    help: 'Extra attempts after a failure: failover (connect failed, any method) or retry (idempotent, budgeted)',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      const c = ctx.stats.counters();
      this.inc({ kind: 'failover' }, c.failovers);
      this.inc({ kind: 'retry' }, c.retries);
    },
  });

  new Counter({
    name: 'ballast_hedges_sent_total',
    help: 'Hedged copies of slow requests sent (alpha1)',
    registers,
    collect() {
      this.reset();
      this.inc(ctx.stats.counters().hedgesSent);
    },
  });

  new Counter({
    name: 'ballast_hedges_won_total',
    help: 'Hedged copies whose response was the one used',
    registers,
    collect() {
      this.reset();
      this.inc(ctx.stats.counters().hedgesWon);
    },
  });

  new Counter({
    name: 'ballast_rejected_total',
    help: 'Requests or connections refused before reaching a backend, by reason',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      const r = ctx.stats.counters().rejected;
      for (const reason of REJECT_REASONS) this.inc({ reason }, r[reason]);
    },
  });

  // Strategy counters. They live in the strategy's own state, so they restart from 0 when the
  // strategy is switched; Prometheus' rate() treats that as a counter reset.
  new Counter({
    name: 'ballast_bounded_load_redirects_total',
    help: 'Requests sent past their preferred backend because it was at its bounded-load cap (beta1)',
    registers,
    collect() {
      this.reset();
      const v = globalNumber(ctx, 'bounded_load_redirects');
      if (v !== undefined) this.inc(v);
    },
  });
  new Counter({
    name: 'ballast_cache_hits_total',
    help: 'Backend responses reporting a cache hit (beta1, from the X-Cache header)',
    registers,
    collect() {
      this.reset();
      const v = globalNumber(ctx, 'cache_hits');
      if (v !== undefined) this.inc(v);
    },
  });
  new Counter({
    name: 'ballast_cache_misses_total',
    help: 'Backend responses reporting a cache miss (beta1, from the X-Cache header)',
    registers,
    collect() {
      this.reset();
      const v = globalNumber(ctx, 'cache_misses');
      if (v !== undefined) this.inc(v);
    },
  });

  new Gauge({
    name: 'ballast_strategy_info',
    help: 'The running balancing strategy (value always 1)',
    labelNames: ['strategy'],
    registers,
    collect() {
      this.reset();
      this.set({ strategy: ctx.active.name }, 1);
    },
  });

  new Gauge({
    name: 'ballast_uptime_seconds',
    help: 'Seconds since the balancer started',
    registers,
    collect() {
      this.set(Math.max(0, Date.now() - ctx.startedAt) / 1000);
    },
  });

  new Counter({
    name: 'ballast_connection_bytes_total',
    help: 'TCP mode: bytes relayed per backend, "in" from clients and "out" to them',
    labelNames: ['backend', 'direction'],
    registers,
    collect() {
      this.reset();
      for (const b of backends()) {
        const f = ctx.stats.backend(b);
        if (f.bytesIn + f.bytesOut === 0) continue;
        this.inc({ backend: b.name, direction: 'in' }, f.bytesIn);
        this.inc({ backend: b.name, direction: 'out' }, f.bytesOut);
      }
    },
  });

  const discovery = ctx.discovery;
  if (discovery !== undefined) {
    new Gauge({
      name: 'ballast_discovery_connected',
      help: 'Whether the discovery source (etcd or DNS SRV) is reachable now; 0: running on the last good view',
      labelNames: ['source'],
      registers,
      collect() {
        const s = discovery();
        this.reset();
        this.set({ source: s.source }, s.connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ballast_discovery_view_info',
      help: 'The discovered view this instance runs (1), by version: instances that agree show the same version',
      labelNames: ['source', 'version'],
      registers,
      collect() {
        const s = discovery();
        this.reset();
        if (s.applied !== null) this.set({ source: s.source, version: s.applied }, 1);
      },
    });
    new Gauge({
      name: 'ballast_discovery_view_age_seconds',
      help: 'Seconds since the discovery source last delivered a view (grows while it is unreachable)',
      labelNames: ['source'],
      registers,
      collect() {
        const s = discovery();
        this.reset();
        if (s.updatedAt !== null) this.set({ source: s.source }, Math.max(0, Date.now() - s.updatedAt) / 1000);
      },
    });
  }

  // Process metrics (CPU, memory, event-loop lag, GC) under their standard names.
  collectDefaultMetrics({ register: registry });
  return registry;
}
