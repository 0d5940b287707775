/**
 * Certificates made at run time with the `openssl` command (Debian's openssl package): a
 * self-signed one for `ballast demo --tls`, and a small CA with certificates it signs for
 * the tests and the benchmark. Node 20's crypto can make keys but not certificates, and
 * keys are never committed. ECDSA P-256: what current sites use, and cheap to handshake.
 *
 * Every certificate names localhost and 127.0.0.1 (and any extra names given), valid for a
 * few days: long enough for a demo or a test, short enough that a leaked one soon expires.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';

export interface MadeCert {
  certFile: string;
  keyFile: string;
  /** SHA-256 fingerprint, AB:CD:... */
  fingerprint: string;
}

export class OpensslMissingError extends Error {
  constructor(detail: string) {
    super(`the openssl command is needed to make a certificate (Debian: apt-get install -y openssl): ${detail}`);
    this.name = 'OpensslMissingError';
  }
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new OpensslMissingError('not found on PATH');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`);
  }
}

function sanLine(names: readonly string[]): string {
  const all = ['localhost', '127.0.0.1', ...names];
  return [...new Set(all)].map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
}

function made(certFile: string, keyFile: string): MadeCert {
  return { certFile, keyFile, fingerprint: new X509Certificate(readFileSync(certFile)).fingerprint256 };
}

/** A fresh directory for certificates (mode 700: it holds private keys). */
export function certDir(prefix = 'ballast-tls-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed certificate for `cn` (also localhost and 127.0.0.1), in `dir` as NAME.crt / NAME.key. */
export function selfSigned(dir: string, name: string, cn = 'localhost', extraNames: readonly string[] = []): MadeCert {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  openssl(
    ['req', '-x509', ...EC_KEY, '-keyout', keyFile, '-out', certFile, '-days', '7', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${sanLine([cn, ...extraNames])}`],
    dir,
  );
  return made(certFile, keyFile);
}

/** A CA (NAME.crt / NAME.key) that can sign certificates with `signed`. */
export function makeCa(dir: string, name = 'ca'): MadeCert {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  openssl(
    ['req', '-x509', ...EC_KEY, '-keyout', keyFile, '-out', certFile, '-days', '7', '-subj', `/CN=Ballast test CA ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  return made(certFile, keyFile);
}

/** A certificate for `cn` (also localhost and 127.0.0.1) signed by `ca`. */
export function signed(dir: string, ca: MadeCert, name: string, cn = 'localhost', extraNames: readonly string[] = []): MadeCert {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=${sanLine([cn, ...extraNames])}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', '-new', ...EC_KEY, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '7', '-extfile', ext], dir);
  return made(certFile, keyFile);
}
