/** The discovery source a config names, or undefined when the servers come from the file alone. */
import type { Config } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import { DnsSrvDiscovery } from './dns-srv.js';
import { EtcdDiscovery } from './etcd.js';
import type { Discovery } from './types.js';

export function createDiscovery(config: Config, log: Logger): Discovery | undefined {
  const d = config.discovery;
  if (d === undefined) return undefined;
  if (d.etcd !== undefined) {
    const admin = config.admin.enabled ? `${config.admin.host}:${config.admin.port}` : null;
    return new EtcdDiscovery(d.etcd, log, { listen: `${config.listen.host}:${config.listen.port}`, admin });
  }
  return new DnsSrvDiscovery(d.dnsSrv!, log);
}
