/**
 * Certificates for TLS termination: the files of `listen.tls` read, checked and turned into
 * SecureContexts, at start-up and on every reload. Every problem is a ConfigError naming the
 * config field and the file (unreadable, not PEM, a key that does not belong to its
 * certificate), so a bad rotation refuses the reload and the running certificates stay.
 *
 * Protocol choices (Mozilla's "intermediate" profile): TLS 1.2 and 1.3 only, forward-secret
 * AEAD ciphers only, the client's preference among them (all are strong; it knows whether it
 * has AES hardware). ALPN is set on the listener (listener.ts).
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { ConfigError } from '../../config/load.js';
import type { ListenTlsConfig } from '../../config/schema.js';

/** TLS 1.3 suites, then TLS 1.2's ECDHE + AEAD ones (Mozilla intermediate, 5.7). */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** One certificate and its key, checked. */
export interface CertPair {
  certFile: string;
  keyFile: string;
  certPem: Buffer;
  keyPem: Buffer;
  cert: X509Certificate;
  context: tls.SecureContext;
}

/** What a TLS listener serves: a default certificate and the ones chosen by SNI. */
export interface ListenerCerts {
  default: CertPair;
  /** Exact names, lower case. */
  exact: Map<string, CertPair>;
  /** `*.example.com` entries by their suffix `example.com`, lower case. */
  wildcard: Map<string, CertPair>;
  minVersion: tls.SecureVersion;
}

/** The file's bytes, or a ConfigError naming the field and the file. */
export function readPem(field: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? err);
    throw new ConfigError(`${field}: cannot read ${file}: ${why}`);
  }
}

/** The first certificate of a PEM file (the leaf), or a ConfigError naming the file. */
export function parseCertificate(field: string, file: string, pem: Buffer): X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`${field}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new ConfigError(`${field}: ${file} is not a valid PEM certificate (${(err as Error).message})`);
  }
}

function parseKey(field: string, file: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    const msg = (err as Error).message;
    const why = /passphrase/i.test(msg) ? 'it is encrypted (give an unencrypted key)' : `not a valid PEM private key (${msg})`;
    throw new ConfigError(`${field}: ${file}: ${why}`);
  }
}

/** Reads, checks and builds one certificate's SecureContext; `field` is its place in the config. */
export function loadCertPair(field: string, certFile: string, keyFile: string, minVersion: tls.SecureVersion): CertPair {
  const certPem = readPem(`${field}.cert`, certFile);
  const keyPem = readPem(`${field}.key`, keyFile);
  const cert = parseCertificate(`${field}.cert`, certFile, certPem);
  const key = parseKey(`${field}.key`, keyFile, keyPem);
  if (!cert.checkPrivateKey(key)) throw new ConfigError(`${field}.key: ${keyFile} does not match the certificate in ${certFile}`);
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ cert: certPem, key: keyPem, minVersion, ciphers: CIPHERS, honorCipherOrder: false });
  } catch (err) {
    throw new ConfigError(`${field}: ${certFile} and ${keyFile} cannot be used for TLS (${(err as Error).message})`);
  }
  return { certFile, keyFile, certPem, keyPem, cert, context };
}

/** Every certificate of `listen.tls`, checked; a ConfigError names the first bad file. */
export function loadListenerCerts(config: ListenTlsConfig): ListenerCerts {
  const minVersion = config.minVersion;
  const certs: ListenerCerts = {
    default: loadCertPair('listen.tls', config.cert, config.key, minVersion),
    exact: new Map(),
    wildcard: new Map(),
    minVersion,
  };
  config.sni.forEach((entry, i) => {
    const pair = loadCertPair(`listen.tls.sni[${i}]`, entry.cert, entry.key, minVersion);
    const name = entry.servername.toLowerCase();
    const map = name.startsWith('*.') ? certs.wildcard : certs.exact;
    const key = name.startsWith('*.') ? name.slice(2) : name;
    if (map.has(key)) throw new ConfigError(`listen.tls.sni[${i}].servername: ${entry.servername} is listed twice`);
    map.set(key, pair);
  });
  return certs;
}

/** The certificate for the name a client asked for: exact, then `*.` one label up, else the default. */
export function certFor(certs: ListenerCerts, servername: string): CertPair {
  const name = servername.toLowerCase();
  const exact = certs.exact.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  if (dot > 0) {
    const wild = certs.wildcard.get(name.slice(dot + 1));
    if (wild !== undefined) return wild;
  }
  return certs.default;
}

/** SHA-256 fingerprint of a certificate, as browsers show it (AB:CD:...). */
export function fingerprint(cert: X509Certificate): string {
  return cert.fingerprint256;
}
