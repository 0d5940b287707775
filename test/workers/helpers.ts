/** Balancers on two workers for the tests, and backends that hold requests until told. */
import http from 'node:http';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startAll, type Running } from '../../src/app/run.js';
import { reusePortSupported } from '../../src/proxy/uv/handles.js';
import { silentLogger } from '../../src/util/log.js';
import { cleanups } from '../helpers/lifecycle.js';
import { httpServer, type TestServer } from '../helpers/servers.js';

/** The two ways workers share the listen address; 'handoff' is forced even where SO_REUSEPORT works. */
export const LISTEN_PATHS = [
  { name: 'reuseport where Node offers it', forceHandoff: false, expected: (): string => (reusePortSupported() ? 'reuseport' : 'handoff') },
  { name: 'handoff (the Node 20 fallback)', forceHandoff: true, expected: (): string => 'handoff' },
] as const;

export async function startWorkers(input: Partial<ConfigInput> & { servers: ConfigInput['servers'] }, forceHandoff = false, workers = 2): Promise<Running> {
  const config = parseConfig({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    healthCheck: { enabled: false },
    workers,
    ...input,
  });
  const running = await startAll(config, silentLogger(), { forceHandoff });
  cleanups.push(() => running.stop());
  return running;
}

/** A backend answering its name; requests to /hold/... wait until release(). */
export async function holdingBackend(name: string): Promise<TestServer & { held: number; release(): void }> {
  const waiting: http.ServerResponse[] = [];
  const server = await httpServer((req, res) => {
    if (req.url!.startsWith('/hold')) {
      waiting.push(res);
      return;
    }
    res.end(name);
  });
  cleanups.push(() => server.close());
  // defineProperty, not Object.assign: assign would copy the getter's value once.
  Object.defineProperty(server, 'held', { get: () => waiting.length });
  return Object.assign(server as TestServer & { held: number }, {
    release() {
      for (const res of waiting.splice(0)) res.end(name);
    },
  });
}

/** GET on a connection of its own (so the kernel may give each request to another worker). */
export function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

export async function getJson<T = Record<string, unknown>>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}

/** Polls an async check every 20 ms for at most `ms`; true once it holds. */
export async function eventually(check: () => Promise<boolean>, ms = 5_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}
