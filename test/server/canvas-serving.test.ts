import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canvasHandler } from '../../src/server/canvas.ts';

/** The canvas routes on a real HTTP server: the script is bundled on first use, once. */
describe('canvas serving', () => {
  let server: http.Server;
  let base: string;
  beforeAll(async () => {
    const canvas = canvasHandler();
    server = http.createServer((req, res) => {
      if (!canvas(req, res, new URL(req.url ?? '/', 'http://localhost').pathname)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves the page, then the script bundled on first use, the same bytes every time', async () => {
    const page = await fetch(`${base}/canvas`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('canvas.js');
    const [a, b] = await Promise.all([fetch(`${base}/canvas/canvas.js`), fetch(`${base}/canvas/canvas.js`)]);
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const [ja, jb] = [Buffer.from(await a.arrayBuffer()), Buffer.from(await b.arrayBuffer())];
    expect(ja.length).toBeGreaterThan(10_000);
    expect(ja.equals(jb)).toBe(true);
    const head = await fetch(`${base}/canvas/canvas.js`, { method: 'HEAD' });
    expect(Number(head.headers.get('content-length'))).toBe(ja.length);
    expect((await fetch(`${base}/canvas/nope.js`)).status).toBe(404);
  });
});
