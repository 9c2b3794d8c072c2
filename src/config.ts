import path from 'node:path';
import { z } from 'zod';

/** The only reader of process.env: every setting of CONTRACT §2, typed and validated. */
const positiveMs = z.coerce.number().int().positive();
const onOff = z.enum(['on', 'off', 'true', 'false', '1', '0']).transform((v) => v === 'on' || v === 'true' || v === '1');

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./.data'),
  TRELLIS_RUNTIME_DIR: z.string().min(1).optional(),
  TRELLIS_RUNTIME_UIDS: z.string().regex(/^\d+-\d+$/, 'expected FIRST-LAST, e.g. 2000000000-2000999999').default('2000000000-2000999999'),
  DATABASE_URL: z.string().url().optional(),
  TRELLIS_BOOTSTRAP_TOKEN: z.string().min(16).optional(),
  TRELLIS_HEARTBEAT_INTERVAL_MS: positiveMs.default(15_000),
  TRELLIS_HEARTBEAT_STALE_MS: positiveMs.optional(),
  TRELLIS_STALE_SWEEP_INTERVAL_MS: positiveMs.optional(),
  TRELLIS_RECONCILE_INTERVAL_MS: positiveMs.default(60_000),
  TRELLIS_REQUEST_EXPIRY_INTERVAL_MS: positiveMs.default(5_000),
  TRELLIS_RESTART_DEBOUNCE_MS: positiveMs.default(2_000),
  TRELLIS_RESTART_TURN_WAIT_MS: z.coerce.number().int().min(0).default(600_000),
  TRELLIS_MCP_RECOVERY_COOLDOWN_MS: positiveMs.default(300_000),
  TRELLIS_AUTO_RECOVERY_ATTEMPTS: z.coerce.number().int().min(0).max(100).default(5),
  TRELLIS_AUTO_RECOVERY_BACKOFF_MS: positiveMs.default(60_000),
  TRELLIS_PROVISION_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  TRELLIS_PUBLIC_URL: z.string().url().optional(),
  TRELLIS_OPERATION_DEADLINE_MS: positiveMs.default(600_000),
  TRELLIS_REGISTER_DEADLINE_MS: positiveMs.default(300_000),
  TRELLIS_OPERATION_SWEEP_INTERVAL_MS: positiveMs.optional(),
  TRELLIS_WORKER_HEARTBEAT_MS: positiveMs.default(5_000),
  AWS_REGION: z.string().min(1).optional(),
  TRELLIS_AWS_ENDPOINT: z.string().url().optional(),
  TRELLIS_EC2_IMAGE_ID: z.string().min(1).default('ami-trellis-runtime'),
  TRELLIS_EC2_INSTANCE_TYPE: z.string().min(1).default('t3.small'),
  TRELLIS_EC2_SUBNET_ID: z.string().min(1).optional(),
  TRELLIS_SECRET_STORE: z.enum(['local', 'aws']).default('local'),
  TRELLIS_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  TRELLIS_ALLOWED_ORIGINS: z.string().optional(),
  TRELLIS_RATE_LIMIT_HEARTBEAT: z.coerce.number().int().positive().optional(),
  TRELLIS_RATE_LIMIT_WRITES: z.coerce.number().int().positive().default(120),
  TRELLIS_WS_IDLE_TIMEOUT_MS: positiveMs.default(300_000),
  TRELLIS_WS_MAX_SUBSCRIPTIONS: z.coerce.number().int().min(1).max(1000).default(50),
  TRELLIS_WS_AUTH_RECHECK_MS: positiveMs.default(5_000),
  TRELLIS_SHUTDOWN_GRACE_MS: positiveMs.default(15_000),
  TRELLIS_WS_MAX_CONNECTIONS_PER_TOKEN: z.coerce.number().int().min(1).max(10_000).default(20),
  TRELLIS_MAX_STREAMS_PER_TOKEN: z.coerce.number().int().min(1).max(100_000).default(100),
  TRELLIS_REQUEST_TIMEOUT_MS: positiveMs.default(30_000),
  TRELLIS_METRICS_ADDR: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:9464').optional(),
  TRELLIS_ALLOWED_HOSTS: z.string().optional(),
  TRELLIS_GRAPHIQL: onOff.optional(),
  TRELLIS_INTROSPECTION: onOff.optional(),
  TRELLIS_ORPHAN_GRACE_MS: positiveMs.default(300_000),
  TRELLIS_ORPHAN_SWEEP_INTERVAL_MS: positiveMs.optional(),
  NODE_ENV: z.string().optional(),
  TRELLIS_CRASH_AT: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  TRELLIS_SECRET_KEYS: z.string().optional(),
  TRELLIS_DATABASE_WAIT_MS: z.coerce.number().int().min(0).default(60_000),
  TRELLIS_PRINT_BOOTSTRAP_TOKEN: z.enum(['true', 'false']).default('true'),
});

export type Config = {
  port: number;
  host: string;
  dataDir: string;
  /** Where `local` runtimes' folders live: never inside DATA_DIR (README "What `local` isolates"). */
  runtimeDir: string;
  /** The uids (and equal gids) `local` runtimes run under when the API runs as root. */
  runtimeUids: { first: number; last: number };
  databaseUrl: string | undefined;
  bootstrapToken: string | undefined;
  heartbeatIntervalMs: number;
  heartbeatStaleMs: number;
  staleSweepIntervalMs: number;
  reconcileIntervalMs: number;
  /** How often PENDING requests past `expiresAt` are moved to EXPIRED. */
  requestExpiryIntervalMs: number;
  restartDebounceMs: number;
  /** How long a scheduled restart waits for a reported active turn to end before it runs anyway (0: never waits). */
  restartTurnWaitMs: number;
  mcpRecoveryCooldownMs: number;
  /** Automatic restarts of a FAILED PLATFORM workspace before it is left to a person (0: never). */
  autoRecoveryAttempts: number;
  /** Wait before the first automatic restart; doubles with each attempt. */
  autoRecoveryBackoffMs: number;
  provisionAttempts: number;
  /** A RUNNING operation older than this (since its attempt started) is failed loudly. */
  operationDeadlineMs: number;
  /** A started instance whose runtime has not registered after this long fails loudly. */
  registerDeadlineMs: number;
  operationSweepIntervalMs: number;
  /** Worker-pool heartbeat; a pool silent for 3× this belongs to a dead process and its job locks are released. */
  workerHeartbeatMs: number;
  /** The URL runtimes started by this API use to reach it; derived from HOST/PORT unless set. */
  publicUrl: string | undefined;
  awsRegion: string | undefined;
  awsEndpoint: string | undefined;
  ec2: { imageId: string; instanceType: string; subnetId: string | undefined };
  secretStore: 'local' | 'aws';
  /** TRELLIS_SECRET_KEYS: the local store's shared keys (first encrypts); unset → a key file in DATA_DIR. */
  secretKeys: Buffer[] | undefined;
  /** How long start-up retries an unreachable DATABASE_URL before it gives up. */
  databaseWaitMs: number;
  /** Print a generated bootstrap token on stdout besides writing it to DATA_DIR/bootstrap-token. */
  printBootstrapToken: boolean;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  logFormat: 'json' | 'pretty';
  /** A tagged instance that is not its workspace's recorded one is stopped once seen so this long (CONTRACT §11). */
  orphanGraceMs: number;
  orphanSweepIntervalMs: number;
  /** Crash tests only: where this process kills itself (src/shared/crash-points.ts); honoured when NODE_ENV=test. */
  crashAt: string | undefined;
  limits: LimitsConfig;
  /** GraphiQL at GET /graphql (README "Production switches"); default on only for a loopback HOST. */
  graphiql: boolean;
  /** Schema introspection (`__schema`, `__type`); default follows `graphiql`. */
  introspection: boolean;
  /** Where /metrics is served instead of the public port, when set. */
  metricsAddr: { host: string; port: number } | undefined;
};

/** Hardening knobs (README "Hardening"); every one has a safe default. */
export type LimitsConfig = {
  /** Largest request body accepted (bytes); larger → 413. */
  maxBodyBytes: number;
  /** Browser origins allowed besides the server's own (CORS and graphql-ws Origin check). */
  allowedOrigins: string[];
  /** Per-token budget of `heartbeat` calls per minute. */
  heartbeatPerMinute: number;
  /** Per-token budget per minute of each other hot mutation (createRequest, setSecret). */
  writesPerMinute: number;
  /** A graphql-ws connection with no subscription for this long is closed. */
  wsIdleTimeoutMs: number;
  wsMaxSubscriptions: number;
  /** How often the tokens of open graphql-ws connections are re-checked (revocation ends them). */
  wsAuthRecheckMs: number;
  /** SIGTERM: how long subscribers and running jobs get to finish before the process exits. */
  shutdownGraceMs: number;
  /** Open graphql-ws connections one token may hold. */
  wsMaxConnectionsPerToken: number;
  /** Open event streams (graphql-ws subscriptions and SSE streams together) one token may hold. */
  maxStreamsPerToken: number;
  /** A request whose headers and body have not all arrived after this long is cut (Node's requestTimeout). */
  requestTimeoutMs: number;
  /**
   * Host names (no port) the browser routes (GraphiQL, the canvas) answer to, and that a browser
   * Origin may name for same-origin calls: the DNS-rebinding guard. '*' allows any.
   */
  allowedHosts: string[];
};

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(stripEmpty(env));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  if (e.TRELLIS_SECRET_STORE === 'aws' && !e.AWS_REGION) throw new ConfigError('invalid configuration: TRELLIS_SECRET_STORE=aws needs AWS_REGION (and TRELLIS_AWS_ENDPOINT for a compatible server)');
  const [firstUid, lastUid] = e.TRELLIS_RUNTIME_UIDS.split('-').map(Number) as [number, number];
  if (!(firstUid >= 1000 && firstUid <= lastUid && lastUid < 2 ** 31 - 1)) throw new ConfigError('invalid configuration: TRELLIS_RUNTIME_UIDS must be FIRST-LAST with 1000 <= FIRST <= LAST < 2147483647');
  const dataDir = path.resolve(e.DATA_DIR);
  const runtimeDir = path.resolve(e.TRELLIS_RUNTIME_DIR ?? `${dataDir}-runtimes`);
  if (runtimeDir === dataDir || runtimeDir.startsWith(dataDir + path.sep) || dataDir.startsWith(runtimeDir + path.sep)) {
    throw new ConfigError('invalid configuration: TRELLIS_RUNTIME_DIR must be outside DATA_DIR (and not contain it): runtimes must never reach the API\'s files');
  }
  const heartbeatStaleMs = e.TRELLIS_HEARTBEAT_STALE_MS ?? 3 * e.TRELLIS_HEARTBEAT_INTERVAL_MS;
  const secretKeys = e.TRELLIS_SECRET_KEYS === undefined ? undefined : parseSecretKeys(e.TRELLIS_SECRET_KEYS);
  const graphiql = e.TRELLIS_GRAPHIQL ?? isLoopback(e.HOST);
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    runtimeDir,
    runtimeUids: { first: firstUid, last: lastUid },
    databaseUrl: e.DATABASE_URL,
    bootstrapToken: e.TRELLIS_BOOTSTRAP_TOKEN,
    heartbeatIntervalMs: e.TRELLIS_HEARTBEAT_INTERVAL_MS,
    heartbeatStaleMs,
    staleSweepIntervalMs: e.TRELLIS_STALE_SWEEP_INTERVAL_MS ?? Math.max(50, Math.min(5_000, Math.floor(heartbeatStaleMs / 3))),
    reconcileIntervalMs: e.TRELLIS_RECONCILE_INTERVAL_MS,
    requestExpiryIntervalMs: e.TRELLIS_REQUEST_EXPIRY_INTERVAL_MS,
    restartDebounceMs: e.TRELLIS_RESTART_DEBOUNCE_MS,
    restartTurnWaitMs: e.TRELLIS_RESTART_TURN_WAIT_MS,
    mcpRecoveryCooldownMs: e.TRELLIS_MCP_RECOVERY_COOLDOWN_MS,
    autoRecoveryAttempts: e.TRELLIS_AUTO_RECOVERY_ATTEMPTS,
    autoRecoveryBackoffMs: e.TRELLIS_AUTO_RECOVERY_BACKOFF_MS,
    provisionAttempts: e.TRELLIS_PROVISION_ATTEMPTS,
    operationDeadlineMs: e.TRELLIS_OPERATION_DEADLINE_MS,
    registerDeadlineMs: e.TRELLIS_REGISTER_DEADLINE_MS,
    operationSweepIntervalMs: e.TRELLIS_OPERATION_SWEEP_INTERVAL_MS ?? Math.max(50, Math.min(30_000, Math.floor(e.TRELLIS_OPERATION_DEADLINE_MS / 4))),
    workerHeartbeatMs: e.TRELLIS_WORKER_HEARTBEAT_MS,
    publicUrl: e.TRELLIS_PUBLIC_URL,
    awsRegion: e.AWS_REGION,
    awsEndpoint: e.TRELLIS_AWS_ENDPOINT,
    ec2: { imageId: e.TRELLIS_EC2_IMAGE_ID, instanceType: e.TRELLIS_EC2_INSTANCE_TYPE, subnetId: e.TRELLIS_EC2_SUBNET_ID },
    secretStore: e.TRELLIS_SECRET_STORE,
    secretKeys,
    databaseWaitMs: e.TRELLIS_DATABASE_WAIT_MS,
    printBootstrapToken: e.TRELLIS_PRINT_BOOTSTRAP_TOKEN === 'true',
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    graphiql,
    introspection: e.TRELLIS_INTROSPECTION ?? graphiql,
    metricsAddr: e.TRELLIS_METRICS_ADDR ? hostPort(e.TRELLIS_METRICS_ADDR) : undefined,
    orphanGraceMs: e.TRELLIS_ORPHAN_GRACE_MS,
    orphanSweepIntervalMs: e.TRELLIS_ORPHAN_SWEEP_INTERVAL_MS ?? e.TRELLIS_RECONCILE_INTERVAL_MS,
    crashAt: e.NODE_ENV === 'test' ? e.TRELLIS_CRASH_AT : undefined,
    limits: {
      maxBodyBytes: e.TRELLIS_MAX_BODY_BYTES,
      allowedOrigins: (e.TRELLIS_ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean),
      // 8× the rate a runtime heartbeats at, and never below 120/min.
      heartbeatPerMinute: e.TRELLIS_RATE_LIMIT_HEARTBEAT ?? Math.max(120, Math.ceil((8 * 60_000) / e.TRELLIS_HEARTBEAT_INTERVAL_MS)),
      writesPerMinute: e.TRELLIS_RATE_LIMIT_WRITES,
      wsIdleTimeoutMs: e.TRELLIS_WS_IDLE_TIMEOUT_MS,
      wsMaxSubscriptions: e.TRELLIS_WS_MAX_SUBSCRIPTIONS,
      wsAuthRecheckMs: e.TRELLIS_WS_AUTH_RECHECK_MS,
      shutdownGraceMs: e.TRELLIS_SHUTDOWN_GRACE_MS,
      wsMaxConnectionsPerToken: e.TRELLIS_WS_MAX_CONNECTIONS_PER_TOKEN,
      maxStreamsPerToken: e.TRELLIS_MAX_STREAMS_PER_TOKEN,
      requestTimeoutMs: e.TRELLIS_REQUEST_TIMEOUT_MS,
      allowedHosts: allowedHosts(e.TRELLIS_ALLOWED_HOSTS, e.HOST, e.TRELLIS_PUBLIC_URL),
    },
  };
}

/** Comma-separated base64 of 32 bytes each; a fault names the key's position, never its text. */
function parseSecretKeys(text: string): Buffer[] {
  const parts = text.split(',').map((p) => p.trim());
  return parts.map((p, i) => {
    const key = Buffer.from(p, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(p) || key.length !== 32) {
      throw new ConfigError(`invalid configuration: TRELLIS_SECRET_KEYS: key ${i + 1} of ${parts.length} is not base64 of 32 bytes (make one with: openssl rand -base64 32)`);
    }
    return key;
  });
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return LOOPBACK_NAMES.includes(h) || h.endsWith('.localhost') || /^127\./.test(h);
}

/** Listed hosts, or by default the localhost names, the bind host (unless a wildcard) and TRELLIS_PUBLIC_URL's host. */
function allowedHosts(list: string | undefined, bindHost: string, publicUrl: string | undefined): string[] {
  if (list) return list.split(',').map((h) => h.trim().toLowerCase().replace(/^\[|\]$/g, '')).filter(Boolean);
  const hosts = new Set(LOOPBACK_NAMES);
  const bind = bindHost.replace(/^\[|\]$/g, '').toLowerCase();
  if (bind !== '0.0.0.0' && bind !== '::') hosts.add(bind);
  if (publicUrl) hosts.add(new URL(publicUrl).hostname.replace(/^\[|\]$/g, '').toLowerCase());
  return [...hosts];
}

function hostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

/** An empty variable means "unset", as shells make it easy to export one by accident. */
function stripEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}
