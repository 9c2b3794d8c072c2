// Trellis canvas: plain JavaScript, no framework. Reads over HTTP (POST /graphql), goes live over
// graphql-ws (the graphql-transport-ws protocol, spoken directly below), and resumes each
// subscription by its last cursor after a reconnect, so nothing that happened meanwhile is missed.

const API = '/graphql';
const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem('trellis.token') || '',
  workspaces: new Map(),
  requests: new Map(), // PENDING requests only
  live: undefined,
};

// ---- GraphQL over HTTP ---------------------------------------------------------------------
async function gql(query, variables = {}) {
  const res = await fetch(API, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${state.token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json().catch(() => ({ errors: [{ message: `HTTP ${res.status}` }] }));
  if (body.errors?.length) {
    const e = new Error(body.errors[0].message);
    e.code = body.errors[0].extensions?.code;
    throw e;
  }
  return body.data;
}

const WORKSPACE_FIELDS = 'id name kind status provider lastSampleError';
const REQUEST_FIELDS = 'id kind status title body createdAt expiresAt createdByKind workspace { id name }';

// ---- graphql-ws with resume-by-cursor -------------------------------------------------------
class Live {
  constructor(token, onState) {
    this.token = token;
    this.onState = onState;
    this.subs = new Map();
    this.nextId = 1;
    this.delay = 500;
    this.closed = false;
    this.connect();
  }

  /** `variables()` is asked again on every (re)subscribe, so it can carry the latest cursor. */
  subscribe(query, variables, onData) {
    const id = String(this.nextId++);
    this.subs.set(id, { query, variables, onData });
    if (this.acked) this.send({ id, type: 'subscribe', payload: { query, variables: variables() } });
  }

  connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${API}`;
    this.acked = false;
    this.onState('connecting');
    const ws = (this.ws = new WebSocket(url, 'graphql-transport-ws'));
    ws.onopen = () => this.send({ type: 'connection_init', payload: { authorization: `Bearer ${this.token}` } });
    ws.onmessage = (m) => this.receive(JSON.parse(m.data));
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.closed) return;
      if (ev.code === 4401 || ev.code === 4403) {
        this.onState('refused');
        return;
      }
      this.onState('reconnecting');
      setTimeout(() => !this.closed && this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10_000);
    };
  }

  receive(msg) {
    switch (msg.type) {
      case 'connection_ack':
        this.acked = true;
        this.delay = 500;
        this.onState('live');
        for (const [id, s] of this.subs) this.send({ id, type: 'subscribe', payload: { query: s.query, variables: s.variables() } });
        break;
      case 'next': {
        const s = this.subs.get(msg.id);
        if (!s) break;
        if (msg.payload.errors?.length) console.warn('subscription error', msg.payload.errors);
        else s.onData(msg.payload.data);
        break;
      }
      case 'error':
        console.warn('subscription refused', msg.payload);
        break;
      case 'ping':
        this.send({ type: 'pong' });
        break;
      default:
        break;
    }
  }

  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** Drops the connection as a network failure would (it reconnects and resumes). */
  drop() {
    this.ws?.close();
  }

  close() {
    this.closed = true;
    this.ws?.close(1000);
  }
}

// ---- rendering ------------------------------------------------------------------------------
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const when = (iso) => new Date(iso).toLocaleString();

function announce(text) {
  $('announce').textContent = text;
}

function renderWorkspaces() {
  const list = $('workspaces');
  const items = [...state.workspaces.values()].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(...items.map((w) =>
    el('li', { 'data-workspace-id': w.id },
      el('span', { class: 'name' }, w.name),
      el('span', { class: 'meta' }, `${w.kind === 'PLATFORM' ? 'concierge · ' : ''}${w.provider}`),
      w.lastSampleError && w.status !== 'ONLINE' ? el('span', { class: 'meta' }, w.lastSampleError) : null,
      el('span', { class: `badge ${w.status}`, 'data-status': w.status, 'aria-label': `status ${w.status}` }, w.status),
    )));
  $('ws-empty').hidden = items.length > 0;
}

async function resolve(request, decision, button) {
  for (const b of button.parentElement.querySelectorAll('button')) b.disabled = true;
  try {
    await gql('mutation CanvasResolve($input: ResolveRequestInput!) { resolveRequest(input: $input) { id status } }', { input: { requestId: request.id, decision } });
    state.requests.delete(request.id);
    announce(`${request.title}: ${{ APPROVE: 'approved', REJECT: 'rejected', COMPLETE: 'marked done', CANCEL: 'cancelled' }[decision]}`);
  } catch (err) {
    if (err.code === 'CONFLICT') {
      state.requests.delete(request.id);
      announce(`${request.title} was already resolved`);
    } else {
      announce(`Could not resolve ${request.title}: ${err.message}`);
      for (const b of button.parentElement.querySelectorAll('button')) b.disabled = false;
      return;
    }
  }
  renderRequests();
}

function requestItem(r) {
  const actions = r.kind === 'APPROVAL'
    ? [['APPROVE', 'Approve', 'approve'], ['REJECT', 'Reject', 'reject']]
    : [['COMPLETE', 'Mark done', 'approve'], ['CANCEL', 'Cancel', 'secondary']];
  const meta = [
    r.workspace ? `from ${r.workspace.name}` : 'org-wide',
    `asked ${when(r.createdAt)}`,
    r.expiresAt ? `expires ${when(r.expiresAt)}` : null,
  ].filter(Boolean).join(' · ');
  return el('li', { 'data-request-id': r.id },
    el('p', { class: 'title' }, r.title),
    r.body ? el('p', { class: 'body' }, r.body) : null,
    el('p', { class: 'meta' }, meta),
    el('div', { class: 'actions' }, ...actions.map(([decision, label, cls]) =>
      el('button', { type: 'button', class: cls, 'aria-label': `${label}: ${r.title}`, onclick: (ev) => resolve(r, decision, ev.currentTarget) }, label))),
  );
}

function renderRequests() {
  for (const [kind, key] of [['TASK', 'tasks'], ['APPROVAL', 'approvals']]) {
    const items = [...state.requests.values()].filter((r) => r.kind === kind).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    $(`list-${key}`).replaceChildren(...items.map(requestItem));
    $(`count-${key}`).textContent = String(items.length);
    $(`panel-${key}`).querySelector('.empty').hidden = items.length > 0;
  }
}

function setConnection(s) {
  const text = { connecting: 'Connecting…', live: '● Live', reconnecting: 'Reconnecting…', refused: 'Token refused — sign in again' }[s];
  const node = $('connection');
  node.hidden = false;
  node.textContent = text;
  node.dataset.state = s;
}

// ---- tabs (WAI-ARIA tabs pattern: arrow keys move between tabs) -------------------------------
function selectTab(tab) {
  for (const t of document.querySelectorAll('[role=tab]')) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
}

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role=tab]')];
  for (const t of tabs) {
    t.addEventListener('click', () => selectTab(t));
    t.addEventListener('keydown', (ev) => {
      const i = tabs.indexOf(t);
      const next = ev.key === 'ArrowRight' ? tabs[(i + 1) % tabs.length] : ev.key === 'ArrowLeft' ? tabs[(i + tabs.length - 1) % tabs.length] : undefined;
      if (next) {
        ev.preventDefault();
        selectTab(next);
        next.focus();
      }
    });
  }
}

// ---- session --------------------------------------------------------------------------------
async function start() {
  // The cursor first, then the lists: anything that changes after the cursor is replayed by the
  // subscriptions, so the lists can never miss an update (a replayed one is applied twice, harmlessly).
  const init = await gql(`query CanvasInit {
    viewer { kind role org { name } workspace { name } }
    activity(first: 1) { edges { cursor } }
  }`);
  let wsCursor = init.activity.edges[0]?.cursor ?? '0';
  let reqCursor = wsCursor;
  const [wsData, reqData] = await Promise.all([
    gql(`query CanvasWorkspaces { workspaces(first: 100) { edges { node { ${WORKSPACE_FIELDS} } } } }`),
    gql(`query CanvasRequests { requests(status: PENDING, first: 100) { edges { node { ${REQUEST_FIELDS} } } } }`),
  ]);
  state.workspaces = new Map(wsData.workspaces.edges.map((e) => [e.node.id, e.node]));
  state.requests = new Map(reqData.requests.edges.map((e) => [e.node.id, e.node]));

  const v = init.viewer;
  $('who').textContent = v.kind === 'USER' ? `${v.org?.name ?? 'all orgs'} · ${v.role}` : `workspace ${v.workspace?.name ?? ''}`;
  $('who').hidden = false;
  $('signin').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  renderWorkspaces();
  renderRequests();

  state.live = new Live(state.token, setConnection);
  state.live.subscribe(
    `subscription CanvasWorkspaceEvents($after: String) { workspaceEvents(after: $after) { cursor status workspace { ${WORKSPACE_FIELDS} } } }`,
    () => ({ after: wsCursor }),
    ({ workspaceEvents: e }) => {
      wsCursor = e.cursor;
      const before = state.workspaces.get(e.workspace.id);
      state.workspaces.set(e.workspace.id, { ...e.workspace, status: e.status });
      if (before?.status !== e.status) announce(`${e.workspace.name} is ${e.status}`);
      renderWorkspaces();
    },
  );
  state.live.subscribe(
    `subscription CanvasRequestEvents($after: String) { requestEvents(after: $after) { cursor status request { ${REQUEST_FIELDS} } } }`,
    () => ({ after: reqCursor }),
    ({ requestEvents: e }) => {
      reqCursor = e.cursor;
      if (e.request.status === 'PENDING') {
        if (!state.requests.has(e.request.id)) announce(`New ${e.request.kind === 'APPROVAL' ? 'approval' : 'task'}: ${e.request.title}`);
        state.requests.set(e.request.id, e.request);
      } else {
        state.requests.delete(e.request.id);
      }
      renderRequests();
    },
  );
}

function signOut() {
  state.live?.close();
  state.live = undefined;
  sessionStorage.removeItem('trellis.token');
  location.reload();
}

async function connect(token) {
  state.token = token;
  const error = $('signin-error');
  error.hidden = true;
  try {
    await start();
    sessionStorage.setItem('trellis.token', token);
  } catch (err) {
    sessionStorage.removeItem('trellis.token');
    error.textContent = err.code === 'UNAUTHENTICATED' ? 'That token was not accepted.' : `Could not connect: ${err.message}`;
    error.hidden = false;
    $('token').focus();
  }
}

setupTabs();
$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = $('token').value.trim();
  $('token').value = '';
  if (token) void connect(token);
});
$('signout').addEventListener('click', signOut);
if (state.token) void connect(state.token);

// For tests and the curious: the live connection can be dropped to watch it resume.
window.trellisCanvas = { drop: () => state.live?.drop() };
