import type http from 'node:http';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import type { YogaServerInstance } from 'graphql-yoga';
import { CloseCode, type Context } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Services } from '../app/context.ts';
import type { Actor } from '../auth/actor.ts';
import { atTime } from '../auth/expiry.ts';
import { hashToken } from '../auth/tokens.ts';
import { AppError, ERROR_CODES } from '../shared/errors.ts';
import { contextFor, tokenFrom } from './context.ts';
import { normalizeError } from './errors.ts';
import { originAllowed } from './limits.ts';
import type { Metrics } from './metrics.ts';
import { SharedSubscriptions, type DirectDelivery } from './shared-subscriptions.ts';
import type { StreamCaps } from './stream-caps.ts';
import { serveGraphqlWs } from './ws-transport.ts';

/** Close codes this server uses besides graphql-ws's own (4403 Forbidden on a bad token). */
export const WS_CLOSE = { revoked: CloseCode.Forbidden, idle: 4000, shutdown: 1001, tooManyConnections: 4429 } as const;

type Conn = {
  tokenHash: string; token: string; tokenId: string; expiresAt: number | undefined; idleSince: number | undefined;
  ctx: Context<Record<string, unknown>, Extra>; socket: WebSocket;
  /** Keys of ctx.subscriptions (pending ones included), counted as graphql-ws adds and deletes them. */
  subscriptions: number;
};
type Extra = { socket: WebSocket; request: http.IncomingMessage; actor?: Actor; conn?: Conn };

/**
 * graphql-ws on the HTTP server's path, hardened: the Origin is checked at the upgrade; the token
 * on connect and again (uncached) on every subscribe; each subscribe goes through yoga's parse and
 * validate, so armor's limits apply exactly as over HTTP; at most `wsMaxSubscriptions` per
 * connection; messages larger than the body limit close the socket. A timer re-checks the
 * tokens of all open connections in one query (a revoked token's connections close with 4403)
 * and closes connections idle without a subscription for `wsIdleTimeoutMs`. The transport is our
 * own thin adapter over graphql-ws's `makeServer` (src/server/ws-transport.ts): useServer's
 * per-message promise made large fan-outs garbage-collection bound.
 */
export function attachGraphqlWs(server: http.Server, path: string, yoga: YogaServerInstance<Record<string, unknown>, Record<string, unknown>>, svc: Services, metrics: Metrics, caps: StreamCaps) {
  const limits = svc.config.limits;
  const conns = new Set<Conn>();
  const byToken = new Map<string, Set<Conn>>();
  // graphql-ws subscriptions per token (all its open connections), kept as they change: summing
  // them over the token's connections at every subscribe made N subscribes of one token N²/2 key
  // counts (10,000 subscribers of one token: 15-45 s of setup, 87% of it this count).
  const subscriptionsOfToken = new Map<string, number>();
  caps.wsCount = (tokenId) => subscriptionsOfToken.get(tokenId) ?? 0;
  const shared = new SharedSubscriptions((direct, queued) => {
    if (direct) metrics.sharedDeliveries.inc({ path: 'direct' }, direct);
    if (queued) metrics.sharedDeliveries.inc({ path: 'queued' }, queued);
  });
  // Live subscriptions only: graphql-ws lists a subscription (as null) from the moment its message
  // is read, before onSubscribe's token check and before it joins its stream. Counting those made
  // "all live" true while thousands were still being set up, and an event sent then queued behind
  // their token lookups (the fan-out bench's first round).
  metrics.wsSubscriptions = () => {
    let n = 0;
    for (const c of conns) for (const id in c.ctx.subscriptions) if (c.ctx.subscriptions[id] != null) n++;
    return n;
  };
  const wss = new WebSocketServer({
    server,
    path,
    maxPayload: limits.maxBodyBytes,
    verifyClient: (info: { origin?: string; req: http.IncomingMessage }) => {
      const ok = originAllowed(info.req.headers.origin, info.req.headers.host, limits.allowedOrigins, limits.allowedHosts);
      if (!ok) metrics.httpRejections.inc({ reason: 'origin' });
      return ok;
    },
  });
  wss.on('connection', (socket) => {
    metrics.wsConnections.inc();
    socket.once('close', () => metrics.wsConnections.dec());
  });

  // The subscriber's own frame writer, by the arguments onSubscribe returns (graphql-ws hands that
  // same object to `subscribe`, which knows neither the socket nor the subscription id).
  const writers = new WeakMap<ExecutionArgs, DirectDelivery>();
  const transport = serveGraphqlWs<Record<string, unknown>, Extra>(
    {
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args: ExecutionArgs) =>
        shared.subscribe(args, (a) => (a.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(a) as never, writers.get(args), () => {
          // graphql-ws keeps a subscription's arguments until it ends, for hooks this server does
          // not use (onNext, onOperation). A member of a shared group needs neither its context
          // (~830 bytes of property dictionary alone, in a heap snapshot) nor its root (yoga's
          // envelope for this subscribe) once joined.
          args.contextValue = undefined;
          args.rootValue = undefined;
        }) as never,
      onConnect: async (ctx) => {
        const auth = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const token = typeof auth === 'string' ? tokenFrom(auth) : undefined;
        // graphql-ws closes with 4403 when onConnect returns false; closing first gives the client
        // the reason (the first close wins), and the refusal is logged (no token value in it).
        const refuse = (reason: string) => {
          svc.log.info({ reason, origin: ctx.extra.request.headers.origin }, 'graphql-ws connection refused');
          ctx.extra.socket.close(CloseCode.Forbidden, `Forbidden: ${reason}`);
          return false;
        };
        if (auth === undefined) return refuse('connectionParams.authorization is required ("Bearer <token>")');
        if (!token) return refuse('connectionParams.authorization is not of the form "Bearer <token>"');
        const epoch = svc.auth.revocationEpoch;
        let actor: Actor | undefined;
        try {
          actor = await svc.auth.authenticate(token);
        } catch (err) {
          if (err instanceof AppError) return refuse(err.message);
          // Never let an internal error's text reach the client as a close reason.
          svc.log.error({ err }, 'graphql-ws authentication failed unexpectedly');
          return false;
        }
        if (!actor) return refuse('invalid, expired or revoked token');
        ctx.extra.actor = actor;
        const tokenId = actor.tokenId;
        const mine = byToken.get(tokenId) ?? new Set<Conn>();
        if (mine.size >= limits.wsMaxConnectionsPerToken) {
          svc.log.info({ tokenId, open: mine.size }, 'graphql-ws connection refused: connection limit of this token');
          ctx.extra.socket.close(WS_CLOSE.tooManyConnections, `RATE_LIMITED: at most ${limits.wsMaxConnectionsPerToken} connections per token`);
          return false;
        }
        const conn: Conn = {
          token, tokenHash: hashToken(token), tokenId, expiresAt: actor.kind === 'USER' ? actor.expiresAt : undefined,
          idleSince: Date.now(), ctx, socket: ctx.extra.socket, subscriptions: 0,
        };
        // Before the ack: no subscription can exist yet (graphql-ws refuses a subscribe until then).
        countSubscriptions(ctx, (delta) => {
          if (!conns.has(conn)) return;
          conn.subscriptions += delta;
          subscriptionsOfToken.set(tokenId, (subscriptionsOfToken.get(tokenId) ?? 0) + delta);
        });
        ctx.extra.conn = conn;
        conns.add(conn);
        mine.add(conn);
        byToken.set(tokenId, mine);
        const cancelExpiry = conn.expiresAt === undefined
          ? undefined
          : atTime(conn.expiresAt, () => conn.socket.close(WS_CLOSE.revoked, 'Forbidden: token expired'));
        ctx.extra.socket.once('close', () => {
          if (conns.delete(conn)) {
            const left = (subscriptionsOfToken.get(tokenId) ?? 0) - conn.subscriptions;
            if (left > 0) subscriptionsOfToken.set(tokenId, left);
            else subscriptionsOfToken.delete(tokenId);
          }
          mine.delete(conn);
          if (mine.size === 0 && byToken.get(tokenId) === mine) byToken.delete(tokenId);
          cancelExpiry?.();
        });
        // A revocation announced while this connection was being authenticated found no
        // connection to close: look again.
        if (svc.auth.revocationEpoch !== epoch && !(await svc.auth.actorStillValid(actor))) return refuse('invalid, expired or revoked token');
        return true;
      },
      // graphql-ws's own errors ("Unable to identify operation", a stream that threw) carry no
      // code: a complaint about the request becomes BAD_USER_INPUT, anything else INTERNAL, logged.
      onError: (_ctx, id, _payload, errors) => errors.map((err) => codedWsError(err, id, svc)),
      onSubscribe: async (ctx, id, payload) => {
        const conn = ctx.extra.conn;
        if (!conn) return [new AppError('UNAUTHENTICATED', 'connection is not authenticated')];
        let actor: Actor;
        try {
          actor = await svc.auth.authenticateFresh(conn.token);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          ctx.extra.socket.close(WS_CLOSE.revoked, 'Forbidden: token revoked');
          return [err];
        }
        if (conn.subscriptions > limits.wsMaxSubscriptions) {
          return [new AppError('RATE_LIMITED', `at most ${limits.wsMaxSubscriptions} subscriptions per connection`)];
        }
        // this subscription is already among ctx.subscriptions, hence `>`
        if (caps.count(conn.tokenId) > caps.max) return [caps.refusal()];
        conn.idleSince = undefined;
        const requestId = crypto.randomUUID();
        const { schema, execute, subscribe, parse, validate } = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params: payload });
        let document;
        try {
          if (typeof payload.query !== 'string' || payload.query.length > limits.maxBodyBytes) throw new AppError('BAD_USER_INPUT', 'query must be a string');
          document = parse(payload.query);
        } catch (err) {
          return [err instanceof GraphQLError ? normalizeError(err) : new AppError('BAD_USER_INPUT', 'could not parse the document')];
        }
        const errors = validate(schema, document);
        if (errors.length) return errors.map(normalizeError);
        const args: ExecutionArgs = {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: contextFor(svc, actor, requestId),
          rootValue: { execute, subscribe },
        };
        const writer = transport.nextWriter(ctx.extra.socket, id);
        if (writer) writers.set(args, writer);
        return args;
      },
    },
    wss,
    { log: svc.log },
  );

  // A revocation committed on any replica (src/auth/revocation.ts) closes the connections opened
  // with those tokens at once; after a lost notification, every connection is re-checked.
  let checking = false;
  let lastAuthCheck = Date.now();
  const recheckAll = () => {
    const open = [...conns];
    if (!open.length) return;
    checking = true;
    lastAuthCheck = Date.now();
    svc.auth
      .stillValid([...new Set(open.map((c) => c.tokenHash))])
      .then((valid) => {
        for (const c of open) if (!valid.has(c.tokenHash)) c.socket.close(WS_CLOSE.revoked, 'Forbidden: token revoked');
      })
      .catch((err: Error) => svc.log.warn({ err: err.message }, 'graphql-ws token re-check failed'))
      .finally(() => (checking = false));
  };
  const stopListening = svc.auth.onRevocation((r) => {
    if ('all' in r) return recheckAll();
    const ids = new Set(r.ids);
    for (const c of conns) if (ids.has(c.tokenId)) c.socket.close(WS_CLOSE.revoked, 'Forbidden: token revoked');
  });

  // One timer for all connections: revocation (a last net) and idleness.
  const tick = Math.max(50, Math.min(limits.wsAuthRecheckMs, Math.floor(limits.wsIdleTimeoutMs / 4)));
  const timer = setInterval(() => {
    const now = Date.now();
    for (const c of conns) {
      if (c.subscriptions > 0) c.idleSince = undefined;
      else if (c.idleSince === undefined) c.idleSince = now;
      else if (now - c.idleSince >= limits.wsIdleTimeoutMs) c.socket.close(WS_CLOSE.idle, 'idle: no subscription');
    }
    if (checking || now - lastAuthCheck < limits.wsAuthRecheckMs || conns.size === 0) return;
    recheckAll();
  }, tick);
  timer.unref();

  return {
    wss,
    /** Ends every connection (clients reconnect to another replica) and stops the timer. */
    close: async () => {
      clearInterval(timer);
      stopListening();
      for (const client of wss.clients) client.close(WS_CLOSE.shutdown, 'server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/**
 * Counts the keys graphql-ws adds to and deletes from `ctx.subscriptions` (a subscription's, from
 * the moment its message is read until it ends), by putting a proxy in its place. graphql-ws only
 * ever sets, reads and deletes keys of that object, and on close replaces it with a fresh one,
 * after which nothing more is counted (the connection's count is dropped whole on close).
 */
function countSubscriptions(ctx: Context<Record<string, unknown>, Extra>, onChange: (delta: 1 | -1) => void): void {
  const proxy = new Proxy(Object.create(null) as Context['subscriptions'], {
    set(target, key, value) {
      if (!Reflect.has(target, key)) onChange(1);
      return Reflect.set(target, key, value);
    },
    deleteProperty(target, key) {
      if (Reflect.has(target, key)) onChange(-1);
      return Reflect.deleteProperty(target, key);
    },
  });
  // graphql-ws types it readonly, yet assigns it itself (on close): a plain data property
  (ctx as { subscriptions: Context['subscriptions'] }).subscriptions = proxy;
}

function codedWsError(err: GraphQLError, id: string, svc: Services): GraphQLError {
  if (typeof err.extensions?.code === 'string' && ERROR_CODES.has(err.extensions.code)) return err;
  if (!err.originalError) return normalizeError(err); // graphql-ws's complaint about the message
  const original = err.originalError;
  if (original instanceof GraphQLError && typeof original.extensions?.code === 'string' && ERROR_CODES.has(original.extensions.code)) return original;
  svc.log.error({ err: original, subscriptionId: id }, 'graphql-ws: a subscription failed');
  return new GraphQLError('Internal server error', { extensions: { code: 'INTERNAL' } });
}
