/**
 * Test fixture: an admin server over a real pool, strategy and Stats, with a fake load-test
 * runner, on 127.0.0.1 port 0. Plus a raw HTTP client (node:http) so tests control every
 * header, Host and Origin included.
 */
import { request } from 'node:http';
import { parseConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import { Pool } from '../../src/pool/pool.js';
import { ActiveStrategy } from '../../src/strategies/active.js';
import { Stats } from '../../src/stats/stats.js';
import { systemClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { createAdminServer } from '../../src/admin/server.js';
import type { AdminContext, LoadTestKind, LoadTestRunner } from '../../src/admin/context.js';

export class FakeRunner implements LoadTestRunner {
  calls: { kind: LoadTestKind; body: unknown; targetUrl: string }[] = [];
  busy = false;
  start(kind: LoadTestKind, body: unknown, targetUrl: string): Promise<{ status: number; body: object }> {
    this.calls.push({ kind, body, targetUrl });
    if (this.busy) return Promise.resolve({ status: 409, body: { success: false, error: 'a test is already running' } });
    const b = body as Record<string, unknown>;
    if (typeof b.requests === 'number' && b.requests > 1000) return Promise.resolve({ status: 400, body: { error: 'requests above the cap of 1000' } });
    return Promise.resolve({
      status: 200,
      body: { test_type: kind, total_requests: 5, successful: 5, failed: 0, avg_response_time: 1, min_response_time: 1, max_response_time: 2, duration: 0.01, requests_per_second: 500 },
    });
  }
  progress(): object {
    return { running: this.busy, kind: this.busy ? 'load_test' : null };
  }
}

export interface Fixture {
  ctx: AdminContext;
  pool: Pool;
  stats: Stats;
  active: ActiveStrategy;
  runner: FakeRunner;
  base: string;
  port: number;
  warnings: string[];
  setConfig(c: ConfigInput): void;
  close(): Promise<void>;
}

export async function startFixture(extra: Partial<ConfigInput> = {}, ctxOverrides: Partial<AdminContext> = {}): Promise<Fixture> {
  const input: ConfigInput = {
    servers: [8081, 8082, 8083].map((port) => ({ host: '127.0.0.1', port })),
    admin: { host: '127.0.0.1', port: 0 },
    ...extra,
  };
  let config: Config = parseConfig(input);
  const pool = new Pool(config.servers, { clock: systemClock, startHealthy: true });
  const active = new ActiveStrategy(pool, systemClock, new SeededRandom(1), config, config.strategy);
  const stats = new Stats({ clock: systemClock });
  const runner = new FakeRunner();
  const warnings: string[] = [];
  const ctx: AdminContext = {
    config: () => config,
    pool,
    active,
    stats,
    startedAt: Date.now() - 5000,
    proxyUrl: 'http://127.0.0.1:8080',
    toggleServer(host, port) {
      const b = pool.find(host, port);
      if (b === undefined) return undefined;
      pool.setEnabled(b, !b.enabled);
      return b.enabled ? 'started' : 'stopped';
    },
    loadTests: runner,
    log: { warn: (m) => warnings.push(m), info: () => {} },
    ...ctxOverrides,
  };
  const server = createAdminServer(ctx);
  const { port } = await server.listen();
  return {
    ctx,
    pool,
    stats,
    active,
    runner,
    base: `http://127.0.0.1:${port}`,
    port,
    warnings,
    setConfig: (c) => (config = parseConfig(c)),
    close: () => server.close(),
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** One request with full control of headers; `body` objects are sent as JSON. */
export function call(port: number, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: {
          ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
          ...opts.headers,
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
