import fs from 'node:fs/promises';
import path from 'node:path';
import { printSchema } from 'graphql';
import { getSortedSchema } from '../src/graphql/schema.ts';

/** Writes schema/schema.graphql from the Pothos schema (`npm run schema:print`). */
const target = path.join(import.meta.dirname, '..', 'schema', 'schema.graphql');
await fs.writeFile(target, printSchema(getSortedSchema()) + '\n');
console.log(`wrote ${path.relative(process.cwd(), target)}`);
