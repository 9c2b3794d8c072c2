import pg from 'pg';
import type { Db } from '../db/client.ts';
import { ACTIVITY_CHANNEL } from '../activity/append.ts';
import { parseRevocation, TOKEN_CHANNEL, type Revocation } from '../auth/revocation.ts';
import type { Logger } from '../shared/logger.ts';
import { PushQueue } from './queue.ts';
import { readActivityAfter, type ActivityEvent } from './read.ts';

export type { ActivityEvent };

type Subscriber = { accepts: (e: ActivityEvent) => boolean; queue: PushQueue<ActivityEvent> };

const BATCH = 1_000;
const CATCH_UP_MS = 5_000;

/**
 * One LISTEN connection per process. A notification only says "there is more"; the dispatcher
 * then reads every activity row after the last one it dispatched (one query per batch, shared by
 * all subscribers) and hands each row to the subscribers that want it. Because ids commit in
 * order, reading `id > lastDispatched` can neither skip nor repeat an event, and a lost
 * connection only delays delivery: the catch-up read after reconnecting finds what was missed.
 */
export class EventBus {
  private subscribers = new Set<Subscriber>();
  private revocationListeners = new Set<(r: Revocation) => void>();
  private listener: pg.Client | undefined;
  private lastDispatched: bigint | undefined;
  private pumping: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;
  private connectedBefore = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private catchUpTimer: NodeJS.Timeout | undefined;

  /** Called with each event's creation time as it is dispatched (the delivery-lag metric). */
  onDelivered: ((createdAt: Date) => void) | undefined;

  constructor(private readonly db: Db, private readonly log: Logger) {}

  async start(): Promise<void> {
    const last = await this.db.prisma.activity.aggregate({ _max: { id: true } });
    this.lastDispatched = last._max.id ?? 0n;
    await this.connect();
    // Belt and braces: a periodic catch-up read delivers anything a lost notification delayed.
    this.catchUpTimer = setInterval(() => void this.poke(), CATCH_UP_MS);
    this.catchUpTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.catchUpTimer);
    for (const s of this.subscribers) s.queue.return();
    await this.listener?.end().catch(() => undefined);
    await this.pumping;
  }

  /** Ends every open subscription (their streams complete) while still dispatching; for draining. */
  endSubscribers(): void {
    for (const s of this.subscribers) s.queue.return();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /**
   * Token revocations announced by any replica (src/auth/revocation.ts). After the listening
   * connection was lost, `{ all: true }`: a revocation may have been missed, so every cached
   * token must be looked up again.
   */
  onRevocation(listener: (r: Revocation) => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
  }

  private revoked(r: Revocation) {
    for (const l of this.revocationListeners) {
      try {
        l(r);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'token revocation listener failed');
      }
    }
  }

  /** Live events accepted by `accepts`, from the moment of this call on. */
  subscribe(accepts: (e: ActivityEvent) => boolean): PushQueue<ActivityEvent> {
    const sub: Subscriber = { accepts, queue: undefined as unknown as PushQueue<ActivityEvent> };
    sub.queue = new PushQueue<ActivityEvent>(10_000, () => this.subscribers.delete(sub));
    this.subscribers.add(sub);
    return sub.queue;
  }

  /** Dispatch whatever has committed; resolves when it has been handed to subscribers. */
  poke(): Promise<void> {
    this.dirty = true;
    this.pumping ??= this.pump().finally(() => {
      this.pumping = undefined;
      // a poke that landed between the loop's last check and here must not be lost
      if (this.dirty && !this.stopped) void this.poke();
    });
    return this.pumping;
  }

  private async connect(): Promise<void> {
    // keepAlive: a half-open connection is noticed (and replaced) instead of silently going deaf
    const client = new pg.Client({ connectionString: this.db.url, keepAlive: true });
    client.on('notification', (msg) => {
      if (msg.channel === TOKEN_CHANNEL) this.revoked(parseRevocation(msg.payload));
      else void this.poke();
    });
    client.on('error', (err) => {
      this.log.warn({ err: err.message }, 'event listener connection lost; reconnecting');
      this.scheduleReconnect(client);
    });
    client.on('end', () => this.scheduleReconnect(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${ACTIVITY_CHANNEL}; LISTEN ${TOKEN_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    const reconnected = this.connectedBefore;
    this.connectedBefore = true;
    this.listener = client;
    void this.poke(); // catch up on anything committed while we were not listening
    if (reconnected) this.revoked({ all: true }); // a revocation may have been announced meanwhile
  }

  /**
   * Whether revocations are being heard right now. While they are not, nothing may trust a cached
   * token (src/auth/authenticate.ts): a revocation committed meanwhile would go unnoticed here.
   */
  get listening(): boolean {
    return this.listener !== undefined;
  }

  private scheduleReconnect(client: pg.Client) {
    if (this.stopped || this.listener !== client) return;
    this.listener = undefined;
    client.end().catch(() => undefined);
    this.revoked({ all: true }); // from now until the reconnect, revocations go unheard
    const attempt = () => {
      if (this.stopped) return;
      this.connect().catch((err: Error) => {
        this.log.warn({ err: err.message }, 'event listener reconnect failed; retrying');
        this.reconnectTimer = setTimeout(attempt, 1_000);
      });
    };
    this.reconnectTimer = setTimeout(attempt, 100);
  }

  private async pump(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      try {
        let rows: ActivityEvent[];
        do {
          rows = await readActivityAfter(this.db.pool, this.lastDispatched ?? 0n, BATCH);
          for (const row of rows) this.dispatch(row);
          if (rows.length) this.lastDispatched = rows[rows.length - 1]!.id;
        } while (rows.length === BATCH && !this.stopped);
      } catch (err) {
        if (this.stopped) return;
        this.log.error({ err: (err as Error).message }, 'event dispatch read failed; will retry');
        this.dirty = true;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private dispatch(event: ActivityEvent) {
    this.onDelivered?.(event.createdAt);
    for (const sub of this.subscribers) {
      if (sub.accepts(event)) sub.queue.push(event);
    }
  }
}
