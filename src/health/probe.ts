/**
 * One health probe against one backend: an HTTP request (method, path, expected status range)
 * or a bare TCP connect, bounded by a timeout. The monitor (active.ts) schedules probes; this
 * file only does the I/O.
 *
 * A backend with servers[].tls is checked over TLS (HTTPS, or a TLS handshake for a connect
 * check), with the same verification as its traffic: a certificate the proxy would refuse
 * fails the check.
 *
 * Every HTTP probe uses its own connection (`agent: false`, `Connection: close`), like HAProxy's
 * checks: a pooled keep-alive socket would let a check pass on a connection opened before the
 * backend broke, and would share fate with proxy traffic. The verdict is taken at the response
 * head; the body is drained and the socket closed, or destroyed when the timeout fires first,
 * so a probe never holds a socket past its timeout.
 *
 * A backend sent PROXY protocol headers (servers[].sendProxy) expects one on every connection,
 * so its probes open with one too, saying "this connection is the balancer's own": v1
 * `PROXY UNKNOWN`, v2 LOCAL (HAProxy's checks do the same). The backend then uses the real
 * peer address, and a server that refuses header-less connections still answers the check.
 *
 * API: `runProbe(target, spec, done)` starts a probe and returns `{ cancel() }`; `done` is
 * called exactly once unless `cancel` came first (then never). `parseStatusRange("200-399")`.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { ConfigError } from '../config/load.js';
import { encodeProxyHeader } from '../proxy/proxy-protocol/encode.js';
import { backendTlsOptions, connectTls, type TlsConnectOptions } from '../proxy/tls/socket.js';

export interface StatusRange {
  min: number;
  max: number;
}

export interface ProbeSpec {
  type: 'http' | 'tcp';
  /** HTTP only. */
  method: string;
  path: string;
  expect: StatusRange;
  timeoutMs: number;
}

export interface ProbeTarget {
  host: string;
  port: number;
  /** PROXY protocol header to open each probe connection with (servers[].sendProxy); absent or null: none. */
  sendProxy?: 'v1' | 'v2' | null;
  /** The backend speaks TLS (servers[].tls): checks use it too, verified as traffic is. */
  tls?: TlsConnectOptions | null;
}

/**
 * A connection to the target: TLS when it speaks TLS, opened with its PROXY header (LOCAL /
 * UNKNOWN) when it wants one, the header first, before any TLS handshake. `written` is called
 * once the header is out (never on failure: 'error' says so).
 */
function connect(target: ProbeTarget, written?: () => void): net.Socket {
  const secure = target.tls ?? null;
  const header = target.sendProxy ? encodeProxyHeader(target.sendProxy, null) : null;
  if (secure !== null) return connectTls(target.host, target.port, backendTlsOptions(secure), header, written);
  const raw = net.connect({ host: target.host, port: target.port });
  // Written before the connect completes: net.Socket sends it first, ahead of anything else.
  if (header !== null) raw.write(header, (err) => err == null && written?.());
  return raw;
}

export interface ProbeResult {
  ok: boolean;
  /** HTTP status seen, 0 when none (TCP probe, or no response). */
  status: number;
  /** Why it failed ("timeout", "connection refused", "status 503"...), null when ok. */
  error: string | null;
  /** From probe start to verdict, real time. */
  durationMs: number;
}

export interface Probe {
  /** Aborts the probe and closes its socket; `done` will not be called. Idempotent. */
  cancel(): void;
}

export type ProbeDone = (result: ProbeResult) => void;

/** `"200"` or `"200-399"`, as the config's `expectStatus` allows. */
export function parseStatusRange(text: string): StatusRange {
  const m = /^(\d{3})(?:-(\d{3}))?$/.exec(text);
  if (m === null) throw new ConfigError(`healthCheck.expectStatus: "${text}" is not a status or a range such as "200-399"`);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (min > max) throw new ConfigError(`healthCheck.expectStatus: "${text}" runs backwards (${min} > ${max})`);
  return { min, max };
}

/** A short, stable reason for the API and logs. */
export function describeError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'EPIPE':
      return 'connection closed';
    default:
      if (typeof code === 'string') return code;
      return err instanceof Error ? err.message : String(err);
  }
}

export function runProbe(target: ProbeTarget, spec: ProbeSpec, done: ProbeDone): Probe {
  return spec.type === 'http' ? httpProbe(target, spec, done) : tcpProbe(target, spec, done);
}

const noop = (): void => {};

function httpProbe(target: ProbeTarget, spec: ProbeSpec, done: ProbeDone): Probe {
  const start = performance.now();
  let settled = false;
  const settle = (ok: boolean, status: number, error: string | null): void => {
    if (settled) return;
    settled = true;
    done({ ok, status, error, durationMs: performance.now() - start });
  };
  const secure = target.tls ?? null;
  const req = (secure === null ? http : https).request({
    ...(secure === null ? {} : backendTlsOptions(secure)),
    host: target.host,
    port: target.port,
    method: spec.method,
    path: spec.path,
    // No agent either way: a connection of its own. (With an agent, even `agent: false`'s
    // throwaway one, node ignores createConnection.)
    ...(target.sendProxy ? { createConnection: () => connect(target) } : { agent: false }),
    headers: {
      host: target.port === (secure === null ? 80 : 443) ? target.host : `${target.host}:${target.port}`,
      connection: 'close',
      'user-agent': 'ballast-health-check',
      accept: '*/*',
    },
  });
  const close = (): void => {
    clearTimeout(timer);
    req.destroy();
  };
  // One timer bounds the whole probe: connect, response head and the drain after the verdict.
  const timer = setTimeout(() => {
    settle(false, 0, 'timeout');
    close();
  }, spec.timeoutMs);
  timer.unref();
  req.on('response', (res) => {
    const status = res.statusCode ?? 0;
    const ok = status >= spec.expect.min && status <= spec.expect.max;
    settle(ok, status, ok ? null : `status ${status}`);
    res.on('error', noop);
    res.on('end', close);
    res.resume();
  });
  req.on('error', (err) => {
    settle(false, 0, describeError(err));
    close();
  });
  req.end();
  return {
    cancel() {
      settled = true;
      close();
    },
  };
}

function tcpProbe(target: ProbeTarget, spec: ProbeSpec, done: ProbeDone): Probe {
  const start = performance.now();
  let settled = false;
  // With a PROXY header a plain check passes once the header is out, so a backend that reads
  // one never sees a connection cut before its header (and logs it as malformed). A TLS
  // backend passes a connect check only once its handshake (and verification) succeeds.
  const secure = target.tls ?? null;
  const socket = connect(target, secure === null ? () => settle(true, null) : undefined);
  const close = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const settle = (ok: boolean, error: string | null): void => {
    if (settled) return;
    settled = true;
    close();
    done({ ok, status: 0, error, durationMs: performance.now() - start });
  };
  const timer = setTimeout(() => settle(false, 'timeout'), spec.timeoutMs);
  timer.unref();
  if (secure !== null) socket.once('secureConnect', () => settle(true, null));
  else if (!target.sendProxy) socket.once('connect', () => settle(true, null));
  socket.on('error', (err) => settle(false, describeError(err)));
  return {
    cancel() {
      settled = true;
      close();
    },
  };
}
