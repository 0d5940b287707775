/**
 * A fleet sharing etcd discovery, as it stands: the view stored under the prefix (servers,
 * strategy) and every instance registered under PREFIX/instances, each marked current or behind.
 * Read by `ballast fleet`; meant for the dashboard too.
 *
 * "Behind" compares views, not revision numbers. An instance's version is the revision of its
 * last read, and revisions move with every write anywhere in etcd, the instances' own keys
 * included: instances running the same view carry different versions, none of them equal to the
 * revision of this read. So each instance also writes a digest of the view it runs, and it is
 * current when that digest is the one of the servers and strategy stored now. (Comparing with
 * etcd's history at the instance's revision would also work, until etcd compacts it away.)
 */
import type { Etcd3 } from 'etcd3';
import type { ServerConfig } from '../config/schema.js';
import { fleetKeys, parseInstanceRecord, readViewContent, viewDigest, type StrategyChoice } from './etcd-keys.js';

export type InstanceState = 'current' | 'behind' | 'unknown';

export interface FleetInstance {
  /** Its key, PREFIX/instances/ID. */
  key: string;
  id: string;
  listen: string | null;
  admin: string | null;
  /** The view version (etcd revision) it applied; null before its first view. */
  version: string | null;
  /** When it started, ms since the epoch. */
  since: number | null;
  /** current: runs the stored view; behind: runs another or none yet; unknown: its record is unreadable. */
  state: InstanceState;
  /** Why it is behind or unknown; null when current. */
  note: string | null;
}

export interface FleetReport {
  prefix: string;
  /** The etcd revision of this report's read. */
  revision: string;
  /** The valid servers stored under PREFIX/servers/, in key order. */
  servers: ServerConfig[];
  /** PREFIX/strategy, or null when there is none (each instance runs its file's). */
  strategy: StrategyChoice | null;
  /** Entries the instances skip or refuse, one line each naming the key. */
  problems: string[];
  /** Why instances refuse the stored view and keep their last one, or null when they apply it. */
  refused: string | null;
  /** Sorted by id. */
  instances: FleetInstance[];
}

/** One read of the whole prefix, at one revision. Throws when etcd does not answer. */
export async function readFleet(client: Etcd3, prefix: string): Promise<FleetReport> {
  const keys = fleetKeys(prefix);
  const res = await client.getAll().prefix(`${prefix}/`).exec();
  const stored = readViewContent(res.kvs, keys);
  const digest = viewDigest(stored);

  let refused: string | null = null;
  if (stored.strategyRefused) refused = `${keys.strategy} is unusable: instances keep their last view`;
  else if (stored.servers.length === 0) refused = `no servers under ${prefix}/servers: instances keep their last view`;

  const instances: FleetInstance[] = [];
  for (const kv of res.kvs) {
    const key = kv.key.toString();
    if (!key.startsWith(keys.instances)) continue;
    const record = parseInstanceRecord(kv.value.toString());
    if (typeof record === 'string') {
      const id = key.slice(keys.instances.length);
      instances.push({ key, id, listen: null, admin: null, version: null, since: null, state: 'unknown', note: `unreadable record: ${record}` });
      continue;
    }
    let state: InstanceState = 'current';
    let note: string | null = null;
    if (record.digest === null) [state, note] = ['behind', 'no view yet'];
    else if (record.digest !== digest) [state, note] = ['behind', `runs the view of revision ${record.version ?? '?'}`];
    instances.push({ key, id: record.id, listen: record.listen, admin: record.admin, version: record.version, since: record.since, state, note });
  }
  instances.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  return { prefix, revision: res.header.revision, servers: stored.servers, strategy: stored.strategy ?? null, problems: stored.problems, refused, instances };
}
