import type { TestServer } from './server.ts';

/**
 * Waits until a server holds at least `n` live event subscribers (the listener is registered, so an
 * event published from now on reaches them): an in-process test server, or a Trellis process by its
 * GraphQL URL (through its /metrics). Replaces sleeping "until the subscription has started".
 */
export async function waitForSubscribers(server: TestServer | string, n: number, timeoutMs = 10_000): Promise<void> {
  const count = typeof server === 'string' ? () => subscribersOf(server) : async () => server.trellis.services.events.subscriberCount;
  const deadline = Date.now() + timeoutMs;
  let seen = await count();
  while (seen < n) {
    if (Date.now() > deadline) throw new Error(`${seen} subscriber(s) after ${timeoutMs} ms, expected ${n}`);
    await new Promise((r) => setTimeout(r, 10));
    seen = await count();
  }
}

/** `trellis_subscribers` of a Trellis process, read from its /metrics. */
const subscribersOf = (graphqlUrl: string) => gaugeOf(graphqlUrl, 'trellis_subscribers');

/** An unlabelled gauge of a Trellis process, read from its /metrics (0 when absent). */
export async function gaugeOf(graphqlUrl: string, name: string): Promise<number> {
  const text = await (await fetch(graphqlUrl.replace(/\/graphql$/, '/metrics'))).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}
