import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { listLocalInstances } from '../../src/providers/local/tags.ts';
import { CRASH_POINTS } from '../../src/shared/crash-points.ts';
import type { FakeAws } from '../support/aws-fake.ts';
import { GraphQLClient } from '../support/gql.ts';
import { spawnTrellis, type TrellisProcess } from '../support/process.ts';
import { runtimeDirOf } from '../support/server.ts';

/**
 * The crash harness (issue 12): a real Trellis process (src/main.ts) on `local` and on `ec2`
 * against the local AWS-compatible server, driven through GraphQL by a seeded random sequence of
 * create / restart / switch (both ways) / stop / delete. Each process life is armed with one named
 * crash point (TRELLIS_CRASH_AT, chosen by the seed; the process SIGKILLs itself there) or, when
 * the point is not reached in a few actions, killed with SIGKILL at a random moment. After every
 * crash a new process starts on the same database and DATA_DIR (armed again: recovery itself may
 * crash), and the harness waits for the world to settle and checks the invariants of the issue.
 * For ec2 the harness plays the boxes' runtimes: each live instance reads its token from the
 * Secrets Manager secret when it "boots" and registers and heartbeats with it.
 */
export type ChaosOptions = { seed: number; crashes: number; databaseUrl: string; dataDir: string; port: number; aws: FakeAws; settleMs?: number; log?: (line: string) => void };
export type ChaosResult = { seed: number; crashes: number; byPoint: Record<string, number>; invariantChecks: number; violations: string[]; actions: number };

const Q = {
  createOrg: `mutation($input: CreateOrgInput!) { createOrg(input: $input) { id } }`,
  create: `mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`,
  restart: `mutation($id: ID!) { restartWorkspace(workspaceId: $id) { id } }`,
  stop: `mutation($id: ID!) { stopWorkspace(workspaceId: $id) { id } }`,
  remove: `mutation($id: ID!) { deleteWorkspace(workspaceId: $id) { id } }`,
  switch: `mutation($input: SwitchProviderInput!) { switchProvider(input: $input) { operation { id } } }`,
  register: `mutation($input: RegisterInput!) { registerWorkspace(input: $input) { accepted } }`,
  heartbeat: `mutation($input: HeartbeatInput!) { heartbeat(input: $input) { accepted } }`,
};

/** mulberry32: small, seedable, replayable. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

type Ws = { id: string; status: string; provider: string; instanceId: string | null; deletedAt: Date | null };

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const r = rng(opts.seed);
  const log = opts.log ?? (() => undefined);
  const token = `trl_chaos_${randomBytes(16).toString('hex')}`;
  const db = new pg.Pool({ connectionString: opts.databaseUrl, max: 3 });
  db.on('error', () => undefined);
  const result: ChaosResult = { seed: opts.seed, crashes: 0, byPoint: {}, invariantChecks: 0, violations: [], actions: 0 };
  const env = (crashAt: string | undefined) => ({
    DATABASE_URL: opts.databaseUrl, DATA_DIR: opts.dataDir, TRELLIS_BOOTSTRAP_TOKEN: token, NODE_ENV: 'test', TRELLIS_CRASH_AT: crashAt,
    LOG_LEVEL: 'warn', TRELLIS_HEARTBEAT_INTERVAL_MS: '300', TRELLIS_RECONCILE_INTERVAL_MS: '500', TRELLIS_ORPHAN_GRACE_MS: '1500',
    TRELLIS_ORPHAN_SWEEP_INTERVAL_MS: '300', TRELLIS_OPERATION_DEADLINE_MS: '20000', TRELLIS_REGISTER_DEADLINE_MS: '15000',
    TRELLIS_WORKER_HEARTBEAT_MS: '200', TRELLIS_PROVISION_ATTEMPTS: '3',
    AWS_REGION: 'us-east-1', TRELLIS_AWS_ENDPOINT: opts.aws.url, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_EC2_METADATA_DISABLED: 'true',
  });

  let armedPoint = '';
  let api!: TrellisProcess;
  let dead = false;
  const crashed = (stdout = api.stdout) => {
    const named = stdout.find((l) => l.startsWith('CRASH '));
    const point = named ? named.slice(6) : 'random-time SIGKILL';
    result.crashes++;
    result.byPoint[point] = (result.byPoint[point] ?? 0) + 1;
    log(`crash ${result.crashes}/${opts.crashes}: ${point}`);
  };
  const start = async (): Promise<void> => {
    for (;;) {
      armedPoint = r.pick(CRASH_POINTS);
      try {
        api = await spawnTrellis({ port: opts.port, env: env(`${armedPoint}#${1 + r.int(2)}`), timeoutMs: 60_000 });
      } catch (err) {
        // recovery at start-up (a resumed job) reached the armed point before the ready line
        const out = String((err as Error).message);
        if (!out.includes('CRASH ')) throw err;
        crashed(out.split('\n'));
        continue;
      }
      dead = false;
      void api.exited.then(() => { dead = true; });
      return;
    }
  };
  const runtimes = fakeEc2Runtimes(opts.aws, () => api?.url);

  try {
    await start();
    const admin = () => new GraphQLClient(api.url, token);
    const orgId = (await admin().ok<{ createOrg: { id: string } }, unknown>(Q.createOrg, { input: { name: 'chaos', slug: `chaos-${randomBytes(4).toString('hex')}` } })).createOrg.id;
    let sinceCrash = 0;
    while (result.crashes < opts.crashes) {
      // one action, then wait until the workspace's operations are done (or the process died)
      const rows = await workspaces(db, orgId);
      const live = rows.filter((w) => !w.deletedAt);
      const randomKill = sinceCrash >= 3 ? setTimeout(() => void api.signal('SIGKILL'), 100 + r.int(1500)) : undefined;
      try {
        await act(r, admin(), orgId, live).catch(() => undefined);
        result.actions++;
        sinceCrash++;
        await quiet(db, orgId, () => dead, 25_000);
      } finally {
        clearTimeout(randomKill);
      }
      if (!dead) continue;
      await api.exited;
      crashed();
      sinceCrash = 0;
      // restart (armed again) and settle; a crash during recovery is one more crash
      for (;;) {
        await start();
        plantOrphan(r, opts.aws, await workspaces(db, orgId));
        const problems = await settle(db, orgId, opts, () => dead, opts.settleMs ?? 45_000);
        if (dead) {
          await api.exited;
          crashed();
          continue;
        }
        result.invariantChecks++;
        log(`invariants ${problems.length ? 'VIOLATED' : 'held'} after crash ${result.crashes} (check ${result.invariantChecks})${problems.length ? `: ${problems.join('; ')}` : ''}`);
        if (problems.length) {
          result.violations.push(...problems.map((p) => `seed ${opts.seed}, after crash ${result.crashes}: ${p}`));
          return result;
        }
        break;
      }
    }
    return result;
  } finally {
    runtimes.stop();
    await api?.killGroup().catch(() => undefined);
    await db.end();
  }
}

async function act(r: ReturnType<typeof rng>, admin: GraphQLClient, orgId: string, live: Ws[]): Promise<void> {
  const provider = r.pick(['local', 'ec2'] as const);
  if (live.length < 2 || r.next() < 0.2) {
    await admin.ok(Q.create, { input: { orgId, name: `w${r.int(1000)}`, provider, model: 'm1' } });
    return;
  }
  const ws = r.pick(live);
  const kind = r.pick(['restart', 'switch', 'switch', 'stop', 'remove'] as const);
  if (kind === 'switch') await admin.ok(Q.switch, { input: { workspaceId: ws.id, provider: ws.provider === 'local' ? 'ec2' : 'local' } });
  else await admin.ok(Q[kind], { id: ws.id });
}

async function workspaces(db: pg.Pool, orgId: string): Promise<Ws[]> {
  return (await db.query<Ws>(`SELECT id, status::text AS status, provider, "instanceId", "deletedAt" FROM "Workspace" WHERE "orgId" = $1 ORDER BY id`, [orgId])).rows;
}

async function activeOps(db: pg.Pool, orgId: string): Promise<number> {
  return Number((await db.query(`SELECT count(*) AS n FROM "Operation" WHERE "orgId" = $1 AND status IN ('QUEUED', 'RUNNING')`, [orgId])).rows[0].n);
}

async function quiet(db: pg.Pool, orgId: string, dead: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && !dead()) {
    if ((await activeOps(db, orgId)) === 0) return;
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Live instances per workspace id, across both providers. */
function liveInstances(opts: ChaosOptions): Map<string, { provider: string; instanceId: string }[]> {
  const out = new Map<string, { provider: string; instanceId: string }[]>();
  const add = (ws: string, provider: string, instanceId: string) => out.set(ws, [...(out.get(ws) ?? []), { provider, instanceId }]);
  for (const i of listLocalInstances([runtimeDirOf(opts.dataDir), path.join(opts.dataDir, 'instances')])) add(i.workspaceId, 'local', i.instanceId);
  for (const inst of opts.aws.instances.values()) {
    const state = opts.aws.stateOf(inst);
    if ((state === 'pending' || state === 'running') && inst.tags['trellis:workspace']) add(inst.tags['trellis:workspace'], 'ec2', inst.id);
  }
  return out;
}

/** Tag of the instances the harness plants itself: their fake runtime never boots. */
const PLANTED_TAG = 'trellis:chaos-planted';

/**
 * After every crash, one instance no row names (as a leaked box would be), tagged for one of the
 * org's workspaces by an operation that never existed: only the orphan sweep can stop it, so the
 * invariants fail if the sweep does not work (and its crash point becomes reachable).
 */
function plantOrphan(r: ReturnType<typeof rng>, aws: FakeAws, rows: Ws[]): void {
  if (rows.length === 0) return;
  const ws = r.pick(rows);
  const id = `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
  aws.instances.set(id, {
    id, reservationId: `r-${randomBytes(9).toString('hex').slice(0, 17)}`, imageId: 'ami-planted', instanceType: 't3.small', subnetId: undefined, clientToken: undefined,
    paramsKey: 'planted', userData: undefined, tags: { 'trellis:workspace': ws.id, 'trellis:operation': `op_${randomBytes(16).toString('hex')}`, [PLANTED_TAG]: '1' },
    launchedAt: Date.now(), terminatedAt: undefined,
  });
}

/** The invariants of issue 12; an empty list when they all hold. */
export async function violations(db: pg.Pool, orgId: string, opts: ChaosOptions): Promise<string[]> {
  const problems: string[] = [];
  for (const inst of opts.aws.instances.values()) {
    const state = opts.aws.stateOf(inst);
    if (inst.tags[PLANTED_TAG] && (state === 'pending' || state === 'running')) problems.push(`orphan ${inst.id} (planted for ${inst.tags['trellis:workspace']}) still running`);
  }
  const active = await activeOps(db, orgId);
  if (active) problems.push(`${active} operation(s) not terminal`);
  const live = liveInstances(opts);
  for (const w of await workspaces(db, orgId)) {
    const mine = live.get(w.id) ?? [];
    const desc = `${w.id} (${w.status}${w.deletedAt ? ', deleted' : ''}, ${w.provider}, instance ${w.instanceId}) has live ${JSON.stringify(mine)}`;
    if (w.deletedAt || w.status === 'STOPPED') {
      if (mine.length) problems.push(`stopped/deleted with a live instance: ${desc}`);
    } else if (w.status === 'ONLINE' || w.status === 'DEGRADED') {
      if (!w.instanceId) problems.push(`ONLINE without instanceId: ${desc}`);
      else if (mine.length !== 1 || mine[0]!.instanceId !== w.instanceId || mine[0]!.provider !== w.provider) problems.push(`not exactly its one recorded instance: ${desc}`);
    } else if (w.status === 'PROVISIONING') {
      problems.push(`still PROVISIONING: ${desc}`);
    } else if (mine.length > 1) {
      problems.push(`more than one live instance: ${desc}`);
    } else if (mine.length === 1 && (mine[0]!.instanceId !== w.instanceId || mine[0]!.provider !== w.provider)) {
      // OFFLINE or FAILED: a live instance its row does not name is an orphan once the grace is over
      problems.push(`a live instance its row does not name: ${desc}`);
    }
  }
  return problems;
}

/** Waits (through deadlines and the orphan grace) until the invariants hold; returns what still does not. */
async function settle(db: pg.Pool, orgId: string, opts: ChaosOptions, dead: () => boolean, timeoutMs: number): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  let last: string[] = [];
  while (Date.now() < until && !dead()) {
    last = await violations(db, orgId, opts);
    if (last.length === 0) return last;
    await new Promise((res) => setTimeout(res, 200));
  }
  return last;
}

/**
 * The runtimes of the fake EC2 boxes: an instance that "boots" (first seen pending or running)
 * reads the runtime token then current in Secrets Manager, registers and heartbeats with it until
 * the instance is terminated or the token is refused.
 */
function fakeEc2Runtimes(aws: FakeAws, url: () => string | undefined): { stop: () => void } {
  const booted = new Map<string, string | null>();
  let busy = false;
  const timer = setInterval(() => {
    const base = url();
    if (busy || !base) return;
    busy = true;
    void (async () => {
      for (const inst of aws.instances.values()) {
        const state = aws.stateOf(inst);
        const ws = inst.tags['trellis:workspace'];
        if (!ws || inst.tags[PLANTED_TAG] || (state !== 'pending' && state !== 'running')) continue;
        if (!booted.has(inst.id)) {
          const secret = aws.secrets.get(`trellis/workspaces/${ws}/runtime-token`);
          booted.set(inst.id, secret ? secret.versions.get(secret.current) ?? null : null);
          const token = booted.get(inst.id);
          if (token) await new GraphQLClient(base, token).request(Q.register, { input: { instanceId: inst.id, mcpServerPresent: true, model: 'm1' } }).catch(() => undefined);
          continue;
        }
        const token = booted.get(inst.id);
        if (!token) continue;
        const res = await new GraphQLClient(base, token).request(Q.heartbeat, { input: { mcpServerPresent: true, activeTurn: false } }).catch(() => undefined);
        if (res?.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) booted.set(inst.id, null);
      }
    })().finally(() => { busy = false; });
  }, 300);
  return { stop: () => clearInterval(timer) };
}
