// Bundles the dashboard (src/dashboard) with esbuild into dist/dashboard, so the admin server
// serves it with no internet access. Runs as part of `npm run build`.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync } from 'node:fs';

const out = 'dist/dashboard';
mkdirSync(out, { recursive: true });
if (existsSync('src/dashboard/main.ts')) {
  await build({
    entryPoints: ['src/dashboard/main.ts'],
    bundle: true,
    minify: true,
    sourcemap: true,
    format: 'iife',
    target: ['es2020'],
    outfile: `${out}/app.js`,
    loader: { '.css': 'css' },
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'style.css']) {
    if (existsSync(`src/dashboard/${file}`)) cpSync(`src/dashboard/${file}`, `${out}/${file}`);
  }
}
