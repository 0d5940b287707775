/**
 * The admin API's fields for the load tester (TestRunner in admin.ts uses them): the request bodies of `POST /api/load-test` and
 * `POST /api/stress-test` (the original project's fields and defaults, with caps) and the reply
 * fields its users' scripts read, plus percentiles, failure kinds and a latency histogram for
 * the dashboard.
 *
 * load:   {"requests": 50, "concurrent": 10}  -> closed loop, that many requests
 * stress: {"duration": 30, "concurrent": 50}  -> closed loop, that many seconds
 */
import type { LoadOptions, LoadResult } from './types.js';

export type TestKind = 'load_test' | 'stress_test';

export interface TestCaps {
  maxRequests: number;
  maxDurationS: number;
  maxConcurrent: number;
}

export const DEFAULT_CAPS: TestCaps = { maxRequests: 100_000, maxDurationS: 300, maxConcurrent: 1000 };

export type ParsedBody = { ok: true; options: Omit<LoadOptions, 'url'> } | { ok: false; error: string };

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** Checks a request body against the defaults and caps. Unknown fields are ignored. */
export function parseTestBody(kind: TestKind, body: unknown, caps: TestCaps = DEFAULT_CAPS): ParsedBody {
  if (body === undefined || body === null) body = {};
  if (typeof body !== 'object' || Array.isArray(body)) return { ok: false, error: 'the body must be a JSON object' };
  const b = body as Record<string, unknown>;
  const concurrent = b['concurrent'] ?? (kind === 'load_test' ? 10 : 50);
  if (!isInt(concurrent, 1, caps.maxConcurrent)) return { ok: false, error: `concurrent must be an integer from 1 to ${caps.maxConcurrent}` };
  if (kind === 'load_test') {
    const requests = b['requests'] ?? 50;
    if (!isInt(requests, 1, caps.maxRequests)) return { ok: false, error: `requests must be an integer from 1 to ${caps.maxRequests}` };
    return { ok: true, options: { requests, connections: Math.min(concurrent, requests) } };
  }
  const duration = b['duration'] ?? 30;
  if (typeof duration !== 'number' || !Number.isFinite(duration) || duration <= 0 || duration > caps.maxDurationS) {
    return { ok: false, error: `duration must be a number of seconds above 0 and at most ${caps.maxDurationS}` };
  }
  return { ok: true, options: { durationS: duration, connections: concurrent } };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Fields both replies share beyond the original ones. */
function extras(r: LoadResult): Record<string, unknown> {
  return {
    p50_response_time: r.latencyMs.p50,
    p90_response_time: r.latencyMs.p90,
    p99_response_time: r.latencyMs.p99,
    p999_response_time: r.latencyMs.p999,
    failures: {
      http_4xx: r.failed.http4xx,
      http_5xx: r.failed.http5xx,
      timeout: r.failed.timeout,
      connection: r.failed.connection,
    },
    status_codes: r.statusCodes,
    server_distribution: Object.fromEntries(r.backends.map((b) => [b.backend, b.count])),
    latency_histogram: r.latencyBuckets.map((b) => ({ le_ms: b.leMs, count: b.count })),
    warnings: r.warnings,
  };
}

/** The reply of `POST /api/load-test`. Times in ms, duration in s. */
export function loadTestReply(r: LoadResult): Record<string, unknown> {
  return {
    test_type: 'load_test',
    total_requests: r.sent,
    successful: r.succeeded,
    failed: r.failed.total,
    avg_response_time: r.latencyMs.mean,
    min_response_time: r.latencyMs.min,
    max_response_time: r.latencyMs.max,
    duration: r.durationS,
    requests_per_second: r.throughput,
    ...extras(r),
  };
}

/** The reply of `POST /api/stress-test`. success_rate is a percentage, as the original had it. */
export function stressTestReply(r: LoadResult): Record<string, unknown> {
  return {
    test_type: 'stress_test',
    duration: r.durationS,
    concurrent_users: r.connections,
    total_requests: r.sent,
    successful: r.succeeded,
    failed: r.failed.total,
    avg_response_time: r.latencyMs.mean,
    min_response_time: r.latencyMs.min,
    max_response_time: r.latencyMs.max,
    requests_per_second: r.throughput,
    success_rate: r.sent > 0 ? round2((r.succeeded / r.sent) * 100) : 0,
    ...extras(r),
  };
}
