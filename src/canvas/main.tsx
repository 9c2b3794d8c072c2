// Trellis canvas: TypeScript + preact, bundled by the API at start (src/server/canvas.ts).
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Requests } from './requests.js';
import { closeConfirm, connect, dismiss, onChange, routeOf, selectOrg, signOut, store } from './store.js';
import { WorkspaceList, WorkspaceView } from './workspaces.js';

const CONNECTION = { connecting: 'Connecting…', live: '● Live', reconnecting: 'Reconnecting…', refused: 'Token refused' } as const;

function SignIn() {
  const [token, setToken] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (store.signInError) input.current?.focus();
  }, [store.signInError]);
  return (
    <section class="card narrow" aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in</h2>
      <form onSubmit={(ev) => {
        ev.preventDefault();
        const t = token.trim();
        setToken('');
        if (t) void connect(t);
      }}>
        <label for="token">API token</label>
        <input id="token" ref={input} type="password" autoComplete="off" spellcheck={false} required aria-describedby="token-help"
          value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        <p id="token-help" class="muted">A Trellis API or workspace token. It stays in this tab only.</p>
        {store.signInError && <p class="alert" role="alert">{store.signInError}</p>}
        <button type="submit" disabled={store.phase === 'connecting'}>{store.phase === 'connecting' ? 'Connecting…' : 'Connect'}</button>
      </form>
    </section>
  );
}

function Header() {
  const v = store.viewer;
  const ready = store.phase === 'ready';
  return (
    <header class="bar">
      <h1>Trellis <span class="muted">canvas</span></h1>
      {ready && store.connection && <p class="conn" role="status" data-state={store.connection}>{CONNECTION[store.connection]}</p>}
      {ready && <button type="button" class="link" onClick={signOut}>Sign out</button>}
      {ready && v && (
        <div class="context">
          <p class="who">
            {v.kind === 'USER'
              ? (v.role === 'INSTANCE_ADMIN' ? 'Instance admin' : `${v.org?.name ?? ''} · ${v.role ?? ''}`)
              : `Workspace ${v.workspace?.name ?? ''}`}
          </p>
          {store.perms.allOrgs && (
            <label class="org">
              <span>Org</span>
              <select value={store.org} onChange={(e) => selectOrg(e.currentTarget.value)}>
                <option value="">All orgs</option>
                {store.orgs.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
              </select>
            </label>
          )}
        </div>
      )}
    </header>
  );
}

function Alerts() {
  return (
    <div class="alerts" aria-label="Errors">
      {store.alerts.map((a) => (
        <div key={a.id} class="alert" role="alert">
          <p>{a.text}</p>
          <button type="button" class="link" aria-label={`Dismiss: ${a.text}`} onClick={() => dismiss(a.id)}>Dismiss</button>
        </div>
      ))}
    </div>
  );
}

function ConfirmDialog() {
  const ref = useRef<HTMLDialogElement>(null);
  const c = store.confirm;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (c && !d.open) d.showModal();
    if (!c && d.open) d.close();
  }, [c]);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onClose={() => store.confirm && closeConfirm()}>
      {c && (
        <form method="dialog" onSubmit={(ev) => {
          ev.preventDefault();
          closeConfirm();
          void c.run();
        }}>
          <h2 id="confirm-title">{c.title}</h2>
          <p>{c.body}</p>
          <div class="actions">
            <button type="submit" class="danger">{c.action}</button>
            <button type="button" class="secondary" onClick={closeConfirm} autoFocus>Keep it</button>
          </div>
        </form>
      )}
    </dialog>
  );
}

function App() {
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <Header />
      <main id="main">
        <Alerts />
        {store.phase !== 'ready' ? <SignIn /> : store.route.view === 'workspace' ? <WorkspaceView key={store.route.id} id={store.route.id} /> : (
          <>
            <WorkspaceList />
            <Requests />
          </>
        )}
        <p class="status-line" role="status" aria-live="polite">{store.announcement}</p>
      </main>
      <ConfirmDialog />
    </>
  );
}

const root = document.getElementById('root')!;
const draw = () => render(<App />, root);
onChange(draw);
window.addEventListener('hashchange', () => {
  store.route = routeOf(location.hash);
  draw();
});
draw();
if (store.token) void connect(store.token);

// For tests and the curious: the live connection can be dropped to watch it resume.
(window as unknown as { trellisCanvas: unknown }).trellisCanvas = { drop: () => store.live?.drop() };
