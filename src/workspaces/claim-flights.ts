import type { Workspace } from '../generated/prisma/client.ts';
import type { AppError } from '../shared/errors.ts';

/**
 * The row as a claim's transaction ended with it: what it committed, or what it saw under the
 * row lock when its conditional update failed. `operationInFlight` is true only when the claim
 * committed (its operation is then QUEUED, and the one-operation index refuses any other).
 */
export type ClaimedRow = Pick<Workspace, 'status' | 'provider' | 'deletedAt'> & { operationInFlight: boolean };

/**
 * The error the caller's own claim would certainly end with against `row`, or undefined when only
 * running the claim can tell. Must mirror the claim's conditional update exactly: it is a fast
 * path to the same answer, never a different one.
 */
export type Refusal = (row: ClaimedRow) => AppError | undefined;

/** A claim's transaction and the row it ended with (undefined when that is not known). */
export type ClaimRun<T> = () => Promise<{ result: T; row: ClaimedRow | undefined }>;

type Flight = Promise<ClaimedRow | undefined>;

/**
 * Single flight of the claims on one workspace within this process. Concurrent claims on one
 * row can have at most one winner, and every other one used to take a pooled connection, queue
 * on the row lock behind the winner's transaction and only then fail its conditional update. Here
 * a caller that finds a claim of the same workspace in flight in this process waits for it
 * without a connection and, once it ended, asks its own `refusal` about the row that claim ended
 * with: that row was the workspace's state at an instant inside this caller's call, so answering
 * the error its conditional update would have given then is linearizable. When the claim failed
 * without telling (rolled back, connection lost) or the refusal cannot tell, the caller runs its
 * own claim (after the one in flight, so still one transaction at a time per workspace here).
 *
 * Only a fast path: across replicas the conditional update and the one-operation index decide.
 */
export class ClaimFlights {
  readonly #inFlight = new Map<string, Flight>();
  readonly #waiting = new Map<string, number>();

  /**
   * Refuses at once when the row the caller read already answers (`refusal(read)`), else claims
   * through `run` as described on the class.
   */
  async claim<T>(workspaceId: string, read: ClaimedRow, refusal: Refusal, run: ClaimRun<T>): Promise<T> {
    const early = refusal(read);
    if (early) throw early;
    for (let flight = this.#inFlight.get(workspaceId); flight; flight = this.#inFlight.get(workspaceId)) {
      const row = await this.#wait(workspaceId, flight);
      const refused = row && refusal(row);
      if (refused) throw refused;
    }
    const started = run();
    const flight: Flight = started.then((r) => r.row, () => undefined).finally(() => {
      if (this.#inFlight.get(workspaceId) === flight) this.#inFlight.delete(workspaceId);
    });
    this.#inFlight.set(workspaceId, flight);
    return (await started).result;
  }

  /** Callers of this process waiting for a claim of `workspaceId` (tests observe the fast path with it). */
  waiting(workspaceId: string): number {
    return this.#waiting.get(workspaceId) ?? 0;
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

/** The row as read, for the early refusal (nothing is known about operations in flight). */
export const asRead = (ws: Pick<Workspace, 'status' | 'provider' | 'deletedAt'>): ClaimedRow => ({
  status: ws.status, provider: ws.provider, deletedAt: ws.deletedAt, operationInFlight: false,
});
