/**
 * The dashboard's own checks: its TypeScript (excluded from the main tsconfig, since it is
 * browser code) type-checks, and the built page loads nothing from the internet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt, repoRoot } from './support.js';

test('src/dashboard type-checks with its own tsconfig (DOM lib)', () => {
  const root = repoRoot();
  const r = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'src/dashboard/tsconfig.json'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

test('the built dashboard works offline: no external scripts, styles or fonts', () => {
  ensureBuilt();
  const dir = join(repoRoot(), 'dist/dashboard');
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'index.html references another origin');
  for (const f of ['app.css', 'style.css']) assert.doesNotMatch(readFileSync(join(dir, f), 'utf8'), /url\((["']?)(https?:)?\/\//, `${f} loads from another origin`);
  const js = readFileSync(join(dir, 'app.js'), 'utf8');
  assert.doesNotMatch(js, /(fetch|EventSource)\(["'`]https?:/, 'app.js calls another origin');
  assert.match(html, /<script src="app\.js"/);
  assert.ok(js.length > 10_000, 'uPlot is bundled into app.js');
});
