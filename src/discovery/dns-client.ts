/**
 * A minimal DNS stub client: one question to one DNS server, over UDP, and again over TCP when
 * the UDP answer comes back truncated (RFC 7766: TCP is the fallback every resolver serves).
 *
 * Why not node:dns: `dns.resolveSrv` drops the records' TTLs, which the SRV source refreshes
 * on, and `Resolver.setServers` cannot be given a timeout per query. The wire format comes from
 * the `dns-packet` encoder/decoder; this file only moves packets and checks that an answer is
 * the answer to our question.
 *
 * Each query opens its own socket (a fresh random source port) and carries a random ID; on UDP
 * the socket is connected to the server, so the kernel drops datagrams from anyone else, and
 * a datagram whose ID or question does not match is ignored (a stray or forged packet must not
 * end the wait). The query advertises EDNS0 with a 1232-byte UDP payload (the size the DNS Flag
 * Day 2020 settled on: no IP fragmentation on common paths), so a few dozen SRV records still fit
 * in one datagram; larger sets come back truncated and are read over TCP.
 *
 * Failures to get an answer (no answer within the timeout, a refused port, a TCP error) reject
 * with `DnsUnreachableError`; an answer with any RCODE (NXDOMAIN, SERVFAIL...) resolves, since the
 * server did answer and the caller decides what the code means.
 *
 * Public API:
 *   new DnsClient(server: { host, port }, timeoutMs = 2000)
 *   query(name, type): Promise<DnsAnswer>  each leg (UDP, then TCP if truncated) gets timeoutMs
 *   close()  aborts every query in flight (they reject with DnsUnreachableError) and closes
 *     their sockets; later queries reject at once
 *   parseServerAddress(text, defaultPort = 53)  '1.2.3.4', '1.2.3.4:53', 'h:53', '::1', '[::1]:53'
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet, RecordType } from 'dns-packet';

export interface DnsServerAddress {
  host: string;
  port: number;
}

/** A decoded answer; dns-packet sets `rcode` ('NOERROR', 'NXDOMAIN', ...) though its types omit it. */
export type DnsAnswer = DecodedPacket & { rcode: string };

/** The server could not be reached or did not answer: nothing is known about the records. */
export class DnsUnreachableError extends Error {
  override name = 'DnsUnreachableError';
}

/** EDNS0 UDP payload size we advertise (see the module comment). */
const EDNS_UDP_PAYLOAD = 1232;

/** A DNS message over TCP is preceded by its length in two bytes, so it is at most this long. */
const TCP_MESSAGE_MAX = 65_535;

export class DnsClient {
  private readonly inFlight = new Set<(err: Error) => void>();
  private closed = false;
  private readonly label: string;

  constructor(
    private readonly server: DnsServerAddress,
    private readonly timeoutMs = 2_000,
  ) {
    this.label = net.isIPv6(server.host) ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
  }

  async query(name: string, type: RecordType): Promise<DnsAnswer> {
    const overUdp = await this.exchange(name, type, 'udp');
    if (!overUdp.flag_tc) return overUdp;
    return this.exchange(name, type, 'tcp');
  }

  close(): void {
    this.closed = true;
    for (const abort of [...this.inFlight]) abort(new DnsUnreachableError(`query to ${this.label} aborted: the client was closed`));
  }

  private exchange(name: string, type: RecordType, transport: 'udp' | 'tcp'): Promise<DnsAnswer> {
    if (this.closed) return Promise.reject(new DnsUnreachableError(`the DNS client for ${this.label} is closed`));
    const id = randomInt(0x10000);
    const question: Packet = {
      type: 'query',
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name, class: 'IN' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_PAYLOAD, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
    };
    return new Promise<DnsAnswer>((resolve, reject) => {
      let release: () => void = () => {};
      let timer: NodeJS.Timeout | null = null;
      const finish = (err: Error | null, answer?: DnsAnswer) => {
        if (!this.inFlight.delete(finish)) return; // settled already
        if (timer !== null) clearTimeout(timer);
        release();
        if (err !== null) reject(err);
        else resolve(answer!);
      };
      this.inFlight.add(finish);
      timer = setTimeout(() => finish(new DnsUnreachableError(`no answer from ${this.label} over ${transport.toUpperCase()} within ${this.timeoutMs} ms (${type} ${name})`)), this.timeoutMs);
      const fail = (err: Error) => finish(new DnsUnreachableError(`${transport.toUpperCase()} to ${this.label}: ${err.message}`));
      release = transport === 'udp' ? this.sendUdp(question, id, name, type, finish, fail) : this.sendTcp(question, id, name, type, finish, fail);
    });
  }

  /** Sends over a connected UDP socket; returns how to close it. */
  private sendUdp(
    question: Packet,
    id: number,
    name: string,
    type: RecordType,
    finish: (err: Error | null, answer?: DnsAnswer) => void,
    fail: (err: Error) => void,
  ): () => void {
    const socket = dgram.createSocket(net.isIPv6(this.server.host) ? 'udp6' : 'udp4');
    // A connected UDP socket also reports ICMP port-unreachable as ECONNREFUSED, so a stopped
    // server fails this query at once instead of after the timeout.
    socket.on('error', fail);
    socket.on('message', (msg) => {
      const answer = matchingAnswer(msg, id, name, type);
      if (answer !== null) finish(null, answer);
    });
    socket.connect(this.server.port, this.server.host, () => socket.send(dnsPacket.encode(question)));
    return () => {
      try {
        socket.close();
      } catch {
        // already closed by a failed connect
      }
    };
  }

  /** Sends over TCP (length-prefixed messages); returns how to close the connection. */
  private sendTcp(
    question: Packet,
    id: number,
    name: string,
    type: RecordType,
    finish: (err: Error | null, answer?: DnsAnswer) => void,
    fail: (err: Error) => void,
  ): () => void {
    const socket = net.connect({ host: this.server.host, port: this.server.port });
    let received = Buffer.alloc(0);
    socket.on('connect', () => socket.write(dnsPacket.streamEncode(question)));
    socket.on('error', fail);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const length = received.readUInt16BE(0);
      if (received.length < 2 + length) return;
      const answer = matchingAnswer(received.subarray(2, 2 + length), id, name, type);
      // On TCP nobody else can inject into our connection, so a mismatch is a broken server.
      if (answer === null) fail(new Error(`answer to ${type} ${name} does not match the question`));
      else finish(null, answer);
    });
    socket.on('end', () => fail(new Error(`connection closed after ${received.length} of at most ${TCP_MESSAGE_MAX + 2} bytes`)));
    return () => socket.destroy();
  }
}

/** The decoded message if it answers (id, name, type) as a response, else null. */
function matchingAnswer(msg: Buffer, id: number, name: string, type: RecordType): DnsAnswer | null {
  let decoded: DnsAnswer;
  try {
    decoded = dnsPacket.decode(msg) as DnsAnswer;
  } catch {
    return null;
  }
  const q = decoded.questions?.[0];
  if (decoded.type !== 'response' || decoded.id !== id || q === undefined) return null;
  if (q.type !== type || normalizeName(q.name) !== normalizeName(name)) return null;
  return decoded;
}

/** DNS names compare without case and without the root's trailing dot. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Parses a DNS server address as dns.getServers() and the config write it. */
export function parseServerAddress(text: string, defaultPort = 53): DnsServerAddress {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text);
  if (bracketed !== null) return checked(bracketed[1]!, bracketed[2], defaultPort, text);
  if (net.isIPv6(text)) return { host: text, port: defaultPort };
  const colon = text.lastIndexOf(':');
  if (colon === -1) return checked(text, undefined, defaultPort, text);
  return checked(text.slice(0, colon), text.slice(colon + 1), defaultPort, text);
}

function checked(host: string, port: string | undefined, defaultPort: number, text: string): DnsServerAddress {
  const n = port === undefined ? defaultPort : Number(port);
  if (host === '' || !Number.isInteger(n) || n < 1 || n > 65_535) throw new Error(`not a DNS server address (HOST:PORT): ${text}`);
  return { host, port: n };
}
