/**
 * The admin HTTP server: the JSON API (the original project's endpoints and field names),
 * server-sent events and GET /metrics for monitoring, and the dashboard's static files.
 *
 * It runs on its own port, apart from the proxy, and does no blocking work: load tests run
 * in a worker (the original froze its whole dashboard while one ran), snapshots are built
 * once per second for all event-stream clients together.
 *
 * Safety: every POST needs `Authorization: Bearer TOKEN` when `admin.token` is set
 * (constant-time check), and cross-origin POSTs from browsers are refused (Origin must match
 * Host). Without a token, every request, GETs included, must name the server in its Host
 * header by IP literal or `localhost` (host-guard.ts): a DNS-rebinding page could otherwise
 * read the figures as well as make changes. With a token, any Host is answered (a reverse
 * proxy in front may use its own name) and reads stay open, as a firewall-guarded port's
 * reads are. No reply carries CORS headers: the dashboard is served from the same origin, and
 * no other site's page may read the API through a visitor's browser. Resources are bounded:
 * bodies at 64 KB, open connections at admin.maxConnections, event streams at
 * admin.maxEventStreams (503 beyond), and stalled requests time out (408). Errors are always
 * JSON `{"success": false, "error": "..."}` with a 4xx/5xx status, never a 200.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UnknownStrategyError } from '../strategies/active.js';
import { availableStrategies, strategyDefinition } from '../strategies/registry.js';
import { isLoopback } from '../util/address.js';
import { bearerMatches } from './auth.js';
import type { AdminContext, LoadTestKind } from './context.js';
import { EventHub } from './events.js';
import { isRebindingSafeHost } from './host-guard.js';
import { asObject, HttpError, readJson, sendError, sendJson } from './http.js';
import { createMetricsRegistry } from './metrics.js';
import { defaultDashboardDir, isStaticPath, serveStatic } from './static.js';
import {
  algorithmMetricsView,
  historyView,
  performanceView,
  realtimeView,
  requestsView,
  serversView,
  snapshotView,
  statusView,
} from './views.js';

export interface AdminServer {
  /** Starts listening on config.admin.host:port (port 0: any free port); resolves with the address. */
  listen(): Promise<{ host: string; port: number }>;
  /** Ends event streams and open connections, then stops listening. */
  close(): Promise<void>;
}

// The admin API's requests are a few hundred bytes from a browser or a script, so a client
// still sending headers after 5 s, or a body after 10 s, is stalling on purpose (slowloris):
// it gets a 408 and its connection back. Event streams are not affected: their request is
// complete once its headers are in. Node checks these deadlines once per TIMEOUT_CHECK_MS.
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const TIMEOUT_CHECK_MS = 1_000;
// Idle keep-alive connections count against admin.maxConnections, so they are not kept long.
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;
interface Route {
  GET?: Handler;
  POST?: Handler;
}

function intParam(url: URL, name: string, def: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `query parameter "${name}" must be an integer from ${min} to ${max}`);
  return n;
}

/** The start-up warning for an admin server reachable beyond loopback without a token. */
export function exposureWarning(host: string, token: string | null | undefined): string | undefined {
  if (isLoopback(host) || (token !== null && token !== undefined && token !== '')) return undefined;
  return `the admin API listens on ${host}, beyond loopback, without admin.token: anyone who can reach it can switch strategies, disable backends and run load tests`;
}

export function createAdminServer(ctx: AdminContext): AdminServer {
  const log = ctx.log ?? {
    warn: (m: string) => process.stderr.write(`ballast admin: warning: ${m}\n`),
    info: () => {},
  };
  const dashboardDir = ctx.dashboardDir ?? defaultDashboardDir();
  const registry = createMetricsRegistry(ctx);
  const hub = new EventHub(
    () => snapshotView(ctx),
    () => ctx.config().admin.maxEventStreams,
    1000,
    (err) => log.warn(`event snapshot failed: ${String(err)}`),
  );

  const json = (view: (url: URL) => unknown): Handler => (_req, res, url) => sendJson(res, 200, view(url));

  const loadTest = (kind: LoadTestKind): Handler => async (req, res) => {
    const body = asObject(await readJson(req));
    const reply = await ctx.loadTests.start(kind, body, ctx.proxyUrl);
    let out: object = reply.body;
    if (reply.status >= 400 && (out as { success?: unknown }).success !== false) {
      const error = (out as { error?: unknown }).error;
      out = { ...out, success: false, error: typeof error === 'string' ? error : `${kind.replace('_', ' ')} refused` };
    }
    sendJson(res, reply.status, out);
  };

  const routes: Record<string, Route> = {
    '/api/status': { GET: json(() => statusView(ctx)) },
    '/api/servers': { GET: json(() => serversView(ctx)) },
    '/api/performance': { GET: json(() => performanceView(ctx)) },
    '/api/realtime': { GET: json(() => realtimeView(ctx)) },
    '/api/requests': { GET: json((url) => requestsView(ctx, intParam(url, 'limit', 10, 0, ctx.stats.recent.capacity))) },
    '/api/algorithm-metrics': { GET: json(() => algorithmMetricsView(ctx)) },
    '/api/history': { GET: json((url) => historyView(ctx, intParam(url, 'seconds', 300, 1, 3600))) },
    '/api/events': { GET: (req, res) => hub.add(req, res) },
    '/api/load-test/progress': { GET: json(() => ctx.loadTests.progress()) },
    '/api/stress-test/progress': { GET: json(() => ctx.loadTests.progress()) },
    '/metrics': {
      GET: async (_req, res) => {
        const text = await registry.metrics();
        res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
        res.end(text);
      },
    },
    '/api/strategy': {
      GET: json(() => {
        const strategies = availableStrategies();
        const summaries: Record<string, string> = {};
        for (const n of strategies) summaries[n] = strategyDefinition(n)?.summary ?? '';
        return { strategy: ctx.active.name, strategies, summaries };
      }),
      POST: async (req, res) => {
        const body = asObject(await readJson(req));
        const name = body.strategy;
        if (typeof name !== 'string' || name === '') throw new HttpError(400, 'Invalid strategy: expected {"strategy": NAME}');
        const previous = ctx.active.name;
        try {
          ctx.active.switchTo(name);
        } catch (err) {
          if (err instanceof UnknownStrategyError) throw new HttpError(400, `Invalid strategy: ${err.message}`);
          throw err;
        }
        log.info(`strategy switched from ${previous} to ${ctx.active.name}`);
        sendJson(res, 200, { success: true, strategy: ctx.active.name, previous });
      },
    },
    '/api/servers/toggle': {
      POST: async (req, res) => {
        const body = asObject(await readJson(req));
        const host = body.host;
        const port = typeof body.port === 'string' && /^\d+$/.test(body.port) ? Number(body.port) : body.port;
        if (typeof host !== 'string' || host === '' || typeof port !== 'number' || !Number.isInteger(port)) {
          throw new HttpError(400, 'expected {"host": "127.0.0.1", "port": 8081}');
        }
        const action = ctx.toggleServer(host, port);
        if (action === undefined) throw new HttpError(400, `unknown server ${host}:${port}`);
        log.info(`server ${host}:${port} ${action} by the admin API`);
        sendJson(res, 200, { success: true, action, server: `${host}:${port}` });
      },
    },
    '/api/load-test': { POST: loadTest('load_test') },
    '/api/stress-test': { POST: loadTest('stress_test') },
  };

  /** The configured admin token, or undefined when none is set. */
  function adminToken(): string | undefined {
    const token = ctx.config().admin.token;
    return token === null || token === undefined || token === '' ? undefined : token;
  }

  /** Refuses a POST that a browser page on another origin could send, or that lacks the token. */
  function checkMutation(req: IncomingMessage, token: string | undefined): void {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let originHost: string;
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = '';
      }
      if (originHost === '' || originHost !== req.headers.host) throw new HttpError(403, 'cross-origin request refused');
    }
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      throw new HttpError(401, 'missing or wrong admin token (Authorization: Bearer TOKEN)', { 'WWW-Authenticate': 'Bearer realm="ballast"' });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin.invalid');
    } catch {
      throw new HttpError(400, 'bad request URL');
    }
    const token = adminToken();
    // Without a token every request, reads included, must name the server by address: a
    // rebound DNS name would otherwise let a web page read the figures or make changes.
    if (token === undefined && !isRebindingSafeHost(req.headers.host)) {
      throw new HttpError(403, 'Host header is not an IP address or localhost (DNS rebinding guard); set admin.token to allow other names');
    }
    let path = url.pathname;
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');

    if (isStaticPath(path)) {
      if (method !== 'GET') throw new HttpError(405, `method ${req.method} not allowed on ${path}`, { Allow: 'GET, HEAD' });
      if (await serveStatic(res, dashboardDir, path)) return;
      throw new HttpError(404, `not found: ${path}`);
    }
    const route = routes[path];
    if (route === undefined) throw new HttpError(404, `not found: ${path}`);
    const allow = [route.GET ? 'GET, HEAD' : '', route.POST ? 'POST' : ''].filter(Boolean).join(', ');
    if (method === 'OPTIONS') {
      // No CORS headers, here or anywhere: the dashboard is same-origin, so a browser denies
      // every other site's preflight and keeps other pages from reading the replies.
      res.writeHead(204, { Allow: allow });
      res.end();
      return;
    }
    const handler = method === 'GET' ? route.GET : method === 'POST' ? route.POST : undefined;
    if (handler === undefined) throw new HttpError(405, `method ${req.method} not allowed on ${path}`, { Allow: allow });
    if (method === 'POST') checkMutation(req, token);
    await handler(req, res, url);
  }

  const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: TIMEOUT_CHECK_MS }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        sendError(res, err.status, err.message, err.headers);
        return;
      }
      log.warn(`admin request ${req.method} ${req.url} failed: ${(err as Error)?.stack ?? String(err)}`);
      sendError(res, 500, 'internal error');
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Node compares this field with its open connections at every accept and closes the ones
  // beyond it at once; a getter lets a reloaded admin.maxConnections apply from the next one.
  Object.defineProperty(server, 'maxConnections', { get: () => ctx.config().admin.maxConnections });

  return {
    listen() {
      const { host, port } = ctx.config().admin;
      const warning = exposureWarning(host, ctx.config().admin.token);
      if (warning !== undefined) log.warn(warning);
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const a = server.address() as AddressInfo;
          log.info(`admin API and dashboard on http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
          resolve({ host: a.address, port: a.port });
        });
      });
    },
    close() {
      hub.close();
      return new Promise((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
