import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('graphql-ws request errors', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it('a subscription with a syntax or validation error fails alone, with a contract code, and the connection lives on', async () => {
    const client = createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${server.adminToken}` }, retryAttempts: 0 });
    try {
      const errorsOf = (query: string) =>
        new Promise<unknown[]>((resolve, reject) => {
          client.subscribe({ query }, { next: () => reject(new Error('unexpected data')), error: (e) => resolve(Array.isArray(e) ? e : [e]), complete: () => reject(new Error('completed without error')) });
        });
      const syntax = (await errorsOf('subscription { workspaceEvents(')) as { extensions?: { code?: string } }[];
      expect(syntax[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const unknownField = (await errorsOf('subscription { noSuchField }')) as { extensions?: { code?: string } }[];
      expect(unknownField[0]?.extensions?.code).toBe('BAD_USER_INPUT');

      // the same connection still serves a valid operation
      const viewer = await new Promise<unknown>((resolve, reject) => {
        client.subscribe({ query: '{ viewer { role } }' }, { next: (r) => resolve(r.data), error: reject, complete: () => undefined });
      });
      expect(viewer).toEqual({ viewer: { role: 'INSTANCE_ADMIN' } });
    } finally {
      await client.dispose();
    }
  });
});
