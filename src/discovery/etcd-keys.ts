/**
 * The fleet's keys in etcd and what their values must hold. Shared by the discovery source
 * (etcd.ts) and `ballast fleet` (etcd-fleet.ts), so both agree on what a valid entry is.
 *
 *   PREFIX/servers/HOST:PORT  one server as the config file takes it: {"host", "port", "weight"?, "name"?}
 *   PREFIX/strategy           optional: {"name", "options"?}; the app checks the name and options
 *   PREFIX/instances/ID       written by each instance under a lease: {"id", "listen", "admin", "version", "digest", "since"}
 */
import { createHash } from 'node:crypto';
import { Range } from 'etcd3';
import type { z } from 'zod';
import { formatPath } from '../config/load.js';
import { serverSchema, type ServerConfig } from '../config/schema.js';
import type { DiscoveredView } from './types.js';

export interface FleetKeys {
  prefix: string;
  /** `PREFIX/servers/`, followed by HOST:PORT. */
  servers: string;
  /** `PREFIX/strategy`. */
  strategy: string;
  /** `PREFIX/instances/`, followed by an instance id. */
  instances: string;
  /**
   * From PREFIX/servers/ to PREFIX/strategy included: a view is one read (one revision) and one
   * watch of this range. PREFIX/instances/ sorts before it, so instances updating their keys
   * wake no other instance.
   */
  view: Range;
}

export function fleetKeys(prefix: string): FleetKeys {
  const strategy = `${prefix}/strategy`;
  const servers = `${prefix}/servers/`;
  // The range end is exclusive: strategy + NUL is the first key after strategy itself.
  return { prefix, servers, strategy, instances: `${prefix}/instances/`, view: new Range(servers, `${strategy}\0`) };
}

export interface KeyValue {
  key: Buffer;
  value: Buffer;
}

export type StrategyChoice = NonNullable<DiscoveredView['strategy']>;

/** What the keys of a view range say, valid parts only, with a line per problem. */
export interface ViewContent {
  servers: ServerConfig[];
  strategy: StrategyChoice | undefined;
  /** One line per skipped server entry or refused strategy, naming the key. */
  problems: string[];
  /**
   * PREFIX/strategy exists but is unusable. The whole read must then be refused: applying its
   * servers without the strategy would quietly switch every instance back to its file's.
   */
  strategyRefused: boolean;
}

function issuesText(issues: readonly z.core.$ZodIssue[]): string {
  // As the config file's messages (src/config/load.ts): zod's "Invalid input: " says nothing.
  return issues.map((i) => `${formatPath(i.path)}: ${i.message.replace(/^Invalid (input|option): /, '')}`).join(', ');
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: `not JSON (${(err as Error).message})` };
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A server entry, or why it is skipped. The key must name the server, so no two keys describe one backend. */
export function parseServerEntry(name: string, text: string): ServerConfig | string {
  const json = parseJson(text);
  if (!json.ok) return json.error;
  const parsed = serverSchema.safeParse(json.value);
  if (!parsed.success) return issuesText(parsed.error.issues);
  const { host, port } = parsed.data;
  if (name !== `${host}:${port}` && name !== `[${host}]:${port}`) return `the key must be HOST:PORT of the server it holds (${host}:${port})`;
  return parsed.data;
}

/** The strategy entry, or why it is refused. Only its shape is checked here; the app checks the name and options. */
export function parseStrategyEntry(text: string): StrategyChoice | string {
  const json = parseJson(text);
  if (!json.ok) return json.error;
  const v = json.value;
  if (!isPlainObject(v)) return 'expected a JSON object {"name": "...", "options": {...}}';
  const unknown = Object.keys(v).filter((k) => k !== 'name' && k !== 'options');
  if (unknown.length > 0) return `unknown key ${unknown.map((k) => `"${k}"`).join(', ')} (expected "name" and "options")`;
  if (typeof v.name !== 'string' || v.name === '') return '"name" must be a strategy name';
  if (v.options === undefined) return { name: v.name };
  if (!isPlainObject(v.options)) return '"options" must be a JSON object';
  return { name: v.name, options: v.options };
}

/** Reads the keys of one view range (any order; servers keep etcd's key order). Other keys in the range are ignored. */
export function readViewContent(kvs: readonly KeyValue[], keys: FleetKeys): ViewContent {
  const content: ViewContent = { servers: [], strategy: undefined, problems: [], strategyRefused: false };
  for (const kv of kvs) {
    const key = kv.key.toString();
    if (key.startsWith(keys.servers)) {
      const server = parseServerEntry(key.slice(keys.servers.length), kv.value.toString());
      if (typeof server === 'string') content.problems.push(`${key}: ${server} (skipped)`);
      else content.servers.push(server);
    } else if (key === keys.strategy) {
      const strategy = parseStrategyEntry(kv.value.toString());
      if (typeof strategy === 'string') {
        content.problems.push(`${key}: ${strategy}`);
        content.strategyRefused = true;
      } else {
        content.strategy = strategy;
      }
    }
  }
  return content;
}

type ViewLike = { servers: ServerConfig[]; strategy?: StrategyChoice | undefined };

const canonical = (v: ViewLike) => JSON.stringify([v.servers, v.strategy ?? null]);

/** Same servers in the same order and the same strategy: nothing new to apply. */
export function sameContent(a: ViewLike, b: ViewLike): boolean {
  return canonical(a) === canonical(b);
}

/**
 * A short hash of the servers and strategy, written with each instance's version: revisions
 * differ between instances running the same view (every write in etcd moves the revision), so
 * whether an instance runs what is stored now is told by this.
 */
export function viewDigest(v: ViewLike): string {
  return createHash('sha256').update(canonical(v)).digest('hex').slice(0, 16);
}

/** The value of PREFIX/instances/ID. */
export interface InstanceRecord {
  id: string;
  /** The balancer's listen address, HOST:PORT. */
  listen: string;
  /** Its admin address, HOST:PORT, or null when admin is off. */
  admin: string | null;
  /** The view version (etcd revision) it applied; null before its first view. */
  version: string | null;
  /** viewDigest() of the view it runs; null before its first view. */
  digest: string | null;
  /** When it started, ms since the epoch. */
  since: number;
}

/** An instance record, or why it is unreadable (written by another version of Ballast, or by hand). */
export function parseInstanceRecord(text: string): InstanceRecord | string {
  const json = parseJson(text);
  if (!json.ok) return json.error;
  const v = json.value;
  if (!isPlainObject(v)) return 'expected a JSON object';
  const nullableString = (x: unknown) => x === null || typeof x === 'string';
  if (
    typeof v.id !== 'string' ||
    typeof v.listen !== 'string' ||
    !nullableString(v.admin) ||
    !nullableString(v.version) ||
    !nullableString(v.digest) ||
    typeof v.since !== 'number'
  ) {
    return 'expected {"id", "listen", "admin", "version", "digest", "since"}';
  }
  return { id: v.id, listen: v.listen, admin: v.admin as string | null, version: v.version as string | null, digest: v.digest as string | null, since: v.since };
}
