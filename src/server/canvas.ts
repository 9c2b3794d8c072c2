import { readFileSync } from 'node:fs';
import type http from 'node:http';

/** The canvas's files (src/canvas), read once: nothing outside this list is ever served. */
const FILES: Record<string, { file: string; type: string }> = {
  '/canvas': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/canvas/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/canvas/canvas.js': { file: 'canvas.js', type: 'text/javascript; charset=utf-8' },
  '/canvas/canvas.css': { file: 'canvas.css', type: 'text/css; charset=utf-8' },
};

const DIR = new URL('../canvas/', import.meta.url);

/**
 * Same-origin only: scripts, styles and API calls (HTTP and graphql-ws) go to this server and
 * nowhere else; the page cannot be framed.
 */
const HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

export type CanvasHandler = (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => boolean;

/** Serves the canvas under /canvas; returns false for any other path (the caller handles it). */
export function canvasHandler(): CanvasHandler {
  const bodies = new Map(Object.entries(FILES).map(([route, f]) => [route, { body: readFileSync(new URL(f.file, DIR)), type: f.type }]));
  return (req, res, pathname) => {
    if (pathname !== '/canvas' && !pathname.startsWith('/canvas/')) return false;
    const file = bodies.get(pathname);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...HEADERS }).end('not found');
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed');
      return true;
    }
    res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, ...HEADERS });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  };
}
