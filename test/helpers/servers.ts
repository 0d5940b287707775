/**
 * Test fixtures: small real servers on 127.0.0.1 (ephemeral ports) and a Ballast built from a
 * config object, so tests exercise the real sockets end to end.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { Ballast } from '../../src/app/ballast.js';
import { silentLogger } from '../../src/util/log.js';

export interface TestServer {
  port: number;
  url: string;
  /** Connections accepted so far. */
  connections(): number;
  /** Requests seen, with their headers. */
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[] }>;
  close(): Promise<void>;
}

export async function httpServer(handler: http.RequestListener): Promise<TestServer> {
  let connections = 0;
  const requests: TestServer['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders });
    handler(req, res);
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A backend that records how each request ended for it: 'completed' (read whole, answered) or 'aborted'. */
export async function outcomeBackend(): Promise<TestServer & { outcomes: string[] }> {
  const outcomes: string[] = [];
  const server = await httpServer((req, res) => {
    req.on('error', () => {});
    req.resume();
    req.on('end', () => {
      outcomes.push('completed');
      res.end('ok');
    });
    req.on('close', () => {
      if (!req.complete) outcomes.push('aborted');
    });
  });
  return Object.assign(server, { outcomes });
}

/** A backend answering `name` in the body and X-Served-By, after `delayMs`. */
export function namedBackend(name: string, delayMs = 0): Promise<TestServer> {
  return httpServer((req, res) => {
    const send = () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name });
      res.end(name);
    };
    req.resume();
    if (delayMs > 0) setTimeout(send, delayMs);
    else req.on('end', send);
  });
}

/** A raw TCP server with a custom connection handler. */
export async function tcpServer(onConnection: (s: net.Socket) => void, options: net.ServerOpts = {}): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(options, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A port with nothing listening (bound, then closed). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The lowest port of the kernel's ephemeral range (Linux: 32768 by default). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch {
    // not Linux: the IANA range's start is the usual default elsewhere
  }
  return 49_152;
}

function holdPort(port: number): Promise<net.Server | null> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/**
 * The first of `n` consecutive ports free right now, for a child process that listens at fixed
 * offsets from one port (the demo fleet: +10, +100, +200; etcd: client and peer). Drawn below
 * the kernel's ephemeral range: a port from listen(0) (deadPort) or an outgoing connection's
 * local port comes from that range, so a test running alongside can be handed it between our
 * check and the child's bind, which is how the fleet demo test collided under load. Below the
 * range only another fixed-port user can take it, and the random base keeps that unlikely. The
 * n ports are held at once while checking, so the block is free as a whole.
 */
export async function freePortBlock(n: number): Promise<number> {
  const low = 10_000;
  const high = ephemeralLow() - n;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low));
    const held: net.Server[] = [];
    for (let i = 0; i < n; i++) {
      const s = await holdPort(base + i);
      if (s === null) break;
      held.push(s);
    }
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (held.length === n) return base;
  }
  throw new Error(`no block of ${n} free ports found between ${low} and ${high + n}`);
}

export async function startBallast(input: Partial<ConfigInput> & { servers: ConfigInput['servers'] }): Promise<Ballast> {
  const config = parseConfig({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { enabled: false },
    healthCheck: { enabled: false },
    ...input,
  });
  return Ballast.start({ config, log: silentLogger() });
}

export function local(port: number, weight = 1) {
  return { host: '127.0.0.1', port, weight };
}

/** Sends raw bytes and collects everything until the server closes or `idleMs` passes quietly. */
export async function rawRequest(port: number, payload: string | Buffer, idleMs = 500): Promise<string> {
  return (await rawExchange(port, [payload], idleMs)).data;
}

/**
 * Sends `parts` on one connection (a number is a pause in ms between parts) and collects what
 * comes back until the server closes (`closed`) or `idleMs` passes quietly (`closed` false).
 */
export function rawExchange(port: number, parts: ReadonlyArray<string | Buffer | number>, idleMs = 1500): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closed = true;
    const s = net.connect(port, '127.0.0.1', async () => {
      for (const p of parts) {
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else if (!s.destroyed) s.write(p);
      }
    });
    const giveUp = () => {
      closed = false;
      s.destroy();
    };
    let timer = setTimeout(giveUp, idleMs);
    s.on('data', (c) => {
      chunks.push(c);
      clearTimeout(timer);
      timer = setTimeout(giveUp, idleMs);
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed });
    });
  });
}

/** One HTTP request with node:http, no agent (a fresh connection), body collected. */
export function request(
  url: string,
  options: http.RequestOptions & { body?: string | Buffer } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** GET with a fresh connection, the body as text; never rejects: a failure is status 0 with its message. */
export function getText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
        res.on('error', () => resolve({ status: 0, body }));
      })
      .on('error', (err) => resolve({ status: 0, body: err.message }));
  });
}

/** Accepts TCP (a TCP health check passes) but resets each connection once it sends a request; counts both. */
export async function resetOnRequestServer(): Promise<{ port: number; close(): Promise<void>; counts: { connections: number; requests: number } }> {
  const counts = { connections: 0, requests: 0 };
  const server = await tcpServer((s) => {
    counts.connections++;
    s.once('data', () => {
      counts.requests++;
      s.resetAndDestroy();
    });
  });
  return { ...server, counts };
}
