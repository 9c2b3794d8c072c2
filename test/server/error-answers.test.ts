import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLError } from 'graphql';
import { AppError } from '../../src/shared/errors.ts';
import { graphql } from '../generated/gql.js';
import { createOrgWithUsers, type OrgFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Expected refusals skip stack formatting (src/shared/errors.ts, src/server/errors.ts): the answer
 * a client gets must be exactly what graphql-js and yoga made of them before, located and coded.
 */
const CREATE_TOKEN = graphql(`mutation ErrorAnswersToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`);

describe('error answers', () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer();
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  async function post(token: string, query: string, variables: Record<string, unknown>) {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: await res.text() };
  }

  it('a refusal is answered with its message, location, path and code, and nothing else', async () => {
    const { token } = (await server.admin.ok(CREATE_TOKEN, { input: { orgId: org.orgId, role: 'VIEWER' } })).createApiToken;
    const query = 'mutation ($input: CreateWorkspaceInput!) {\n  createWorkspace(input: $input) { id }\n}';
    const answer = await post(token, query, { input: { orgId: org.orgId, name: 'w', provider: 'external' } });
    expect(answer.status).toBe(200);
    const parsed = JSON.parse(answer.body) as { data: unknown; errors: { message: string }[] };
    // The exact bytes: key order and members as graphql-js formats a located error.
    expect(answer.body).toBe(JSON.stringify({
      errors: [{ message: parsed.errors[0]!.message, locations: [{ line: 2, column: 3 }], path: ['createWorkspace'], extensions: { code: 'FORBIDDEN' } }],
      data: null,
    }));
  });

  it('an expected refusal carries no stack trace; an INTERNAL one keeps its stack for the log', () => {
    const refusal = new AppError('ALREADY_SWITCHING', 'busy');
    expect(refusal.stack).toBe('AppError [ALREADY_SWITCHING]: busy');
    expect(refusal).toBeInstanceOf(GraphQLError);
    expect(refusal.extensions).toEqual({ code: 'ALREADY_SWITCHING' });
    expect(new AppError('INTERNAL', 'broken').stack).toMatch(/\n\s+at /);
  });
});
