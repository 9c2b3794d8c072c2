import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  readonly orphanInstances = new Counter({
    name: 'trellis_orphan_instances_total',
    help: 'Instances the orphan sweep found that no workspace names, by outcome (stopped, adopted, pending = within the grace, foreign = workspace unknown here)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor(opts: { subscribers: () => number }) {
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
      help: 'Active graphql-ws subscriptions (subscribers sharing one execution count once each)',
      registers: [this.registry],
      collect() {
        this.set(metrics.wsSubscriptions());
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'trellis_' });
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
