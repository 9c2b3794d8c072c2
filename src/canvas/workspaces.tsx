import { useEffect, useRef, useState } from 'preact/hooks';
import { WORKSPACE_DETAIL } from './documents.js';
import { ago, when } from './format.js';
import type { CanvasWorkspaceQuery, WorkspaceStatus } from './generated/graphql.js';
import { GqlError } from './api.js';
import { alertError, api, ask, inOrg, label, remove, restart, stop, store, switchProvider, type WorkspaceRow } from './store.js';

const STATUSES: WorkspaceStatus[] = ['PROVISIONING', 'ONLINE', 'DEGRADED', 'OFFLINE', 'FAILED', 'STOPPED'];

export function Badge({ status }: { status: string }) {
  return <span class={`badge ${status}`} data-status={status}>{status}</span>;
}

export function WorkspaceList() {
  const [query, setQuery] = useState('');
  const [status, setStatus] = useState<'' | WorkspaceStatus>('');
  const q = query.toLowerCase();
  const all = [...store.workspaces.values()].filter((w) => inOrg(w.org));
  const items = all
    .filter((w) => (!status || w.status === status) && (!q || [w.name, w.provider, w.model ?? '', w.lastSampleError ?? ''].some((s) => s.toLowerCase().includes(q))))
    .sort((a, b) => a.name.localeCompare(b.name));
  return (
    <section class="card" aria-labelledby="ws-title">
      <h2 id="ws-title">Workspaces <span class="count">{all.length}</span></h2>
      <div class="filters">
        <label class="grow">
          <span>Search workspaces</span>
          <input type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        </label>
        <label>
          <span>Status</span>
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as WorkspaceStatus | '')}>
            <option value="">All</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s.toLowerCase()}</option>)}
          </select>
        </label>
      </div>
      {items.length === 0 && <p class="muted">{all.length === 0 ? 'No workspaces yet.' : 'No workspace matches.'}</p>}
      <ul class="workspaces">
        {items.map((w) => (
          <li key={w.id} data-workspace-id={w.id}>
            <div class="who">
              <a class="name" href={`#/workspaces/${w.id}`}>{w.name}</a>
              <span class="meta">
                {[w.kind === 'PLATFORM' ? 'concierge' : null, w.provider, store.perms.allOrgs && store.org === '' ? w.org.name : null].filter(Boolean).join(' · ')}
              </span>
              {w.lastSampleError && w.status !== 'ONLINE' && <span class="meta error-text">{w.lastSampleError}</span>}
            </div>
            <Badge status={w.status} />
          </li>
        ))}
      </ul>
    </section>
  );
}

type Detail = NonNullable<CanvasWorkspaceQuery['workspace']>;
type Entry = Detail['activity']['edges'][number]['node'];
const ACTIVE = new Set(['QUEUED', 'RUNNING']);
const POLL_MS = 1000;

const opOf = (e: Entry) => {
  const id = (e.data as { operationId?: unknown } | null)?.operationId;
  return typeof id === 'string' ? id : undefined;
};

/**
 * One workspace: its state, actions, operations (with their steps: the activity entries that
 * name them) and history. Reloaded on every live event about it, and every second while an
 * operation of it runs — the API publishes status changes live, not each step.
 */
export function WorkspaceView({ id }: { id: string }) {
  const [detail, setDetail] = useState<Detail | null | undefined>(undefined);
  const [provider, setProvider] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  const tick = store.ticks.get(id) ?? 0;
  const [poll, setPoll] = useState(0);
  const [, setClock] = useState(0);

  // "Last heartbeat: 5 s ago" keeps counting between events.
  useEffect(() => {
    const timer = setInterval(() => setClock((n) => n + 1), 5000);
    return () => clearInterval(timer);
  }, []);

  useEffect(() => {
    let gone = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    api(WORKSPACE_DETAIL, { id }).then(
      (d) => {
        if (gone) return;
        setDetail(d.workspace);
        const w = d.workspace;
        // The list's row is refreshed by status events only; what changes without one (restartPending
        // after a deferred secret restart, the model) comes from this read. The status stays the
        // events' (a read that raced an event must not undo it; the event reloads this view anyway).
        const row = w && store.workspaces.get(w.id);
        if (w && row) store.workspaces.set(w.id, { ...rowOf(w), status: row.status });
        if (w && (w.status === 'PROVISIONING' || w.operations.edges.some((e) => ACTIVE.has(e.node.status)))) {
          timer = setTimeout(() => setPoll((n) => n + 1), POLL_MS);
        }
      },
      (err: unknown) => {
        if (gone) return;
        if (err instanceof GqlError && err.code === 'NOT_FOUND') setDetail(null);
        else alertError(`Could not load the workspace: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    return () => {
      gone = true;
      clearTimeout(timer);
    };
  }, [id, tick, poll]);

  useEffect(() => heading.current?.focus(), [id, detail === undefined]);

  const back = <p><a href="#/">← All workspaces</a></p>;
  if (detail === undefined) return <section class="card" aria-busy="true">{back}<p role="status">Loading…</p></section>;
  if (detail === null) {
    return (
      <section class="card" aria-labelledby="wsv-title">
        {back}
        <h2 id="wsv-title" tabIndex={-1} ref={heading}>Workspace not found</h2>
        <p>It was deleted, or your token cannot see it.</p>
      </section>
    );
  }
  const w: Detail = { ...detail, ...(store.workspaces.get(id) ?? {}) } as Detail;
  const row: WorkspaceRow = w;
  const busy = store.busy.has(`ws:${id}`);
  const entries = detail.activity.edges.map((e) => e.node);
  const steps = (opId: string) => entries.filter((e) => opOf(e) === opId).reverse();
  const statusHistory = entries.filter((e) => e.type === 'STATUS_CHANGED');
  const others = store.providers.filter((p) => p.available && p.name !== w.provider);
  const can = store.perms;

  return (
    <article class="card workspace-view" aria-labelledby="wsv-title">
      {back}
      <div class="title-row">
        <h2 id="wsv-title" tabIndex={-1} ref={heading}>{w.name}</h2>
        <Badge status={w.status} />
      </div>
      <dl class="facts">
        <div><dt>Status</dt><dd>{w.status}</dd></div>
        <div><dt>Provider</dt><dd>{w.provider}</dd></div>
        <div><dt>Kind</dt><dd>{w.kind === 'PLATFORM' ? 'PLATFORM (concierge)' : w.kind}</dd></div>
        <div><dt>Model</dt><dd>{w.model || '—'}</dd></div>
        <div><dt>Last heartbeat</dt><dd>{w.lastHeartbeatAt ? <time dateTime={w.lastHeartbeatAt} title={when(w.lastHeartbeatAt)}>{ago(w.lastHeartbeatAt)}</time> : 'never'}</dd></div>
        <div><dt>Last error</dt><dd class={w.lastSampleError ? 'error-text' : undefined}>{w.lastSampleError || 'none'}</dd></div>
        <div><dt>Restart pending</dt><dd>{w.restartPending ? 'yes (waits for the agent’s turn to end)' : 'no'}</dd></div>
        <div><dt>Active turn</dt><dd>{detail.activeTurn ? 'yes' : 'no'}</dd></div>
        <div><dt>MCP server</dt><dd>{detail.mcpServerPresent == null ? 'not reported' : detail.mcpServerPresent ? 'present' : 'missing'}</dd></div>
        <div><dt>Instance</dt><dd class="mono">{detail.instanceId || '—'}</dd></div>
        {store.perms.allOrgs && <div><dt>Org</dt><dd>{w.org.name}</dd></div>}
      </dl>

      {(can.restart || can.manage) && (
        <section aria-labelledby="wsv-actions">
          <h3 id="wsv-actions">Actions</h3>
          <div class="actions wrap">
            {can.restart && <button type="button" disabled={busy} onClick={() => void restart(row)}>Restart</button>}
            {can.manage && <button type="button" class="secondary" disabled={busy} onClick={() => void stop(row)}>Stop</button>}
            {can.manage && (
              <button type="button" class="danger" disabled={busy} onClick={() => ask({
                title: `Delete ${w.name}?`,
                body: 'Its instance is stopped, its tokens are revoked and it leaves every list. This cannot be undone.',
                action: 'Delete',
                run: () => remove(row),
              })}>Delete…</button>
            )}
          </div>
          {can.manage && (
            <form class="switch" onSubmit={(ev) => { ev.preventDefault(); if (provider) void switchProvider(row, provider).then(() => setProvider('')); }}>
              <label>
                <span>Switch provider to</span>
                <select value={provider} onChange={(e) => setProvider(e.currentTarget.value)}>
                  <option value="">Choose…</option>
                  {others.map((p) => <option key={p.name} value={p.name}>{p.name}</option>)}
                </select>
              </label>
              <button type="submit" class="secondary" disabled={busy || !provider}>Switch provider</button>
            </form>
          )}
        </section>
      )}

      <section aria-labelledby="wsv-ops">
        <h3 id="wsv-ops">Operations</h3>
        {detail.operations.edges.length === 0 && <p class="muted">None yet.</p>}
        <ol class="ops">
          {detail.operations.edges.map(({ node: op }) => (
            <li key={op.id} data-operation-id={op.id} aria-busy={ACTIVE.has(op.status)} aria-label={`${label(op.kind)} ${op.status}`}>
              <div class="op-head">
                <strong>{label(op.kind)}</strong>
                <Badge status={op.status} />
                <span class="meta">{when(op.createdAt)}{op.finishedAt ? ` → ${when(op.finishedAt)}` : ''}{op.attempts > 1 ? ` · ${op.attempts} attempts` : ''}</span>
              </div>
              {op.error && <p class="error-text">{op.error}</p>}
              {steps(op.id).length > 0 && (
                <ol class="steps">
                  {steps(op.id).map((s) => <li key={s.id}><span class="meta">{when(s.createdAt)}</span> {s.message}</li>)}
                </ol>
              )}
            </li>
          ))}
        </ol>
      </section>

      <section aria-labelledby="wsv-status">
        <h3 id="wsv-status">Status history</h3>
        {statusHistory.length === 0 && <p class="muted">No status changes yet.</p>}
        <ol class="timeline">
          {statusHistory.map((e) => (
            <li key={e.id}><span class="meta">{when(e.createdAt)}</span> {e.fromStatus ?? '—'} → <strong>{e.toStatus}</strong>{reasonOf(e) ? ` (${reasonOf(e)})` : ''}</li>
          ))}
        </ol>
      </section>

      <section aria-labelledby="wsv-activity">
        <h3 id="wsv-activity">Recent activity</h3>
        <ol class="timeline">
          {entries.slice(0, 30).map((e) => (
            <li key={e.id}><span class="meta">{when(e.createdAt)}</span> <code>{e.type}</code> {e.message}</li>
          ))}
        </ol>
      </section>
    </article>
  );
}

/** The list row's fields of a detail read. */
function rowOf(w: Detail): WorkspaceRow {
  const { id, name, kind, status, provider, model, lastSampleError, lastHeartbeatAt, restartPending, org } = w;
  return { id, name, kind, status, provider, model, lastSampleError, lastHeartbeatAt, restartPending, org };
}

function reasonOf(e: Entry): string | undefined {
  const r = (e.data as { reason?: unknown } | null)?.reason;
  return typeof r === 'string' ? r : undefined;
}
