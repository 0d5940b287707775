/**
 * What the TLS tests share: certificates made at test time with the openssl command (never
 * committed keys; a missing openssl fails the test, in CI and outside it), and a TLS client
 * that reports what the handshake gave (certificate, protocol, ALPN) along with the response.
 */
import { rmSync } from 'node:fs';
import tls from 'node:tls';
import { cleanups } from '../helpers/lifecycle.js';
import { certDir } from '../../src/proxy/tls/self-signed.js';

/** A directory for this file's certificates, removed after its tests. */
export function testCertDir(): string {
  const dir = certDir('ballast-tls-test-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TlsReply {
  /** The whole response as text (up to the server's close or the idle wait). */
  text: string;
  /** Status of the first response, 0 when none. */
  status: number;
  fingerprint: string;
  protocol: string | null;
  alpn: string | false | null;
}

export interface TlsClientOptions extends tls.ConnectionOptions {
  /** Requests written once the handshake is done (joined). */
  requests?: string[];
  /** Give up collecting after this long without bytes. */
  idleMs?: number;
}

/** Connects, sends the requests, collects the reply; rejects when the handshake fails. */
export function tlsExchange(port: number, options: TlsClientOptions): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const { requests = ['GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'], idleMs = 2_000, ...rest } = options;
    const sock = tls.connect({ host: '127.0.0.1', port, ...rest });
    const chunks: Buffer[] = [];
    let secured = false;
    let fingerprint = '';
    let protocol: string | null = null;
    let alpn: string | false | null = null;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => sock.destroy(), idleMs);
    };
    sock.on('secureConnect', () => {
      secured = true;
      fingerprint = sock.getPeerX509Certificate()?.fingerprint256 ?? '';
      protocol = sock.getProtocol();
      alpn = sock.alpnProtocol;
      arm();
      sock.write(requests.join(''));
    });
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      arm();
    });
    sock.on('error', (err) => {
      if (!secured) {
        clearTimeout(timer);
        reject(err);
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      if (!secured) return reject(new Error('closed before the handshake completed'));
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({
        text,
        status: m === null ? 0 : Number(m[1]),
        fingerprint,
        protocol,
        alpn,
      });
    });
  });
}
