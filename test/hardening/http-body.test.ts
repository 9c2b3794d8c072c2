import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.ts';

/** Writes raw bytes to the server and returns everything it answers until it closes (or `waitMs`). */
function raw(port: number, data: string, waitMs = 2_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += String(d)));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(out));
    socket.write(data);
    setTimeout(() => socket.destroy(), waitMs);
  });
}

/**
 * JSON bodies to /graphql are read by our code before yoga (whose own body limit is off): the
 * limit is the declared Content-Length, which Node's parser holds a body to. These pin the
 * framing cases that could carry more than the limit past it.
 */
describe('request body framing on the pre-read JSON path', () => {
  let server: TestServer;
  let head: string;
  const body = JSON.stringify({ query: '{ viewer { kind } }' });
  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_MAX_BODY_BYTES: '4096' } });
    head = `POST /graphql HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nauthorization: Bearer ${server.adminToken}\r\n`;
  });
  afterAll(() => server?.stop());
  const port = () => server.trellis.http.port;
  const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);

  it('a well-framed body is answered', async () => {
    const r = await raw(port(), `${head}content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    expect(status(r)).toBe(200);
    expect(r).toContain('"kind":"USER"');
  });

  it('chunked without a length is 411, chunked with a length is refused by the parser, a declared length over the limit is 413', async () => {
    const chunk = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    expect(status(await raw(port(), `${head}transfer-encoding: chunked\r\n\r\n${chunk}`))).toBe(411);
    expect(status(await raw(port(), `${head}content-length: ${body.length}\r\ntransfer-encoding: chunked\r\n\r\n${chunk}`))).toBe(400);
    expect(status(await raw(port(), `${head}content-length: 5000\r\n\r\n${'x'.repeat(5000)}`))).toBe(413);
  });

  it('bytes past the declared length are not part of the body (the rest is a next request, refused)', async () => {
    const long = JSON.stringify({ query: `{ viewer { kind } } #${'x'.repeat(8000)}` });
    const r = await raw(port(), `${head}content-length: ${body.length}\r\n\r\n${long}`);
    expect(r).not.toContain('"kind":"USER"');
    expect(status(r)).toBeGreaterThanOrEqual(400);
    expect(status(r)).toBeLessThan(500);
  });

  it('a client gone mid-body leaves the server answering', async () => {
    for (let i = 0; i < 20; i++) await raw(port(), `${head}content-length: 4000\r\n\r\n{"query":"{ viewer`, 50);
    const r = await raw(port(), `${head}content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    expect(status(r)).toBe(200);
  });
});
