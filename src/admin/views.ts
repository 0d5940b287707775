/**
 * The admin API's JSON documents, built from the running balancer on each request.
 *
 * Field names are the original Python project's (`running`, `total_servers`, `connections`,
 * `manually_disabled`, `success_rate`, `server_request_counts`...) so its users' scripts and
 * jq filters keep working; new fields are added beside them, never renamed. Latencies are in
 * milliseconds with `_ms` in the name, except `duration_s` in recent requests (original).
 */
import type { Backend } from '../pool/backend.js';
import { availableStrategies } from '../strategies/registry.js';
import { round3 } from '../stats/stats.js';
import type { AdminContext } from './context.js';
import { reportedLoadView } from '../orca/admin.js';

/** A backend's health as the dashboard shows it. `warming` comes from the strategy (beta1). */
export type ServerState = 'up' | 'down' | 'ejected' | 'disabled' | 'warming' | 'removed';

/** True while the backend passes its health checks and is not ejected (the original `healthy`). */
export function isHealthy(b: Backend): boolean {
  return b.healthy && b.ejectedUntil === 0 && !b.removed;
}

function uptimeSeconds(ctx: AdminContext): number {
  return round3(Math.max(0, Date.now() - ctx.startedAt) / 1000);
}

export function statusView(ctx: AdminContext) {
  const backends = ctx.pool.backends;
  let healthy = 0;
  for (const b of backends) if (isHealthy(b)) healthy++;
  return {
    running: true,
    strategy: ctx.active.name,
    total_servers: backends.length,
    healthy_servers: healthy,
    /** Backends taking new requests now: healthy, enabled, not ejected. */
    available_servers: ctx.pool.ready.length,
    /** Requests in flight to the backends now, open WebSocket tunnels included (one each). */
    inflight: ctx.pool.totalInflight,
    uptime_seconds: uptimeSeconds(ctx),
    mode: ctx.config().mode,
    strategies: availableStrategies(),
    /** Each server's last load report (ORCA endpoint-load-metrics), by address; null before its first. */
    reported_load: Object.fromEntries(backends.map((b) => [b.address, reportedLoadView(b.reported, ctx.pool.clock.now())])),
    /** Present when the servers come from etcd or DNS SRV: whether the store is reachable, the view in force. */
    ...(ctx.discovery === undefined ? {} : { discovery: ctx.discovery() }),
  };
}

/** The strategy's per-backend fields, or {} when it has none or they cannot be read. */
function serverMetricsOf(ctx: AdminContext, b: Backend): Record<string, unknown> {
  const s = ctx.active.strategy;
  if (s.serverMetrics === undefined) return {};
  try {
    return s.serverMetrics(b);
  } catch (err) {
    return { metrics_error: String((err as Error)?.message ?? err) };
  }
}

function globalMetricsOf(ctx: AdminContext): Record<string, unknown> | undefined {
  const s = ctx.active.strategy;
  if (s.globalMetrics === undefined) return undefined;
  try {
    return s.globalMetrics();
  } catch (err) {
    return { metrics_error: String((err as Error)?.message ?? err) };
  }
}

function stateOf(b: Backend, strategyFields: Record<string, unknown>): ServerState {
  const s = b.status;
  if (s === 'up' && strategyFields.is_warming_up === true) return 'warming';
  return s;
}

export function serverView(ctx: AdminContext, b: Backend) {
  const f = ctx.stats.backend(b);
  const strategyFields = serverMetricsOf(ctx, b);
  const now = ctx.pool.clock.now();
  const out: Record<string, unknown> = {
    host: b.host,
    port: b.port,
    healthy: isHealthy(b),
    connections: b.inflight,
    failures: b.totalFailures,
    manually_disabled: !b.enabled,
    name: b.name,
    address: b.address,
    status: b.status,
    state: stateOf(b, strategyFields),
    weight: b.weight,
    inflight: b.inflight,
    requests: f.total,
    successful_requests: f.successful,
    failed_requests: f.failed,
    requests_per_second: round3(f.requestsPerSecond),
    avg_response_time_ms: f.latency.avg_ms,
    p50_ms: f.latency.p50_ms,
    p90_ms: f.latency.p90_ms,
    p99_ms: f.latency.p99_ms,
    latency_ewma_ms: round3(b.latency.value(now)),
    consecutive_failures: b.consecutiveFailures,
    ejected_for_ms: b.ejectedUntil === 0 ? 0 : Math.max(0, Math.round(b.ejectedUntil - now)),
    reported_load: reportedLoadView(b.reported, now),
  };
  const health = ctx.health?.state(b);
  if (health !== undefined) out.health = health;
  return out;
}

export function serversView(ctx: AdminContext) {
  return { servers: ctx.pool.backends.map((b) => serverView(ctx, b)) };
}

export function performanceView(ctx: AdminContext, recentLimit = 10) {
  const stats = ctx.stats;
  const t = stats.totals();
  const l = stats.latency();
  const c = stats.counters();
  return {
    total_requests: t.total,
    successful_requests: t.successful,
    failed_requests: t.failed,
    active_connections: ctx.pool.totalInflight,
    uptime_seconds: uptimeSeconds(ctx),
    /** Percent, like the original; 0 before the first request. */
    success_rate: t.total === 0 ? 0 : round3((t.successful / t.total) * 100),
    avg_response_time_ms: l.avg_ms,
    requests_per_minute: round3(stats.requestsPerMinute()),
    requests_per_second: round3(stats.requestsPerSecond()),
    p50_ms: l.p50_ms,
    p90_ms: l.p90_ms,
    p99_ms: l.p99_ms,
    max_ms: l.max_ms,
    status_classes: t.statusClasses,
    retries: c.retries,
    failovers: c.failovers,
    hedges_sent: c.hedgesSent,
    hedges_won: c.hedgesWon,
    rejected: c.rejected,
    server_request_counts: stats.serverRequestCounts(),
    recent_requests: stats.recentRequests(recentLimit),
  };
}

export function requestsView(ctx: AdminContext, limit: number) {
  return {
    recent_requests: ctx.stats.recentRequests(limit),
    server_request_counts: ctx.stats.serverRequestCounts(),
    timestamp: Date.now() / 1000,
  };
}

export function realtimeView(ctx: AdminContext) {
  return {
    timestamp: Date.now() / 1000,
    status: statusView(ctx),
    performance: performanceView(ctx),
    servers: serversView(ctx).servers,
  };
}

export function algorithmMetricsView(ctx: AdminContext) {
  const name = ctx.active.name;
  const out: Record<string, unknown> = {
    strategy: name,
    servers: ctx.pool.backends.map((b) => ({
      host: b.host,
      port: b.port,
      healthy: isHealthy(b),
      connections: b.inflight,
      failures: b.totalFailures,
      ...serverMetricsOf(ctx, b),
    })),
  };
  const global = globalMetricsOf(ctx);
  if (global !== undefined) out[`${name}_global`] = global;
  return out;
}

/** Per-second chart data for the last `seconds` completed seconds, per backend by address. */
export function historyView(ctx: AdminContext, seconds: number) {
  const h = ctx.stats.history(seconds);
  const servers: Record<string, ReturnType<typeof ctx.stats.backendHistory>> = {};
  for (const b of ctx.pool.backends) servers[b.address] = ctx.stats.backendHistory(b, seconds);
  return { step_s: 1, t: h.t, global: h.global, servers };
}

/**
 * One server-sent event: everything the dashboard shows, once a second. `point` is the last
 * completed second, which the dashboard appends to the charts it loaded from /api/history.
 */
export function snapshotView(ctx: AdminContext) {
  const stats = ctx.stats;
  const last = stats.history(1);
  const point: Record<string, unknown> = { t: last.t[0] ?? null, global: pointAt(last.global), servers: {} };
  const pointServers = point.servers as Record<string, unknown>;
  const servers = ctx.pool.backends.map((b) => {
    pointServers[b.address] = pointAt(stats.backendHistory(b, 1));
    return serverView(ctx, b);
  });
  const algorithm = algorithmMetricsView(ctx);
  const global = algorithm[`${ctx.active.name}_global`];
  return {
    timestamp: Date.now() / 1000,
    status: statusView(ctx),
    performance: performanceView(ctx, 20),
    servers,
    point,
    algorithm: { strategy: algorithm.strategy, servers: algorithm.servers, global: global ?? null },
  };
}

function pointAt(p: { rps: number[]; errors: number[]; p50: (number | null)[]; p99: (number | null)[] }) {
  return { rps: p.rps[0] ?? 0, errors: p.errors[0] ?? 0, p50: p.p50[0] ?? null, p99: p.p99[0] ?? null };
}
