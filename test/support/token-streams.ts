import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

/** A graphql-ws connection with one subscription, observed from outside: when it connected, how and when it closed. */
export function openWs(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  let onConnected!: () => void;
  let onClosed!: (c: { code: number; at: number }) => void;
  const connected = new Promise<void>((r) => (onConnected = r));
  const closed = new Promise<{ code: number; at: number }>((r) => (onClosed = r));
  const events: unknown[] = [];
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
    on: {
      connected: () => onConnected(),
      closed: (e) => onClosed({ code: (e as { code: number }).code, at: Date.now() }),
    },
  });
  client.subscribe({ query, variables }, { next: (r) => void events.push(r), error: () => undefined, complete: () => undefined });
  return { connected, closed, events, dispose: () => client.dispose() };
}

/** A GraphQL-over-SSE subscription: resolves `opened` once the response started, `ended` (with the time) when the server ends it. */
export function openSse(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const abort = new AbortController();
  let body = '';
  let onOpened!: () => void;
  const opened = new Promise<void>((r) => (onOpened = r));
  const ended = (async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
      signal: abort.signal,
    });
    if (res.status !== 200) throw new Error(`SSE answered ${res.status}`);
    onOpened();
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { at: Date.now(), body };
      body += decoder.decode(value, { stream: true });
    }
  })();
  return { opened, ended, abort: () => abort.abort(), get body() { return body; } };
}

/** Resolves with the time `p` settles, or rejects when it takes longer than `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
