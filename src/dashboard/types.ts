/**
 * The shapes the dashboard reads from the admin API (src/admin/views.ts builds them). Only
 * the fields the page uses are listed; strategy metrics stay open records, so strategies that
 * land later show up without a change here.
 */

export interface Status {
  running: boolean;
  strategy: string;
  total_servers: number;
  healthy_servers: number;
  available_servers: number;
  uptime_seconds: number;
  mode: string;
  strategies: string[];
  /** Event loops proxying (absent from an older balancer). */
  workers?: { count: number; up: number; restarts: number; listener: string };
}

export interface RecentRequest {
  timestamp: number;
  server: string | null;
  success: boolean;
  duration_ms: number;
  status: number;
  client: string;
}

export interface Performance {
  total_requests: number;
  successful_requests: number;
  failed_requests: number;
  active_connections: number;
  success_rate: number;
  avg_response_time_ms: number;
  requests_per_minute: number;
  requests_per_second: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  retries: number;
  failovers: number;
  hedges_sent: number;
  hedges_won: number;
  rejected: Record<string, number>;
  server_request_counts: Record<string, number>;
  recent_requests: RecentRequest[];
}

export type ServerState = 'up' | 'down' | 'ejected' | 'disabled' | 'warming' | 'removed';

export interface Server {
  host: string;
  port: number;
  name: string;
  address: string;
  healthy: boolean;
  connections: number;
  failures: number;
  manually_disabled: boolean;
  status: string;
  state: ServerState;
  weight: number;
  inflight: number;
  requests: number;
  requests_per_second: number;
  avg_response_time_ms: number;
  p50_ms: number;
  p99_ms: number;
  ejected_for_ms: number;
  health?: Record<string, unknown>;
}

export interface Point {
  rps: number;
  errors: number;
  p50: number | null;
  p99: number | null;
}

export interface Snapshot {
  timestamp: number;
  status: Status;
  performance: Performance;
  servers: Server[];
  point: { t: number | null; global: Point; servers: Record<string, Point> };
  algorithm: { strategy: string; servers: Record<string, unknown>[]; global: Record<string, unknown> | null };
}

export interface Series {
  rps: number[];
  errors: number[];
  p50: (number | null)[];
  p99: (number | null)[];
}

export interface History {
  step_s: number;
  t: number[];
  global: Series;
  servers: Record<string, Series>;
}

export interface StrategyList {
  strategy: string;
  strategies: string[];
  summaries?: Record<string, string>;
}
