import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { defineConfig } from 'prisma/config';

// Prisma's CLI insists on its native schema engine even for `generate`, and its download host is
// unreachable from our machines. When no real engine is installed, point the CLI at a stub that
// answers `--version` and refuses every real request, so a migrate command can never silently
// succeed (migrations are applied by src/db/migrate.ts instead).
const enginesDir = path.join(import.meta.dirname, 'node_modules', '@prisma', 'engines');
const hasRealEngine =
  existsSync(enginesDir) && readdirSync(enginesDir).some((f) => f.startsWith('schema-engine-'));
if (!hasRealEngine && !process.env.PRISMA_SCHEMA_ENGINE_BINARY) {
  process.env.PRISMA_SCHEMA_ENGINE_BINARY = path.join(import.meta.dirname, 'scripts', 'schema-engine-stub.cjs');
}

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
