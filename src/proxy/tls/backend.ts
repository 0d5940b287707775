/**
 * TLS to backends (servers[].tls): the config resolved into what a connection needs (a
 * SecureContext holding the CA, the name to send and check, whether to verify), once at
 * start-up and on each reload (a CA file is re-read then), shared by the proxy's upstream
 * connections and the health checks, so a check passes only where traffic would.
 *
 * Verification is on unless insecureSkipVerify: the certificate must chain to `ca` (default:
 * Node's bundled CAs) and name the servername, or the host when it is an IP address (Node
 * sends no SNI for an IP and checks its IP SANs). A failed verification is a connect failure
 * of that backend (its error code, e.g. DEPTH_ZERO_SELF_SIGNED_CERT, in the logs and checks).
 */
import net from 'node:net';
import tls from 'node:tls';
import { ConfigError } from '../../config/load.js';
import type { BackendTlsConfig } from '../../config/schema.js';
import { parseCertificate, readPem } from './certs.js';
import type { TlsConnectOptions } from './socket.js';

/** One context for every backend without a CA of its own (Node's bundled CAs). */
let systemContext: tls.SecureContext | undefined;

/** servers[index].tls resolved; undefined config: plain TCP (null). */
export function resolveBackendTls(index: number, host: string, config: BackendTlsConfig | undefined): TlsConnectOptions | null {
  if (config === undefined) return null;
  const options = config === true ? { insecureSkipVerify: false } : config;
  const field = `servers[${index}].tls`;
  let secureContext: tls.SecureContext;
  if (options.ca === undefined) {
    secureContext = systemContext ??= tls.createSecureContext({ minVersion: 'TLSv1.2' });
  } else {
    const pem = readPem(`${field}.ca`, options.ca);
    parseCertificate(`${field}.ca`, options.ca, pem);
    try {
      secureContext = tls.createSecureContext({ ca: pem, minVersion: 'TLSv1.2' });
    } catch (err) {
      throw new ConfigError(`${field}.ca: ${options.ca} cannot be used as a CA (${(err as Error).message})`);
    }
  }
  const servername = options.servername ?? (net.isIP(host) === 0 ? host : undefined);
  return { secureContext, servername, verify: !options.insecureSkipVerify };
}
