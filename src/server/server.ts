import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga } from 'graphql-yoga';
import type { Services } from '../app/context.ts';
import { getSchema } from '../graphql/schema.ts';
import { canvasHandler } from './canvas.ts';
import { httpContext } from './context.ts';
import { maskError, useContractErrorCodes } from './errors.ts';
import { readiness } from './health.ts';
import { graphiqlHandler } from './graphiql.ts';
import { armor, bodySizeViolation, csrfViolation, hostAllowed, noIntrospection, originAllowed, useSubscriptionComplexity } from './limits.ts';
import { StreamCaps, useStreamCaps } from './stream-caps.ts';
import { requestIdOf, useObservability } from './observability.ts';
import { attachGraphqlWs } from './ws.ts';

export const GRAPHQL_PATH = '/graphql';

const BARE_GRAPHQL_URL = new URL(GRAPHQL_PATH, 'http://localhost');

export type HttpServer = { server: http.Server; url: string; port: number; metricsUrl: string | undefined; close: () => Promise<void> };

/**
 * One port, one path: GraphQL over HTTP (and SSE) through yoga, graphql-ws on the same path
 * (src/server/ws.ts), and /healthz, /readyz, /metrics (unless TRELLIS_METRICS_ADDR moves it),
 * the canvas (/canvas) and GraphiQL (GET /graphql from a browser, files under /graphiql/) beside
 * them. Any other path is 404 (no lenient matching: `/graphql/` must not skip a check). Browser
 * pages answer only to TRELLIS_ALLOWED_HOSTS. Requests are refused before yoga reads them when the
 * body is too large, the Origin is foreign or CSRF rules are broken (src/server/limits.ts).
 */
export async function startHttpServer(svc: Services, opts: { host: string; port: number }): Promise<HttpServer> {
  const limits = svc.config.limits;
  const caps = new StreamCaps(limits.maxStreamsPerToken);
  const yoga = createYoga({
    schema: getSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    // GraphiQL is our own page from installed files (src/server/graphiql.ts), never yoga's CDN one.
    graphiql: false,
    landingPage: false,
    logging: false,
    // The body limit is enforced from Content-Length before yoga sees the request (below); yoga's
    // own limit would pipe every body through a second stream just to count it again.
    maxRequestBodySize: false,
    // Same-origin needs no CORS; other browser origins only when listed.
    cors: limits.allowedOrigins.length ? { origin: limits.allowedOrigins, credentials: false } : false,
    maskedErrors: { maskError: maskError(svc.log) },
    plugins: [
      armor(),
      ...(svc.config.introspection ? [] : [noIntrospection()]),
      useContractErrorCodes(),
      useObservability(svc.metrics, svc.log),
      useSubscriptionComplexity(),
      useStreamCaps(caps),
    ],
    context: httpContext(svc, requestIdOf),
  });

  const canvas = canvasHandler({ log: svc.log });
  const graphiql = svc.config.graphiql ? graphiqlHandler(GRAPHQL_PATH) : undefined;
  const metrics = svc.config.metricsAddr ? undefined : metricsHandler(svc);
  // Node checks requestTimeout every connectionsCheckingInterval (30 s by default): often enough here.
  const server = http.createServer({ connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(limits.requestTimeoutMs / 4))) }, (req, res) => {
    // Every API call names the bare path: no URL to parse for it (the shared one is only read).
    const url = req.url === GRAPHQL_PATH ? BARE_GRAPHQL_URL : new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const refuse = (status: number, reason: string, message: string, code = 'BAD_USER_INPUT') => {
      svc.metrics.httpRejections.inc({ reason });
      refuseAfterDraining(req, res, status, { errors: [{ message, extensions: { code } }] }, limits.maxBodyBytes);
    };
    if (path === '/healthz') return json(res, 200, { ok: true });
    if (path === '/readyz') {
      void readiness(svc).then((r) => json(res, r.ok ? 200 : 503, r));
      return;
    }
    if (path === '/metrics' && metrics) return metrics(res);
    const browserPage = path === '/' || path === '/canvas' || path.startsWith('/canvas/') || path.startsWith('/graphiql') || (path === GRAPHQL_PATH && wantsGraphiql(req, url));
    // DNS rebinding: a browser page is only served under a host name of ours
    if (browserPage && !hostAllowed(req.headers.host, limits.allowedHosts)) {
      return refuse(421, 'host', 'this Host is not served here (TRELLIS_ALLOWED_HOSTS)');
    }
    if (canvas(req, res, path)) return;
    if (graphiql?.asset(req, res, path)) return;
    if (path === '/') {
      res.writeHead(302, { location: graphiql ? GRAPHQL_PATH : '/canvas' });
      res.end();
      return;
    }
    if (path !== GRAPHQL_PATH) return refuse(404, 'path', `not found: the API is at ${GRAPHQL_PATH}`, 'NOT_FOUND');
    const tooBig = bodySizeViolation(req, limits.maxBodyBytes);
    if (tooBig) return refuse(tooBig.status, 'body_size', tooBig.message);
    if (!originAllowed(req.headers.origin, req.headers.host, limits.allowedOrigins, limits.allowedHosts)) return refuse(403, 'origin', 'this Origin may not call the API', 'FORBIDDEN');
    if (graphiql && wantsGraphiql(req, url)) return graphiql.page(res, req.method === 'HEAD');
    const csrf = csrfViolation(req, url);
    if (csrf) return refuse(400, 'csrf', csrf);
    res.setHeader('x-request-id', requestIdOf(req));
    if (req.method === 'POST' && isJson(req) && Number(req.headers['content-length']) > 0) {
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
  // A request whose headers and body have not all arrived in time is cut (Node answers 408).
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = Math.min(server.headersTimeout, limits.requestTimeoutMs);

  const ws = attachGraphqlWs(server, GRAPHQL_PATH, yoga as never, svc, svc.metrics, caps);
  const metricsServer = svc.config.metricsAddr ? await startMetricsServer(svc, svc.config.metricsAddr) : undefined;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  }).catch(async (err: unknown) => {
    await metricsServer?.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return {
    server,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${GRAPHQL_PATH}`,
    metricsUrl: metricsServer?.url,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await ws.close();
      svc.events.endSubscribers(); // SSE streams complete rather than being cut
      server.closeIdleConnections();
      // in-flight requests get a moment to finish; SSE streams end when the event bus stops
      const grace = setTimeout(() => server.closeAllConnections(), Math.min(5_000, limits.shutdownGraceMs));
      await closed;
      clearTimeout(grace);
      await metricsServer?.close();
    },
  };
}

/** A browser asking for a page at the GraphQL path (GraphiQL), not an operation. */
function wantsGraphiql(req: http.IncomingMessage, url: URL): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && !url.searchParams.has('query') && (req.headers.accept ?? '').includes('text/html');
}

/**
 * Answers a refused request without cutting the client off mid-upload: a client still sending
 * its body (a standard fetch of a too-large body) fails with EPIPE instead of reading the answer
 * when the connection closes under it. The body is read and discarded, up to a bound (then the
 * connection is cut), and the answer is sent when it has ended; the connection closes after.
 */
function refuseAfterDraining(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: unknown, maxBodyBytes: number) {
  const answer = () => {
    if (res.headersSent || res.destroyed) return;
    res.setHeader('connection', 'close');
    json(res, status, body);
  };
  if (req.complete || req.method === 'GET' || req.method === 'HEAD') return answer();
  const bound = Math.max(16 * maxBodyBytes, 16 * 1024 * 1024);
  let seen = 0;
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > bound) req.destroy();
  });
  req.once('end', answer);
  req.resume();
}

/** GET /metrics (Prometheus text). */
function metricsHandler(svc: Services) {
  return (res: http.ServerResponse) => {
    void svc.metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': svc.metrics.registry.contentType });
        res.end(text);
      },
      () => json(res, 500, { ok: false }),
    );
  };
}

/** /metrics alone on TRELLIS_METRICS_ADDR (then not on the public port). */
async function startMetricsServer(svc: Services, addr: { host: string; port: number }) {
  const handle = metricsHandler(svc);
  const server = http.createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) return handle(res);
    json(res, 404, { ok: false });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
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
