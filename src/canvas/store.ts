// The page's state and every action on it. Components read `store` and call these functions;
// each change calls `changed()`, which re-renders the app (preact diffs it, so focus and typed
// text survive live updates).
import { gql, GqlError, Live, type ConnectionState } from './api.js';
import {
  DELETE, INIT, OPERATION_FAILURES, ORGS, PENDING_REQUESTS, REQUEST_EVENTS, REQUEST_HISTORY, RESOLVE, RESTART, STOP, SWITCH,
  WORKSPACE_EVENTS, WORKSPACES,
} from './documents.js';
import type { CanvasInitQuery, CanvasRequestCardFragment, CanvasWorkspaceRowFragment, RequestDecision } from './generated/graphql.js';

export type Viewer = CanvasInitQuery['viewer'];
export type WorkspaceRow = CanvasWorkspaceRowFragment;
export type RequestCard = CanvasRequestCardFragment;
export type Org = { id: string; name: string };
export type Alert = { id: number; text: string };
export type Confirm = { title: string; body: string; action: string; run: () => Promise<void> };

/** What the signed-in token may do (CONTRACT §3); controls it may not use are never shown. */
export type Perms = { resolve: boolean; restart: boolean; manage: boolean; allOrgs: boolean };

export function permsOf(v: Viewer | undefined): Perms {
  if (!v) return { resolve: false, restart: false, manage: false, allOrgs: false };
  if (v.kind === 'WORKSPACE') {
    // A PLATFORM concierge acts as an org ADMIN except that it never resolves requests.
    const platform = v.workspace?.kind === 'PLATFORM';
    return { resolve: false, restart: platform, manage: platform, allOrgs: false };
  }
  const role = v.role;
  return {
    resolve: role === 'INSTANCE_ADMIN' || role === 'ADMIN' || role === 'MEMBER',
    restart: role === 'INSTANCE_ADMIN' || role === 'ADMIN' || role === 'MEMBER',
    manage: role === 'INSTANCE_ADMIN' || role === 'ADMIN',
    allOrgs: role === 'INSTANCE_ADMIN',
  };
}

export const store = {
  token: sessionStorage.getItem('trellis.token') ?? '',
  phase: 'signed-out' as 'signed-out' | 'connecting' | 'ready',
  signInError: '',
  viewer: undefined as Viewer | undefined,
  perms: permsOf(undefined),
  providers: [] as { name: string; available: boolean }[],
  orgs: [] as Org[],
  /** The instance admin's org switcher: '' is every org. */
  org: sessionStorage.getItem('trellis.org') ?? '',
  workspaces: new Map<string, WorkspaceRow>(),
  pending: new Map<string, RequestCard>(),
  history: new Map<string, RequestCard>(),
  historyCursor: null as string | null,
  historyState: 'idle' as 'idle' | 'loading' | 'loaded' | 'more',
  alerts: [] as Alert[],
  announcement: '',
  connection: undefined as ConnectionState | undefined,
  /** Bumped per workspace on every event about it: an open workspace view reloads on it. */
  ticks: new Map<string, number>(),
  busy: new Set<string>(),
  confirm: undefined as Confirm | undefined,
  route: routeOf(location.hash),
  live: undefined as Live | undefined,
};

let rerender = () => {};
export function onChange(fn: () => void): void {
  rerender = fn;
}
export function changed(): void {
  rerender();
}

export type Route = { view: 'home' } | { view: 'workspace'; id: string };
export function routeOf(hash: string): Route {
  const m = /^#\/workspaces\/([\w-]+)$/.exec(hash);
  return m ? { view: 'workspace', id: m[1]! } : { view: 'home' };
}

let alertSeq = 0;
/** A visible error (role=alert): stays until dismissed. */
export function alertError(text: string): void {
  store.alerts = [...store.alerts, { id: ++alertSeq, text }].slice(-5);
  changed();
}
export function dismiss(id: number): void {
  store.alerts = store.alerts.filter((a) => a.id !== id);
  changed();
}
/** A polite announcement for screen readers of what just happened (also shown as a status line). */
export function announce(text: string): void {
  store.announcement = text;
  changed();
}

const describe = (err: unknown) => (err instanceof GqlError ? `${err.message}${err.code ? ` (${err.code})` : ''}` : String(err));

function tick(workspaceId: string): void {
  store.ticks.set(workspaceId, (store.ticks.get(workspaceId) ?? 0) + 1);
}

async function pages<T>(load: (after: string | null) => Promise<{ edges: { node: T }[]; pageInfo: { hasNextPage: boolean; endCursor?: string | null } }>, max = 20): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  for (let i = 0; i < max; i++) {
    const page = await load(after);
    out.push(...page.edges.map((e) => e.node));
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) break;
    after = page.pageInfo.endCursor;
  }
  return out;
}

export const api = <R, V>(doc: Parameters<typeof gql<R, V>>[1], variables: V) => gql(store.token, doc, variables);

// ---- session -------------------------------------------------------------------------------

export async function connect(token: string): Promise<void> {
  store.token = token;
  store.phase = 'connecting';
  store.signInError = '';
  changed();
  try {
    await start();
    sessionStorage.setItem('trellis.token', token);
    store.phase = 'ready';
  } catch (err) {
    sessionStorage.removeItem('trellis.token');
    store.live?.close();
    store.live = undefined;
    store.phase = 'signed-out';
    store.signInError = err instanceof GqlError && err.code === 'UNAUTHENTICATED' ? 'That token was not accepted.' : `Could not connect: ${describe(err)}`;
  }
  changed();
}

export function signOut(): void {
  store.live?.close();
  sessionStorage.removeItem('trellis.token');
  sessionStorage.removeItem('trellis.org');
  location.hash = '';
  location.reload();
}

async function start(): Promise<void> {
  // The cursor first, then the lists: anything that changes after the cursor is replayed by the
  // subscriptions, so the lists never miss an update (a replayed one is applied twice, harmlessly).
  const init = await api(INIT, {});
  let wsCursor = init.activity.edges[0]?.cursor ?? '0';
  let reqCursor = wsCursor;
  const perms = permsOf(init.viewer);
  const [workspaces, pending, orgs] = await Promise.all([
    pages((after) => api(WORKSPACES, { after }).then((d) => d.workspaces)),
    pages((after) => api(PENDING_REQUESTS, { after }).then((d) => d.requests)),
    perms.allOrgs ? pages((after) => api(ORGS, { after }).then((d) => d.orgs)) : Promise.resolve([]),
  ]);
  Object.assign(store, {
    viewer: init.viewer,
    perms,
    providers: init.providers,
    orgs,
    workspaces: new Map(workspaces.map((w) => [w.id, w])),
    pending: new Map(pending.map((r) => [r.id, r])),
  });
  if (!perms.allOrgs || !orgs.some((o) => o.id === store.org)) store.org = '';

  const live = (store.live = new Live(store.token, (s) => {
    store.connection = s;
    if (s === 'refused') alertError('The live connection was refused: your token is no longer valid. Sign in again.');
    changed();
  }));
  const lost = (what: string) => (message: string) => alertError(`Live ${what} stopped: ${message}`);
  live.subscribe(WORKSPACE_EVENTS, () => ({ after: wsCursor }), ({ workspaceEvents: e }) => {
    wsCursor = e.cursor;
    const before = store.workspaces.get(e.workspace.id);
    if (e.reason === 'DELETED') store.workspaces.delete(e.workspace.id);
    else store.workspaces.set(e.workspace.id, { ...e.workspace, status: e.status });
    if (before && before.status !== e.status) announce(`${e.workspace.name} is ${e.status}`);
    tick(e.workspace.id);
    changed();
  }, lost('workspace updates'));
  live.subscribe(REQUEST_EVENTS, () => ({ after: reqCursor }), ({ requestEvents: e }) => {
    reqCursor = e.cursor;
    const r = e.request;
    if (r.status === 'PENDING') {
      if (!store.pending.has(r.id)) announce(`New ${r.kind === 'APPROVAL' ? 'approval' : 'task'}: ${r.title}`);
      store.pending.set(r.id, r);
    } else {
      store.pending.delete(r.id);
      store.history.set(r.id, r);
    }
    changed();
  }, lost('request updates'));
  live.subscribe(OPERATION_FAILURES, () => ({}), ({ operationFailures: f }) => {
    alertError(`${f.operation ? `${label(f.operation.kind)} of ` : ''}${f.workspace.name} failed: ${f.error}`);
    tick(f.workspace.id);
    changed();
  }, lost('failure alerts'));
}

export function selectOrg(id: string): void {
  store.org = id;
  sessionStorage.setItem('trellis.org', id);
  changed();
}

export const inOrg = (org: { id: string }) => store.org === '' || org.id === store.org;

// ---- requests ------------------------------------------------------------------------------

const DONE: Record<RequestDecision, string> = { APPROVE: 'approved', REJECT: 'rejected', COMPLETE: 'marked done', CANCEL: 'cancelled' };
const VERB: Record<RequestDecision, string> = { APPROVE: 'approve', REJECT: 'reject', COMPLETE: 'mark done', CANCEL: 'cancel' };

export async function resolve(r: RequestCard, decision: RequestDecision, note: string): Promise<boolean> {
  store.busy.add(r.id);
  changed();
  try {
    const { resolveRequest } = await api(RESOLVE, { input: { requestId: r.id, decision, note: note.trim() || null } });
    store.pending.delete(r.id);
    store.history.set(r.id, resolveRequest);
    announce(`${r.title}: ${DONE[decision]}`);
    return true;
  } catch (err) {
    if (err instanceof GqlError && err.code === 'CONFLICT') {
      store.pending.delete(r.id);
      alertError(`“${r.title}” was already resolved by someone else.`);
    } else {
      alertError(`Could not ${VERB[decision]} “${r.title}”: ${describe(err)}`);
    }
    return false;
  } finally {
    store.busy.delete(r.id);
    changed();
  }
}

export async function loadHistory(more = false): Promise<void> {
  if (store.historyState === 'loading') return;
  store.historyState = 'loading';
  changed();
  try {
    const { requests } = await api(REQUEST_HISTORY, { status: null, after: more ? store.historyCursor : null });
    for (const e of requests.edges) if (e.node.status !== 'PENDING') store.history.set(e.node.id, e.node);
    store.historyCursor = requests.pageInfo.endCursor ?? null;
    store.historyState = requests.pageInfo.hasNextPage ? 'more' : 'loaded';
  } catch (err) {
    store.historyState = 'idle';
    alertError(`Could not load resolved requests: ${describe(err)}`);
  }
  changed();
}

export function ask(c: Confirm): void {
  store.confirm = c;
  changed();
}
export function closeConfirm(): void {
  store.confirm = undefined;
  changed();
}

// ---- workspaces ----------------------------------------------------------------------------

export const label = (kind: string) =>
  ({ PROVISION: 'Provision', RESTART: 'Restart', STOP: 'Stop', SWITCH_PROVIDER: 'Provider switch', DEPROVISION: 'Delete' })[kind] ?? kind;

type Op = { id: string; kind: string; status: string };

async function act(w: WorkspaceRow, what: string, run: () => Promise<Op>): Promise<Op | undefined> {
  const key = `ws:${w.id}`;
  store.busy.add(key);
  changed();
  try {
    const op = await run();
    announce(`${what} of ${w.name}: ${op.status}`);
    tick(w.id);
    return op;
  } catch (err) {
    alertError(`Could not ${what.toLowerCase()} ${w.name}: ${describe(err)}`);
    return undefined;
  } finally {
    store.busy.delete(key);
    changed();
  }
}

export const restart = (w: WorkspaceRow) => act(w, 'Restart', async () => (await api(RESTART, { id: w.id })).restartWorkspace);
export const stop = (w: WorkspaceRow) => act(w, 'Stop', async () => (await api(STOP, { id: w.id })).stopWorkspace);
export const switchProvider = (w: WorkspaceRow, provider: string) =>
  act(w, 'Provider switch', async () => {
    const { switchProvider: p } = await api(SWITCH, { input: { workspaceId: w.id, provider } });
    store.workspaces.set(p.workspace.id, p.workspace);
    return p.operation;
  });
export async function remove(w: WorkspaceRow): Promise<void> {
  const op = await act(w, 'Delete', async () => (await api(DELETE, { id: w.id })).deleteWorkspace);
  if (!op) return;
  store.workspaces.delete(w.id);
  announce(`${w.name} deleted; its instance is being stopped (operation ${op.status})`);
  location.hash = '#/';
}
