/** `ballast fleet`: what a fleet sharing etcd discovery stores and runs (src/discovery/etcd-fleet.ts). */
import { parseArgs } from 'node:util';
import { UsageError, type Command } from '../command.js';
import { formatPath } from '../../config/load.js';
import { discoverySchema } from '../../config/schema.js';
import type { FleetReport } from '../../discovery/etcd-fleet.js';

const help = `Usage: ballast fleet --etcd URL[,URL] --prefix PREFIX [--json]

Shows a fleet of balancers that take their servers from etcd (discovery.etcd): the current
revision, the servers and strategy stored under PREFIX, and every instance registered under
PREFIX/instances with the view version it applied. An instance is "behind" when the servers
and strategy at its version differ from those stored now ("unknown" once etcd has compacted
that revision away).

Flags:
  --etcd URL[,URL]   etcd v3 client URLs, comma-separated (e.g. http://127.0.0.1:2379)
  --prefix PREFIX    the fleet's key prefix, as discovery.etcd.prefix (e.g. /ballast/prod)
  --json             print the report as JSON
  --help             this text

Exit status: 0 shown, 1 etcd did not answer, 2 bad usage.
`;

/** Checks the flags with the config file's rules for discovery.etcd, naming the flag at fault. */
function settings(etcd: string | undefined, prefix: string | undefined): { endpoints: string[]; prefix: string } {
  if (etcd === undefined) throw new UsageError('--etcd URL[,URL] is required');
  if (prefix === undefined) throw new UsageError('--prefix PREFIX is required');
  const endpoints = etcd.split(',').map((s) => s.trim());
  const parsed = discoverySchema.safeParse({ etcd: { endpoints, prefix } });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const flag = issue.path[1] === 'prefix' ? '--prefix' : '--etcd';
    throw new UsageError(`${flag}: ${issue.message} (${formatPath(issue.path.slice(1))})`);
  }
  return { endpoints, prefix };
}

const time = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

/** Rows as columns padded to their widest cell, two spaces apart. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => ('  ' + r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).trimEnd());
}

export function formatFleet(report: FleetReport, endpoints: readonly string[]): string {
  const out = [`etcd ${endpoints.join(',')}  prefix ${report.prefix}  revision ${report.revision}`, ''];
  out.push(`servers (${report.servers.length}):`);
  if (report.servers.length > 0) {
    out.push(...table(report.servers.map((s) => [`${s.host}:${s.port}`, `weight ${s.weight}`, s.name === undefined ? '' : `name ${s.name}`])));
  }
  out.push(
    report.strategy === null
      ? 'strategy: none stored (each instance runs its config file\'s)'
      : `strategy: ${report.strategy.name}${report.strategy.options === undefined ? '' : ` ${JSON.stringify(report.strategy.options)}`}`,
  );
  for (const p of report.problems) out.push(`problem: ${p}`);
  if (report.refused !== null) out.push(`refused: ${report.refused}`);
  out.push('', `instances (${report.instances.length}):`);
  if (report.instances.length > 0) {
    const rows = report.instances.map((i) => [i.id, i.listen ?? '-', i.admin ?? '-', i.version ?? '-', time(i.since), i.note === null ? i.state : `${i.state} (${i.note})`]);
    out.push(...table([['ID', 'LISTEN', 'ADMIN', 'VERSION', 'SINCE', 'STATE'], ...rows]));
  }
  const behind = report.instances.filter((i) => i.state === 'behind').length;
  if (behind > 0) out.push('', `${behind} of ${report.instances.length} behind`);
  return out.join('\n') + '\n';
}

export const fleetCommand: Command = {
  name: 'fleet',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        etcd: { type: 'string' },
        prefix: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    const { endpoints, prefix } = settings(values.etcd, values.prefix);
    // Loaded here, not with the CLI: the etcd client costs every other command ~26 MB of RSS.
    const { etcdClient, etcdErrorText } = await import('../../discovery/etcd-client.js');
    const { readFleet } = await import('../../discovery/etcd-fleet.js');
    const client = etcdClient(endpoints);
    let report: FleetReport;
    try {
      report = await readFleet(client, prefix);
    } catch (err) {
      process.stderr.write(`ballast fleet: etcd ${endpoints.join(',')}: ${etcdErrorText(err)}\n`);
      return 1;
    } finally {
      client.close();
    }
    process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatFleet(report, endpoints));
    return 0;
  },
};
