import { complexityFromQuery } from '@pothos/plugin-complexity';
import { describe, expect, it } from 'vitest';
import * as canvasDocuments from '../../src/canvas/generated/graphql.ts';
import { builder } from '../../src/graphql/builder.ts';
import { getSchema } from '../../src/graphql/schema.ts';

/**
 * The served schema stores constant complexities in place of the per-request function
 * (withStaticComplexity): every budget figure must be what the function gives.
 */
const RUNTIME = [
  'mutation Register($input: RegisterInput) { registerWorkspace(input: $input) { accepted reason restartPending workspace { status } } }',
  'mutation Heartbeat($input: HeartbeatInput) { heartbeat(input: $input) { accepted reason restartPending workspace { status } } }',
  'query RuntimeSecrets { runtimeSecrets { key value version } }',
];
const PAGED = [
  ['query Paged($n: Int) { workspaces(first: $n) { edges { node { id activity(first: 7) { edges { node { id } } } } } } }', { n: 40 }],
  ['query Paged($n: Int) { workspaces(first: $n) { edges { node { id } } } }', {}],
  ['{ orgs(first: 500) { edges { node { id name } } } activity { edges { cursor } } }', {}],
] as const;

const attempt = <T>(fn: () => T): T | { error: string } => {
  try {
    return fn();
  } catch (err) {
    return { error: (err as Error).message };
  }
};

describe('static field complexity', () => {
  const served = getSchema();
  const dynamic = builder.toSchema(); // every field with the function, as Pothos builds it

  it('stores a constant only for fields without a page size', () => {
    const mutation = served.getMutationType()!.getFields();
    expect(typeof mutation.heartbeat!.extensions.complexity).toBe('number');
    expect(typeof served.getQueryType()!.getFields().workspaces!.extensions.complexity).toBe('function');
  });

  it('gives every document the complexity, depth and breadth the function gives', () => {
    const documents: [string, Record<string, unknown>][] = [
      ...RUNTIME.map((q): [string, Record<string, unknown>] => [q, { input: { mcpServerPresent: true, activeTurn: false } }]),
      ...PAGED.map(([q, v]): [string, Record<string, unknown>] => [q, { ...v }]),
      ...Object.values(canvasDocuments).filter((d) => d instanceof String && /^\s*(query|mutation|subscription)/.test(String(d))).map((d): [string, Record<string, unknown>] => [String(d), {}]),
    ];
    expect(documents.length).toBeGreaterThan(15);
    let compared = 0;
    for (const ctx of [{ actor: { kind: 'WORKSPACE' } }, { actor: { kind: 'USER' } }]) {
      for (const [query, variables] of documents) {
        // a document whose required variables are not given fails the same way on both
        const expected = attempt(() => complexityFromQuery(query, { schema: dynamic, ctx, variables }));
        expect(attempt(() => complexityFromQuery(query, { schema: served, ctx, variables })), query).toEqual(expected);
        if (!('error' in expected)) compared++;
      }
    }
    expect(compared).toBeGreaterThan(20);
    // the paged cases are not constant: the page size still counts
    const [small, large] = [5, 50].map((n) => complexityFromQuery(PAGED[0][0], { schema: served, ctx: {}, variables: { n } }).complexity);
    expect(large).toBeGreaterThan(small!);
  });
});
