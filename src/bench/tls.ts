/**
 * The TLS part of `ballast bench --throughput` (skipped with --no-tls): Ballast terminating
 * TLS (listen.tls) next to HAProxy (`bind ... ssl crt`), with the same certificate (ECDSA
 * P-256, made for the run with openssl: self-signed.ts), the same protocol profile (TLS 1.2
 * and 1.3, the ciphers of certs.ts, ALPN http/1.1), in front of the same nginx backends,
 * pinned as the plain targets are (throughput.ts). Two loads, each a wrk run:
 *
 *   handshakes  every request on a new connection (`Connection: close`): a full handshake
 *               per request (wrk resumes no session), so req/s = handshakes/s;
 *   keep-alive  the throughput rounds' load over TLS: the cost of encrypting requests.
 *
 * Rounds alternate the order as the plain rounds do, and each target's best round is kept.
 * Goal: Ballast at half HAProxy's rate or better on both.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildSet, Pinning } from './children.js';
import type { HaproxyBinary } from './haproxy.js';
import { selfSigned } from '../proxy/tls/self-signed.js';
import { CHECK, HOST, spawnBallast, spawnHaproxy } from './targets.js';
import type { WrkResult } from './wrk.js';

export const TLS_TARGETS = ['ballast-tls', 'haproxy-tls'] as const;
export type TlsTarget = (typeof TLS_TARGETS)[number];
export const TLS_LOADS = ['handshakes', 'keep-alive'] as const;
export type TlsLoad = (typeof TLS_LOADS)[number];

export const TLS_LABELS: Record<TlsTarget, string> = { 'ballast-tls': 'Ballast L7 TLS', 'haproxy-tls': 'HAProxy HTTP TLS' };

/** The goals: Ballast at half HAProxy's rate or better, both loads. */
export const TLS_GOALS = { handshakes: 0.5, keepAlive: 0.5 } as const;

/** What describes the certificate in the report. */
export const TLS_CERT = 'ECDSA P-256, self-signed, made for the run';

export interface TlsRow {
  target: TlsTarget;
  load: TlsLoad;
  label: string;
  rounds: WrkResult[];
  best: WrkResult;
}

export interface TlsRatios {
  /** Ballast over HAProxy, best rounds, new connection per request; null without HAProxy. */
  handshakes: number | null;
  keepAlive: number | null;
}

export interface TlsReport {
  cert: string;
  rows: TlsRow[];
  ratios: TlsRatios;
}

/** The targets that run: HAProxy's only with a binary. */
export function tlsTargets(haproxy: boolean): TlsTarget[] {
  return TLS_TARGETS.filter((t) => haproxy || t !== 'haproxy-tls');
}

/** wrk's extra arguments for a load: a header that closes each connection after its response. */
export function tlsLoadArgs(load: TlsLoad): string[] {
  return load === 'handshakes' ? ['-H', 'Connection: close'] : [];
}

export function tlsRatios(rows: readonly TlsRow[]): TlsRatios {
  const ratio = (load: TlsLoad): number | null => {
    const b = rows.find((r) => r.target === 'ballast-tls' && r.load === load);
    const h = rows.find((r) => r.target === 'haproxy-tls' && r.load === load);
    return b === undefined || h === undefined || h.best.rps === 0 ? null : b.best.rps / h.best.rps;
  };
  return { handshakes: ratio('handshakes'), keepAlive: ratio('keep-alive') };
}

/** Ballast's TLS target config: the plain L7 one (throughput.ts) with listen.tls. */
export function tlsBallastConfig(plain: Record<string, unknown>, cert: { certFile: string; keyFile: string }): Record<string, unknown> {
  const listen = plain.listen as Record<string, unknown>;
  return { ...plain, listen: { ...listen, tls: { cert: cert.certFile, key: cert.keyFile } } };
}

export interface TlsTargetsOptions {
  set: ChildSet;
  dir: string;
  haproxy: HaproxyBinary | null;
  backends: readonly number[];
  /** Ballast's plain L7 config for these backends. */
  ballastConfig: Record<string, unknown>;
  pin: Pinning;
}

/** Makes the certificate and starts both TLS targets; their ports by target. */
export async function startTlsTargets(o: TlsTargetsOptions): Promise<Map<TlsTarget, number>> {
  const cert = selfSigned(o.dir, 'bench', 'localhost');
  const ports = new Map<TlsTarget, number>();
  const b = await spawnBallast({ set: o.set, name: 'ballast (tls)', file: path.join(o.dir, 'ballast-tls.json'), config: tlsBallastConfig(o.ballastConfig, cert), pin: o.pin });
  ports.set('ballast-tls', b.port);
  if (o.haproxy !== null) {
    // HAProxy takes the certificate and its key in one file.
    const pem = path.join(o.dir, 'bench.pem');
    writeFileSync(pem, Buffer.concat([readFileSync(cert.certFile), readFileSync(cert.keyFile)]), { mode: 0o600 });
    const h = await spawnHaproxy({
      binary: o.haproxy,
      set: o.set,
      dir: o.dir,
      tag: 'tls',
      config: {
        mode: 'roundrobin',
        protocol: 'http',
        servers: o.backends.map((port, i) => ({ name: `s${i}`, host: HOST, port, weight: 1, disabled: false })),
        checkIntervalMs: CHECK.intervalMs,
        fall: CHECK.fall,
        rise: CHECK.rise,
        tlsCrt: pem,
      },
      pin: o.pin,
    });
    ports.set('haproxy-tls', h.port);
  }
  return ports;
}

/** Markdown lines of the TLS table and its ratios. */
export function formatTls(r: TlsReport, connections: number): string[] {
  const out = [`TLS (${r.cert}; TLS 1.3, ALPN http/1.1; wrk -c${connections}):`, ''];
  out.push('| target | load | req/s | p50 ms | p99 ms | errors (all runs) |');
  out.push('|---|---|---|---|---|---|');
  for (const row of r.rows) {
    const errors = row.rounds.reduce((n, w) => n + w.errors, 0);
    out.push(`| ${row.label} | ${row.load === 'handshakes' ? 'new connection per request' : 'keep-alive'} | ${row.best.rps.toFixed(0)} | ${row.best.p50.toFixed(3)} | ${row.best.p99.toFixed(3)} | ${errors} |`);
  }
  out.push('');
  const { handshakes, keepAlive } = r.ratios;
  if (handshakes !== null) out.push(`Ballast / HAProxy TLS handshakes/s: ${handshakes.toFixed(2)}x   (goal >= ${TLS_GOALS.handshakes}x)`);
  if (keepAlive !== null) out.push(`Ballast / HAProxy TLS keep-alive:   ${keepAlive.toFixed(2)}x   (goal >= ${TLS_GOALS.keepAlive}x)`);
  return out;
}
