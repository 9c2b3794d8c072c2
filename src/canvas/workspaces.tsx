import { useEffect, useRef, useState } from 'preact/hooks';
import { WORKSPACE_ACTIVITY, WORKSPACE_DETAIL } from './documents.js';
import { ago, when } from './format.js';
import type { CanvasActivityEntryFragment, CanvasOperationFragment, CanvasWorkspaceQuery, WorkspaceStatus } from './generated/graphql.js';
import { GqlError } from './api.js';
import { alertError, api, ask, changed, inOrg, label, remove, restart, stop, store, switchProvider, type WorkspaceRow } from './store.js';

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
type Entry = CanvasActivityEntryFragment;
type Op = CanvasOperationFragment;
/** An activity entry with its cursor (its position in the log: entries are shown newest first by it). */
type Placed = { cursor: string; node: Entry };
/** What the workspace's activity stream brought since the view opened. */
type Streamed = { entries: Map<string, Placed>; ops: Map<string, Op> };
const ACTIVE = new Set(['QUEUED', 'RUNNING']);
const POLL_MS = 1000;
const SHOWN_ENTRIES = 100;

const seq = (cursor: string) => BigInt(cursor);
const later = (a: string | undefined, b: string) => (a === undefined || seq(b) > seq(a) ? b : a);
/** How far an operation has got: a read and an event can each be the newer one. */
const stage = (op: Op) => (op.finishedAt ? 2 : op.status === 'RUNNING' ? 1 : 0);

const opOf = (e: Entry) => {
  const id = (e.data as { operationId?: unknown } | null)?.operationId;
  return typeof id === 'string' ? id : undefined;
};

/**
 * One workspace: its state, actions, operations (with their steps: the activity entries that
 * name them) and history. Read once, then kept live by the `workspaceActivity` subscription from
 * the read's newest cursor (each entry, the workspace's fields — restartPending, lastSampleError,
 * the model — and the operation the entry names, as they are on delivery). A status event reloads
 * the whole view (the instance, the active turn); while an operation runs, it is also re-read
 * every second: an operation's own QUEUED → RUNNING → SUCCEEDED writes no activity entry.
 */
export function WorkspaceView({ id }: { id: string }) {
  const [detail, setDetail] = useState<Detail | null | undefined>(undefined);
  const [provider, setProvider] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  const tick = store.ticks.get(id) ?? 0;
  const [poll, setPoll] = useState(0);
  const [, setClock] = useState(0);
  const [streamed, setStreamed] = useState<Streamed>(() => ({ entries: new Map(), ops: new Map() }));
  const cursor = useRef<string | undefined>(undefined);
  const loaded = detail !== undefined && detail !== null;

  // Live from the first read's newest entry on: the subscription replays anything committed
  // between that read and its start, and resumes from the latest cursor after a reconnect.
  useEffect(() => {
    const live = store.live;
    if (!loaded || !live) return;
    const sub = live.subscribe(WORKSPACE_ACTIVITY, () => ({ id, after: cursor.current ?? '0' }), ({ workspaceActivity: e }) => {
      cursor.current = later(cursor.current, e.cursor);
      setStreamed((s) => {
        const entries = new Map(s.entries).set(e.entry.id, { cursor: e.cursor, node: e.entry });
        // a view left open for days keeps only what it can show (entries arrive oldest first)
        for (const key of entries.keys()) if (entries.size > SHOWN_ENTRIES) entries.delete(key);
        const ops = new Map(s.ops);
        if (e.operation) ops.set(e.operation.id, e.operation);
        return { entries, ops };
      });
      // The status stays the status events' (the list's); everything else is as delivered. A row
      // the status events removed (deleted) is not brought back.
      const row = store.workspaces.get(id);
      if (row) store.workspaces.set(id, { ...e.workspace, status: row.status });
      changed();
    }, (message) => alertError(`Live activity of this workspace stopped: ${message}`));
    return () => live.unsubscribe(sub);
  }, [id, loaded]);

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
        const newest = w?.activity.edges[0]?.cursor;
        if (newest) cursor.current = later(cursor.current, newest);
        // The list's row takes this read's fields too (the activity stream brings later changes).
        // The status stays the events' (a read that raced an event must not undo it; the event
        // reloads this view anyway).
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
  const entries = merged(detail, streamed);
  const operations = mergedOps(detail, streamed);
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
        {operations.length === 0 && <p class="muted">None yet.</p>}
        <ol class="ops">
          {operations.map((op) => (
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

/** The read's entries and the streamed ones, newest first, each once. */
function merged(detail: Detail, streamed: Streamed): Entry[] {
  const all = new Map<string, Placed>(detail.activity.edges.map((e) => [e.node.id, e]));
  for (const [key, e] of streamed.entries) all.set(key, e);
  return [...all.values()].sort((a, b) => (seq(b.cursor) > seq(a.cursor) ? 1 : -1)).slice(0, SHOWN_ENTRIES).map((e) => e.node);
}

/** The read's operations and the streamed ones, newest first; of two versions the further one. */
function mergedOps(detail: Detail, streamed: Streamed): Op[] {
  const all = new Map<string, Op>(detail.operations.edges.map((e) => [e.node.id, e.node]));
  for (const [key, op] of streamed.ops) {
    const read = all.get(key);
    if (!read || stage(op) >= stage(read)) all.set(key, op);
  }
  return [...all.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
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
