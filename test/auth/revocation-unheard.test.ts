import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mintWorkspaceToken } from '../../src/orgs/tokens.ts';
import { AppError } from '../../src/shared/errors.ts';
import { createTestDatabase } from '../support/db.ts';
import { waitFor } from '../support/process.ts';
import { makeServices, seedWorkspace } from '../support/services.ts';

/**
 * The token cache is safe only while revocations are heard (CONTRACT §10: refused within one
 * second on every replica). When this replica's LISTEN connection is lost and cannot come back
 * at once, a token revoked by another replica meanwhile must not keep working from the cache
 * (a workspace token's entry lives 120 s).
 */
describe('token cache while revocations go unheard', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  let other: pg.Client;
  let admin: pg.Client;
  let dbName: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    dbName = new URL(database.url).pathname.slice(1);
    svc = await makeServices(database.url, []);
    await svc.events.start();
    other = new pg.Client({ connectionString: database.url }); // "another replica", connected before the lock-out
    await other.connect();
    admin = new pg.Client({ connectionString: inject('adminUrl') }); // ALTER DATABASE from outside it
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin?.end();
    await other?.end();
    await svc?.events.stop();
    await svc?.close();
    await database?.drop();
  });

  it('a token revoked while the listener is down is refused at once, not served from the cache', async () => {
    const { workspaceId, orgId } = await seedWorkspace(svc.db, { provider: 'external', instanceId: null });
    const token = await mintWorkspaceToken(svc, { id: workspaceId, orgId }, 'issued');
    const actor = await svc.auth.authenticate(token); // cached now
    expect(actor?.kind).toBe('WORKSPACE');
    expect((await svc.auth.authenticate(token))?.tokenId).toBe(actor!.tokenId);

    // The listener is cut off and cannot reconnect (the pool keeps its open connection).
    await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
    const { rowCount } = await other.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`);
    expect(rowCount).toBe(1);
    await waitFor(() => (svc.events as unknown as { listener?: unknown }).listener === undefined, 10_000, 'the bus to notice its lost listener');

    // Another replica revokes it (its notification reaches nobody here).
    const revoked = await other.query(`UPDATE "WorkspaceToken" SET "revokedAt" = now() WHERE id = $1 AND "revokedAt" IS NULL`, [actor!.tokenId]);
    expect(revoked.rowCount).toBe(1);

    const code = await svc.auth.authenticate(token).then(() => 'ok', (err: unknown) => (err instanceof AppError ? err.code : String(err)));
    expect(code).toBe('UNAUTHENTICATED');
  });
});
