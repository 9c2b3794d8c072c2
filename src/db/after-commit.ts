import type { PrismaClient } from '../generated/prisma/client.ts';
import type { Tx } from './client.ts';

/**
 * Side effects that must follow a commit and never a rollback (metrics, for now): a transaction
 * opened with `transaction` runs what its body registered with `afterCommit` once it has
 * committed, and drops it when it rolls back.
 */
const pending = new WeakMap<Tx, (() => void)[]>();

export async function transaction<T>(prisma: PrismaClient, body: (tx: Tx) => Promise<T>): Promise<T> {
  let callbacks: (() => void)[] = [];
  const result = await prisma.$transaction(async (tx) => {
    callbacks = [];
    pending.set(tx, callbacks);
    return body(tx);
  });
  for (const callback of callbacks) callback();
  return result;
}

/** Runs `callback` after `tx` commits; at once for a transaction not opened by `transaction` (or no transaction). */
export function afterCommit(tx: Tx | undefined, callback: () => void): void {
  const callbacks = tx && pending.get(tx);
  if (callbacks) callbacks.push(callback);
  else callback();
}
