#!/usr/bin/env node
// Writes the config reference (generated from the zod schema by src/config/reference.ts) into
// docs/operations.md between its markers. `npm run docs:config` builds first and runs this;
// `--check` only reports whether the page is up to date (exit 1 when stale).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const page = `${root}docs/operations.md`;
let reference;
try {
  reference = await import(new URL('../dist/src/config/reference.js', import.meta.url).href);
} catch (err) {
  process.stderr.write(`gen-config-reference: run "npm run build" first (${err.message})\n`);
  process.exit(1);
}
const { configReference, spliceReference } = reference;

const before = readFileSync(page, 'utf8');
const after = spliceReference(before, configReference());
if (process.argv.includes('--check')) {
  if (after !== before) {
    process.stderr.write('docs/operations.md: the config reference is stale; run "npm run docs:config"\n');
    process.exit(1);
  }
  process.stdout.write('docs/operations.md: the config reference is up to date\n');
} else if (after === before) {
  process.stdout.write('docs/operations.md: the config reference was already up to date\n');
} else {
  writeFileSync(page, after);
  process.stdout.write('docs/operations.md: config reference written\n');
}
