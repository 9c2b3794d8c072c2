import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import type { Services } from '../app/context.ts';
import type { Actor } from '../auth/actor.ts';
import { getSchema } from '../graphql/schema.ts';
import { AppError } from '../shared/errors.ts';
import { contextFor } from './context.ts';
import { maskError, normalizeError, useContractErrorCodes } from './errors.ts';

export const GRAPHQL_PATH = '/graphql';

export type HttpServer = { server: http.Server; url: string; port: number; close: () => Promise<void> };

/**
 * One port, one path: GraphQL over HTTP (and SSE) through yoga, graphql-ws on the same path, and
 * the health endpoints beside them.
 */
export async function startHttpServer(svc: Services, opts: { host: string; port: number }): Promise<HttpServer> {
  const yoga = createYoga({
    schema: getSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    graphiql: { title: 'Trellis', subscriptionsProtocol: 'WS' },
    landingPage: false,
    logging: false,
    maskedErrors: { maskError: maskError(svc.log) },
    plugins: [useContractErrorCodes()],
    context: ({ request }) => contextFor(svc, request.headers.get('authorization')),
  });

  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') return json(res, 200, { ok: true });
    if (req.url === '/readyz') {
      svc.db.pool.query('SELECT 1').then(
        () => json(res, 200, { ok: true }),
        () => json(res, 503, { ok: false, reason: 'database unreachable' }),
      );
      return;
    }
    if (req.url === '/' ) {
      res.writeHead(302, { location: GRAPHQL_PATH });
      res.end();
      return;
    }
    void yoga(req, res);
  });

  const wss = new WebSocketServer({ server, path: GRAPHQL_PATH });
  type Extra = { actor?: Actor };
  useServer<Record<string, unknown>, Extra>(
    {
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args: ExecutionArgs) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onConnect: async (ctx) => {
        const auth = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        try {
          const c = await contextFor(svc, typeof auth === 'string' ? auth : undefined);
          if (!c.actor) return false;
          ctx.extra.actor = c.actor;
          return true;
        } catch (err) {
          if (err instanceof AppError) return false;
          throw err;
        }
      },
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, parse, validate } = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params: payload });
        let document;
        try {
          document = parse(payload.query);
        } catch (err) {
          // A bad subscription must fail alone, not take the whole connection down.
          return [normalizeError(err instanceof GraphQLError ? err : new GraphQLError('could not parse the query'))];
        }
        const errors = validate(schema, document).map(normalizeError);
        if (errors.length) return errors;
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: await contextFor(svc, undefined, ctx.extra.actor),
          rootValue: { execute, subscribe },
        };
      },
    },
    wss,
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return {
    server,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${GRAPHQL_PATH}`,
    close: async () => {
      for (const client of wss.clients) client.close(1001, 'server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
