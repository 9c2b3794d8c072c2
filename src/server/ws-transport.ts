import type http from 'node:http';
import { CloseCode, DEPRECATED_GRAPHQL_WS_PROTOCOL, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../shared/logger.ts';

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
 */
export function serveGraphqlWs<P extends Record<string, unknown>, E extends { socket: WebSocket; request: http.IncomingMessage }>(
  options: ServerOptions<P, E>,
  wss: WebSocketServer,
  opts: { log: Logger; keepAliveMs?: number; highWaterBytes?: number },
): void {
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

    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => {
          if (socket.readyState !== socket.OPEN) return;
          if (socket.bufferedAmount <= highWater) {
            socket.send(data);
            return;
          }
          return new Promise<void>((resolve, reject) => socket.send(data, (err) => (err ? reject(err) : resolve())));
        },
        // ws throws on a reason over 123 bytes; graphql-ws quotes the client's id in some (4409)
        close: (code, reason) => socket.close(code, reason && Buffer.byteLength(reason) > 123 ? reason.slice(0, 40) : reason),
        onMessage: (cb) =>
          socket.on('message', (data) => {
            cb(String(data)).catch((err: unknown) => {
              opts.log.error({ err }, 'graphql-ws: message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      { socket, request } as E,
    );

    socket.once('close', (code, reason) => {
      clearTimeout(pongWait);
      clearInterval(pingInterval);
      if (code === CloseCode.SubprotocolNotAcceptable && socket.protocol === DEPRECATED_GRAPHQL_WS_PROTOCOL) {
        opts.log.debug('graphql-ws: client used the deprecated subscriptions-transport-ws subprotocol');
      }
      closed(code, String(reason)).catch((err: unknown) => opts.log.error({ err }, 'graphql-ws: releasing the subscriptions of a closed socket failed'));
    });
  });
}
