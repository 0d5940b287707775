/**
 * Backends that read a PROXY protocol header first, for the integration tests. They decode it
 * with a small decoder of their own, not the parser under test, so a bug there cannot hide
 * itself, and they refuse a connection without one, as a real server configured for it does.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';

export interface SeenHeader {
  version: 1 | 2;
  /** v1 UNKNOWN reads as 'local' (the sender's own connection), like v2 LOCAL. */
  command: 'proxy' | 'local';
  /** IPv4 dotted, or IPv6 as 8 full hex groups (v2) or as sent (v1). */
  source: string;
  sourcePort: number;
  destination: string;
  destinationPort: number;
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function ipv6Full(b: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(at + 2 * i).toString(16));
  return groups.join(':');
}

/** The header at the start of `data` and its length, undefined while incomplete; throws when there is none. */
function decode(data: Buffer): { header: SeenHeader; length: number } | undefined {
  if (data.length >= 6 && data.subarray(0, 6).toString('latin1') === 'PROXY ') {
    const end = data.indexOf('\r\n');
    if (end < 0) return undefined;
    const parts = data.toString('latin1', 6, end).split(' ');
    if (parts[0] === 'UNKNOWN') return { header: { version: 1, command: 'local', source: '', sourcePort: 0, destination: '', destinationPort: 0 }, length: end + 2 };
    const [, source, destination, sp, dp] = parts;
    return { header: { version: 1, command: 'proxy', source: source!, sourcePort: Number(sp), destination: destination!, destinationPort: Number(dp) }, length: end + 2 };
  }
  if (data.length >= 12 && data.subarray(0, 12).equals(V2_SIGNATURE)) {
    if (data.length < 16) return undefined;
    const length = 16 + data.readUInt16BE(14);
    if (data.length < length) return undefined;
    const command = (data[12]! & 0xf) === 0 ? 'local' : 'proxy';
    const fam = data[13];
    const none = { source: '', sourcePort: 0, destination: '', destinationPort: 0 };
    if (command === 'local' || fam === 0) return { header: { version: 2, command, ...none }, length };
    if (fam === 0x11) {
      const ip = (at: number) => [...data.subarray(at, at + 4)].join('.');
      return { header: { version: 2, command, source: ip(16), destination: ip(20), sourcePort: data.readUInt16BE(24), destinationPort: data.readUInt16BE(26) }, length };
    }
    if (fam === 0x21) {
      return { header: { version: 2, command, source: ipv6Full(data, 16), destination: ipv6Full(data, 32), sourcePort: data.readUInt16BE(48), destinationPort: data.readUInt16BE(50) }, length };
    }
  }
  const v1Prefix = Buffer.from('PROXY ', 'latin1');
  const maybeV1 = data.length < 108 && v1Prefix.subarray(0, data.length).equals(data.subarray(0, 6));
  const maybeV2 = V2_SIGNATURE.subarray(0, data.length).equals(data.subarray(0, 12));
  if (!maybeV1 && !maybeV2) throw new Error(`no PROXY header: ${JSON.stringify(data.subarray(0, 24).toString('latin1'))}`);
  return undefined;
}

/** Waits for the header on `s`, then calls `then` with it and with the bytes that followed it put back. */
function afterHeader(s: net.Socket, onBad: () => void, then: (h: SeenHeader) => void): void {
  let data = Buffer.alloc(0);
  const onData = (c: Buffer) => {
    data = Buffer.concat([data, c]);
    let got: ReturnType<typeof decode>;
    try {
      got = decode(data);
    } catch {
      onBad();
      s.destroy();
      return;
    }
    if (got === undefined) return;
    s.off('data', onData);
    s.pause();
    const rest = data.subarray(got.length);
    if (rest.length > 0) s.unshift(rest);
    then(got.header);
  };
  s.on('data', onData);
}

export interface ProxyBackend {
  port: number;
  /** Every header seen, one per connection, in arrival order. */
  headers: SeenHeader[];
  /** Connections accepted, with or without a header. */
  connections(): number;
  /** Connections refused for lacking a valid header. */
  bad(): number;
  /** Connections open now. */
  open(): number;
  close(): Promise<void>;
}

async function serve(onHeader: (s: net.Socket, h: SeenHeader, id: number) => void): Promise<ProxyBackend> {
  const headers: SeenHeader[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let bad = 0;
  const server = net.createServer((s) => {
    const id = ++connections;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    afterHeader(
      s,
      () => bad++,
      (h) => {
        headers.push(h);
        onHeader(s, h, id);
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    headers,
    connections: () => connections,
    bad: () => bad,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** L4: after the header, echoes every byte back. */
export function echoBackend(): Promise<ProxyBackend> {
  return serve((s) => {
    s.pipe(s);
    s.resume();
  });
}

/** What the HTTP backend answers: the header of the connection the request came on, and the request's forwarding header. */
export interface Seen {
  header: SeenHeader;
  /** Which backend connection served it (1, 2, ... in accept order). */
  connection: number;
  xff: string | undefined;
  path: string;
}

/** A GET to 127.0.0.1 through the balancer; the backend's `Seen`, or a rejection for any status but 200. */
export function getSeen(options: http.RequestOptions): Promise<Seen> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', ...options }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as Seen) : reject(new Error(`status ${res.statusCode}: ${body}`))));
      })
      .on('error', reject);
  });
}

type Tagged = { seen?: { header: SeenHeader; id: number } };

/** The HTTP/1.1 server (keep-alive) of both L7 backends: each request answered with a JSON `Seen`. */
function seenServer(): http.Server {
  const http1 = http.createServer((req, res) => {
    const meta = (req.socket as net.Socket & Tagged).seen!;
    const body: Seen = { header: meta.header, connection: meta.id, xff: req.headers['x-forwarded-for'] as string | undefined, path: req.url! };
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    });
  });
  http1.keepAliveTimeout = 30_000;
  return http1;
}

/** L7: after the header, an HTTP/1.1 server (keep-alive) answering each request with a JSON `Seen`. */
export function httpBackend(): Promise<ProxyBackend> {
  const http1 = seenServer();
  return serve((s, header, id) => {
    (s as net.Socket & Tagged).seen = { header, id };
    http1.emit('connection', s);
    s.resume();
  });
}

/**
 * L7 over TLS: after the header (read in clear off TCP), a TLS handshake with `cert`, then the
 * same JSON-answering HTTP/1.1 server as httpBackend. What a TLS backend behind a PROXY-speaking
 * balancer looks like (nginx `listen 443 ssl proxy_protocol`).
 */
export function tlsHttpBackend(cert: { certFile: string; keyFile: string }): Promise<ProxyBackend> {
  const [certPem, keyPem] = [readFileSync(cert.certFile), readFileSync(cert.keyFile)];
  const http1 = seenServer();
  return serve((s, header, id) => {
    // The bytes after the header were put back on `s`: the TLS socket starts with them.
    const secure = new tls.TLSSocket(s, { isServer: true, cert: certPem, key: keyPem, ALPNProtocols: ['http/1.1'] });
    secure.on('error', () => s.destroy());
    (secure as tls.TLSSocket & Tagged).seen = { header, id };
    http1.emit('connection', secure);
  });
}
