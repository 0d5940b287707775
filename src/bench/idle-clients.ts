/**
 * The idle-clients child of `ballast bench --throughput`: opens N keep-alive client
 * connections to a balancer, sends one request on each and reads its response (so each is a
 * real client connection that has served a request, parser and all), then leaves them all
 * open and idle until stopped (SIGTERM or SIGINT). It prints `idle clients open N` once every
 * connection is answered; the parent then reads the balancer's RSS. The process entry is
 * idle-clients-child.ts:
 * `node idle-clients-child.js '{"host":"127.0.0.1","port":8080,"connections":10000,"sources":["127.0.0.1"]}'`
 *
 * Bounded: connections open `batch` at a time (the balancer's accept backlog is 511), every
 * one must be answered within `timeoutMs` of the start, and it sends nothing more after that.
 * Source addresses rotate over `sources` (127.0.0.x), each with its own ephemeral port range.
 */
import net from 'node:net';

export interface IdleClientsOptions {
  host: string;
  port: number;
  connections: number;
  /** Local addresses to connect from, in turn. */
  sources: string[];
  /** Connections being opened at once. */
  batch: number;
  /** The whole opening must be done within this. */
  timeoutMs: number;
}

export const IDLE_DEFAULTS = { batch: 200, timeoutMs: 120_000 } as const;

/** The request sent once on each connection. */
export const IDLE_REQUEST = 'GET / HTTP/1.1\r\nHost: idle-clients\r\n\r\n';

/** The line printed once every connection is open and answered (followed by their number). */
export const IDLE_READY_LINE = 'idle clients open';
export const IDLE_READY = /^idle clients open (\d+)$/;

/** Reads and checks the child's JSON argument. */
export function idleClientsOptions(json: string): IdleClientsOptions {
  const o = JSON.parse(json) as Partial<IdleClientsOptions>;
  if (typeof o.host !== 'string' || o.host === '') throw new RangeError('idle clients: host is required');
  if (!Number.isInteger(o.port) || o.port! < 1 || o.port! > 65535) throw new RangeError(`idle clients: port must be 1..65535, got ${o.port}`);
  if (!Number.isInteger(o.connections) || o.connections! < 1) throw new RangeError(`idle clients: connections must be a positive integer, got ${o.connections}`);
  const sources = o.sources ?? ['127.0.0.1'];
  if (!Array.isArray(sources) || sources.length === 0 || !sources.every((s) => net.isIPv4(s))) throw new RangeError('idle clients: sources must be IPv4 addresses');
  return { host: o.host, port: o.port!, connections: o.connections!, sources, batch: o.batch ?? IDLE_DEFAULTS.batch, timeoutMs: o.timeoutMs ?? IDLE_DEFAULTS.timeoutMs };
}

/** True once `text` holds a whole response head and the Content-Length body after it. */
export function responseComplete(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end));
  return m === null || text.length - (end + 4) >= Number(m[1]);
}

/** One connection, answered once; resolves with it open, rejects on any failure. */
function openOne(o: IdleClientsOptions, source: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: o.host, port: o.port, localAddress: source });
    let text = '';
    socket.setEncoding('latin1');
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`connection closed before its response (${text.split('\r\n')[0] || 'nothing read'})`)));
    socket.once('connect', () => socket.write(IDLE_REQUEST));
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (!responseComplete(text)) return;
      if (!text.startsWith('HTTP/1.1 200')) return reject(new Error(`answered ${text.split('\r\n')[0]}`));
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      // Idle from here: an error now (the balancer closed it) is counted by the parent's RSS
      // reading not at all, so say it.
      socket.on('error', () => {});
      socket.on('close', () => process.stderr.write('idle clients: a connection closed while idle\n'));
      resolve(socket);
    });
  });
}

export async function openIdleClients(o: IdleClientsOptions): Promise<net.Socket[]> {
  const open: net.Socket[] = [];
  const deadline = Date.now() + o.timeoutMs;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < o.connections) {
      if (Date.now() > deadline) throw new Error(`idle clients: ${open.length} of ${o.connections} open after ${o.timeoutMs} ms`);
      const i = next++;
      open.push(await openOne(o, o.sources[i % o.sources.length]!));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.batch, o.connections) }, worker));
  } catch (err) {
    for (const s of open) s.destroy();
    throw err;
  }
  return open;
}
