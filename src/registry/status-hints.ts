import type { Workspace } from '../generated/prisma/client.ts';
import { statusesUnchangedBy } from '../workspaces/lifecycle.ts';
import { failedGate } from './gates.ts';

type Hint = Pick<Workspace, 'status' | 'kind' | 'model' | 'restartPending'> & { deleted: boolean };

/** What of a heartbeat decides its lane. */
export type LaneQuestion = { model: string | undefined; mcpServerPresent: boolean; activeTurn: boolean; error: string | undefined };

const UNCHANGED_CLEAN: readonly string[] = statusesUnchangedBy('CHECK_IN');
const UNCHANGED_ERROR: readonly string[] = statusesUnchangedBy('CHECK_IN_ERROR');

/**
 * This process's memory of each workspace's row as a check-in last returned it, so that a
 * heartbeat that will change the status goes straight to the slow path instead of first through
 * the fast lane's UPDATE, which cannot take it (a round trip and a batch turn for nothing).
 *
 * Only a hint: another replica, a sweep or an operation may have changed the row since. A stale
 * hint costs speed and never correctness, because both lanes decide on the row itself (the fast
 * lane's UPDATE only takes rows whose status cannot change; the slow path decides under the row
 * lock). Bounded: past `max` workspaces the oldest remembered is forgotten (no hint: fast lane first).
 */
export class StatusHints {
  private hints = new Map<string, Hint>();

  constructor(private readonly max = 20_000) {}

  remember(w: Pick<Workspace, 'id' | 'status' | 'kind' | 'model' | 'restartPending' | 'deletedAt'>): void {
    const known = this.hints.get(w.id);
    const deleted = w.deletedAt !== null;
    if (known && known.status === w.status && known.model === w.model && known.restartPending === w.restartPending && known.deleted === deleted && known.kind === w.kind) return;
    if (!known && this.hints.size >= this.max) this.hints.delete(this.hints.keys().next().value!);
    this.hints.set(w.id, { status: w.status, kind: w.kind, model: w.model, restartPending: w.restartPending, deleted });
  }

  get size(): number {
    return this.hints.size;
  }

  /**
   * Whether the fast lane would miss this heartbeat if the row were as last seen: the same
   * conditions as its statement (src/registry/heartbeat-batcher.ts), from the same lifecycle table.
   * False when nothing is remembered.
   */
  needsSlowPath(workspaceId: string, hb: LaneQuestion): boolean {
    const h = this.hints.get(workspaceId);
    if (!h) return false;
    if (!(hb.error === undefined ? UNCHANGED_CLEAN : UNCHANGED_ERROR).includes(h.status)) return true;
    if (h.deleted || (h.restartPending && !hb.activeTurn)) return true;
    const model = hb.model !== undefined ? hb.model || null : h.model;
    return failedGate(h.kind, { model, mcpServerPresent: hb.mcpServerPresent }) !== undefined;
  }
}
