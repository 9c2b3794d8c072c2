import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga } from 'graphql-yoga';
import type { Services } from '../app/context.ts';
import { getSchema } from '../graphql/schema.ts';
import { canvasHandler } from './canvas.ts';
import { httpContext } from './context.ts';
import { maskError, useContractErrorCodes } from './errors.ts';
import { readiness } from './health.ts';
import { armor, bodySizeViolation, csrfViolation, originAllowed } from './limits.ts';
import { requestIdOf, useObservability } from './observability.ts';
import { attachGraphqlWs } from './ws.ts';

export const GRAPHQL_PATH = '/graphql';

export type HttpServer = { server: http.Server; url: string; port: number; close: () => Promise<void> };

/**
 * One port, one path: GraphQL over HTTP (and SSE) through yoga, graphql-ws on the same path
 * (src/server/ws.ts), and /healthz, /readyz, /metrics and the canvas (/canvas) beside them. Requests are refused before
 * yoga reads them when the body is too large, the Origin is foreign or CSRF rules are broken
 * (src/server/limits.ts).
 */
export async function startHttpServer(svc: Services, opts: { host: string; port: number }): Promise<HttpServer> {
  const limits = svc.config.limits;
  const yoga = createYoga({
    schema: getSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    graphiql: { title: 'Trellis', subscriptionsProtocol: 'WS' },
    landingPage: false,
    logging: false,
    // The body limit is enforced from Content-Length before yoga sees the request (below); yoga's
    // own limit would pipe every body through a second stream just to count it again.
    maxRequestBodySize: false,
    // Same-origin needs no CORS; other browser origins only when listed.
    cors: limits.allowedOrigins.length ? { origin: limits.allowedOrigins, credentials: false } : false,
    maskedErrors: { maskError: maskError(svc.log) },
    plugins: [armor(), useContractErrorCodes(), useObservability(svc.metrics, svc.log)],
    context: httpContext(svc, requestIdOf),
  });

  const canvas = canvasHandler({ log: svc.log });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (canvas(req, res, url.pathname)) return;
    if (url.pathname === '/healthz') return json(res, 200, { ok: true });
    if (url.pathname === '/readyz') {
      void readiness(svc).then((r) => json(res, r.ok ? 200 : 503, r));
      return;
    }
    if (url.pathname === '/metrics') {
      void svc.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': svc.metrics.registry.contentType });
          res.end(text);
        },
        () => json(res, 500, { ok: false }),
      );
      return;
    }
    if (url.pathname === '/') {
      res.writeHead(302, { location: GRAPHQL_PATH });
      res.end();
      return;
    }
    const refuse = (status: number, reason: string, message: string) => {
      svc.metrics.httpRejections.inc({ reason });
      res.setHeader('connection', 'close'); // do not read a body we refused
      json(res, status, { errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] });
    };
    const tooBig = bodySizeViolation(req, limits.maxBodyBytes);
    if (tooBig) return refuse(tooBig.status, 'body_size', tooBig.message);
    if (url.pathname === GRAPHQL_PATH) {
      if (!originAllowed(req.headers.origin, req.headers.host, limits.allowedOrigins)) return refuse(403, 'origin', 'this Origin may not call the API');
      const csrf = csrfViolation(req, url);
      if (csrf) return refuse(400, 'csrf', csrf);
    }
    if (url.pathname === GRAPHQL_PATH && req.method === 'POST' && isJson(req) && Number(req.headers['content-length']) > 0) {
      // A JSON body (its size already bounded above) is read here and handed to yoga as a string,
      // whatwg-node's path for a pre-read body: this skips adapting the Node stream into a web
      // stream for every request, a large share of a small request's cost.
      readBody(req).then((body) => {
        (req as http.IncomingMessage & { body?: string }).body = body;
        void yoga(req, res);
      }, () => req.destroy());
      return;
    }
    void yoga(req, res);
  });

  const ws = attachGraphqlWs(server, GRAPHQL_PATH, yoga as never, svc, svc.metrics);

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
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await ws.close();
      svc.events.endSubscribers(); // SSE streams complete rather than being cut
      server.closeIdleConnections();
      // in-flight requests get a moment to finish; SSE streams end when the event bus stops
      const grace = setTimeout(() => server.closeAllConnections(), Math.min(5_000, limits.shutdownGraceMs));
      await closed;
      clearTimeout(grace);
    },
  };
}

const isJson = (req: http.IncomingMessage) => /^application\/(graphql\+)?json(;|,|$)/.test(req.headers['content-type'] ?? '');

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let ended = false;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      ended = true;
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.once('error', reject);
    // 'close' comes for every request, after the response too: the Error (and its stack trace) only
    // when the body did not end, which had been a measurable share of each heartbeat's CPU
    req.once('close', () => ended || reject(new Error('request closed before its body ended')));
  });
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
