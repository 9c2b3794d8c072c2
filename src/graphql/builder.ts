import SchemaBuilder, { type ObjectRef } from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import { GraphQLError, Kind, getNullableType, isInterfaceType, isListType, isObjectType, type GraphQLOutputType, type GraphQLSchema, type ValueNode } from 'graphql';
import { AppError } from '../shared/errors.ts';
import { DEFAULT_PAGE_SIZE } from '../shared/pagination.ts';
import type { GqlCtx } from '../app/context.ts';
import type { Page } from '../shared/pagination.ts';
import { typeOfId } from '../shared/ids.ts';

/**
 * The one Pothos builder. Feature folders add their types to it in their own schema.ts; fields
 * are non-null unless marked, exactly as CONTRACT.graphql reads.
 */
type ComplexityField = { name: string; type: GraphQLOutputType; args: readonly { name: string }[] };
type FieldComplexity = number | { field: number; multiplier: number };

/** A connection costs its page size times its selection; other lists count as 10 items. */
function fieldComplexity(args: Record<string, unknown>, _ctx: unknown, field: ComplexityField): FieldComplexity {
  if (hasPageSize(field)) {
    const first = typeof args.first === 'number' ? args.first : DEFAULT_PAGE_SIZE;
    return { field: 1, multiplier: Math.min(100, Math.max(1, first)) };
  }
  if (field.name === 'edges') return { field: 1, multiplier: 1 }; // counted on the connection
  return isListType(getNullableType(field.type)) ? { field: 1, multiplier: 10 } : 1;
}

const hasPageSize = (field: ComplexityField) => field.args.some((a) => a.name === 'first');

/**
 * Pothos calls a field's complexity function on every request, after mapping that field's
 * arguments (variables coerced again, input types walked): a measurable share of a small
 * request such as a heartbeat. Only fields with a page size (`first`) depend on their arguments;
 * every other field's complexity is a constant, stored here in place of the function once the
 * schema is built. The figures are those the function returns, so the budgets are unchanged.
 */
export function withStaticComplexity(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) && !isInterfaceType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const ext = field.extensions as { complexity?: unknown };
      if (ext.complexity === fieldComplexity && !hasPageSize(field)) ext.complexity = fieldComplexity({}, undefined, field);
    }
  }
  return schema;
}

export const builder = new SchemaBuilder<{
  Context: GqlCtx;
  DefaultFieldNullability: false;
  Scalars: {
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  defaultFieldNullability: false,
  plugins: [ComplexityPlugin],
  complexity: {
    // Workspace tokens (agent runtimes on customers' machines) get a much smaller budget than
    // people and operators: a runtime only ever needs register/heartbeat-sized documents.
    limit: (ctx) => (ctx.actor?.kind === 'WORKSPACE' ? COMPLEXITY_BUDGET.workspace : COMPLEXITY_BUDGET.user),
    fieldComplexity,
    complexityError: (kind, r) =>
      new AppError('BAD_USER_INPUT', `query too complex: ${kind.toLowerCase()} ${kind === 'Depth' ? r.depth : kind === 'Breadth' ? r.breadth : r.complexity} exceeds this token's limit of ${kind === 'Depth' ? r.maxDepth : kind === 'Breadth' ? r.maxBreadth : r.maxComplexity}`, { reason: 'COMPLEXITY' }),
  },
});

/** Complexity budgets per actor kind (Pothos complexity plugin). */
export const COMPLEXITY_BUDGET = {
  user: { complexity: 20_000, depth: 12, breadth: 200 },
  workspace: { complexity: 2_000, depth: 8, breadth: 60 },
} as const;

export type BuilderTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

builder.scalarType('DateTime', {
  description: 'An ISO-8601 timestamp in UTC',
  serialize: (d) => d.toISOString(),
  parseValue: (v) => parseDate(v),
});

builder.scalarType('JSON', {
  description: 'Any JSON value',
  serialize: (v) => v,
  parseValue: (v) => withinJsonDepth(v),
  parseLiteral: (ast) => literalToJson(ast),
});

/** Deeper JSON is refused as input: storing and re-serialising it would recurse past the stack. */
export const MAX_JSON_DEPTH = 64;

/** `v` when nested at most MAX_JSON_DEPTH levels; measured without recursion (the input is the attacker's). */
function withinJsonDepth(v: unknown): unknown {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, depth] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) throw new GraphQLError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`, { extensions: { code: 'BAD_USER_INPUT' } });
    for (const child of Array.isArray(x) ? x : Object.values(x)) stack.push([child, depth + 1]);
  }
  return v;
}

function parseDate(v: unknown): Date {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) {
    throw new GraphQLError('DateTime must be an ISO-8601 timestamp with a time zone', { extensions: { code: 'BAD_USER_INPUT' } });
  }
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new GraphQLError('DateTime is not a valid date', { extensions: { code: 'BAD_USER_INPUT' } });
  return d;
}

function literalToJson(ast: ValueNode): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return withinJsonDepth(ast.values.map(literalToJson));
    case Kind.OBJECT:
      return withinJsonDepth(Object.fromEntries(ast.fields.map((f) => [f.name.value, literalToJson(f.value)])));
    default:
      throw new GraphQLError('JSON literals cannot contain variables', { extensions: { code: 'BAD_USER_INPUT' } });
  }
}

export const NodeRef = builder.interfaceRef<{ id: string }>('Node').implement({
  fields: (t) => ({ id: t.exposeID('id') }),
  resolveType: (obj) => typeOfId(obj.id) ?? null,
});

export const PageInfoRef = builder.objectRef<Page<unknown>['pageInfo']>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

/** `<Name>Edge` and `<Name>Connection` (Relay) over a node type. */
export function connectionOf<T>(name: string, node: ObjectRef<BuilderTypes, T>) {
  const edge = builder.objectRef<{ node: T; cursor: string }>(`${name}Edge`).implement({
    fields: (t) => ({
      node: t.field({ type: node, resolve: (e) => e.node as never }), // a generic T defeats Pothos' result-type inference
      cursor: t.exposeString('cursor'),
    }),
  });
  return builder.objectRef<Page<T>>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({ type: [edge], resolve: (p) => p.edges }),
      pageInfo: t.field({ type: PageInfoRef, resolve: (p) => p.pageInfo }),
    }),
  });
}
