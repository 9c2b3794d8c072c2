import type http from 'node:http';
import type { Plugin } from 'graphql-yoga';
import type { Actor } from '../auth/actor.ts';
import { AppError } from '../shared/errors.ts';

/**
 * The per-token cap on open event streams: graphql-ws subscriptions and SSE streams count
 * together (TRELLIS_MAX_STREAMS_PER_TOKEN). The graphql-ws server knows its own subscriptions
 * and reports them through `wsCount`; SSE streams are counted here, each from the moment its
 * subscription is executed to the close of its HTTP response, so a refused or dropped response
 * always gives its slot back.
 */
export class StreamCaps {
  private readonly sse = new Map<string, number>();
  /** Set by the graphql-ws server: open subscriptions of one token on all its connections. */
  wsCount: (tokenId: string) => number = () => 0;

  constructor(readonly max: number) {}

  count(tokenId: string): number {
    return (this.sse.get(tokenId) ?? 0) + this.wsCount(tokenId);
  }

  refusal(): AppError {
    return new AppError('RATE_LIMITED', `at most ${this.max} open subscriptions per token (graphql-ws and SSE together)`, { reason: 'STREAM_LIMIT' });
  }

  /** Takes an SSE slot for `tokenId` until `res` closes; false at the cap (nothing taken). */
  acquireSse(tokenId: string, res: http.ServerResponse): boolean {
    if (this.count(tokenId) >= this.max) return false;
    this.sse.set(tokenId, (this.sse.get(tokenId) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const n = (this.sse.get(tokenId) ?? 1) - 1;
      if (n > 0) this.sse.set(tokenId, n);
      else this.sse.delete(tokenId);
    };
    if (res.destroyed || res.writableFinished) release();
    else res.once('close', release);
    return true;
  }
}

/**
 * yoga plugin: an HTTP subscription (SSE) takes a slot before its resolver runs, or is refused
 * with RATE_LIMITED. graphql-ws subscriptions carry no `res` and are capped in src/server/ws.ts.
 */
export function useStreamCaps(caps: StreamCaps): Plugin {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue as { res?: http.ServerResponse; actor?: Actor };
      if (!ctx.res || !ctx.actor) return;
      if (!caps.acquireSse(ctx.actor.tokenId, ctx.res)) setResultAndStopExecution({ errors: [caps.refusal()] });
    },
  };
}
