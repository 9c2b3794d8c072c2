import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTick } from '../../src/reconcilers/tick.ts';
import { waitForLockWaiters } from '../support/db.ts';
import { pollUntil } from '../support/process.ts';
import { twoProcessesOnOneDatabase, type TwoProcesses } from '../support/services.ts';

/**
 * The tick claim, with the collision forced rather than hoped for: two replicas (two services, each
 * on its own connection pool) claim the same tick while a third connection holds the row, so both
 * are parked on it and released together. Exactly one wins; a later tick is won again.
 */
describe('reconciler tick claim', () => {
  let a: TwoProcesses['a'];
  let b: TwoProcesses['b'];
  let other: pg.Pool;
  let processes: TwoProcesses | undefined;
  // An interval so long that both claims compute the same tick whatever the scheduling (tick 1 until 2001).
  const LONG = 1e12;

  beforeAll(async () => {
    processes = await twoProcessesOnOneDatabase([]);
    ({ a, b, other } = processes);
  });
  afterAll(() => processes?.close());

  it('two replicas parked on the same tick: exactly one runs it; the next tick is claimed again', async () => {
    const name = 'barrier-test';
    await other.query(`INSERT INTO "ReconcilerState" (name, tick) VALUES ($1, 0)`, [name]);
    const holder = await other.connect();
    let claims: (bigint | undefined)[];
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT name FROM "ReconcilerState" WHERE name = $1 FOR UPDATE`, [name]);
      const racing = Promise.all([claimTick(a, name, LONG), claimTick(b, name, LONG)]);
      await waitForLockWaiters(other, 2, 'INSERT INTO "ReconcilerState"', 'both claims to wait on the row');
      await holder.query('COMMIT');
      claims = await racing;
    } finally {
      holder.release();
    }
    expect(claims.filter((c) => c !== undefined), `claims ${claims.join(',')}`).toHaveLength(1);
    // the same tick again: nobody
    expect(await claimTick(a, name, LONG)).toBeUndefined();
    expect(await claimTick(b, name, LONG)).toBeUndefined();
    // a later tick (a shorter interval gives a larger tick number): claimed again, once
    const later = await Promise.all([claimTick(a, name, LONG / 10), claimTick(b, name, LONG / 10)]);
    expect(later.filter((c) => c !== undefined)).toHaveLength(1);
  });

  it('a longer interval after a shorter one (a config change rolled out): ticks are claimed again within one interval, not never', async () => {
    const name = 'interval-change';
    expect(await claimTick(a, name, 50)).toBeDefined();
    // the same time axis whatever the interval: the next 200 ms window is claimed
    const started = Date.now();
    await pollUntil('a tick of the longer interval to be claimed', async () => (await claimTick(b, name, 200)) ?? undefined, 5_000, 20);
    expect(Date.now() - started).toBeLessThan(5_000);
    // and from then on once per window
    const both = await Promise.all([claimTick(a, name, 200), claimTick(b, name, 200)]);
    expect(both.filter((c) => c !== undefined).length).toBeLessThanOrEqual(1);
  });
});
