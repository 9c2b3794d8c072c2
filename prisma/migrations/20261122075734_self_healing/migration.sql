-- AlterTable
ALTER TABLE "Workspace" ADD COLUMN     "autoRecoveryAt" TIMESTAMPTZ(3),
ADD COLUMN     "autoRecoveryAttempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "autoRecoveryExhaustedAt" TIMESTAMPTZ(3),
ADD COLUMN     "pluginReconcileFiredAt" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "ReconcilerState" (
    "name" TEXT NOT NULL,
    "tick" BIGINT NOT NULL DEFAULT 0,
    "cursor" TEXT,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ReconcilerState_pkey" PRIMARY KEY ("name")
);
