import { z } from 'zod';
import { parseInput, pageSize } from './validate.ts';

export type Page<T> = { edges: { node: T; cursor: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };

export const DEFAULT_PAGE_SIZE = 20;

export function parsePageArgs(args: { first?: number | null; after?: string | null }, cursorShape: z.ZodType<string>) {
  return parseInput(
    z.object({ first: pageSize.nullish().transform((v) => v ?? DEFAULT_PAGE_SIZE), after: cursorShape.nullish().transform((v) => v ?? undefined) }),
    args,
  );
}

/** Builds a page from `first + 1` fetched rows: the extra row only tells that there is more. */
export function toPage<T>(rows: T[], first: number, cursorOf: (row: T) => string): Page<T> {
  const nodes = rows.slice(0, first);
  const edges = nodes.map((node) => ({ node, cursor: cursorOf(node) }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}
