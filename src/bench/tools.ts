/**
 * Finding the programs the benchmarks drive (haproxy, nginx, wrk, taskset): on PATH, then in
 * the sbin directories Debian installs daemons to, which a non-root PATH often lacks (nginx and
 * haproxy are in /usr/sbin).
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** Every executable file named `name` on PATH and in the sbin directories, in that order. */
export function toolCandidates(name: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [...(env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''), ...SBIN];
  const out: string[] = [];
  for (const dir of dirs) {
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
    } catch {
      continue;
    }
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** The first of `toolCandidates`, or null when the program is not installed. */
export function findTool(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  return toolCandidates(name, env)[0] ?? null;
}

/** The package that brings each tool, for the message when one is missing. */
export function installHint(tool: string): string {
  const pkg = tool === 'taskset' ? 'util-linux' : tool;
  return `Debian: apt-get install -y ${pkg}`;
}
