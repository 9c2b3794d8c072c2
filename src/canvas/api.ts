// GraphQL over HTTP (POST /graphql) with the typed documents of ./generated, and graphql-ws
// (the graphql-transport-ws protocol, spoken directly) whose subscriptions resume by their last
// cursor after a reconnect, so nothing that happened meanwhile is missed.
import type { TypedDocumentString } from './generated/graphql.js';

export const API = '/graphql';

/** A GraphQL error as the page shows it: the message and its `extensions.code`. */
export class GqlError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

type Reply<T> = { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };

export async function gql<R, V>(token: string, doc: TypedDocumentString<R, V>, variables: V): Promise<R> {
  let res: Response;
  try {
    res = await fetch(API, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: doc.toString(), variables }),
    });
  } catch {
    throw new GqlError('the server could not be reached', 'NETWORK');
  }
  const body = (await res.json().catch(() => ({ errors: [{ message: `HTTP ${res.status}` }] }))) as Reply<R>;
  const first = body.errors?.[0];
  if (first) throw new GqlError(first.message, first.extensions?.code);
  if (!body.data) throw new GqlError(`HTTP ${res.status}`, undefined);
  return body.data;
}

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'refused';

type Sub = { query: string; variables: () => Record<string, unknown>; onData: (data: unknown) => void; onError: (message: string) => void };
type Message = { type: string; id?: string; payload?: { data?: unknown; errors?: { message: string }[] } & Record<string, unknown> };

export class Live {
  private ws: WebSocket | undefined;
  private readonly subs = new Map<string, Sub>();
  private nextId = 1;
  private delay = 500;
  private closed = false;
  private acked = false;

  constructor(private readonly token: string, private readonly onState: (s: ConnectionState) => void) {
    this.connect();
  }

  /** `variables()` is asked again on every (re)subscribe, so it can carry the latest cursor. */
  subscribe<R, V extends Record<string, unknown>>(doc: TypedDocumentString<R, V>, variables: () => V, onData: (data: R) => void, onError: (message: string) => void): string {
    const id = String(this.nextId++);
    const sub: Sub = { query: doc.toString(), variables, onData: onData as (d: unknown) => void, onError };
    this.subs.set(id, sub);
    if (this.acked) this.send({ id, type: 'subscribe', payload: { query: sub.query, variables: variables() } });
    return id;
  }

  /** Ends a subscription (a view that closes): the server releases it, a reconnect does not renew it. */
  unsubscribe(id: string): void {
    if (this.subs.delete(id) && this.acked) this.send({ id, type: 'complete' });
  }

  private connect(): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${API}`;
    this.acked = false;
    this.onState('connecting');
    const ws = (this.ws = new WebSocket(url, 'graphql-transport-ws'));
    ws.onopen = () => this.send({ type: 'connection_init', payload: { authorization: `Bearer ${this.token}` } });
    ws.onmessage = (m) => this.receive(JSON.parse(String(m.data)) as Message);
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.closed) return;
      if (ev.code === 4401 || ev.code === 4403) {
        this.onState('refused');
        return;
      }
      this.onState('reconnecting');
      setTimeout(() => !this.closed && this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10_000);
    };
  }

  private receive(msg: Message): void {
    switch (msg.type) {
      case 'connection_ack':
        this.acked = true;
        this.delay = 500;
        this.onState('live');
        for (const [id, s] of this.subs) this.send({ id, type: 'subscribe', payload: { query: s.query, variables: s.variables() } });
        break;
      case 'next': {
        const s = msg.id ? this.subs.get(msg.id) : undefined;
        if (!s) break;
        const err = msg.payload?.errors?.[0];
        if (err) s.onError(err.message);
        else s.onData(msg.payload?.data);
        break;
      }
      case 'error': {
        const s = msg.id ? this.subs.get(msg.id) : undefined;
        const errors = msg.payload as unknown as { message: string }[] | undefined;
        s?.onError(errors?.[0]?.message ?? 'refused');
        break;
      }
      case 'ping':
        this.send({ type: 'pong' });
        break;
      default:
        break;
    }
  }

  private send(msg: Record<string, unknown>): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** Drops the connection as a network failure would (it reconnects and resumes). */
  drop(): void {
    this.ws?.close();
  }

  close(): void {
    this.closed = true;
    this.ws?.close(1000);
  }
}
