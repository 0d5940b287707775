/**
 * The config file's schema. Every key is optional but `servers`; unknown keys are errors
 * (strict objects everywhere) so a typo is reported instead of silently ignored.
 * `.describe()` texts feed the generated config reference in docs/operations.md.
 * The strategy names and one key per strategy (its options) come from the strategy registry.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { isLoopback, parseCidr } from '../util/address.js';
import { STRATEGIES, STRATEGY_NAMES, type StrategyName } from '../strategies/registry.js';
import { headerName, headerValue, hostName, requestPath } from './fields.js';
import { MAX_WORKERS } from '../workers/shared-load.js';

export { STRATEGY_NAMES, type StrategyName };

const port = z.number().int().min(0).max(65535);

/** CIDR ranges (`10.0.0.0/8`, a bare address for one host), each checked at load. */
const cidrList = z.array(
  z.string().superRefine((s, ctx) => {
    try {
      parseCidr(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  }),
);
const host = z.string().min(1);
const ms = (d: string) => z.number().nonnegative().describe(d);

const filePath = z.string().min(1);

/** TLS versions a listener may require at least; TLS 1.0 and 1.1 are never offered. */
export const TLS_MIN_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

export const listenTlsSchema = z
  .strictObject({
    cert: filePath.describe('PEM certificate file (the leaf first, then its chain); a relative path is from the working directory'),
    key: filePath.describe('PEM private key file of that certificate (not encrypted)'),
    sni: z
      .array(
        z.strictObject({
          servername: z
            .string()
            .regex(/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/, 'a host name such as api.example.com, or *.example.com')
            .describe('host name the client asks for (SNI); *.example.com matches one label'),
          cert: filePath.describe('PEM certificate file for that name'),
          key: filePath.describe('its PEM private key file'),
        }),
      )
      .default([])
      .describe('more certificates, chosen by the name the client asks for; cert/key serve every other name'),
    minVersion: z.enum(TLS_MIN_VERSIONS).default('TLSv1.2').describe('oldest TLS version accepted (TLS 1.0 and 1.1 never are)'),
  })
  .describe('TLS termination (http mode): files re-read on every reload (SIGHUP), open connections keep theirs');

export const backendTlsSchema = z.union([
  z.literal(true),
  z.strictObject({
    ca: filePath.optional().describe('PEM file of the CA(s) that sign the backend\'s certificate (default: the system\'s CAs)'),
    servername: hostName.optional().describe('name sent as SNI and checked against the certificate (default: the host, unless it is an IP address)'),
    insecureSkipVerify: z.boolean().default(false).describe('accept any certificate (encrypts, but anyone in the path can pose as the backend)'),
  }),
]);

export const serverSchema = z
  .strictObject({
    host: hostName.describe('backend address (also the Host header of its HTTP health checks)'),
    port: port.min(1).describe('backend port'),
    weight: z.number().positive().max(1000).default(1).describe('relative share of traffic'),
    name: headerValue.optional().describe('label shown in the API and metrics, and sent as the value of proxy.backendHeader (default host:port)'),
    sendProxy: z
      .enum(['v1', 'v2'])
      .optional()
      .describe(
        'send a PROXY protocol header (v1 text or v2 binary) first on every connection to this backend, carrying the client\'s address (absent: none); http mode then reuses a backend connection only for the same client connection, and health checks send v1 UNKNOWN / v2 LOCAL',
      ),
    tls: backendTlsSchema.optional().describe('speak TLS to this backend (http mode): true, or { ca, servername, insecureSkipVerify }; its certificate is verified unless insecureSkipVerify'),
  })
  .describe('one backend');

const statusRange = z
  .string()
  .regex(/^\d{3}(-\d{3})?$/, 'a status or a range such as "200-399"')
  .refine((s) => {
    const [lo, hi = lo] = s.split('-').map(Number);
    return lo! <= hi!;
  }, 'the range must go from low to high, e.g. "200-399"')
  .describe('expected status or range, e.g. "200-399"');

export const healthCheckSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('run active checks (off: every enabled backend counts as healthy)'),
    type: z.enum(['http', 'tcp']).optional().describe('http or tcp connect (default: http in http mode, tcp in tcp mode)'),
    intervalMs: ms('time between checks of one backend').default(5_000),
    jitter: z.number().min(0).max(1).default(0.1).describe('random spread of the interval, as a share of it, so checks do not align'),
    timeoutMs: ms('a check taking longer fails').default(3_000),
    method: z.string().regex(/^[A-Z]+$/).default('GET').describe('HTTP check method'),
    path: requestPath.default('/health').describe('HTTP check path'),
    expectStatus: statusRange.default('200-399'),
    rise: z.number().int().min(1).default(2).describe('consecutive passes that mark a down backend up'),
    fall: z.number().int().min(1).default(3).describe('consecutive failures that mark an up backend down'),
  })
  .describe('active health checks (HAProxy check/rise/fall)');

export const outlierSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('eject backends on consecutive proxy failures'),
    consecutiveFailures: z.number().int().min(1).default(5).describe('failures in a row that eject a backend'),
    include5xx: z.boolean().default(false).describe('count 5xx responses as failures'),
    baseEjectionMs: ms('first ejection time; it grows with each repeat').default(10_000),
    maxEjectionMs: ms('longest ejection').default(300_000),
    maxEjectedPercent: z.number().min(0).max(100).default(50).describe('never eject more than this share of the pool'),
  })
  .describe('passive health checks (Envoy outlier detection)');

export const retrySchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('retry idempotent requests that failed before any response byte'),
    maxAttempts: z.number().int().min(1).max(10).default(3).describe('attempts per request, the first included'),
    budgetPercent: z.number().min(0).max(100).default(20).describe('retries at most this share of requests'),
    minPerSecond: z.number().min(0).default(3).describe('retries always allowed per second, whatever the share'),
  })
  .describe('retries and their budget (Envoy retry budgets)');

export const timeoutsSchema = z
  .strictObject({
    connectMs: ms('connecting to a backend').default(3_000),
    responseHeadersMs: ms('from request sent to response headers (504 after)').default(30_000),
    upstreamIdleMs: ms('a response body pausing longer than this is cut').default(60_000),
    clientHeadersMs: ms('a client must send a request head within this, counted from the connection or the previous response (slowloris guard, 408)').default(10_000),
    clientBodyMs: ms('a request body must arrive whole within this, from its head, time the balancer itself stops reading not counted (a trickled upload is cut: 408, or the connection closed)').default(300_000),
    clientIdleMs: ms('a keep-alive client connection idle this long is closed (tcp mode: a connection quiet both ways); a client not reading its response this long is cut').default(60_000),
    backendKeepAliveMs: ms('an idle pooled backend connection is closed after this').default(15_000),
    shutdownMs: ms('on SIGTERM, in-flight requests get this long to finish').default(10_000),
    tunnelIdleMs: ms('an upgraded connection (WebSocket tunnel) with no byte either way this long is closed (0: never)').max(2 ** 31 - 1).default(600_000),
    tunnelMaxMs: ms('an upgraded connection (WebSocket tunnel) is closed this long after its upgrade, busy or not (0: never)').max(2 ** 31 - 1).default(86_400_000),
  })
  .describe('timeouts');

export const limitsSchema = z
  .strictObject({
    maxClientConnections: z.number().int().min(1).default(10_000).describe('client connections accepted at once'),
    maxHeaderBytes: z.number().int().min(1024).max(1 << 20).default(16_384).describe('request head larger than this gets 431'),
    maxConnectionsPerBackend: z.number().int().min(0).default(0).describe('requests in flight per backend (0: no limit; HAProxy maxconn)'),
    maxQueuePerBackend: z.number().int().min(0).default(100).describe('requests waiting for a busy backend (HAProxy maxqueue)'),
    queueTimeoutMs: ms('a queued request waiting longer gets 503').default(5_000),
    maxIdlePerBackend: z.number().int().min(0).default(64).describe('idle keep-alive connections kept per backend'),
  })
  .describe('limits');

export const proxySchema = z
  .strictObject({
    backendHeader: headerName.nullable().default(null).describe('response header naming the backend that served (e.g. X-Backend-Server); null: none'),
    via: headerValue.default('ballast').describe('pseudonym in the Via header'),
    forwardLoadReports: z
      .boolean()
      .default(false)
      .describe('pass backends\' endpoint-load-metrics headers (ORCA load reports) on to clients; off, they are read and removed, as they describe the backend and not the response'),
    trustedProxies: cidrList
      .default([])
      .describe('clients (CIDR ranges, e.g. 10.0.0.0/8) whose X-Forwarded-For, X-Forwarded-Proto and Forwarded are kept and extended; from anyone else they are replaced'),
  })
  .describe('HTTP proxy behaviour');

export const accessLogSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('write one JSON line per request (http mode): time, client, method, path, status, bytes, backend, attempts, hedged, duration'),
    path: z.string().min(1).nullable().default(null).describe('file to append to, reopened on SIGUSR1 (logrotate); null: standard output'),
    sample: z.number().min(0).max(1).default(1).describe('share of requests logged, drawn at random (0.01: one in a hundred)'),
  })
  .describe('access log');

export const adminSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('serve the admin API and dashboard'),
    host: host.default('127.0.0.1').describe('admin address (loopback unless you mean it)'),
    port: port.default(8090).describe('admin port'),
    token: z.string().min(8).nullable().default(null).describe('bearer token required by mutating calls'),
    allowInsecure: z
      .boolean()
      .default(false)
      .describe('allow admin.host beyond loopback without admin.token (anyone who can reach the port can make changes; start-up still warns)'),
    maxConnections: z
      .number()
      .int()
      .min(2)
      .max(65_536)
      .default(64)
      .describe('open connections to the admin port; more are closed at once (event streams and idle keep-alives count)'),
    maxEventStreams: z
      .number()
      .int()
      .min(1)
      .default(16)
      .describe('open /api/events streams (one per dashboard tab); more get 503; must be below admin.maxConnections'),
  })
  .describe('admin API, /metrics and dashboard');

export const reloadSchema = z
  .strictObject({
    allowReplaceAllServers: z
      .boolean()
      .default(false)
      .describe('accept a reload whose servers share none with the running ones; off, such a reload is refused, since a truncated or mistaken file looks like that (set it in the new file, for that reload)'),
  })
  .describe('safety checks on config reloads');

/** One key per registered strategy, named after it, holding its options (each defaulted). */
type StrategyKeys = { [D in (typeof STRATEGIES)[number] as D['name']]: z.ZodPrefault<D['options']> };

function strategyKeys(): StrategyKeys {
  // Object.fromEntries forgets which key holds which schema; the mapped type says it again.
  return Object.fromEntries(STRATEGIES.map((d) => [d.name, (d.options as z.ZodType).prefault({})])) as StrategyKeys;
}

export const discoverySchema = z
  .strictObject({
    etcd: z
      .strictObject({
        endpoints: z.array(z.url({ protocol: /^https?$/ })).min(1).describe('etcd v3 client URLs, e.g. http://127.0.0.1:2379'),
        prefix: z
          .string()
          .regex(/^\/[^\s]*[^\s/]$/, 'a key prefix such as /ballast/prod (starts with /, no trailing /)')
          .describe('the fleet\'s keys: PREFIX/servers/HOST:PORT (a server as JSON), PREFIX/strategy ({"name", "options"}), PREFIX/instances/ID (written by each instance)'),
        instanceId: z.string().regex(/^[A-Za-z0-9._:-]+$/).optional().describe('this instance\'s name under PREFIX/instances (default: hostname:port:pid)'),
      })
      .optional()
      .describe('servers (and optionally the strategy) from etcd v3, watched'),
    dnsSrv: z
      .strictObject({
        name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a DNS name such as _http._tcp.api.internal').describe('the SRV record set to read'),
        resolver: z
          .string()
          .regex(/^[^:\s]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/, 'HOST:PORT of a DNS server, e.g. 127.0.0.1:53')
          .optional()
          .describe('DNS server to ask, HOST:PORT (default: the system\'s first resolver)'),
        intervalMs: ms('longest time between two reads; a shorter record TTL reads sooner').min(1_000).default(30_000),
      })
      .optional()
      .describe('servers from DNS SRV records (weights from the records), re-read on their TTL'),
  })
  .refine((d) => (d.etcd === undefined) !== (d.dnsSrv === undefined), 'configure exactly one of discovery.etcd and discovery.dnsSrv')
  .describe('where the servers come from instead of `servers` (the file stays the default)');

const WORKERS_HINT = `a whole number from 1 to ${MAX_WORKERS}, or "auto" (one per core)`;

export const configSchema = z
  .strictObject({
    listen: z
      .strictObject({
        host: host.default('127.0.0.1').describe('address the balancer listens on'),
        port: port.default(8080).describe('port the balancer listens on'),
        proxyProtocol: z
          .boolean()
          .default(false)
          .describe(
            'every connection must start with a PROXY protocol header (v1 or v2), whose client address then counts as the client\'s everywhere; only from listen.proxyProtocolFrom, any other connection is closed',
          ),
        proxyProtocolFrom: cidrList
          .optional()
          .describe('who may send a PROXY header (CIDR ranges, e.g. the HAProxy or cloud balancer in front, 10.0.0.5/32); required with listen.proxyProtocol'),
        tls: listenTlsSchema.optional(),
      })
      .prefault({})
      .describe('where clients connect'),
    mode: z.enum(['http', 'tcp']).default('http').describe('http (L7) or tcp (L4)'),
    workers: z
      .union([z.number().int(WORKERS_HINT).min(1, WORKERS_HINT).max(MAX_WORKERS, WORKERS_HINT), z.literal('auto')], { error: WORKERS_HINT })
      .default(1)
      .describe('event loops serving the listen address, each on its own thread ("auto": one per core, os.availableParallelism()); they share in-flight counts; a change needs a restart'),
    strategy: z.enum(STRATEGY_NAMES).default('round_robin').describe('balancing strategy at start (switchable at run time)'),
    seed: z.number().int().nonnegative().optional().describe('random seed for the strategies (default: from entropy)'),
    watchConfig: z.boolean().default(false).describe('reload when the config file changes (SIGHUP always reloads)'),
    servers: z.array(serverSchema).default([]).describe('the backends (required unless discovery supplies them)'),
    discovery: discoverySchema.optional(),
    healthCheck: healthCheckSchema.prefault({}),
    outlierDetection: outlierSchema.prefault({}),
    retries: retrySchema.prefault({}),
    timeouts: timeoutsSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    proxy: proxySchema.prefault({}),
    accessLog: accessLogSchema.prefault({}),
    admin: adminSchema.prefault({}),
    ...strategyKeys(),
    reload: reloadSchema.prefault({}),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.servers.length === 0 && cfg.discovery === undefined) {
      ctx.addIssue({ code: 'custom', path: ['servers'], message: 'at least one server is required (or a discovery source)' });
    }
    const seen = new Set<string>();
    cfg.servers.forEach((s, i) => {
      const id = `${s.host}:${s.port}`;
      if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['servers', i], message: `duplicate server ${id}` });
      seen.add(id);
    });
    const listen = cfg.listen;
    if (listen.proxyProtocol && (listen.proxyProtocolFrom === undefined || listen.proxyProtocolFrom.length === 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['listen', 'proxyProtocolFrom'],
        message:
          'required when listen.proxyProtocol is true: the addresses allowed to send a PROXY header (e.g. ["10.0.0.5/32"]); a header from anyone else would let a client claim any address',
      });
    }
    if (!listen.proxyProtocol && listen.proxyProtocolFrom !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['listen', 'proxyProtocolFrom'], message: 'only means something with listen.proxyProtocol: true (set it, or remove this key)' });
    }
    if (cfg.mode === 'tcp') {
      // L4 relays bytes: a client's TLS passes through to the backends untouched.
      if (cfg.listen.tls !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['listen', 'tls'], message: 'TLS termination needs mode http; in tcp mode TLS passes through to the backends as it is (remove listen.tls)' });
      }
      cfg.servers.forEach((s, i) => {
        if (s.tls !== undefined) ctx.addIssue({ code: 'custom', path: ['servers', i, 'tls'], message: 'TLS to backends needs mode http; in tcp mode the client\'s bytes (TLS or not) are relayed as they are' });
      });
    }
    const admin = cfg.admin;
    if (admin.maxEventStreams >= admin.maxConnections) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'maxEventStreams'],
        message: `must be below admin.maxConnections (${admin.maxConnections}), so API calls still get a connection while every stream is open`,
      });
    }
    if (admin.enabled && admin.token === null && !admin.allowInsecure && !isLoopback(admin.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'host'],
        message:
          `${admin.host} is beyond loopback and admin.token is not set, so anyone who can reach the port could switch strategies, ` +
          'disable backends and run load tests: set admin.token, or admin.allowInsecure: true to accept that',
      });
    }
  });

/** How many workers `workers` means here: "auto" is one per core the process may use. */
export function workerCount(workers: Config['workers']): number {
  return workers === 'auto' ? Math.min(MAX_WORKERS, availableParallelism()) : workers;
}

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type ServerConfig = Config['servers'][number];
export type ListenTlsConfig = NonNullable<Config['listen']['tls']>;
export type BackendTlsConfig = NonNullable<ServerConfig['tls']>;
