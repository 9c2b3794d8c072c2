import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The database's figures behind the domain gauges, read at scrape time by one grouped query. */
export type DomainCounts = {
  workspaces: { status: string; provider: string; count: number }[];
  pendingRequests: { kind: string; count: number }[];
  activeOperations: { kind: string; status: string; count: number }[];
};

const WORKSPACE_STATUSES = ['PROVISIONING', 'ONLINE', 'DEGRADED', 'OFFLINE', 'FAILED', 'STOPPED'];
const REQUEST_KINDS = ['TASK', 'APPROVAL'];
/** A scrape within this long of the previous one reuses its figures (several scrapers, one query). */
const DOMAIN_CACHE_MS = 1_000;

/**
 * Prometheus metrics of one Trellis process (GET /metrics). A registry per process object, so
 * several servers in one test process never share counters. Label values are bounded: an
 * operation is named by its type and first root field (both from the schema), never by the
 * client-chosen operation name.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'trellis_graphql_requests_total',
    help: 'GraphQL operations by type, root field and outcome (ok, error, rejected)',
    labelNames: ['type', 'operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'trellis_graphql_request_duration_seconds',
    help: 'GraphQL execution time by type and root field',
    labelNames: ['type', 'operation'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly httpRejections = new Counter({
    name: 'trellis_http_rejections_total',
    help: 'Requests refused before GraphQL ran (body too large, CSRF, origin)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'trellis_rate_limited_total',
    help: 'Calls refused with RATE_LIMITED, by action',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  readonly wsConnections = new Gauge({ name: 'trellis_ws_connections', help: 'Open graphql-ws connections', registers: [this.registry] });
  readonly sharedDeliveries = new Counter({
    name: 'trellis_ws_shared_deliveries_total',
    help: 'Events of shared graphql-ws subscription groups handed to a member, by path: direct (one shared serialization written to its socket) or queued (through its queue and graphql-ws: a busy or backed-up reader)',
    labelNames: ['path'] as const,
    registers: [this.registry],
  });
  /** Set by the graphql-ws server, which knows its connections. */
  wsSubscriptions: () => number = () => 0;
  readonly jobs = new Counter({
    name: 'trellis_jobs_total',
    help: 'graphile-worker job attempts by task and outcome (success, error = will retry, failed = no attempts left)',
    labelNames: ['task', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly reconcilerRuns = new Counter({
    name: 'trellis_reconciler_runs_total',
    help: 'Reconciler ticks by reconciler and outcome',
    labelNames: ['reconciler', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly reconcilerChanged = new Counter({
    name: 'trellis_reconciler_changed_total',
    help: 'Workspaces a reconciler changed',
    labelNames: ['reconciler'] as const,
    registers: [this.registry],
  });
  readonly reconcilerDuration = new Histogram({
    name: 'trellis_reconciler_duration_seconds',
    help: 'Reconciler tick duration',
    labelNames: ['reconciler'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });

  readonly reconcilerWorkspaces = new Counter({
    name: 'trellis_reconciler_workspaces_total',
    help: 'Workspaces per reconciler cycle by figure: processed (checked), flipped (acted on), skipped (deferred or unanswerable), errors (left alone after an error)',
    labelNames: ['reconciler', 'figure'] as const,
    registers: [this.registry],
  });
  readonly reconcilerDeadlineHits = new Counter({
    name: 'trellis_reconciler_deadline_hits_total',
    help: 'Reconciler cycles that stopped at their deadline and deferred the rest to the next cycle',
    labelNames: ['reconciler'] as const,
    registers: [this.registry],
  });

  readonly operations = new Counter({
    name: 'trellis_operations_total',
    help: 'Operations this process finished, by kind and outcome (succeeded, failed, rolled_back)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly operationDuration = new Histogram({
    name: 'trellis_operation_duration_seconds',
    help: 'Time from an operation being queued to its finish, by kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly eventLag = new Histogram({
    name: 'trellis_event_delivery_lag_seconds',
    help: 'Time from an activity event being committed to this process handing it to its subscribers',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  /** Incremented by the orphan sweep (CONTRACT §11) for each instance it stops. */
  readonly orphansStopped = new Counter({
    name: 'trellis_orphans_stopped_total',
    help: 'Provider instances this process stopped because no workspace owns them (orphans), by provider',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });

  /** Counts one finished operation (call once, after the conditional update that finished it). */
  operationFinished(kind: string, status: 'SUCCEEDED' | 'FAILED' | 'ROLLED_BACK', queuedAt: Date, finishedAt: Date): void {
    const labels = { kind, outcome: status.toLowerCase() };
    this.operations.inc(labels);
    this.operationDuration.observe(labels, Math.max(0, finishedAt.getTime() - queuedAt.getTime()) / 1000);
  }

  readonly orphanInstances = new Counter({
    name: 'trellis_orphan_instances_total',
    help: 'Instances the orphan sweep found that no workspace names, by outcome (stopped, adopted, pending = within the grace, foreign = workspace unknown here)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor(opts: { subscribers: () => number; claimWaiters?: () => number; domain?: () => Promise<DomainCounts> }) {
    new Gauge({
      name: 'trellis_claim_waiters',
      help: 'Callers waiting in this process for another caller\'s claim on the same workspace (switch, restart, stop, delete) to end',
      registers: [this.registry],
      collect() {
        this.set(opts.claimWaiters?.() ?? 0);
      },
    });
    new Gauge({
      name: 'trellis_subscribers',
      help: 'Live event subscribers in this process (graphql-ws and SSE)',
      registers: [this.registry],
      collect() {
        this.set(opts.subscribers());
      },
    });
    const metrics = this; // eslint-disable-line @typescript-eslint/no-this-alias -- read at scrape time by the gauge below
    new Gauge({
      name: 'trellis_ws_subscriptions',
      help: 'Live graphql-ws subscriptions, joined to their event stream (subscribers sharing one execution count once each; a subscribe still being authorized is not counted)',
      registers: [this.registry],
      collect() {
        this.set(metrics.wsSubscriptions());
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'trellis_' });
    if (opts.domain) this.domainGauges(opts.domain);
  }

  /**
   * Workspaces by status and provider, pending requests by kind, queued and running operations:
   * computed when /metrics is scraped (never per request), from one grouped query shared by the
   * three gauges. Every status and kind is reported, 0 included, so a series never vanishes.
   */
  private domainGauges(read: () => Promise<DomainCounts>) {
    let cached: { at: number; counts: Promise<DomainCounts> } | undefined;
    const counts = () => {
      if (!cached || Date.now() - cached.at > DOMAIN_CACHE_MS) {
        const p = read();
        cached = { at: Date.now(), counts: p };
        p.catch(() => (cached = undefined));
      }
      return cached.counts;
    };
    new Gauge({
      name: 'trellis_workspaces',
      help: 'Workspaces (not deleted) by status and provider, across all replicas',
      labelNames: ['status', 'provider'] as const,
      registers: [this.registry],
      async collect() {
        const { workspaces } = await counts();
        this.reset();
        for (const provider of new Set(workspaces.map((w) => w.provider))) for (const status of WORKSPACE_STATUSES) this.set({ status, provider }, 0);
        for (const w of workspaces) this.set({ status: w.status, provider: w.provider }, w.count);
      },
    });
    new Gauge({
      name: 'trellis_requests_pending',
      help: 'PENDING requests (tasks and approvals awaiting a person) by kind, across all replicas',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      async collect() {
        const { pendingRequests } = await counts();
        this.reset();
        for (const kind of REQUEST_KINDS) this.set({ kind }, 0);
        for (const r of pendingRequests) this.set({ kind: r.kind }, r.count);
      },
    });
    new Gauge({
      name: 'trellis_operations_active',
      help: 'Operations QUEUED or RUNNING by kind and status, across all replicas',
      labelNames: ['kind', 'status'] as const,
      registers: [this.registry],
      async collect() {
        const { activeOperations } = await counts();
        this.reset();
        for (const o of activeOperations) this.set({ kind: o.kind, status: o.status }, o.count);
      },
    });
  }

  /** Times one reconciler tick; `fn` returns how many workspaces it changed. */
  async reconcile(name: string, fn: () => Promise<number>): Promise<number> {
    const end = this.reconcilerDuration.startTimer({ reconciler: name });
    try {
      const changed = await fn();
      this.reconcilerRuns.inc({ reconciler: name, outcome: 'ok' });
      this.reconcilerChanged.inc({ reconciler: name }, changed);
      return changed;
    } catch (err) {
      this.reconcilerRuns.inc({ reconciler: name, outcome: 'error' });
      throw err;
    } finally {
      end();
    }
  }
}

/** The one grouped query behind the domain gauges. */
export async function readDomainCounts(pool: pg.Pool): Promise<DomainCounts> {
  const { rows } = await pool.query<{ what: string; a: string; b: string | null; n: number }>(`
    SELECT 'workspace' AS what, status::text AS a, provider AS b, count(*)::int AS n FROM "Workspace" WHERE "deletedAt" IS NULL GROUP BY status, provider
    UNION ALL
    SELECT 'request', kind::text, NULL, count(*)::int FROM "Request" WHERE status = 'PENDING' GROUP BY kind
    UNION ALL
    SELECT 'operation', kind::text, status::text, count(*)::int FROM "Operation" WHERE status IN ('QUEUED', 'RUNNING') GROUP BY kind, status`);
  const out: DomainCounts = { workspaces: [], pendingRequests: [], activeOperations: [] };
  for (const r of rows) {
    if (r.what === 'workspace') out.workspaces.push({ status: r.a, provider: r.b!, count: r.n });
    else if (r.what === 'request') out.pendingRequests.push({ kind: r.a, count: r.n });
    else out.activeOperations.push({ kind: r.a, status: r.b!, count: r.n });
  }
  return out;
}
