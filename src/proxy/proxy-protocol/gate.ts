/**
 * The listener side of the PROXY protocol (listen.proxyProtocol): every accepted connection
 * passes through here before either data plane sees it, because the header comes before
 * anything else on the wire, a TLS handshake included.
 *
 * - A connection from outside `proxyProtocolFrom` is closed at once, unread. With the protocol
 *   on, the client address the balancer uses comes from the header; if anyone could send one,
 *   any client could claim any address (and pass proxy.trustedProxies, pin a beta1 key, hide
 *   from the logs).
 * - From a trusted sender, the connection must open with a whole, valid header within
 *   `timeoutMs` (timeouts.clientHeadersMs); otherwise it is closed and nothing is forwarded.
 * - The header's source becomes the client address. LOCAL, v1 UNKNOWN and v2 AF_UNSPEC
 *   (a balancer's own health check, say) carry none: the connection's real endpoints apply.
 * - Bytes that arrived with the header are handed on (copied: a read's buffer is not ours to
 *   keep), so the client's first request is not lost.
 *
 * Connections waiting for their header are counted (`pending`), so they take their share of
 * limits.maxClientConnections, and are closed by `closeAll` at shutdown.
 */
import type { Config } from '../../config/schema.js';
import type { StatsRecorder } from '../../stats/recorder.js';
import { AddressRanges } from '../../util/address.js';
import type { RateLimitedLog } from '../../util/log.js';
import { UV_EOF, kArrayBufferOffset, kReadBytesOrError, peerAddress, streamBaseState, type UvTcp } from '../uv/handles.js';
import { socketAddresses } from './endpoints.js';
import type { ProxyAddresses } from './header.js';
import { ProxyHeaderReader } from './parse.js';

export interface InboundSettings {
  /** listen.proxyProtocolFrom. */
  from: AddressRanges;
  /** The longest wait for a whole header (timeouts.clientHeadersMs). */
  timeoutMs: number;
}

/** The gate's settings from a config (built again on reload). */
export function inboundSettings(config: Config): InboundSettings {
  return { from: new AddressRanges(config.listen.proxyProtocolFrom ?? []), timeoutMs: config.timeouts.clientHeadersMs };
}

/** The connection, reading stopped; who the client is; the client's bytes that came with the header (or null). */
export type Admitted = (handle: UvTcp, origin: ProxyAddresses, preface: Buffer | null) => void;

/** libuv's handle insists on a function here (null aborts the process); the next owner sets its own. */
const ignoreRead = (): void => {};

class PendingHeader {
  private readonly reader = new ProxyHeaderReader();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly handle: UvTcp,
    readonly peer: string,
    private readonly gate: ProxyHeaderGate,
    private readonly admitted: Admitted,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => this.refuse('no PROXY header in time'), timeoutMs);
    handle.onread = this.onRead;
    handle.readStart();
  }

  private readonly onRead = (arrayBuffer: ArrayBuffer | undefined): void => {
    const n = streamBaseState[kReadBytesOrError]!;
    if (n === 0) return;
    if (n < 0) return this.refuse(n === UV_EOF ? 'closed before a whole PROXY header' : 'read error before a whole PROXY header');
    const step = this.reader.feed(Buffer.from(arrayBuffer!, streamBaseState[kArrayBufferOffset]!, n));
    if (step.kind === 'more') return;
    if (step.kind === 'error') return this.refuse(step.reason);
    const handle = this.handle;
    handle.readStop();
    handle.onread = ignoreRead;
    this.finish();
    const origin = step.header.addresses ?? socketAddresses(handle);
    this.admitted(handle, origin, step.rest.length > 0 ? Buffer.from(step.rest) : null);
  };

  private finish(): void {
    clearTimeout(this.timer);
    this.gate.forget(this);
  }

  refuse(reason: string): void {
    this.finish();
    this.handle.readStop();
    this.handle.onread = ignoreRead;
    this.handle.close();
    this.gate.refused(this.peer, reason);
  }

  close(): void {
    this.finish();
    this.handle.close();
  }
}

export class ProxyHeaderGate {
  private readonly waiting = new Set<PendingHeader>();

  constructor(
    /** Replaced on reload: applies to connections accepted from then on. */
    public settings: InboundSettings,
    private readonly stats: StatsRecorder,
    private readonly warnings: RateLimitedLog,
  ) {}

  /** Connections accepted and still waiting for their header. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Reads the header of a newly accepted connection; `admitted` gets it once it is valid, else it is closed. */
  admit(handle: UvTcp, admitted: Admitted): void {
    const peer = peerAddress(handle);
    // Reset before we got to it (HAProxy's checks close with a RST): no one to refuse.
    if (peer === '') return handle.close();
    if (!this.settings.from.has(peer)) {
      handle.close();
      this.refused(peer, 'not in listen.proxyProtocolFrom');
      return;
    }
    this.waiting.add(new PendingHeader(handle, peer, this, admitted, this.settings.timeoutMs));
  }

  /** @internal */
  forget(p: PendingHeader): void {
    this.waiting.delete(p);
  }

  /** @internal a connection closed without being handed on. */
  refused(peer: string, reason: string): void {
    this.stats.rejected('proxy_protocol');
    this.warnings.warn('proxy_protocol', { client: peer, reason }, `connection refused: ${reason}`);
  }

  /** Shutdown: connections still waiting for a header are closed. */
  closeAll(): void {
    for (const p of [...this.waiting]) p.close();
  }
}
