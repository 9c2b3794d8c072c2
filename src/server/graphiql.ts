import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { GraphiQLOptions } from 'graphql-yoga';

/**
 * GraphiQL from the installed package `@graphql-yoga/render-graphiql` (the same GraphiQL build
 * yoga's own page loads from a CDN), served by this server as plain files: the bundle, its
 * stylesheet and Monaco's three workers, plus two small scripts of ours (src/graphiql/). The page
 * works offline and under a CSP with no inline script: scripts and workers from 'self' only.
 * Inline styles are allowed because Monaco and GraphiQL set element styles at run time; fonts
 * and icons are data: URLs inside the stylesheet.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const JS = 'text/javascript; charset=utf-8';
const OURS = new URL('../graphiql/', import.meta.url);

/** The first tab a new browser sees: a working query and subscription, and where the token goes. */
export const DEFAULT_QUERY = `# Trellis GraphiQL. Put your token in the Headers editor below:
#   {"Authorization": "Bearer <token>"}
# (npm start prints the instance admin token; it is also in DATA_DIR/bootstrap-token).
# Run one operation with the ▶ button (it asks which one when there are several).

query Viewer {
  viewer { kind role org { name } workspace { name } }
}

subscription WorkspaceEvents {
  workspaceEvents(after: "0") { cursor previousStatus status workspace { name } }
}
`;

export const DEFAULT_HEADERS = '{\n  "Authorization": "Bearer <token>"\n}';

export type GraphiqlHandler = (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => boolean;

/**
 * Serves the GraphiQL page (for `page`, the GraphQL path) and its files under /graphiql/;
 * returns false for any other request. Subscriptions run over SSE: the same HTTP request as a
 * query, so the headers editor's Authorization authenticates them too, and a refusal comes back
 * as a result GraphiQL shows.
 */
export function graphiqlHandler(endpoint: string): { page: (res: http.ServerResponse, head: boolean) => void; asset: GraphiqlHandler } {
  const options: GraphiQLOptions = {
    title: 'Trellis GraphiQL',
    endpoint,
    subscriptionsProtocol: 'SSE',
    // GraphiQL sends SSE subscriptions as GETs: the preflight-forcing header our CSRF rule asks of a GET operation
    additionalHeaders: { 'x-trellis-csrf': '1' },
    defaultQuery: DEFAULT_QUERY,
    defaultHeaders: DEFAULT_HEADERS,
    headers: DEFAULT_HEADERS,
    defaultEditorToolsVisibility: 'headers',
    shouldPersistHeaders: false,
  } as GraphiQLOptions;
  // JSON in a non-executed script element; `<` escaped so no text can close the element
  const optionsJson = JSON.stringify(options).replace(/</g, '\\u003c');
  const html = Buffer.from(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Trellis GraphiQL</title>
<link rel="icon" href="/graphiql/favicon.ico">
<link rel="stylesheet" href="/graphiql/graphiql.css">
</head>
<body id="body" class="no-focus-outline">
<noscript>GraphiQL needs JavaScript.</noscript>
<div id="root">Loading Trellis GraphiQL…</div>
<script type="application/json" id="graphiql-options">${optionsJson}</script>
<script src="/graphiql/boot.js"></script>
<script src="/graphiql/graphiql.js"></script>
<script src="/graphiql/start.js"></script>
</body>
</html>
`);
  // The package's module is 9 MB of strings: loaded at the first GraphiQL request, not at start.
  let files: Promise<Map<string, { body: Buffer; type: string }>> | undefined;
  const load = async () => {
    const { css, editorWorkerService, favicon, graphqlWorker, js, jsonWorker } = await import('@graphql-yoga/render-graphiql/graphiql');
    return new Map<string, { body: Buffer; type: string }>([
      ['/graphiql/graphiql.js', { body: Buffer.from(js), type: JS }],
      ['/graphiql/graphiql.css', { body: Buffer.from(css), type: 'text/css; charset=utf-8' }],
      ['/graphiql/editor.worker.js', { body: Buffer.from(editorWorkerService), type: JS }],
      ['/graphiql/json.worker.js', { body: Buffer.from(jsonWorker), type: JS }],
      ['/graphiql/graphql.worker.js', { body: Buffer.from(graphqlWorker), type: JS }],
      ['/graphiql/boot.js', { body: readFileSync(new URL('boot.js', OURS)), type: JS }],
      ['/graphiql/start.js', { body: readFileSync(new URL('start.js', OURS)), type: JS }],
      ['/graphiql/favicon.ico', { body: Buffer.from(favicon.replace(/^data:[^,]*;base64,/, ''), 'base64'), type: 'image/x-icon' }],
    ]);
  };
  return {
    page: (res, head) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': html.length, 'cache-control': 'no-cache', ...HEADERS });
      res.end(head ? undefined : html);
    },
    asset: (req, res, pathname) => {
      if (pathname !== '/graphiql' && !pathname.startsWith('/graphiql/')) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed');
        return true;
      }
      void (files ??= load()).then((all) => {
        const file = all.get(pathname);
        if (!file) {
          res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...HEADERS }).end('not found');
          return;
        }
        res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, 'cache-control': 'public, max-age=3600', ...HEADERS });
        res.end(req.method === 'HEAD' ? undefined : file.body);
      }, () => {
        files = undefined;
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', ...HEADERS }).end('GraphiQL files unavailable');
      });
      return true;
    },
  };
}
