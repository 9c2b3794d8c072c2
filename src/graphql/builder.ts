import SchemaBuilder, { type ObjectRef } from '@pothos/core';
import { GraphQLError, Kind, type ValueNode } from 'graphql';
import type { GqlCtx } from '../app/context.ts';
import type { Page } from '../shared/pagination.ts';
import { typeOfId } from '../shared/ids.ts';

/**
 * The one Pothos builder. Feature folders add their types to it in their own schema.ts; fields
 * are non-null unless marked, exactly as CONTRACT.graphql reads.
 */
export const builder = new SchemaBuilder<{
  Context: GqlCtx;
  DefaultFieldNullability: false;
  Scalars: {
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
}>({ defaultFieldNullability: false });

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
  parseValue: (v) => v,
  parseLiteral: (ast) => literalToJson(ast),
});

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
      return ast.values.map(literalToJson);
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literalToJson(f.value)]));
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
