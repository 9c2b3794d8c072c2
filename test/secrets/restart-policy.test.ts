import { describe, expect, it } from 'vitest';
import { decideRestart, decideRestarts, decideScheduledRestart, type RestartTarget } from '../../src/secrets/restart-policy.ts';

/** CONTRACT §7, row by row, on the pure policy. */

const running = (over: Partial<RestartTarget> = {}): RestartTarget => ({ id: 'ws_t', kind: 'STANDARD', status: 'ONLINE', provider: 'local', ...over });
const people = { callerWorkspaceId: undefined, runtimeConsumed: true };

describe('restart policy (CONTRACT §7)', () => {
  it('the caller is the target → DEFERRED SELF_WRITE (STANDARD or PLATFORM alike)', () => {
    expect(decideRestart(running(), { callerWorkspaceId: 'ws_t', runtimeConsumed: true })).toEqual({ workspaceId: 'ws_t', outcome: 'DEFERRED', reason: 'SELF_WRITE' });
    expect(decideRestart(running({ kind: 'PLATFORM' }), { callerWorkspaceId: 'ws_t', runtimeConsumed: true })).toMatchObject({ outcome: 'DEFERRED', reason: 'SELF_WRITE' });
  });

  it('a PLATFORM target → DEFERRED PLATFORM_WORKSPACE', () => {
    expect(decideRestart(running({ kind: 'PLATFORM' }), people)).toMatchObject({ outcome: 'DEFERRED', reason: 'PLATFORM_WORKSPACE' });
    expect(decideRestart(running({ kind: 'PLATFORM', status: 'DEGRADED' }), { callerWorkspaceId: 'ws_other', runtimeConsumed: true })).toMatchObject({ outcome: 'DEFERRED', reason: 'PLATFORM_WORKSPACE' });
  });

  it('a kind that cannot be read → DEFERRED KIND_UNKNOWN (fail-closed), whatever else is known', () => {
    for (const kind of [undefined, null, '', 'platform', 'SOMETHING_NEW']) {
      expect(decideRestart(running({ kind }), people)).toMatchObject({ outcome: 'DEFERRED', reason: 'KIND_UNKNOWN' });
    }
    expect(decideRestart(running({ kind: undefined, status: 'STOPPED' }), people)).toMatchObject({ outcome: 'DEFERRED', reason: 'KIND_UNKNOWN' });
    // the one read did not return the row at all (it vanished, or the lookup missed it)
    expect(decideRestarts(['ws_a', 'ws_gone'], [running({ id: 'ws_a' })], people)).toEqual([
      { workspaceId: 'ws_a', outcome: 'SCHEDULED', reason: null },
      { workspaceId: 'ws_gone', outcome: 'DEFERRED', reason: 'KIND_UNKNOWN' },
    ]);
  });

  it('a key that is not runtime-consumed → SKIPPED NOT_RUNTIME_CONSUMED, even for the caller itself or a platform', () => {
    const change = { callerWorkspaceId: 'ws_t', runtimeConsumed: false };
    expect(decideRestart(running(), change)).toMatchObject({ outcome: 'SKIPPED', reason: 'NOT_RUNTIME_CONSUMED' });
    expect(decideRestart(running({ kind: 'PLATFORM' }), change)).toMatchObject({ outcome: 'SKIPPED', reason: 'NOT_RUNTIME_CONSUMED' });
    expect(decideRestart(running({ kind: undefined }), change)).toMatchObject({ outcome: 'SKIPPED', reason: 'NOT_RUNTIME_CONSUMED' });
  });

  it('a target not running (STOPPED, PROVISIONING, provider external) → SKIPPED NOT_RUNNING', () => {
    for (const over of [{ status: 'STOPPED' as const }, { status: 'PROVISIONING' as const }, { provider: 'external' }, { provider: 'external', kind: 'PLATFORM' }]) {
      expect(decideRestart(running(over), people)).toMatchObject({ outcome: 'SKIPPED', reason: 'NOT_RUNNING' });
    }
  });

  it('otherwise → SCHEDULED (ONLINE, DEGRADED, OFFLINE and FAILED are restarted)', () => {
    for (const status of ['ONLINE', 'DEGRADED', 'OFFLINE', 'FAILED'] as const) {
      expect(decideRestart(running({ status }), people)).toEqual({ workspaceId: 'ws_t', outcome: 'SCHEDULED', reason: null });
    }
    expect(decideRestart(running(), { callerWorkspaceId: 'ws_other', runtimeConsumed: true })).toMatchObject({ outcome: 'SCHEDULED' });
  });

  it('an org secret fans out: one decision per affected workspace, each by its own row', () => {
    const rows = [running({ id: 'ws_1' }), running({ id: 'ws_2', kind: 'PLATFORM' }), running({ id: 'ws_3', status: 'STOPPED' }), running({ id: 'ws_4' })];
    expect(decideRestarts(rows.map((r) => r.id), rows, { callerWorkspaceId: 'ws_4', runtimeConsumed: true }).map((d) => [d.workspaceId, d.outcome, d.reason])).toEqual([
      ['ws_1', 'SCHEDULED', null],
      ['ws_2', 'DEFERRED', 'PLATFORM_WORKSPACE'],
      ['ws_3', 'SKIPPED', 'NOT_RUNNING'],
      ['ws_4', 'DEFERRED', 'SELF_WRITE'],
    ]);
  });
});

describe('a due secret restart (the job, on the row it locked)', () => {
  const now = new Date('2026-01-01T00:10:00Z');
  const row = (over: { status?: 'ONLINE' | 'DEGRADED' | 'OFFLINE' | 'FAILED'; activeTurn?: boolean; restartPending?: boolean } = {}) =>
    ({ status: 'ONLINE' as const, activeTurn: false, restartPending: false, ...over });
  const MAX = 600_000;

  it('an idle runtime (or one not reporting: OFFLINE, FAILED) is restarted at once', () => {
    expect(decideScheduledRestart(row(), undefined, now, MAX)).toEqual({ action: 'RESTART', forcedPastActiveTurn: false });
    expect(decideScheduledRestart(row({ status: 'OFFLINE', activeTurn: true }), undefined, now, MAX)).toEqual({ action: 'RESTART', forcedPastActiveTurn: false });
    expect(decideScheduledRestart(row({ status: 'FAILED', restartPending: true }), undefined, now, MAX)).toEqual({ action: 'RESTART', forcedPastActiveTurn: false });
  });

  it('a deferred restart pending on a reporting runtime absorbs it (one restart, at the turn’s end)', () => {
    expect(decideScheduledRestart(row({ restartPending: true }), undefined, now, MAX)).toEqual({ action: 'ABSORBED' });
    expect(decideScheduledRestart(row({ status: 'DEGRADED', restartPending: true, activeTurn: true }), undefined, now, MAX)).toEqual({ action: 'ABSORBED' });
  });

  it('a reported active turn: wait, bounded by the maximum wait (0: never wait)', () => {
    expect(decideScheduledRestart(row({ activeTurn: true }), undefined, now, MAX)).toEqual({ action: 'WAIT', wait: { since: now, until: new Date(now.getTime() + MAX) } });
    expect(decideScheduledRestart(row({ activeTurn: true }), undefined, now, 0)).toEqual({ action: 'RESTART', forcedPastActiveTurn: false });
  });

  it('a job that was waiting: answered once the flag is cleared; waits on before the bound; forced at it', () => {
    const wait = { since: new Date(now.getTime() - MAX), until: now };
    expect(decideScheduledRestart(row({ activeTurn: true }), wait, now, MAX)).toEqual({ action: 'ANSWERED' });
    expect(decideScheduledRestart(row({ activeTurn: true, restartPending: true }), wait, now, MAX)).toEqual({ action: 'RESTART', forcedPastActiveTurn: true });
    expect(decideScheduledRestart(row({ status: 'OFFLINE', activeTurn: true, restartPending: true }), wait, now, MAX)).toEqual({ action: 'RESTART', forcedPastActiveTurn: false });
    const early = { since: now, until: new Date(now.getTime() + 1_000) };
    expect(decideScheduledRestart(row({ activeTurn: true, restartPending: true }), early, now, MAX)).toEqual({ action: 'WAIT', wait: early });
  });
});
