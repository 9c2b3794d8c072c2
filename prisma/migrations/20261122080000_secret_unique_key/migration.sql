-- One row per secret name: (org, scope, workspace, key), with an ORG secret's NULL workspace
-- counted as one value. Prisma cannot express this expression index; keep it in later migrations.
CREATE UNIQUE INDEX "Secret_one_per_key" ON "Secret" ("orgId", "scope", COALESCE("workspaceId", ''), "key");
