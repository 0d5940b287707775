/** A raw client for the PROXY protocol tests: its own source address, parts sent in order, everything received collected. */
import net from 'node:net';

export interface Exchanged {
  data: string;
  /** The balancer closed the connection (else the client gave up after `idleMs` of quiet). */
  closed: boolean;
}

/**
 * Connects to 127.0.0.1:port from `localAddress` (any 127.x.y.z works on Linux), sends `parts`
 * (a number is a pause in ms), and collects the reply until the balancer closes or `idleMs`
 * passes quietly. `end`: send our FIN after the last part.
 */
export function exchange(port: number, parts: ReadonlyArray<string | Buffer | number>, options: { localAddress?: string; idleMs?: number; end?: boolean } = {}): Promise<Exchanged> {
  const idleMs = options.idleMs ?? 1500;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closed = true;
    const s = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress ?? '127.0.0.1' }, async () => {
      for (const p of parts) {
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else if (!s.destroyed) s.write(p);
      }
      // Half-close: an echo through an L4 relay then ends as soon as everything came back.
      if (options.end === true && !s.destroyed) s.end();
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
