import type http from 'node:http';
import type net from 'node:net';
import type { ExecutionResult } from 'graphql';
import { CloseCode, DEPRECATED_GRAPHQL_WS_PROTOCOL, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../shared/logger.ts';
import type { DirectDelivery, SharedResult } from './shared-subscriptions.ts';

/**
 * graphql-ws over `ws`, through graphql-ws's `makeServer` (its documented path for a custom
 * transport). The same behaviour as graphql-ws's own `useServer` from `graphql-ws/use/ws`
 * (subprotocol negotiation, ping every `keepAliveMs` and terminate when no pong follows within
 * as long, 4500 (graphql-ws's InternalServerError) on a socket error or a failing message
 * handler, the close code and reason handed to graphql-ws on close), except in three things.
 * `send` writes the frame and returns at once instead of returning a promise resolved by the
 * write's callback: useServer's promise, its closure and the callback are kept alive for each
 * subscriber until the whole synchronous burst of one event has been written, so a fan-out to
 * thousands of sockets made the garbage collector copy thousands of them per scavenge. A write
 * error still surfaces as the socket's 'error' event (closing it with 4500, as before).
 * Backpressure is kept for slow readers: once a socket has more than `highWaterBytes` queued,
 * its sends wait for their write again, so that subscriber's events back up in its bounded event
 * queue (src/events/queue.ts), as they did.
 * An error of the WebSocket server (its HTTP server's) is logged, every time, and closes no
 * client (useServer handled only the first and closed every client). A close reason too long
 * for a close frame is shortened instead of making ws throw (the client's id in 4409).
 *
 * `nextWriter` is the fan-out's fast lane (src/server/shared-subscriptions.ts): one event of a
 * shared group is serialized once, and each subscriber's `next` message is that payload behind
 * its own prefix, written to the socket as one frame without going through graphql-ws.
 */
export function serveGraphqlWs<P extends Record<string, unknown>, E extends { socket: WebSocket; request: http.IncomingMessage }>(
  options: ServerOptions<P, E>,
  wss: WebSocketServer,
  opts: { log: Logger; keepAliveMs?: number; highWaterBytes?: number },
): { nextWriter: (socket: WebSocket, id: string) => DirectDelivery | undefined } {
  const keepAlive = opts.keepAliveMs ?? 12_000;
  const highWater = opts.highWaterBytes ?? 64 * 1024;
  const server = makeServer<P, E>(options);
  wss.options.handleProtocols = handleProtocols;

  // The WebSocket server's 'error' events are its HTTP server's, forwarded by ws: after listening,
  // only a failed accept (EMFILE, ENFILE: one per refused connection). useServer listened once and
  // closed every client: a second failure had no listener and threw (an uncaught exception, the
  // process gone), and one spent descriptor disconnected everyone. The server still listens.
  wss.on('error', (err) => {
    opts.log.error({ err }, 'graphql-ws: error on the WebSocket server (its HTTP server)');
  });

  wss.on('connection', (socket, request) => {
    socket.once('error', (err) => {
      opts.log.warn({ err: err.message }, 'graphql-ws: socket error');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });

    let pongWait: NodeJS.Timeout | undefined;
    const pingInterval = keepAlive > 0 && Number.isFinite(keepAlive)
      ? setInterval(() => {
        if (socket.readyState !== socket.OPEN) return;
        pongWait = setTimeout(() => socket.terminate(), keepAlive);
        socket.once('pong', () => {
          clearTimeout(pongWait);
          pongWait = undefined;
        });
        socket.ping();
      }, keepAlive)
      : undefined;

    const closed = server.opened(new SocketAdapter(socket, highWater, opts.log), { socket, request } as E);

    socket.once('close', (code, reason) => {
      clearTimeout(pongWait);
      clearInterval(pingInterval);
      if (code === CloseCode.SubprotocolNotAcceptable && socket.protocol === DEPRECATED_GRAPHQL_WS_PROTOCOL) {
        opts.log.debug('graphql-ws: client used the deprecated subscriptions-transport-ws subprotocol');
      }
      closed(code, String(reason)).catch((err: unknown) => opts.log.error({ err }, 'graphql-ws: releasing the subscriptions of a closed socket failed'));
    });
  });

  return { nextWriter: (socket, id) => nextMessageWriter(socket, id, highWater) };
}

/**
 * graphql-ws's view of one socket. A class rather than an object of arrow functions: methods on
 * the prototype exist once, where three closures per connection each carried, besides their own
 * context, a property dictionary of ~250 bytes (tsx compiles with esbuild's keepNames, whose
 * `__name(fn, "send")` redefines `name` and makes the function object a slow-properties one).
 */
class SocketAdapter {
  readonly protocol: string;
  constructor(private readonly socket: WebSocket, private readonly highWater: number, private readonly log: Logger) {
    this.protocol = socket.protocol;
  }

  send(data: string): Promise<void> | undefined {
    const socket = this.socket;
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount <= this.highWater) {
      socket.send(data);
      return;
    }
    return new Promise<void>((resolve, reject) => socket.send(data, (err) => (err ? reject(err) : resolve())));
  }

  // ws throws on a reason over 123 bytes; graphql-ws quotes the client's id in some (4409)
  close(code?: number, reason?: string): void {
    this.socket.close(code, reason && Buffer.byteLength(reason) > 123 ? reason.slice(0, 40) : reason);
  }

  onMessage(cb: (data: string) => Promise<void>): void {
    const { socket, log } = this;
    socket.on('message', (data) => {
      cb(String(data)).catch((err: unknown) => {
        log.error({ err }, 'graphql-ws: message handling failed');
        socket.close(CloseCode.InternalServerError, 'Internal server error');
      });
    });
  }
}

/**
 * graphql-ws's `next` payload for a result (its own shape: `errors` through `toJSON`, left out
 * when absent) followed by the message's closing brace: the part of every subscriber's message
 * that is the same for all of them.
 */
export function nextPayloadTail(result: ExecutionResult): Buffer {
  const { errors, ...rest } = result;
  return Buffer.from(`${JSON.stringify(errors ? { ...rest, errors: errors.map((e) => e.toJSON()) } : rest)}}`);
}

/**
 * Writes `{"id":<id>,"type":"next","payload":<shared payload>}` to one socket as one unmasked
 * text frame: a small buffer of its own (frame header and the prefix with its id) and the
 * event's shared tail, corked into one writev. The bytes are those graphql-ws would send.
 *
 * The subscriber's buffer is made once, at subscribe time, with room for the longest frame header
 * before the prefix; each event writes only the header's 2, 4 or 10 bytes in front of it and
 * writes a view that starts there (one view per header length, also made once). Nothing is
 * allocated or copied per subscriber per event. That buffer may be rewritten only once the
 * socket holds no unfinished write (a write that the kernel took only in part keeps a reference
 * to it until done): when the socket has bytes queued, the event gets a buffer of its own.
 *
 * It writes to ws's underlying socket, beside ws's own sender. That keeps the order of frames
 * only because ws writes every frame synchronously when nothing is compressed (its sender queues
 * only while deflating or reading a Blob, and this server neither negotiates permessage-deflate
 * nor sends Blobs): with an extension negotiated there is no writer. Returns false without
 * writing when the socket is not open or has more than `highWater` bytes queued: the event then
 * takes graphql-ws's path, where a slow reader's sends wait for their writes (backpressure).
 */
function nextMessageWriter(socket: WebSocket, id: string, highWater: number): DirectDelivery | undefined {
  const raw = (socket as unknown as { _socket?: net.Socket })._socket; // ws's own socket (no public accessor)
  if (socket.extensions !== '' || raw === undefined) return undefined;
  const own = headViews(Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`));
  const prefixLength = own.prefixLength;
  return (event: SharedResult) => {
    if (socket.readyState !== socket.OPEN || socket.bufferedAmount > highWater) return false;
    const tail = event.encodedWith(nextPayloadTail);
    const length = prefixLength + tail.length;
    const views = raw.writableLength === 0 ? own : headViews(own.prefix);
    let head: Buffer;
    if (length < 126) {
      head = views.short;
      head[1] = length;
    } else if (length < 65_536) {
      head = views.medium;
      head[1] = 126;
      head[2] = length >>> 8;
      head[3] = length & 0xff;
    } else {
      head = views.long;
      head[1] = 127;
      head.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      head.writeUInt32BE(length >>> 0, 6);
    }
    head[0] = 0x81; // FIN, text
    raw.cork();
    raw.write(head);
    raw.write(tail);
    raw.uncork();
    return true;
  };
}

const LONGEST_HEADER = 10;

/** A frame-header area followed by the prefix, and its views for a 2-, 4- and 10-byte header. */
function headViews(prefix: Buffer): { prefix: Buffer; prefixLength: number; short: Buffer; medium: Buffer; long: Buffer } {
  const buffer = Buffer.allocUnsafe(LONGEST_HEADER + prefix.length);
  prefix.copy(buffer, LONGEST_HEADER);
  return {
    prefix: buffer.subarray(LONGEST_HEADER),
    prefixLength: prefix.length,
    short: buffer.subarray(LONGEST_HEADER - 2),
    medium: buffer.subarray(LONGEST_HEADER - 4),
    long: buffer,
  };
}
