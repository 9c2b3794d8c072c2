import type { Services } from '../app/context.ts';
import { pendingMigrations } from '../db/migrate.ts';
import { missingKeysReason } from '../secrets/key-check.ts';

export type Readiness = { ok: boolean; database: boolean; migrations: boolean; worker: boolean; secretKeys: boolean; draining: boolean; reason?: string };

/**
 * /readyz: this replica should get traffic — the database answers, every migration this build
 * knows is applied, the job worker runs, this process holds the key of every local secret (else
 * it is a replica started without the shared TRELLIS_SECRET_KEYS; checked in the background,
 * src/secrets/key-check.ts), and the process is not draining (SIGTERM).
 */
export async function readiness(svc: Services): Promise<Readiness> {
  const missing = svc.health.missingSecretKeys;
  const r: Readiness = { ok: false, database: false, migrations: false, worker: svc.health.workerRunning, secretKeys: missing.length === 0, draining: svc.health.draining };
  try {
    const pending = await withTimeout(pendingMigrations(svc.db.pool), 2_000);
    r.database = true;
    r.migrations = pending.length === 0;
    if (!r.migrations) r.reason = `migrations not applied: ${pending.join(', ')}`;
  } catch {
    r.reason = 'database unreachable';
  }
  if (!r.worker) r.reason ??= 'job worker not running';
  if (!r.secretKeys) r.reason ??= missingKeysReason(missing);
  if (r.draining) r.reason = 'draining';
  r.ok = r.database && r.migrations && r.worker && r.secretKeys && !r.draining;
  return r;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error('timeout')), ms)))]).finally(() => clearTimeout(t));
}
