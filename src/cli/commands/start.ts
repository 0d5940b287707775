/** `ballast start --config FILE`: run the balancer from a config file. */
import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { configFileSource, loadConfigFile } from '../../config/load.js';
import { UsageError, type Command } from '../command.js';
import { runBallast } from '../../app/run.js';
import { loadListenerCerts } from '../../proxy/tls/certs.js';
import { resolveBackendTls } from '../../proxy/tls/backend.js';

const help = `Usage: ballast start --config FILE [--check]

Runs the load balancer from a config file (YAML or JSON; see the README for every key).

Flags:
  --config FILE   the config file (required)
  --check         validate the config and exit (0 valid, 2 invalid); TLS certificate,
                  key and CA files are read and checked too
  --help          this text

Signals: SIGHUP reloads the config and re-reads TLS certificate files (an invalid new
config, a bad or mismatched certificate, or one keeping none of the running servers without
reload.allowReplaceAllServers, is refused and the old one keeps running); SIGTERM or SIGINT stop accepting, let in-flight requests finish up to
timeouts.shutdownMs, then exit 0.
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config.
`;

export const startCommand: Command = {
  name: 'start',
  help,
  async run(args) {
    const { values } = parseArgs({ args, strict: true, options: { config: { type: 'string' }, check: { type: 'boolean' } } });
    if (values.config === undefined) throw new UsageError('--config FILE is required');
    const file = values.config;
    const config = loadConfigFile(file);
    if (values.check) {
      // What start-up would refuse: unreadable, non-PEM or mismatched certificate files.
      if (config.listen.tls !== undefined) loadListenerCerts(config.listen.tls);
      config.servers.forEach((s, i) => resolveBackendTls(i, s.host, s.tls));
      process.stdout.write(`config ${file} is valid\n`);
      return 0;
    }
    return runBallast(config, {
      reloadSource: configFileSource(file),
      // Watch the directory, not the file: editors and deploy tools replace a config by
      // renaming a new file over it, and a watch on the old inode would miss every later change.
      watch: config.watchConfig
        ? (onChange) => {
            const name = basename(file);
            const watcher = watch(dirname(resolve(file)), { persistent: false }, (_event, changed) => {
              if (changed === null || changed === name) onChange();
            });
            return () => watcher.close();
          }
        : undefined,
    });
  },
};
