import { describe, expect, it } from 'vitest';
import type { Workspace } from '../../src/generated/prisma/client.ts';
import { StatusHints } from '../../src/registry/status-hints.ts';

describe('status hints: which lane a heartbeat tries first', () => {
  const row = (id: string, extra: Partial<Workspace> = {}) => ({ id, status: 'ONLINE', kind: 'STANDARD', model: 'm', restartPending: false, deletedAt: null, ...extra }) as const satisfies Partial<Workspace>;
  const clean = { model: undefined, mcpServerPresent: true, activeTurn: false, error: undefined };
  const failing = { ...clean, error: 'boom' };

  it('sends a heartbeat to the slow path exactly when the fast lane would miss it on the remembered row', () => {
    const hints = new StatusHints();
    expect(hints.needsSlowPath('ws_a', failing)).toBe(false); // nothing remembered: the fast lane first
    hints.remember(row('ws_a'));
    expect(hints.needsSlowPath('ws_a', clean)).toBe(false);
    expect(hints.needsSlowPath('ws_a', failing)).toBe(true); // ONLINE → DEGRADED
    hints.remember(row('ws_a', { status: 'DEGRADED' }));
    expect(hints.needsSlowPath('ws_a', failing)).toBe(false);
    expect(hints.needsSlowPath('ws_a', clean)).toBe(true); // DEGRADED → ONLINE
    for (const status of ['OFFLINE', 'FAILED', 'PROVISIONING', 'STOPPED'] as const) {
      hints.remember(row('ws_a', { status }));
      expect([hints.needsSlowPath('ws_a', clean), hints.needsSlowPath('ws_a', failing)]).toEqual([true, true]);
    }
    hints.remember(row('ws_a', { restartPending: true }));
    expect(hints.needsSlowPath('ws_a', clean)).toBe(true); // releases the deferred restart
    expect(hints.needsSlowPath('ws_a', { ...clean, activeTurn: true })).toBe(false);
    hints.remember(row('ws_a', { deletedAt: new Date() }));
    expect(hints.needsSlowPath('ws_a', clean)).toBe(true);
  });

  it('a PLATFORM workspace failing a gate goes to the slow path, with the model the heartbeat reports or the remembered one', () => {
    const hints = new StatusHints();
    hints.remember(row('ws_p', { kind: 'PLATFORM' }));
    expect(hints.needsSlowPath('ws_p', clean)).toBe(false);
    expect(hints.needsSlowPath('ws_p', { ...clean, mcpServerPresent: false })).toBe(true);
    expect(hints.needsSlowPath('ws_p', { ...clean, model: '' })).toBe(true);
    hints.remember(row('ws_p', { kind: 'PLATFORM', model: null }));
    expect(hints.needsSlowPath('ws_p', clean)).toBe(true);
    expect(hints.needsSlowPath('ws_p', { ...clean, model: 'claude' })).toBe(false);
  });

  it('is bounded: past its size the oldest remembered workspace is forgotten', () => {
    const hints = new StatusHints(3);
    for (const id of ['w1', 'w2', 'w3', 'w4']) hints.remember(row(id, { status: 'DEGRADED' }));
    expect(hints.size).toBe(3);
    expect(hints.needsSlowPath('w1', clean)).toBe(false); // forgotten: no hint
    expect(hints.needsSlowPath('w4', clean)).toBe(true);
    hints.remember(row('w2', { status: 'ONLINE' })); // an update is not a new entry
    expect(hints.size).toBe(3);
    expect(hints.needsSlowPath('w2', clean)).toBe(false);
  });
});
