/**
 * Loading a config file (YAML or JSON: JSON is valid YAML) and turning validation failures
 * into one readable message per problem: file, field path, what was expected.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';

import { ConfigError } from './error.js';

export { ConfigError };

/** `servers[0].port` from a zod issue path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `unknown key "${k}"`).join(', ');
  }
  return issue.message.replace(/^Invalid (input|option): /, '');
}

export function formatIssues(source: string, issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.map((issue) => {
    let path = issue.path;
    if (issue.code === 'unrecognized_keys' && issue.keys.length === 1) path = [...path, issue.keys[0]!];
    return `  ${formatPath(path)}: ${describeIssue(issue)}`;
  });
  return `invalid config ${source}:\n${lines.join('\n')}`;
}

/** Validates an already parsed object (used by the loader, the reload path and tests). */
export function parseConfig(raw: unknown, source = '(inline)'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(source, result.error.issues));
  return result.data;
}

/** The text of a config file (a ConfigError naming the file when it cannot be read). */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read config ${file}: ${code === 'ENOENT' ? 'no such file' : String(code ?? err)}`);
  }
}

/** Parses and validates the text of a config file; `file` names it in errors. */
export function parseConfigText(text: string, file: string): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const msg = err instanceof YAMLParseError ? err.message : String(err);
    throw new ConfigError(`invalid config ${file}: not valid YAML or JSON: ${msg}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`invalid config ${file}: expected a mapping with at least "servers"`);
  }
  return parseConfig(raw, file);
}

export function loadConfigFile(file: string): Config {
  return parseConfigText(readConfigText(file), file);
}

/**
 * Where a reload gets its config: reading and parsing are separate so a watch-triggered
 * reload can compare the text of successive reads before it parses one (src/app/settle.ts).
 */
export interface ConfigSource {
  /** The current text; throws ConfigError when it cannot be read. */
  read(): string;
  /** The config the text describes; throws ConfigError when it is invalid. */
  parse(text: string): Config;
}

export function configFileSource(file: string): ConfigSource {
  return { read: () => readConfigText(file), parse: (text) => parseConfigText(text, file) };
}
