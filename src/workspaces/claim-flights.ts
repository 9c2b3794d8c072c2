import type { Workspace } from '../generated/prisma/client.ts';

/**
 * The row as a claim's transaction ended with it: what it committed, or what it saw under the
 * row lock when its conditional update failed. `operationInFlight` is true only when the claim
 * committed (its operation is then QUEUED, and the one-operation index refuses any other).
 */
export type ClaimedRow = Pick<Workspace, 'id' | 'orgId' | 'status' | 'provider' | 'deletedAt'> & { operationInFlight: boolean };

/** One caller's claim on a workspace, in three parts ClaimFlights runs. */
export type ClaimAttempt<T> = {
  /** Reads the row the caller acts on, with its access checks (outside any transaction). */
  read: () => Promise<Workspace>;
  /**
   * Throws what this call would answer had it read `row` and run its conditional update against
   * it (access, input, refusal), when that is certain; returns when only the claim can tell. A
   * fast path to the same answer, never a different one: it mirrors the claim exactly.
   */
  check: (row: ClaimedRow) => void;
  /** The claim's transaction on the row read, and the row it ended with (undefined: not known). */
  run: (ws: Workspace) => Promise<{ result: T; row: ClaimedRow | undefined }>;
};

type Flight = Promise<ClaimedRow | undefined>;

/**
 * Single flight of the claims on one workspace within this process. Concurrent claims on one
 * row have at most one winner, and every other one used to take a pooled connection, queue on
 * the row lock behind the winner's transaction and only then fail its conditional update. Here a
 * caller that finds a claim of the same workspace in flight in this process waits for it without
 * a connection and then `check`s the row that claim ended with: that row was the workspace's state
 * at an instant inside this caller's call, so answering what its own claim would have answered
 * then is linearizable. When that claim failed without telling (rolled back, connection lost,
 * refused on its own read) or the check cannot tell, the caller reads and claims itself, its
 * transaction after the one in flight (one claim transaction at a time per workspace here).
 *
 * Only a fast path: across replicas the conditional update and the one-operation index decide.
 */
export class ClaimFlights {
  readonly #inFlight = new Map<string, Flight>();
  readonly #waiting = new Map<string, number>();

  async claim<T>(workspaceId: string, attempt: ClaimAttempt<T>): Promise<T> {
    const arrived = this.#inFlight.get(workspaceId);
    if (arrived) {
      const row = await this.#wait(workspaceId, arrived);
      if (row) attempt.check(row);
    }
    if (!this.#inFlight.has(workspaceId)) {
      // The read is part of the flight: whoever arrives meanwhile waits instead of reading too.
      return this.#fly(workspaceId, async () => {
        const ws = await attempt.read();
        attempt.check(asRead(ws));
        return attempt.run(ws);
      });
    }
    const ws = await attempt.read();
    attempt.check(asRead(ws));
    for (let flight = this.#inFlight.get(workspaceId); flight; flight = this.#inFlight.get(workspaceId)) {
      const row = await this.#wait(workspaceId, flight);
      if (row) attempt.check(row);
    }
    return this.#fly(workspaceId, () => attempt.run(ws));
  }

  /** Callers of this process waiting for a claim of any workspace (/metrics: trellis_claim_waiters). */
  waitingTotal(): number {
    let total = 0;
    for (const n of this.#waiting.values()) total += n;
    return total;
  }

  /** Callers of this process waiting for a claim of `workspaceId` (tests observe the fast path with it). */
  waiting(workspaceId: string): number {
    return this.#waiting.get(workspaceId) ?? 0;
  }

  async #fly<T>(workspaceId: string, run: () => Promise<{ result: T; row: ClaimedRow | undefined }>): Promise<T> {
    const started = run();
    const flight: Flight = started.then((r) => r.row, () => undefined).finally(() => {
      if (this.#inFlight.get(workspaceId) === flight) this.#inFlight.delete(workspaceId);
    });
    this.#inFlight.set(workspaceId, flight);
    return (await started).result;
  }

  async #wait(workspaceId: string, flight: Flight): Promise<ClaimedRow | undefined> {
    this.#waiting.set(workspaceId, this.waiting(workspaceId) + 1);
    try {
      return await flight;
    } finally {
      const left = this.waiting(workspaceId) - 1;
      if (left > 0) this.#waiting.set(workspaceId, left);
      else this.#waiting.delete(workspaceId);
    }
  }
}

/** The row as read: what the caller's own early check sees (nothing is known about operations in flight). */
export const asRead = (ws: Pick<Workspace, 'id' | 'orgId' | 'status' | 'provider' | 'deletedAt'>): ClaimedRow => ({
  id: ws.id, orgId: ws.orgId, status: ws.status, provider: ws.provider, deletedAt: ws.deletedAt, operationInFlight: false,
});
