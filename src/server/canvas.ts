import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Logger } from 'pino';

const DIR = new URL('../canvas/', import.meta.url);
const ENTRY = fileURLToPath(new URL('main.tsx', DIR));

type Body = { body: Buffer; type: string };

/**
 * Same-origin only: scripts, styles and API calls (HTTP and graphql-ws) go to this server and
 * nowhere else; the page cannot be framed; no inline script or style runs.
 */
const HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

/**
 * The canvas script: src/canvas (TypeScript + preact) bundled by esbuild in memory, once per
 * process. esbuild is a runtime dependency, so a production install serves it too; nothing is
 * written to disk and nothing is fetched at run time. The build starts with the first request for
 * a canvas route and is awaited by the request for the script (README, "The canvas": the cost measured).
 */
export async function bundleCanvas(): Promise<Buffer> {
  return (await buildCanvas()).js;
}

/** The bundle and the npm packages it was made from (a test holds them to the runtime dependencies). */
export async function buildCanvas(): Promise<{ js: Buffer; packages: string[] }> {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: fileURLToPath(new URL('tsconfig.json', DIR)),
    logLevel: 'silent',
    metafile: true,
  });
  const packages = new Set(Object.keys(result.metafile.inputs).flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1] ?? []));
  return { js: Buffer.from(result.outputFiles[0]!.contents), packages: [...packages].sort() };
}

export type CanvasHandler = (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => boolean;

/** Serves the canvas under /canvas (a fixed list of routes); returns false for any other path. */
export function canvasHandler(opts: { log?: Logger } = {}): CanvasHandler {
  const file = (name: string, type: string): Promise<Body> => Promise.resolve({ body: readFileSync(new URL(name, DIR)), type });
  const html = file('index.html', 'text/html; charset=utf-8');
  // Built on the first request for any canvas route (the page comes before its script), not at
  // start: esbuild's threads competed for the cores with the rest of start-up.
  let script: Promise<Body> | undefined;
  const bundled = () => {
    if (!script) {
      script = bundleCanvas().then((body) => ({ body, type: 'text/javascript; charset=utf-8' }));
      // A failed build is logged once and answered 500 on the script only (the API is unaffected).
      script.catch((err: Error) => opts.log?.error({ err: err.message }, 'canvas bundle failed'));
    }
    return script;
  };
  const css = file('canvas.css', 'text/css; charset=utf-8');
  const routes = new Map<string, () => Promise<Body>>([
    ['/canvas', () => html],
    ['/canvas/', () => html],
    ['/canvas/canvas.js', bundled],
    ['/canvas/canvas.css', () => css],
  ]);
  return (req, res, pathname) => {
    if (pathname !== '/canvas' && !pathname.startsWith('/canvas/')) return false;
    void bundled();
    const route = routes.get(pathname);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...HEADERS }).end('not found');
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed');
      return true;
    }
    route().then(
      (f) => {
        res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.length, ...HEADERS });
        res.end(req.method === 'HEAD' ? undefined : f.body);
      },
      () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', ...HEADERS }).end('the canvas could not be built; see the server log'),
    );
    return true;
  };
}
