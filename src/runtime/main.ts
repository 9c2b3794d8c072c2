import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { MANAGEMENT_MCP_SERVER, readPluginSettings, writePluginSettings } from './settings.ts';

/**
 * The bundled workspace runtime (what the `local` provider starts; also `npm run runtime`).
 * It registers, then heartbeats every TRELLIS_HEARTBEAT_INTERVAL_MS, and keeps retrying while
 * the API is away. Files in `<workspace>/.trellis/` let an operator (or a test) steer what it
 * reports: `settings.json` (plugins → mcpServerPresent), `active-turn` (present → activeTurn),
 * `error` (its text → heartbeat error). After registering it loads its runtime secrets once (a
 * changed secret reaches it through a restart) and records which keys and versions it holds in
 * `loaded-secrets.json` — never the values.
 */
const env = process.env;
// Before the token is read below (top-level await): the Secrets Manager client, made on first use.
let secretsManager: Promise<{ sm: import('@aws-sdk/client-secrets-manager').SecretsManagerClient; Get: typeof import('@aws-sdk/client-secrets-manager').GetSecretValueCommand }> | undefined;
const apiUrl = required('TRELLIS_API_URL');
// The token comes from a file only this runtime can read (TRELLIS_WORKSPACE_TOKEN_FILE: what the
// `local` provider hands over), the environment (TRELLIS_WORKSPACE_TOKEN, e.g. an `external`
// runtime), or, on EC2, from Secrets Manager by name (user data carries only
// TRELLIS_TOKEN_SECRET_ID, never the token itself).
const token = env.TRELLIS_WORKSPACE_TOKEN_FILE
  ? tokenFromFile(env.TRELLIS_WORKSPACE_TOKEN_FILE)
  : env.TRELLIS_WORKSPACE_TOKEN || (env.TRELLIS_TOKEN_SECRET_ID ? await tokenFromSecretsManager(env.TRELLIS_TOKEN_SECRET_ID) : required('TRELLIS_WORKSPACE_TOKEN'));
const instanceId = env.TRELLIS_INSTANCE_ID || undefined;
const intervalMs = Number(env.TRELLIS_HEARTBEAT_INTERVAL_MS || 15_000);
const workspaceDir = path.resolve(env.TRELLIS_WORKSPACE_DIR || process.cwd());
const model = env.TRELLIS_MODEL ?? '';
// On EC2, where Trellis cannot write this box's files, declared plugins are delivered to this secret.
const pluginsSecretId = env.TRELLIS_PLUGINS_SECRET_ID || undefined;
const RUNTIME_VERSION = '0.1.0';

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    stopping = true;
    log('info', `received ${signal}, exiting`);
    process.exit(0);
  });
}

async function readSecret(secretId: string): Promise<string> {
  secretsManager ??= import('@aws-sdk/client-secrets-manager').then(({ SecretsManagerClient, GetSecretValueCommand }) => ({
    sm: new SecretsManagerClient({ ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}), ...(env.TRELLIS_AWS_ENDPOINT ? { endpoint: env.TRELLIS_AWS_ENDPOINT } : {}) }),
    Get: GetSecretValueCommand,
  }));
  const { sm, Get } = await secretsManager;
  const out = await sm.send(new Get({ SecretId: secretId }));
  if (!out.SecretString) throw new Error('the secret has no string value');
  return out.SecretString;
}

async function tokenFromSecretsManager(secretId: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readSecret(secretId);
    } catch (err) {
      if (attempt >= 10) {
        process.stderr.write(`cannot read the workspace token from Secrets Manager (${secretId}): ${(err as Error).name}\n`);
        process.exit(2);
      }
      await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
    }
  }
}

function tokenFromFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    process.stderr.write(`cannot read TRELLIS_WORKSPACE_TOKEN_FILE (${file}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    process.exit(2);
  }
  if (!text) {
    process.stderr.write(`TRELLIS_WORKSPACE_TOKEN_FILE (${file}) is empty\n`);
    process.exit(2);
  }
  return text;
}

function required(name: string): string {
  const value = env[name];
  if (!value) {
    process.stderr.write(`${name} is required\n`);
    process.exit(2);
  }
  return value;
}

function log(level: 'info' | 'warn' | 'error', msg: string, extra: Record<string, unknown> = {}) {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, instanceId, msg, ...extra }) + '\n');
}

type Sample = { mcpServerPresent: boolean; loadedMcpTools: string[]; activeTurn: boolean; error: string | undefined };

/**
 * Settings lacking the management MCP server, and a plugins secret to read them from: fetch the
 * declared plugins and write them into the settings file (the plugin reconcile's delivery on EC2).
 */
async function fetchDeliveredPlugins(): Promise<void> {
  if (!pluginsSecretId) return;
  try {
    const plugins = JSON.parse(await readSecret(pluginsSecretId)) as { name: string; source: string }[];
    await writePluginSettings(workspaceDir, plugins);
    log('info', 'declared plugins fetched from Secrets Manager', { plugins: plugins.map((p) => p.name) });
  } catch (err) {
    log('warn', 'could not fetch the declared plugins', { error: (err as Error).name || (err as Error).message });
  }
}

async function sample(): Promise<Sample> {
  let settings = await readPluginSettings(workspaceDir);
  if (pluginsSecretId && !settings?.mcpServers[MANAGEMENT_MCP_SERVER]) {
    await fetchDeliveredPlugins();
    settings = await readPluginSettings(workspaceDir);
  }
  const servers = Object.keys(settings?.mcpServers ?? {});
  const activeTurn = await fs.access(path.join(workspaceDir, '.trellis', 'active-turn')).then(() => true, () => false);
  const error = await fs.readFile(path.join(workspaceDir, '.trellis', 'error'), 'utf8').then((t) => t.trim() || undefined, () => undefined);
  return { mcpServerPresent: servers.includes(MANAGEMENT_MCP_SERVER), loadedMcpTools: servers, activeTurn, error };
}

type Registry = { accepted: boolean; reason: string | null; restartPending: boolean; workspace: { status: string } };

class FatalError extends Error {}

async function call<T = Registry>(query: string, input?: unknown): Promise<T> {
  const res = await fetch(apiUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables: input === undefined ? {} : { input } }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { data?: Record<string, T>; errors?: { message: string; extensions?: { code?: string } }[] };
  const err = body.errors?.[0];
  if (err) {
    if (err.extensions?.code === 'UNAUTHENTICATED') throw new FatalError(`token rejected: ${err.message}`);
    throw new Error(`${err.extensions?.code ?? 'ERROR'}: ${err.message}`);
  }
  return Object.values(body.data ?? {})[0]!;
}

const RESULT = 'accepted reason restartPending workspace { status }';
const REGISTER = `mutation Register($input: RegisterInput!) { registerWorkspace(input: $input) { ${RESULT} } }`;
const HEARTBEAT = `mutation Heartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { ${RESULT} } }`;
const RUNTIME_SECRETS = 'query RuntimeSecrets { runtimeSecrets { key value version } }';

/** The secrets the agent runs with: loaded once after registering (a change arrives by restart). */
let runtimeSecrets = new Map<string, { value: string; version: number }>();

/** Runs `step` until it succeeds (backing off up to the heartbeat interval) or the token is rejected. */
async function untilDone(what: string, step: () => Promise<void>): Promise<void> {
  let delay = 250;
  while (!stopping) {
    try {
      return await step();
    } catch (err) {
      if (err instanceof FatalError) throw err;
      log('warn', `${what} failed; retrying`, { error: (err as Error).message, retryInMs: delay });
      await sleep(delay);
      delay = Math.min(delay * 2, intervalMs);
    }
  }
}

const loadSecrets = () => untilDone('loading runtime secrets', async () => {
  const secrets = await call<{ key: string; value: string; version: number }[]>(RUNTIME_SECRETS);
  runtimeSecrets = new Map(secrets.map((s) => [s.key, { value: s.value, version: s.version }]));
  const versions = secrets.map(({ key, version }) => ({ key, version }));
  const file = path.join(workspaceDir, '.trellis', 'loaded-secrets.json');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(`${file}.tmp`, JSON.stringify(versions));
  await fs.rename(`${file}.tmp`, file);
  log('info', 'runtime secrets loaded', { secrets: versions });
});

const register = () => untilDone('register', async () => {
  const s = await sample();
  const result = await call(REGISTER, {
    instanceId, runtimeVersion: RUNTIME_VERSION, model, mcpServerPresent: s.mcpServerPresent, loadedMcpTools: s.loadedMcpTools,
  });
  log('info', 'registered', { status: result.workspace.status, accepted: result.accepted, reason: result.reason });
});

async function heartbeatLoop(): Promise<void> {
  let lastStatus: string | undefined;
  while (!stopping) {
    await sleep(intervalMs);
    try {
      const s = await sample();
      const result = await call(HEARTBEAT, { model, ...s, error: s.error ?? null });
      if (result.workspace.status !== lastStatus) {
        log('info', 'status', { status: result.workspace.status, accepted: result.accepted, reason: result.reason });
        lastStatus = result.workspace.status;
      }
    } catch (err) {
      if (err instanceof FatalError) throw err;
      log('warn', 'heartbeat failed; will retry', { error: (err as Error).message });
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  await register();
  await loadSecrets();
  log('info', 'agent environment ready', { secrets: runtimeSecrets.size });
  await heartbeatLoop();
} catch (err) {
  log('error', 'runtime stopping', { error: (err as Error).message });
  process.exit(1);
}
