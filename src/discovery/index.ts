/**
 * The discovery source a config names, or undefined when the servers come from the file alone.
 * Each source is imported only when a config names it: the etcd client (etcd3, gRPC, protobuf)
 * costs about 26 MB of RSS loaded, which a balancer without discovery should not carry.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import type { Discovery } from './types.js';

export async function createDiscovery(config: Config, log: Logger): Promise<Discovery | undefined> {
  const d = config.discovery;
  if (d === undefined) return undefined;
  if (d.etcd !== undefined) {
    const { EtcdDiscovery } = await import('./etcd.js');
    const admin = config.admin.enabled ? `${config.admin.host}:${config.admin.port}` : null;
    return new EtcdDiscovery(d.etcd, log, { listen: `${config.listen.host}:${config.listen.port}`, admin });
  }
  const { DnsSrvDiscovery } = await import('./dns-srv.js');
  return new DnsSrvDiscovery(d.dnsSrv!, log);
}
