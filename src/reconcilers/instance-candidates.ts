import pg from 'pg';
import type { WorkspaceStatus } from '../generated/prisma/enums.ts';

/**
 * In scope: ONLINE and DEGRADED (a degraded workspace can lose its instance too, seed 004), and
 * OFFLINE, which CONTRACT §5 has the reconciler restart once its instance is proven gone (the
 * staleness sweep may have flipped it first).
 */
export const SCOPE: readonly WorkspaceStatus[] = ['ONLINE', 'DEGRADED', 'OFFLINE'];

/**
 * One in-scope workspace as it was read: the re-confirm acts only if the row is still like this.
 * `lastHeartbeatAt` is PostgreSQL's text of the timestamp, parsed (heartbeatOf) only for the few
 * whose instance is gone.
 */
export type Candidate = { id: string; orgId: string; status: WorkspaceStatus; provider: string; instanceId: string; lastHeartbeatAt: string | null };

const TIMESTAMPTZ = pg.types.builtins.TIMESTAMPTZ;
const parseTimestamptz = pg.types.getTypeParser(TIMESTAMPTZ) as (text: string) => Date;
const RAW_TIMESTAMPTZ: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === TIMESTAMPTZ ? (text: string) => text : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser,
};

/** The candidate's last check-in as read, as the Date pg would have parsed it. */
export const heartbeatOf = (c: Candidate): Date | null => (c.lastHeartbeatAt === null ? null : parseTimestamptz(c.lastHeartbeatAt));

// A non-empty instance on a provider that can answer (not external), not deleted. Keyset pages in
// primary-key order: each page is a short index range scan, with no sort of the whole scope and
// no cycle-long array of every row.
const IN_SCOPE = `status = ANY($1::"WorkspaceStatus"[]) AND "instanceId" <> '' AND provider <> 'external' AND "deletedAt" IS NULL`;
const COLUMNS = `id, "orgId", status, provider, "instanceId", "lastHeartbeatAt"`;
const PAGE = `SELECT ${COLUMNS} FROM "Workspace" WHERE ${IN_SCOPE} AND id > $2 ORDER BY id LIMIT $3`;
const PAGE_UP_TO = `SELECT ${COLUMNS} FROM "Workspace" WHERE ${IN_SCOPE} AND id > $2 AND id <= $4 ORDER BY id LIMIT $3`;
const COUNT = `SELECT count(*)::int AS n FROM "Workspace" WHERE ${IN_SCOPE} AND id > $2`;
const COUNT_UP_TO = `SELECT count(*)::int AS n FROM "Workspace" WHERE ${IN_SCOPE} AND id > $2 AND id <= $3`;

/** A stretch of the id order still to read: ids after `after`, up to `upTo` (inclusive) if set. */
type Range = { after: string; upTo: string | undefined };

/**
 * The in-scope workspaces in cycle order: the ids after the cursor first, then from the start up
 * to the cursor (an interrupted cycle is continued), read a page at a time through the pool. The
 * next page is read while the caller works on the last batch of the current one (one read at a
 * time), so the reads overlap the provider's answers. A row is captured when its page is read.
 */
export class CandidateReader {
  private readonly ranges: Range[];
  private buffer: Candidate[] = [];
  private reading: Promise<void> | undefined;

  constructor(private readonly pool: pg.Pool, cursor: string | undefined, private readonly pageSize: number) {
    this.ranges = cursor === undefined ? [{ after: '', upTo: undefined }] : [{ after: cursor, upTo: undefined }, { after: '', upTo: cursor }];
  }

  /** Up to `n` next candidates; empty once every range is read. */
  async next(n: number): Promise<Candidate[]> {
    while (this.buffer.length < n && (this.reading || this.ranges.length > 0)) await this.readPage();
    const batch = this.buffer.splice(0, n);
    if (this.buffer.length < n && this.ranges.length > 0) void this.readPage().catch(() => undefined); // awaited (and thrown) by the next call
    return batch;
  }

  /** How many in-scope workspaces this reader has not handed out yet (counted now). */
  async remaining(): Promise<number> {
    await this.reading?.catch(() => undefined);
    let n = this.buffer.length;
    for (const range of this.ranges) {
      const { rows } = range.upTo === undefined
        ? await this.pool.query<{ n: number }>(COUNT, [SCOPE, range.after])
        : await this.pool.query<{ n: number }>(COUNT_UP_TO, [SCOPE, range.after, range.upTo]);
      n += rows[0]!.n;
    }
    return n;
  }

  /** The page read in progress, or a new one. */
  private readPage(): Promise<void> {
    if (!this.reading) {
      const reading: Promise<void> = this.readNonEmptyPage().finally(() => {
        if (this.reading === reading) this.reading = undefined;
      });
      this.reading = reading;
    }
    return this.reading;
  }

  /** Appends the next non-empty page to the buffer (nothing once every range is read). */
  private async readNonEmptyPage(): Promise<void> {
    while (this.ranges.length > 0) {
      const range = this.ranges[0]!;
      const { rows } = await this.pool.query<Candidate>({
        text: range.upTo === undefined ? PAGE : PAGE_UP_TO,
        values: range.upTo === undefined ? [SCOPE, range.after, this.pageSize] : [SCOPE, range.after, this.pageSize, range.upTo],
        types: RAW_TIMESTAMPTZ,
      });
      if (rows.length < this.pageSize) this.ranges.shift();
      else range.after = rows[rows.length - 1]!.id;
      if (rows.length > 0) {
        this.buffer.push(...rows);
        return;
      }
    }
  }
}
