import type { Services } from '../app/context.ts';
import type { Operation, OperationKind } from '../generated/prisma/client.ts';

/** Which attempt of its job an operation is on (graphile-worker's count and maximum). */
export type Attempt = { number: number; max: number };

/** Runs one attempt of an operation of one kind; throwing asks for a retry with backoff. */
export type OperationHandler = (svc: Services, op: Operation, attempt: Attempt) => Promise<void>;

/**
 * `operations/` is the one pipeline (claim → job → run lock → handler → finish); the features
 * that own a kind register its handler here, so this folder never imports them (no cycle between
 * operations/ and the features that build on its provisioning path).
 */
const handlers = new Map<OperationKind, OperationHandler>();

export function registerOperationKind(kind: OperationKind, handler: OperationHandler): void {
  const existing = handlers.get(kind);
  if (existing && existing !== handler) throw new Error(`operation kind ${kind} is already registered`);
  handlers.set(kind, handler);
}

export function handlerFor(kind: OperationKind): OperationHandler | undefined {
  return handlers.get(kind);
}
