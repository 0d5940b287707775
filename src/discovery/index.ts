/** The discovery source a config names, or undefined when the servers come from the file alone. */
import type { Config } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import type { Logger } from '../util/log.js';
import { DnsSrvDiscovery } from './dns-srv.js';
import type { Discovery } from './types.js';

export function createDiscovery(config: Config, log: Logger): Discovery | undefined {
  const d = config.discovery;
  if (d === undefined) return undefined;
  if (d.etcd !== undefined) throw new ConfigError('discovery.etcd: the etcd source is being merged; use discovery.dnsSrv for now');
  return new DnsSrvDiscovery(d.dnsSrv!, log);
}
