-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "ActivityType" ADD VALUE 'TOKEN_CREATED';
ALTER TYPE "ActivityType" ADD VALUE 'TOKEN_REVOKED';

-- AlterTable
ALTER TABLE "Activity" ALTER COLUMN "orgId" DROP NOT NULL;

-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN     "expiresAt" TIMESTAMPTZ(3),
ADD COLUMN     "lastUsedAt" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "WorkspaceToken" ADD COLUMN     "lastUsedAt" TIMESTAMPTZ(3);
