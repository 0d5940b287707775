/**
 * TLS termination for the L7 listener. The acceptor (uv/acceptor.ts) still accepts, counts
 * and refuses connections; each accepted TCP handle is handed here, wrapped in a net.Socket
 * and given to a node:tls Server that never listens itself (`server.emit('connection')`, as
 * Node documents for handing a server a socket): it runs the handshake (SNI, ALPN, the
 * handshake timeout, session tickets) and hands back the TLS socket, which becomes a
 * TlsSocket for a ClientConn.
 *
 * - ALPN: `http/1.1` only. A client offering ALPN without it (h2 alone) gets the
 *   no_application_protocol alert; one offering no ALPN at all is served HTTP/1.1.
 * - SNI: exact names, then `*.` one label up, else the default certificate (certs.ts).
 * - Handshake timeout: timeouts.clientHeadersMs (a client slow to say hello is a slowloris too).
 * - Reload: `update()` builds a new tls.Server with the new certificates and timeout; new
 *   handshakes use it, open connections keep the session (and server object) they have.
 * - A connection counts against maxClientConnections from its accept, handshake included
 *   (`pending`), so a flood of handshakes cannot exceed the limit either.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { UvTcp } from '../uv/handles.js';
import { CIPHERS, certFor, type ListenerCerts } from './certs.js';
import { TlsSocket } from './socket.js';
import { NO_LISTENER } from '../socket.js';
import type { ProxyAddresses } from '../proxy-protocol/header.js';

export interface TlsTerminatorHooks {
  /**
   * A handshake succeeded: the connection is the proxy's from now on. `origin`: the client's
   * endpoints from the PROXY header read before the handshake (listen.proxyProtocol), or null.
   */
  secured(socket: TlsSocket, origin: ProxyAddresses | null): void;
  /** A handshake failed (bad client hello, protocol or version refused, timeout, reset). */
  failed(err: NodeJS.ErrnoException, remoteAddress: string): void;
}

/** The TCP socket a server-side TLS socket wraps (Node keeps it on the TLS handle). */
function tcpUnder(sock: tls.TLSSocket): net.Socket | null {
  const parent = (sock as unknown as { _handle?: { _parentWrap?: unknown } | null })._handle?._parentWrap;
  return parent instanceof net.Socket ? parent : null;
}

export class TlsTerminator {
  private server: tls.Server;
  /** Accepted connections whose handshake is not done, by their TCP socket: the PROXY header's addresses, or null. */
  private readonly handshaking = new Map<net.Socket, ProxyAddresses | null>();

  constructor(
    certs: ListenerCerts,
    handshakeTimeoutMs: number,
    private readonly hooks: TlsTerminatorHooks,
  ) {
    this.server = this.createServer(certs, handshakeTimeoutMs);
  }

  /** Handshakes under way. */
  get pending(): number {
    return this.handshaking.size;
  }

  /**
   * Starts the handshake on an accepted connection. Behind a PROXY header (listen.proxyProtocol)
   * `origin` is who the header says the client is, and `preface` the bytes that came with the
   * header: the start of the client's hello, which a balancer in front sends in the same
   * segment more often than not.
   */
  accept(handle: UvTcp, origin: ProxyAddresses | null = null, preface: Buffer | null = null): void {
    // `handle` is how Node itself builds a socket on an accepted handle (its types lack it).
    // Not half-open during the handshake: a client that hangs up before it is done must free
    // its slot at once, not at the handshake timeout. Half-open from then on (secured below).
    const raw = new net.Socket({ handle, allowHalfOpen: false, readable: true, writable: true } as net.SocketConstructorOpts);
    this.handshaking.set(raw, origin);
    raw.once('close', () => this.handshaking.delete(raw));
    // Buffered in the socket, the TLS socket built on it takes these bytes first: node:tls
    // feeds whatever the wrapped socket holds to the handshake before reading the handle.
    if (preface !== null) raw.unshift(preface);
    this.server.emit('connection', raw);
  }

  /** New certificates or handshake timeout (reload): every handshake from now on uses them. */
  update(certs: ListenerCerts, handshakeTimeoutMs: number): void {
    this.server = this.createServer(certs, handshakeTimeoutMs);
  }

  /** Cuts every handshake still under way (shutdown deadline). */
  destroyPending(): void {
    for (const raw of this.handshaking.keys()) raw.destroy();
    this.handshaking.clear();
  }

  private createServer(certs: ListenerCerts, handshakeTimeoutMs: number): tls.Server {
    const server = tls.createServer({
      // The default context is built from these; SNICallback picks a context per name.
      cert: certs.default.certPem,
      key: certs.default.keyPem,
      minVersion: certs.minVersion,
      ciphers: CIPHERS,
      honorCipherOrder: false,
      ALPNProtocols: ['http/1.1'],
      // Without SNI entries every name gets the default context: no callback, so a handshake
      // does not switch contexts (a cost per connection on the handshake-bound path).
      ...(certs.exact.size + certs.wildcard.size === 0 ? {} : { SNICallback: (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => cb(null, certFor(certs, servername).context) }),
      handshakeTimeout: Math.max(1, handshakeTimeoutMs),
    });
    server.on('secureConnection', (sock: tls.TLSSocket) => {
      const raw = tcpUnder(sock);
      const origin = raw === null ? null : (this.handshaking.get(raw) ?? null);
      if (raw !== null) this.handshaking.delete(raw);
      // A client's FIN now means "no more requests": what it asked is still answered (ClientConn.onEnd).
      sock.allowHalfOpen = true;
      this.hooks.secured(new TlsSocket(sock, raw, NO_LISTENER), origin);
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, sock: tls.TLSSocket) => {
      const raw = tcpUnder(sock);
      const origin = raw === null ? null : this.handshaking.get(raw);
      this.hooks.failed(err, origin?.source ?? sock.remoteAddress ?? '');
      sock.destroy();
    });
    return server;
  }
}
