import { Kind, visit, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Actor } from '../auth/actor.ts';
import { PushQueue } from '../events/queue.ts';
import { sharedStreamContext } from '../events/streams.ts';

type Source = AsyncIterable<ExecutionResult> | ExecutionResult;

/**
 * One event's result as handed to every member of a group, with room for the transport to keep
 * its encoding: made once per event, whatever the number of members.
 */
export class SharedResult {
  private encoded: { encode: (r: ExecutionResult) => unknown; value: unknown } | undefined;
  constructor(readonly result: ExecutionResult) {}

  /** `encode(result)`, computed on the first call for this event and kept for the others. */
  encodedWith<T>(encode: (r: ExecutionResult) => T): T {
    if (this.encoded?.encode !== encode) this.encoded = { encode, value: encode(this.result) };
    return this.encoded.value as T;
  }
}

/**
 * Delivers one event to one member straight to its transport (its socket), bypassing the member's
 * queue. Returns false when it cannot right now (a slow reader's socket is backed up, the socket
 * is closing): the event then goes through the queue, as every event does without a writer.
 */
export type DirectDelivery = (event: SharedResult) => boolean;

type Member = { queue: PushQueue<ExecutionResult>; direct: DirectDelivery | undefined };
type Group = { members: Set<Member>; stop: () => void };

/**
 * Shared work per event, not per subscriber: subscribers that sent the same document with the
 * same variables and see the same things (same actor scope) share ONE GraphQL execution; each
 * event's result is computed once and handed to every member. A member whose transport can take
 * the event directly (`DirectDelivery`: graphql-ws writes one shared serialization to each socket)
 * gets it that way whenever its queue is idle, so nothing is queued, awaited or serialized per
 * subscriber; otherwise (a backed-up reader, or an event still queued before this one) it goes
 * through the member's bounded queue as before, which keeps each member's events in order.
 * Subscriptions that replay (`after:`) are never shared: a late joiner would miss the replay.
 */
export class SharedSubscriptions {
  private groups = new Map<string, Promise<Group | ExecutionResult>>();
  private docIds = new WeakMap<DocumentNode, number>();
  private nextDocId = 0;

  /** `onEvent(direct, queued)`: once per event of a group, how its members got it. */
  constructor(private readonly onEvent?: (direct: number, queued: number) => void) {}

  get groupCount(): number {
    return this.groups.size;
  }

  /**
   * `joined` is called once the subscriber is a member of a group: from then on its own `args` are
   * not needed (the group's stream was opened with a copy of the first member's).
   */
  async subscribe(args: ExecutionArgs, open: (args: ExecutionArgs) => Source | Promise<Source>, direct?: DirectDelivery, joined?: () => void): Promise<Source> {
    const key = this.keyOf(args);
    if (key === undefined) return open(args);
    let pending = this.groups.get(key);
    if (!pending) {
      // The group's stream is opened with the first member's context but belongs to no token:
      // revoking that member closes its own connection (src/server/ws.ts), never the group.
      const groupArgs = { ...args, contextValue: sharedStreamContext(args.contextValue as object) };
      pending = this.createGroup(key, () => open(groupArgs));
      this.groups.set(key, pending);
    }
    const group = await pending;
    if (!('members' in group)) return open(args); // the first subscribe failed (an error result): no sharing
    const member: Member = {
      direct,
      queue: new PushQueue<ExecutionResult>(10_000, () => {
        group.members.delete(member);
        if (group.members.size === 0) {
          this.groups.delete(key);
          group.stop();
        }
      }),
    };
    group.members.add(member);
    joined?.();
    return member.queue;
  }

  private async createGroup(key: string, open: () => Source | Promise<Source>): Promise<Group | ExecutionResult> {
    let source: Source;
    try {
      source = await open();
    } catch (err) {
      this.groups.delete(key);
      throw err;
    }
    if (!(Symbol.asyncIterator in source)) {
      this.groups.delete(key);
      return source;
    }
    const iterator = source[Symbol.asyncIterator]();
    const group: Group = { members: new Set(), stop: () => void iterator.return?.() };
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await iterator.next();
          if (done) break;
          const shared = new SharedResult(value);
          let direct = 0;
          let queued = 0;
          for (const m of group.members) {
            if (m.direct !== undefined && m.queue.idle && m.direct(shared)) direct++;
            else {
              m.queue.push(value);
              queued++;
            }
          }
          this.onEvent?.(direct, queued);
        }
        for (const m of [...group.members]) m.queue.return();
      } catch (err) {
        for (const m of [...group.members]) m.queue.fail(err);
      } finally {
        if (this.groups.get(key) !== undefined && group.members.size === 0) this.groups.delete(key);
      }
    })();
    return group;
  }

  /** The sharing key, or undefined when this subscription must run alone. */
  private keyOf(args: ExecutionArgs): string | undefined {
    const variables = (args.variableValues ?? {}) as Record<string, unknown>;
    if (replays(args.document, variables)) return undefined;
    const actor = (args.contextValue as { actor?: Actor } | undefined)?.actor;
    if (!actor) return undefined;
    let docId = this.docIds.get(args.document);
    if (docId === undefined) this.docIds.set(args.document, (docId = this.nextDocId++));
    const scope = actor.kind === 'USER'
      ? `U:${actor.role}:${actor.orgId ?? '*'}`
      : `W:${actor.workspaceKind}:${actor.orgId}:${actor.workspaceKind === 'PLATFORM' ? '' : actor.workspaceId}`;
    return `${docId}|${args.operationName ?? ''}|${scope}|${JSON.stringify(variables)}`;
  }
}

/** Whether any `after:` argument is given a non-null value (a replaying subscription). */
function replays(document: DocumentNode, variables: Record<string, unknown>): boolean {
  let found = false;
  visit(document, {
    Argument(node) {
      if (node.name.value !== 'after') return;
      if (node.value.kind === Kind.NULL) return;
      if (node.value.kind === Kind.VARIABLE && (variables[node.value.name.value] ?? null) === null) return;
      found = true;
    },
  });
  return found;
}
