import { describe, expect, it } from 'vitest';
import type { WorkspaceStatus } from '../../src/generated/prisma/enums.ts';
import { ALL_STATUSES, statusesUnchangedBy, transition, type LifecycleEvent } from '../../src/workspaces/lifecycle.ts';

/** CONTRACT §5 restated independently: [from, event, to | 'refused']. */
const EXPECTED: [WorkspaceStatus, LifecycleEvent, WorkspaceStatus | 'refused'][] = [];
const row = (from: WorkspaceStatus, event: LifecycleEvent, to: WorkspaceStatus | 'refused') => EXPECTED.push([from, event, to]);

for (const s of ALL_STATUSES) {
  row(s, 'GATE_FAILED', s === 'STOPPED' ? 'refused' : 'FAILED'); // any → FAILED (fail-closed), but a stopped workspace stays stopped
  row(s, 'STOP', s === 'PROVISIONING' ? 'refused' : 'STOPPED'); // any but PROVISIONING
  row(s, 'PROVISION_FAILED', s === 'PROVISIONING' ? 'FAILED' : 'refused');
  row(s, 'STALE', s === 'ONLINE' || s === 'DEGRADED' ? 'OFFLINE' : 'refused');
  row(s, 'INSTANCE_GONE', s === 'ONLINE' || s === 'DEGRADED' ? 'OFFLINE' : 'refused');
  row(s, 'PROVISION', s === 'PROVISIONING' ? 'refused' : 'PROVISIONING');
}
row('PROVISIONING', 'CHECK_IN', 'ONLINE');
row('OFFLINE', 'CHECK_IN', 'ONLINE');
row('FAILED', 'CHECK_IN', 'ONLINE');
row('ONLINE', 'CHECK_IN', 'ONLINE');
row('DEGRADED', 'CHECK_IN', 'ONLINE');
row('STOPPED', 'CHECK_IN', 'refused');
row('PROVISIONING', 'CHECK_IN_ERROR', 'ONLINE');
row('OFFLINE', 'CHECK_IN_ERROR', 'ONLINE');
row('FAILED', 'CHECK_IN_ERROR', 'ONLINE');
row('ONLINE', 'CHECK_IN_ERROR', 'DEGRADED');
row('DEGRADED', 'CHECK_IN_ERROR', 'DEGRADED');
row('STOPPED', 'CHECK_IN_ERROR', 'refused');

describe('workspace lifecycle table', () => {
  it('covers every status × event pair exactly once', () => {
    const events = new Set(EXPECTED.map(([, e]) => e));
    expect(EXPECTED).toHaveLength(ALL_STATUSES.length * events.size);
    expect(new Set(EXPECTED.map(([from, event]) => `${from}/${event}`)).size).toBe(EXPECTED.length);
  });

  it.each(EXPECTED)('%s + %s → %s', (from, event, to) => {
    expect(transition(from, event) ?? 'refused').toBe(to);
  });

  it('derives the heartbeat fast lane from the table: only statuses a heartbeat leaves as they are', () => {
    expect(statusesUnchangedBy('CHECK_IN')).toEqual(['ONLINE']);
    expect(statusesUnchangedBy('CHECK_IN_ERROR')).toEqual(['DEGRADED']);
  });
});

import { expectId, typeOfId } from '../../src/shared/ids.ts';

describe('ids', () => {
  it('types an id by its prefix and shape, even when its hex happens to be all digits', () => {
    expect(typeOfId('ws_00000000000000000000000000000042')).toBe('Workspace');
    expect(typeOfId('ws_01a201d294d370fa98819e2457391dfb')).toBe('Workspace');
    expect(typeOfId('act_42')).toBe('Activity');
    expect(typeOfId('act_01a201d294d370fa98819e2457391dfb')).toBeUndefined();
    expect(typeOfId('ws_42')).toBeUndefined();
    expect(typeOfId('zz_01a201d294d370fa98819e2457391dfb')).toBeUndefined();
    expect(() => expectId('org_01a201d294d370fa98819e2457391dfb', 'Workspace')).toThrow(/must be a Workspace id/);
  });
});
