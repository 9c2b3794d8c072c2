import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Actor } from '../auth/actor.ts';
import { AppError } from './errors.ts';

/** The mutations with a per-token budget; add a name here and call `consume` in its resolver. */
export type RateLimitedAction = 'heartbeat' | 'createRequest' | 'setSecret';

/**
 * Per-token rate limits (rate-limiter-flexible, fixed one-minute windows, in this process's
 * memory). The budget is per replica: behind a load balancer a token gets at most
 * replicas × budget, which still bounds a runaway agent while keeping the heartbeat hot path
 * free of an extra database round trip (DESIGN decision 4).
 */
export class RateLimits {
  private readonly limiters: Record<RateLimitedAction, RateLimiterMemory>;

  constructor(perMinute: Record<RateLimitedAction, number>, private readonly onLimited: (action: RateLimitedAction) => void = () => undefined) {
    const make = (action: RateLimitedAction) => new RateLimiterMemory({ keyPrefix: action, points: perMinute[action], duration: 60 });
    this.limiters = { heartbeat: make('heartbeat'), createRequest: make('createRequest'), setSecret: make('setSecret') };
  }

  /** Spends one call of `action` for the actor's token; throws RATE_LIMITED when none is left. */
  async consume(action: RateLimitedAction, actor: Actor | undefined): Promise<void> {
    if (!actor) return; // unauthenticated calls fail authorization anyway
    try {
      await this.limiters[action].consume(actor.tokenId);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      this.onLimited(action);
      const retryAfterMs = Math.max(1, Math.ceil(err.msBeforeNext));
      throw new AppError('RATE_LIMITED', `too many ${action} calls for this token; retry in ${Math.ceil(retryAfterMs / 1000)} s`, { retryAfterMs });
    }
  }
}
