/** A client connection's own endpoints, from its socket: what a PROXY header says when no header came in. */
import type net from 'node:net';
import type { UvTcp } from '../uv/handles.js';
import type { ProxyAddresses } from './header.js';

/** The peer and our local address of a connected handle; empty addresses when it is already gone. */
export function socketAddresses(handle: UvTcp): ProxyAddresses {
  const peer: Partial<net.AddressInfo> = {};
  const local: Partial<net.AddressInfo> = {};
  handle.getpeername(peer);
  handle.getsockname(local);
  return { source: peer.address ?? '', sourcePort: peer.port ?? 0, destination: local.address ?? '', destinationPort: local.port ?? 0 };
}
