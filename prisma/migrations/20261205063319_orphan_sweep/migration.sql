-- AlterEnum
ALTER TYPE "ActivityType" ADD VALUE 'INSTANCE_ORPHAN_STOPPED';

-- CreateTable
CREATE TABLE "OrphanSighting" (
    "provider" TEXT NOT NULL,
    "instanceId" TEXT NOT NULL,
    "workspaceId" TEXT NOT NULL,
    "operationId" TEXT,
    "firstSeenAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "stopRequestedAt" TIMESTAMPTZ(3),

    CONSTRAINT "OrphanSighting_pkey" PRIMARY KEY ("provider","instanceId")
);
