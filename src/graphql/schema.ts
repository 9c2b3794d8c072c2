import { lexicographicSortSchema, type GraphQLSchema } from 'graphql';
import { builder, withStaticComplexity } from './builder.ts';
// Each feature registers its types on the builder when imported.
import '../orgs/schema.ts';
import '../workspaces/schema.ts';
import '../operations/schema.ts';
import '../activity/schema.ts';
import '../registry/schema.ts';
import '../events/schema.ts';
import '../requests/schema.ts';
import '../secrets/schema.ts';
import './node.ts';

let schema: GraphQLSchema | undefined;

/** The executable schema (built once per process). */
export function getSchema(): GraphQLSchema {
  return (schema ??= withStaticComplexity(builder.toSchema()));
}

/** The schema as printed to schema/schema.graphql: sorted, so diffs stay readable. */
export function getSortedSchema(): GraphQLSchema {
  return lexicographicSortSchema(getSchema());
}
