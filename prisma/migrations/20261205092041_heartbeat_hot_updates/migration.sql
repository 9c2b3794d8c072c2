-- Heartbeats become HOT updates (heap-only tuples): a heartbeat rewrites "lastHeartbeatAt" (and
-- the runtime's reported fields) and nothing else, so once no index holds a column it changes,
-- PostgreSQL writes the new row version into the same page and no index entry at all.
-- Liveness is deliberately not indexed: at the 15 s heartbeat interval an index column that
-- changed rarely enough for >= 95% HOT (once per 20 heartbeats = 5 min) could not tell a 45 s
-- stale row from a live one (README, "Heartbeat writes"). The staleness sweep finds candidates
-- through the status index and checks "lastHeartbeatAt" on the row.

-- DropIndex
DROP INDEX "Workspace_status_lastHeartbeatAt_idx";

-- CreateIndex
CREATE INDEX "Workspace_status_idx" ON "Workspace"("status");

-- HOT also needs room on the row's own page for the new version until pruning reclaims the old
-- one. Workspace: 30% of each page free (every row is rewritten each heartbeat interval, a few
-- rows of a page at a time). WorkspaceToken: 55% free, because its lastUsedAt is written by one
-- UPDATE a minute for every token used (src/auth/usage.ts), which needs room for a new version
-- of each row of a page at once. This applies to pages filled from now on; existing full pages
-- gain room as rows move off them or are pruned.
-- Prisma cannot express storage parameters; `npm run migration:new` leaves them alone.
ALTER TABLE "Workspace" SET (fillfactor = 70);
ALTER TABLE "WorkspaceToken" SET (fillfactor = 45);
