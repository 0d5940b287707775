// The documentation cannot drift from the code: the config reference in docs/operations.md
// covers every key of the schema and matches its generator, and every `ballast` command,
// flag, npm script and relative link shown in README.md and docs/ exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchema, configReference, extractReference } from '../../src/config/reference.js';
import { commandEntries, loadAllCommands } from '../../src/cli/commands/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const isTs = import.meta.url.endsWith('.ts');

function repoRoot(): string {
  let dir = here;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('package.json not found above the test file');
}

const root = repoRoot();

function markdownFiles(): string[] {
  const out = [join(root, 'README.md')];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.md')) out.push(p);
    }
  };
  walk(join(root, 'docs'));
  return out;
}

// ---- config reference -----------------------------------------------------------------

interface Node {
  type?: string | string[];
  properties?: Record<string, Node>;
  items?: Node;
  anyOf?: Node[];
  oneOf?: Node[];
}

/** Every key path of the config's JSON Schema, walked independently of the generator. */
function schemaKeys(node: Node, path: string, out: string[]): string[] {
  if (node.properties !== undefined) {
    for (const [k, child] of Object.entries(node.properties)) {
      const p = path === '' ? k : `${path}.${k}`;
      out.push(p);
      schemaKeys(child, p, out);
    }
  }
  if (node.items?.properties !== undefined) {
    for (const [k, child] of Object.entries(node.items.properties)) {
      const p = `${path}[].${k}`;
      out.push(p);
      schemaKeys(child, p, out);
    }
  }
  for (const alt of node.anyOf ?? node.oneOf ?? []) schemaKeys(alt, path, out);
  return out;
}

const operations = readFileSync(join(root, 'docs/operations.md'), 'utf8');

test('every config key of the schema, nested ones included, is in the config reference', () => {
  const reference = extractReference(operations);
  assert.ok(reference !== undefined, 'docs/operations.md has no config reference markers');
  const keys = [...new Set(schemaKeys(configJsonSchema() as Node, '', []))];
  assert.ok(keys.length > 80, `only ${keys.length} keys found: the walk is broken`);
  for (const must of ['servers[].port', 'healthCheck.rise', 'alpha1.maxHedgeRate', 'beta1.key.header', 'limits.queueTimeoutMs']) {
    assert.ok(keys.includes(must), `the schema walk misses ${must}`);
  }
  const missing = keys.filter((k) => !reference.includes(`\`${k}\``));
  assert.deepEqual(missing, [], `keys missing from the reference in docs/operations.md (run "npm run docs:config")`);
});

test('the config reference in docs/operations.md is what the generator makes now', () => {
  const current = extractReference(operations);
  assert.equal(current, configReference().trim(), 'the config reference is stale: run "npm run docs:config"');
});

// ---- commands and flags ---------------------------------------------------------------

interface Shown {
  file: string;
  command: string;
  flags: string[];
  text: string;
}

/** Code shown in a Markdown file: fenced blocks (continuation lines joined) and inline spans. */
function codeSnippets(markdown: string): string[] {
  const snippets: string[] = [];
  const fence = /^([ \t]*)(`{3,})[^\n]*\n([\s\S]*?)^\1\2[ \t]*$/gm;
  let rest = markdown;
  for (const m of markdown.matchAll(fence)) {
    snippets.push(...m[3]!.replace(/\\\n\s*/g, ' ').split('\n'));
    rest = rest.replace(m[0], '\n');
  }
  for (const m of rest.matchAll(/`([^`\n]+)`/g)) snippets.push(m[1]!);
  return snippets;
}

/** `ballast CMD ...` invocations in a line of code, with the flags written after CMD. */
function invocations(line: string, file: string): Shown[] {
  const shown: Shown[] = [];
  const re = /(?:^|[\s;&|(])(?:\.\/bin\/|npx\s+)?ballast\s+([a-z][a-z0-9-]*)(?=\s|$)/g;
  for (const m of line.matchAll(re)) {
    // The arguments end at a shell separator or a comment.
    let args = line.slice(m.index! + m[0].length);
    args = args.replace(/'[^']*'|"[^"]*"/g, ' ');
    args = args.split(/\s(?:\||\|\||&&|;|>|2>|#)\s|\s#/)[0]!;
    const flags = args.split(/\s+/).filter((t) => /^--?[a-zA-Z][a-zA-Z0-9-]*$/.test(t));
    shown.push({ file, command: m[1]!, flags, text: line.trim() });
  }
  return shown;
}

const files = markdownFiles();
const shown = files.flatMap((f) =>
  codeSnippets(readFileSync(f, 'utf8')).flatMap((line) => invocations(line, relative(root, f))),
);

test('the docs show the CLI at work (the scan finds commands)', () => {
  assert.ok(shown.length > 30, `only ${shown.length} ballast invocations found in ${files.length} files`);
  const names = new Set(shown.map((s) => s.command));
  for (const c of ['start', 'demo', 'loadtest', 'simulate']) assert.ok(names.has(c), `no "ballast ${c}" found in the docs`);
});

test('every "ballast COMMAND" shown in README.md and docs/ is listed by ballast --help', () => {
  const main = join(root, isTs ? 'src/cli/main.ts' : 'dist/src/cli/main.js');
  const r = spawnSync(process.execPath, [...(isTs ? ['--import', 'tsx'] : []), main, '--help'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const listed = new Set([...r.stdout.matchAll(/^ {2}([a-z][a-z0-9-]*)\s{2,}/gm)].map((m) => m[1]!));
  assert.ok(listed.size >= 6, `ballast --help lists only ${[...listed].join(', ')}`);
  const unknown = shown.filter((s) => !listed.has(s.command)).map((s) => `${s.file}: ballast ${s.command}  (${s.text})`);
  assert.deepEqual(unknown, [], 'commands shown in the docs that ballast --help does not list');
});

test('each lazily loaded command is the one its entry names', async () => {
  const loaded = await loadAllCommands();
  assert.deepEqual(loaded.map((c) => c.name), commandEntries.map((e) => e.name));
});

test('every flag shown after a ballast command is in that command\'s --help', async () => {
  const help = new Map((await loadAllCommands()).map((c) => [c.name, c.help]));
  const bad: string[] = [];
  for (const s of shown) {
    const text = help.get(s.command);
    if (text === undefined) continue; // reported by the previous test
    for (const flag of s.flags) {
      if (flag === '--help' || flag === '-h') continue;
      const escaped = flag.replace(/[-]/g, '\\-');
      if (!new RegExp(`(^|[\\s,(])${escaped}(?=[\\s,=)]|$)`, 'm').test(text)) bad.push(`${s.file}: ballast ${s.command} ${flag}  (${s.text})`);
    }
  }
  assert.deepEqual(bad, [], 'flags shown in the docs that the command\'s --help does not describe');
});

test('every npm script shown in the docs exists in package.json', () => {
  const scripts = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
  const bad: string[] = [];
  for (const f of files) {
    for (const line of codeSnippets(readFileSync(f, 'utf8'))) {
      for (const m of line.matchAll(/\bnpm (?:run ([a-z][\w:-]*)|(start|test))\b/g)) {
        const name = m[1] ?? m[2]!;
        if (!scripts.includes(name)) bad.push(`${relative(root, f)}: npm ${m[1] === undefined ? '' : 'run '}${name}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

// ---- links ----------------------------------------------------------------------------

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

test('every relative link and image in README.md and docs/ points to an existing file and heading', () => {
  const bad: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
    for (const m of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const file = path === '' ? f : resolve(dirname(f), path);
      if (!existsSync(file)) {
        bad.push(`${relative(root, f)}: ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && anchor !== '' && file.endsWith('.md') && !anchorsOf(file).has(anchor)) {
        bad.push(`${relative(root, f)}: ${target} (no such heading)`);
      }
    }
  }
  assert.deepEqual(bad, []);
});
