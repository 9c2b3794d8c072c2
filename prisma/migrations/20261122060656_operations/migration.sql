-- DropIndex
DROP INDEX "Operation_status_idx";

-- AlterTable
ALTER TABLE "Operation" ADD COLUMN     "deadlineAt" TIMESTAMPTZ(3),
ADD COLUMN     "step" TEXT;

-- AlterTable
ALTER TABLE "Workspace" ADD COLUMN     "claimId" TEXT,
ADD COLUMN     "deletedAt" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "WorkerProcess" (
    "poolId" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "startedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeatAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WorkerProcess_pkey" PRIMARY KEY ("poolId")
);

-- CreateIndex
CREATE INDEX "Operation_status_deadlineAt_idx" ON "Operation"("status", "deadlineAt");

-- At most one operation in flight per workspace, across every process (not expressible in
-- schema.prisma; see the comment on model Operation).
CREATE UNIQUE INDEX "Operation_one_active_per_workspace" ON "Operation"("workspaceId") WHERE "status" IN ('QUEUED', 'RUNNING');
