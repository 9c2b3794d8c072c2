import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setSecret } from '../../src/secrets/service.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { testSecretValue } from '../support/log-capture.ts';
import { waitForLockWaiters } from '../support/db.ts';
import { asAdmin, seedWorkspace, twoProcessesOnOneDatabase, type TwoProcesses } from '../support/services.ts';

/**
 * The restart policy's read of a workspace and a concurrent check-in that changes its status are
 * serialized: a runtime registering while a secret is written either registered first (the
 * policy sees it running and schedules its restart) or registers after the write (and reads the
 * new value) — never a PROVISIONING read that skips a runtime which already holds the old value.
 */
describe('restart policy read vs a concurrent register', () => {
  let processes: TwoProcesses | undefined;
  beforeAll(async () => {
    processes = await twoProcessesOnOneDatabase([new FakeProvider('fake')], { TRELLIS_RESTART_DEBOUNCE_MS: '600000' });
  });
  afterAll(() => processes?.close());

  it('a secret write waits for the register holding the row and decides on the status it committed', async () => {
    const { a, other } = processes!;
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'fake', status: 'PROVISIONING' });
    const register = await other.connect();
    try {
      // "the register": holds the row as the check-in's transaction does, then commits ONLINE
      await register.query('BEGIN');
      await register.query(`SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE`, [workspaceId]);
      const write = setSecret(asAdmin(a), { scope: 'WORKSPACE', workspaceId, key: 'RACE_KEY', value: testSecretValue('race') });
      // (the holder is idle in its transaction, not waiting: only the secret write counts)
      await waitForLockWaiters(other, 1, 'FOR NO KEY UPDATE', 'the secret write to wait on the registering row');
      await register.query(`UPDATE "Workspace" SET status = 'ONLINE' WHERE id = $1`, [workspaceId]);
      await register.query('COMMIT');
      const result = await write;
      expect(result.restarts).toEqual([expect.objectContaining({ workspaceId, outcome: 'SCHEDULED' })]);
    } finally {
      register.release();
    }
  });
});
