import type { Db } from '../db/client.ts';
import type { Logger } from '../shared/logger.ts';
import type { Actor } from './actor.ts';

/** How often the tokens used since the last flush are written, and the coarseness of `lastUsedAt`. */
export const USAGE_FLUSH_MS = 60_000;

/**
 * `lastUsedAt`, kept coarse so the hot path never pays for it: a request only adds its token id
 * to an in-memory set; a timer writes each set in one UPDATE per table, and an UPDATE skips rows
 * already marked within the last flush period. So `lastUsedAt` is at most about two flush
 * periods behind, and a heartbeat costs no extra statement.
 */
export class TokenUsage {
  private api = new Set<string>();
  private workspace = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly db: Db, private readonly log?: Logger, private readonly flushMs = USAGE_FLUSH_MS) {}

  touch(actor: Actor) {
    (actor.kind === 'USER' ? this.api : this.workspace).add(actor.tokenId);
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushMs);
      this.timer.unref();
    }
  }

  /** Writes what was used since the last flush (tests call it directly). */
  async flush(): Promise<void> {
    await this.flushing;
    const api = [...this.api];
    const workspace = [...this.workspace];
    this.api.clear();
    this.workspace.clear();
    if (!api.length && !workspace.length) return;
    const since = `now() - make_interval(secs => ${Math.floor(this.flushMs / 1000)})`;
    this.flushing = (async () => {
      try {
        if (api.length) await this.db.pool.query(`UPDATE "ApiToken" SET "lastUsedAt" = now() WHERE id = ANY($1) AND ("lastUsedAt" IS NULL OR "lastUsedAt" < ${since})`, [api]);
        if (workspace.length) await this.db.pool.query(`UPDATE "WorkspaceToken" SET "lastUsedAt" = now() WHERE id = ANY($1) AND ("lastUsedAt" IS NULL OR "lastUsedAt" < ${since})`, [workspace]);
      } catch (err) {
        this.log?.warn({ err: (err as Error).message }, 'could not record token use (lastUsedAt)');
      }
    })();
    await this.flushing;
    this.flushing = undefined;
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
