import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type DocumentNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export type GqlError = { message: string; extensions?: { code?: string; [k: string]: unknown }; path?: (string | number)[] };
export type GqlResult<T> = { data?: T | null; errors?: GqlError[]; status: number };

type Doc<T, V> = TypedDocumentNode<T, V> | DocumentNode | string;
const text = (doc: Doc<unknown, unknown>) => (typeof doc === 'string' ? doc : print(doc));

/** A GraphQL-over-HTTP client acting with one token. */
export class GraphQLClient {
  constructor(readonly url: string, readonly token?: string) {}

  async request<T, V>(doc: Doc<T, V>, variables?: V, headers: Record<string, string> = {}): Promise<GqlResult<T>> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...headers },
      body: JSON.stringify({ query: text(doc), variables }),
    });
    const body = (await res.json()) as { data?: T | null; errors?: GqlError[] };
    return { ...body, status: res.status };
  }

  /** The data of a request that must succeed; throws with the errors otherwise. */
  async ok<T, V>(doc: Doc<T, V>, variables?: V): Promise<T> {
    const r = await this.request(doc, variables);
    if (r.errors?.length || !r.data) throw new Error(`GraphQL request failed: ${JSON.stringify(r.errors)}`);
    return r.data;
  }

  /** The error code of a request that must fail. */
  async code<T, V>(doc: Doc<T, V>, variables?: V): Promise<string | undefined> {
    const r = await this.request(doc, variables);
    if (!r.errors?.length) throw new Error(`expected an error, got ${JSON.stringify(r.data)}`);
    return r.errors[0]!.extensions?.code;
  }

  /** A graphql-ws subscription; events are buffered until taken. */
  subscribe<T, V>(doc: Doc<T, V>, variables?: V): Subscription<T> {
    return new Subscription<T>(this.url.replace(/^http/, 'ws'), this.token, text(doc), variables as Record<string, unknown> | undefined);
  }
}

export class Subscription<T> {
  private readonly client: Client;
  private readonly buffer: GqlResult<T>[] = [];
  private waiter: (() => void) | undefined;
  private completed = false;
  private failure: unknown;

  constructor(url: string, token: string | undefined, query: string, variables: Record<string, unknown> | undefined) {
    this.client = createClient({ url, webSocketImpl: WebSocket, connectionParams: token ? { authorization: `Bearer ${token}` } : {}, retryAttempts: 0, lazy: true });
    this.client.subscribe<T>(
      { query, variables },
      {
        next: (r) => this.push({ ...(r as GqlResult<T>), status: 200 }),
        error: (e) => { this.failure = e; this.wake(); },
        complete: () => { this.completed = true; this.wake(); },
      },
    );
  }

  private push(r: GqlResult<T>) {
    this.buffer.push(r);
    this.wake();
  }

  private wake() {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next result, waiting up to `timeoutMs`. */
  async next(timeoutMs = 15_000): Promise<GqlResult<T>> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffer.length === 0) {
      if (this.failure) throw new Error(`subscription failed: ${describe(this.failure)}`);
      if (this.completed) throw new Error('subscription completed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no subscription event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => { clearTimeout(t); resolve(); };
      });
    }
    return this.buffer.shift()!;
  }

  /** Data of the next results until `done` says stop; returns all of them in order. */
  async take(count: number, timeoutMs = 15_000): Promise<T[]> {
    const out: T[] = [];
    while (out.length < count) {
      const r = await this.next(timeoutMs);
      if (r.errors?.length) throw new Error(`subscription error: ${JSON.stringify(r.errors)}`);
      out.push(r.data!);
    }
    return out;
  }

  /** Skips events until one satisfies `pred`; returns it. */
  async until(pred: (d: T) => boolean, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.next(Math.max(1, deadline - Date.now()));
      if (r.errors?.length) throw new Error(`subscription error: ${JSON.stringify(r.errors)}`);
      if (pred(r.data!)) return r.data!;
    }
  }

  get pending(): number {
    return this.buffer.length;
  }

  async close() {
    await this.client.dispose();
  }
}

function describe(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e) return `close ${String((e as { code: unknown }).code)} ${String((e as { reason?: unknown }).reason ?? '')}`;
  return e instanceof Error ? e.message : JSON.stringify(e);
}
