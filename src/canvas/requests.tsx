import { useEffect, useRef, useState } from 'preact/hooks';
import { JsonTree } from './json-tree.js';
import { ask, inOrg, loadHistory, resolve, store, type RequestCard } from './store.js';
import { when } from './format.js';
import type { RequestDecision, RequestStatus } from './generated/graphql.js';

type Tab = 'tasks' | 'approvals' | 'history';
const TABS: { id: Tab; name: string }[] = [
  { id: 'tasks', name: 'Tasks' },
  { id: 'approvals', name: 'Approvals' },
  { id: 'history', name: 'Resolved' },
];
const RESOLVED: RequestStatus[] = ['APPROVED', 'REJECTED', 'DONE', 'CANCELLED', 'EXPIRED'];

const matches = (r: RequestCard, q: string) => {
  if (!q) return true;
  const hay = [r.title, r.body ?? '', r.workspace?.name ?? '', r.note ?? '', r.payload == null ? '' : JSON.stringify(r.payload)].join('\n').toLowerCase();
  return hay.includes(q.toLowerCase());
};

export function Requests() {
  const [tab, setTab] = useState<Tab>('tasks');
  const [query, setQuery] = useState('');
  const [status, setStatus] = useState<'' | RequestStatus>('');
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);

  useEffect(() => {
    if (tab === 'history' && store.historyState === 'idle') void loadHistory();
  }, [tab]);

  const pending = [...store.pending.values()].filter((r) => inOrg(r.org) && matches(r, query)).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const lists: Record<Tab, RequestCard[]> = {
    tasks: pending.filter((r) => r.kind === 'TASK'),
    approvals: pending.filter((r) => r.kind === 'APPROVAL'),
    history: [...store.history.values()]
      .filter((r) => inOrg(r.org) && matches(r, query) && (!status || r.status === status))
      .sort((a, b) => (b.resolvedAt ?? b.createdAt).localeCompare(a.resolvedAt ?? a.createdAt)),
  };

  const onKey = (ev: KeyboardEvent, i: number) => {
    const step = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    ev.preventDefault();
    const next = (i + step + TABS.length) % TABS.length;
    setTab(TABS[next]!.id);
    tabs.current[next]?.focus();
  };

  return (
    <section class="card" aria-labelledby="requests-title">
      <h2 id="requests-title">Requests</h2>
      <div class="filters">
        <label class="grow">
          <span>Search requests</span>
          <input type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        </label>
        {tab === 'history' && (
          <label>
            <span>Outcome</span>
            <select value={status} onChange={(e) => setStatus(e.currentTarget.value as RequestStatus | '')}>
              <option value="">All</option>
              {RESOLVED.map((s) => <option key={s} value={s}>{s.toLowerCase()}</option>)}
            </select>
          </label>
        )}
      </div>
      <div role="tablist" aria-label="Requests" class="tabs">
        {TABS.map((t, i) => (
          <button
            key={t.id} type="button" role="tab" id={`tab-${t.id}`} aria-controls={`panel-${t.id}`}
            aria-selected={tab === t.id} tabIndex={tab === t.id ? 0 : -1}
            ref={(el) => { tabs.current[i] = el; }}
            onClick={() => setTab(t.id)} onKeyDown={(ev) => onKey(ev, i)}
          >
            {t.name}{t.id !== 'history' && <> <span class="count" id={`count-${t.id}`}>{lists[t.id].length}</span></>}
          </button>
        ))}
      </div>
      {TABS.map((t) => (
        <div key={t.id} role="tabpanel" id={`panel-${t.id}`} aria-labelledby={`tab-${t.id}`} tabIndex={0} hidden={tab !== t.id}>
          {lists[t.id].length === 0 && <p class="muted">{empty(t.id, query || status)}</p>}
          <ul class="requests">
            {lists[t.id].map((r) => (t.id === 'history' ? <Resolved key={r.id} r={r} /> : <Pending key={r.id} r={r} />))}
          </ul>
          {t.id === 'history' && store.historyState === 'more' && (
            <button type="button" class="secondary" onClick={() => void loadHistory(true)}>Load older</button>
          )}
          {t.id === 'history' && store.historyState === 'loading' && <p class="muted" role="status">Loading…</p>}
        </div>
      ))}
    </section>
  );
}

function empty(tab: Tab, filtered: string) {
  if (filtered) return 'Nothing matches.';
  return { tasks: 'No pending tasks.', approvals: 'No pending approvals.', history: 'Nothing resolved yet.' }[tab];
}

function Meta({ r }: { r: RequestCard }) {
  const parts = [
    r.workspace ? `from ${r.workspace.name}` : 'org-wide',
    store.perms.allOrgs && store.org === '' ? r.org.name : null,
    `asked ${when(r.createdAt)}`,
    r.expiresAt && r.status === 'PENDING' ? `expires ${when(r.expiresAt)}` : null,
  ].filter(Boolean);
  return <p class="meta">{parts.join(' · ')}</p>;
}

function Content({ r }: { r: RequestCard }) {
  return (
    <>
      {r.body && <p class="body">{r.body}</p>}
      {r.payload != null && (
        <div class="payload">
          <p class="payload-label">Payload</p>
          {typeof r.payload === 'string' ? <pre>{r.payload}</pre> : <JsonTree value={r.payload} />}
        </div>
      )}
    </>
  );
}

function Pending({ r }: { r: RequestCard }) {
  const [note, setNote] = useState('');
  const busy = store.busy.has(r.id);
  const actions: [RequestDecision, string, string, boolean][] = r.kind === 'APPROVAL'
    ? [['APPROVE', 'Approve', 'approve', false], ['REJECT', 'Reject', 'reject', true]]
    : [['COMPLETE', 'Mark done', 'approve', false], ['CANCEL', 'Cancel', 'reject', true]];
  const run = (decision: RequestDecision, name: string, confirm: boolean) => {
    if (!confirm) return void resolve(r, decision, note);
    ask({
      title: `${name} “${r.title}”?`,
      body: note.trim() ? `Your note: ${note.trim()}` : 'No note will be recorded.',
      action: name,
      run: async () => void (await resolve(r, decision, note)),
    });
  };
  return (
    <li class="request" data-request-id={r.id} aria-busy={busy}>
      <h3 class="title">{r.title}</h3>
      <Content r={r} />
      <Meta r={r} />
      {store.perms.resolve && (
        <div class="resolve">
          <label>
            <span>Note (optional)</span>
            <textarea rows={2} maxLength={2000} value={note} aria-label={`Note for ${r.title}`} onInput={(e) => setNote(e.currentTarget.value)} />
          </label>
          <div class="actions">
            {actions.map(([decision, name, cls, confirm]) => (
              <button key={decision} type="button" class={cls} disabled={busy} aria-label={`${name}: ${r.title}`} onClick={() => run(decision, name, confirm)}>{name}</button>
            ))}
          </div>
        </div>
      )}
    </li>
  );
}

const BY: Record<string, string> = { USER: 'a person', WORKSPACE: 'its agent' };
const OUTCOME: Record<string, string> = { APPROVED: 'Approved', REJECTED: 'Rejected', DONE: 'Marked done', CANCELLED: 'Cancelled', EXPIRED: 'Expired' };

function Resolved({ r }: { r: RequestCard }) {
  // The resolver's name (their token's label) when the API tells this token; else what they were.
  const who = r.status === 'EXPIRED' ? '' : ` by ${r.resolvedBy?.name ?? BY[r.resolvedByKind ?? ''] ?? 'the system'}`;
  return (
    <li class="request resolved" data-request-id={r.id}>
      <h3 class="title">{r.title} <span class={`badge ${r.status}`}>{r.status.toLowerCase()}</span></h3>
      <Content r={r} />
      <Meta r={r} />
      <p class="meta resolution">{OUTCOME[r.status] ?? r.status}{who}{r.resolvedAt ? ` · ${when(r.resolvedAt)}` : ''}</p>
      {r.note && <p class="note"><strong>Note:</strong> {r.note}</p>}
    </li>
  );
}
