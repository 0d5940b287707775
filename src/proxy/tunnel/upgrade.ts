/**
 * Which `Upgrade` requests become tunnels. WebSocket and other protocols are passed through
 * to the backend untouched; h2c is not (it would need HTTP/2 on both sides of the balancer,
 * and a backend speaking h2c behind an HTTP/1.1 balancer cannot be balanced per request), and
 * neither is an upgrade request with a body (the body and the switch would race).
 */
import { Framing, type RequestFacts } from '../http/headers.js';

/** Why an upgrade request is answered 501 instead of tunnelled, or undefined to tunnel it. */
export function untunnelable(facts: RequestFacts): string | undefined {
  const protocols = facts.upgrade;
  if (protocols === undefined || protocols.trim() === '') return 'protocol upgrade without a protocol';
  for (const p of protocols.split(',')) {
    if (p.trim().toLowerCase().startsWith('h2c')) return 'h2c upgrade';
  }
  if (facts.framing !== Framing.None) return 'protocol upgrade with a request body';
  return undefined;
}
