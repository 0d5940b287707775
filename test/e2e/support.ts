/**
 * Support for the browser tests: the repository root, a built dashboard, Debian's chromium
 * through playwright-core (never a downloaded browser), a running `ballast demo` on free
 * ports, and steady background traffic so the charts have something to draw.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, ConsoleMessage, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { freePortBlock } from '../helpers/servers.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The directory holding package.json, whether this runs from test/ (tsx) or dist/test/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('package.json not found above the test file');
}

export function outputDir(): string {
  const dir = join(repoRoot(), 'test-output');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Whether the browser tests can run. Without chromium they are skipped locally, but under
 * CI=true a missing browser is a failure: CI installs it (`.ci/run`), so its absence is a bug.
 */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const msg = `${CHROMIUM} is missing (apt-get install -y chromium)`;
  if (process.env.CI === 'true') throw new Error(`${msg}: the browser tests must run in CI`);
  return msg;
}

/** Builds the dashboard bundle (and the CLI, for the demo) if a test run started without `npm run build`. */
export function ensureBuilt(): void {
  const root = repoRoot();
  if (!existsSync(join(root, 'dist/src/cli/main.js'))) {
    const r = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: root, stdio: 'inherit' });
    if (!existsSync(join(root, 'dist/src/cli/main.js'))) throw new Error(`tsc did not build the CLI (exit ${r.status})`);
  }
  if (!existsSync(join(root, 'dist/dashboard/app.js'))) {
    const r = spawnSync(process.execPath, [join(root, 'scripts/build-dashboard.mjs')], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('building the dashboard failed');
  }
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 20_000 });
}

/** Collects console errors and uncaught page errors, which the tests require to be none. */
export function watchErrors(page: Page, ignore: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (!ignore.some((re) => re.test(text))) errors.push(`console: ${text}`);
  });
  page.on('pageerror', (err) => errors.push(`page: ${err.message}`));
  return errors;
}

export interface Demo {
  proxyUrl: string;
  adminUrl: string;
  backendPorts: number[];
  stop(): Promise<void>;
}

/** Runs `node bin/ballast demo` with the balancer and admin on ephemeral ports; reads them from its banner. */
export async function startDemo(): Promise<Demo> {
  const root = repoRoot();
  const first = await freePortBlock(3);
  const child: ChildProcess = spawn(process.execPath, [join(root, 'bin/ballast'), 'demo', '--port', '0', '--admin-port', '0', '--backend-port', String(first)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  let proxyUrl: string | undefined;
  let adminUrl: string | undefined;
  while (Date.now() < deadline && child.exitCode === null) {
    proxyUrl = /balancer\s+(http:\/\/[\d.]+:\d+)/.exec(out)?.[1];
    adminUrl = /dashboard\s+(http:\/\/[\d.]+:\d+)/.exec(out)?.[1];
    if (proxyUrl && adminUrl) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  if (!proxyUrl || !adminUrl) {
    await stop();
    throw new Error(`ballast demo did not start:\n${out}\n${err}`);
  }
  return { proxyUrl, adminUrl, backendPorts: [first, first + 1, first + 2], stop };
}

export function httpJson(url: string, method = 'GET', body?: unknown): Promise<{ status: number; json: any }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: payload ? { 'Content-Type': 'application/json' } : {}, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/**
 * A few requests a second through the balancer until stopped (at most `maxMs`), so the
 * charts, cards and recent-requests list have live data.
 */
export function backgroundTraffic(proxyUrl: string, perSecond: number, maxMs: number): { stop(): void } {
  const started = Date.now();
  let n = 0;
  const timer = setInterval(() => {
    if (Date.now() - started > maxMs) {
      clearInterval(timer);
      return;
    }
    const req = request(`${proxyUrl}/?i=${n++}`, { headers: { 'X-Key': `key-${n % 20}` }, timeout: 5000 }, (res) => res.resume());
    req.on('error', () => {});
    req.on('timeout', () => req.destroy());
    req.end();
  }, 1000 / perSecond);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
