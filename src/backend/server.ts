/**
 * The demo backend: a small HTTP server that behaves like a service worth balancing.
 *
 * It keeps the original backend's contract (GET /health, /control?set_delay_ms=N, ?delay=N on
 * any request, a JSON body naming the server, header `X-Backend: name:port`) and adds what
 * makes balancing visible: a service-time distribution, a fixed number of worker slots with a
 * FIFO queue behind them, random stalls (a noisy neighbour), and an LRU cache simulation that
 * answers `X-Cache: HIT|MISS` and charges a miss penalty. With `loadReports` it reports its
 * load on every response as an ORCA `endpoint-load-metrics` header (src/orca: utilization of its
 * worker slots over the last second, requests and errors per second), as the simulator's
 * servers do.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SeededRandom, entropySeed, type Random } from '../util/random.js';
import { LruSet } from './lru.js';
import { LoadReport } from '../orca/report.js';
import { LoadWindow } from '../orca/window.js';
import { LOAD_REPORT_HEADER, formatLoadReport, type ReportForm } from '../orca/format.js';
import { formatServiceTime, sampleServiceTime, type ServiceTime } from './service-time.js';

export interface BackendOptions {
  host: string;
  port: number;
  name: string;
  /** Fixed delay added to every request (also settable by /control?set_delay_ms=). */
  fixedDelayMs: number;
  serviceTime: ServiceTime;
  /** Requests processed at once; more wait in a FIFO queue. 0: unlimited. */
  workers: number;
  /** With probability stallProbability a request takes stallMs more (noisy neighbour). */
  stallProbability: number;
  stallMs: number;
  /** LRU cache simulation: 0 turns it off. */
  cacheSize: number;
  missPenaltyMs: number;
  /** Header carrying the cache key; without it the path is the key. */
  cacheKeyHeader: string;
  /** Report load on every answered request (ORCA endpoint-load-metrics), in this form; 'off': no. */
  loadReports: ReportForm | 'off';
  seed?: number;
}

export const defaultBackendOptions: BackendOptions = {
  host: '127.0.0.1',
  port: 8081,
  name: 'backend',
  fixedDelayMs: 0,
  serviceTime: { kind: 'uniform', min: 10, max: 50 },
  workers: 0,
  stallProbability: 0,
  stallMs: 0,
  cacheSize: 0,
  missPenaltyMs: 0,
  cacheKeyHeader: 'x-key',
  loadReports: 'off',
};

const MAX_DELAY_MS = 600_000;

export interface RunningBackend {
  readonly port: number;
  readonly host: string;
  readonly name: string;
  readonly options: BackendOptions;
  /** Requests answered so far (health checks excluded). */
  served(): number;
  close(): Promise<void>;
}

class BadParam extends Error {}

/** A non-negative integer query value, or a BadParam naming it. */
function delayParam(url: URL, name: string): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < 0 || n > MAX_DELAY_MS) {
    throw new BadParam(`${name} must be an integer between 0 and ${MAX_DELAY_MS}, got "${raw}"`);
  }
  return n;
}

export async function startBackend(partial: Partial<BackendOptions> = {}): Promise<RunningBackend> {
  const options: BackendOptions = { ...defaultBackendOptions, ...partial };
  const random: Random = new SeededRandom(options.seed ?? entropySeed());
  const cache = options.cacheSize > 0 ? new LruSet(options.cacheSize) : undefined;
  const keyHeader = options.cacheKeyHeader.toLowerCase();
  let fixedDelayMs = options.fixedDelayMs;
  let requestId = 0;
  let served = 0;
  let busy = 0;
  // Utilization is busy slots over the slots there are; without a limit, the mean number in service.
  const load = options.loadReports === 'off' ? null : new LoadWindow(Math.max(1, options.workers), 1_000, 10, performance.now());
  const loadReport = new LoadReport();
  // FIFO of requests waiting for a worker slot; `head` avoids O(n) shifts.
  const waiting: Array<() => void> = [];
  let head = 0;

  const acquire = (run: () => void): void => {
    if (options.workers === 0 || busy < options.workers) {
      busy++;
      run();
    } else {
      waiting.push(run);
    }
  };
  const release = (): void => {
    if (head < waiting.length) {
      const next = waiting[head]!;
      waiting[head++] = undefined as unknown as () => void;
      if (head > 1024 && head * 2 > waiting.length) {
        waiting.splice(0, head);
        head = 0;
      }
      next();
    } else {
      busy--;
    }
  };

  let port = options.port;
  const server = http.createServer((req, res) => {
    const started = performance.now();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://backend');
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad request target"}');
      return;
    }
    const backendHeader = `${options.name}:${port}`;
    res.setHeader('X-Backend', backendHeader);

    if (url.pathname === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"status":"ok","server":"${options.name}"}`);
      req.resume();
      return;
    }

    let perRequestDelay: number;
    try {
      if (url.pathname === '/control') {
        const set = delayParam(url, 'set_delay_ms');
        if (set !== undefined) fixedDelayMs = set;
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({ server: options.name, port, fixed_delay_ms: fixedDelayMs, service_time: formatServiceTime(options.serviceTime) }),
        );
        req.resume();
        return;
      }
      perRequestDelay = delayParam(url, 'delay') ?? 0;
    } catch (err) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message }));
      req.resume();
      return;
    }

    const id = ++requestId;
    let cacheStatus: 'HIT' | 'MISS' | undefined;
    let delay = fixedDelayMs + perRequestDelay + sampleServiceTime(options.serviceTime, random);
    if (options.stallProbability > 0 && random.next() < options.stallProbability) delay += options.stallMs;
    if (cache !== undefined) {
      const headerKey = req.headers[keyHeader];
      const key = typeof headerKey === 'string' ? headerKey : url.pathname;
      cacheStatus = cache.touch(key) ? 'HIT' : 'MISS';
      if (cacheStatus === 'MISS') delay += options.missPenaltyMs;
    }

    const respond = (): void => {
      if (res.destroyed) {
        release();
        return;
      }
      load?.begin(performance.now());
      const finish = (): void => {
        load?.end(performance.now());
        release();
        if (res.destroyed) return;
        served++;
        if (cacheStatus !== undefined) res.setHeader('X-Cache', cacheStatus);
        if (load !== null) res.setHeader(LOAD_REPORT_HEADER, formatLoadReport(load.report(performance.now(), loadReport), options.loadReports as ReportForm));
        if (url.pathname === '/echo') {
          // Streams the request body back as it arrives (backpressure through pipe).
          res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' });
          req.pipe(res);
          return;
        }
        const body = JSON.stringify({
          server: options.name,
          port,
          timestamp: Date.now() / 1000,
          request_id: id,
          method: req.method,
          path: url.pathname,
          processing_time: (performance.now() - started) / 1000,
          applied_delay_ms: Math.round(delay * 1000) / 1000,
          fixed_delay_ms: fixedDelayMs,
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        req.resume();
      };
      if (delay <= 0) finish();
      else setTimeout(finish, delay);
    };
    acquire(respond);
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;

  return {
    port,
    host: options.host,
    name: options.name,
    options,
    served: () => served,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
