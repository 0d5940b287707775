/**
 * The dashboard's files (built by scripts/build-dashboard.mjs into dist/dashboard), served
 * from a fixed list of names, so no request path ever reaches the file system.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.js.map': { file: 'app.js.map', type: 'application/json; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/app.css.map': { file: 'app.css.map', type: 'application/json; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/**
 * Scripts and data only from this origin; inline styles are allowed because uPlot positions
 * its cursor and legend with them.
 */
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export function isStaticPath(path: string): boolean {
  return Object.hasOwn(FILES, path);
}

/** dist/dashboard, whether this module runs compiled (dist/src/admin) or from source (tsx). */
export function defaultDashboardDir(): string {
  const candidates = [new URL('../../dashboard/', import.meta.url), new URL('../../dist/dashboard/', import.meta.url)].map((u) => fileURLToPath(u));
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0]!;
}

export async function serveStatic(res: ServerResponse, dir: string, path: string): Promise<boolean> {
  const entry = FILES[path];
  if (entry === undefined) return false;
  let body: Buffer;
  try {
    body = await readFile(join(dir, entry.file));
  } catch {
    if (entry.file !== 'index.html') return false;
    body = Buffer.from('<!doctype html><meta charset="utf-8"><title>Ballast</title><p>The dashboard is not built. Run <code>npm run build</code>; the JSON API under <code>/api/</code> works without it.</p>');
  }
  res.writeHead(200, {
    'Content-Type': entry.type,
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': CSP,
    'Referrer-Policy': 'no-referrer',
  });
  res.end(body);
  return true;
}
