import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError, type ProvisionRequest, type ProvisionResult } from '../../src/providers/provider.ts';
import { graphql } from '../generated/gql.js';
import { FakeProvider, Gate } from '../support/fake-provider.ts';
import { createExternalWorkspace, createOrgWithUsers, heartbeat, HEARTBEAT, register, REGISTER, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { pollUntil } from '../support/process.ts';
import type { GraphQLClient } from '../support/gql.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The canvas in a real browser, per role: Debian's chromium driven by playwright-core against a
 * real server (.ci/run installs chromium, so this runs in CI). Set TRELLIS_SKIP_BROWSER_TESTS=1
 * to skip it on a machine without /usr/bin/chromium. Screenshots go to SCREENSHOTS (printed).
 */
const CHROMIUM = '/usr/bin/chromium';
const SKIP = process.env.TRELLIS_SKIP_BROWSER_TESTS === '1';
export const SCREENSHOTS = path.join(os.tmpdir(), 'trellis-canvas-screenshots');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const CREATE_REQUEST = graphql(`mutation CanvasTestCreate($input: CreateRequestInput!) { createRequest(input: $input) { id } }`);
const NODE = graphql(`query CanvasTestNode($id: ID!) { node(id: $id) { ... on Request { status resolvedByKind note } } }`);
const RESOLVE = graphql(`mutation CanvasTestResolve($input: ResolveRequestInput!) { resolveRequest(input: $input) { id } }`);
const CREATE_WORKSPACE = graphql(`mutation CanvasTestCreateWorkspace($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const WORKSPACE = graphql(`query CanvasTestWorkspace($id: ID!) { workspace(id: $id) { status provider } }`);
const TOKEN = graphql(`mutation CanvasTestToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`);
const STOP = graphql(`mutation CanvasTestStop($id: ID!) { stopWorkspace(workspaceId: $id) { id } }`);
const DELETE = graphql(`mutation CanvasTestDelete($id: ID!) { deleteWorkspace(workspaceId: $id) { id } }`);
const SET_SECRET = graphql(`mutation CanvasTestSetSecret($input: SetSecretInput!) { setSecret(input: $input) { restarts { outcome reason workspace { id } } } }`);

/** A fake provider that hands each provision's runtime token to the test (as the runtime it would start). */
class RuntimeFake extends FakeProvider {
  private readonly runtimeTokens = new Map<string, string[]>();
  private readonly waiters = new Map<string, ((token: string) => void)[]>();
  override async provision(req: ProvisionRequest): Promise<ProvisionResult> {
    if (!this.provisionFailure) {
      const token = await req.workspaceToken();
      const waiter = this.waiters.get(req.workspace.id)?.shift();
      if (waiter) waiter(token);
      else this.runtimeTokens.set(req.workspace.id, [...(this.runtimeTokens.get(req.workspace.id) ?? []), token]);
    }
    return super.provision(req);
  }
  /** The oldest runtime token of the workspace not taken yet (waits for the next provision). */
  take(id: string): Promise<string> {
    const token = this.runtimeTokens.get(id)?.shift();
    if (token) return Promise.resolve(token);
    return new Promise((resolve) => this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]));
  }
}

describe.skipIf(SKIP)('canvas in chromium (playwright-core), per role', { timeout: 240_000 }, () => {
  let server: TestServer;
  let orgA: OrgFixture;
  let orgB: OrgFixture;
  let builder: WorkspaceFixture; // org A, external, ONLINE
  let beta: WorkspaceFixture; // org B, external
  let alice: GraphQLClient; // org A, MEMBER, a token labelled 'Alice (on-call)'
  let fake: RuntimeFake;
  let spare: RuntimeFake;
  let context: BrowserContext;
  let profile: string;
  let base: string;

  /** A workspace on `provider`, provisioned, and its runtime registered (ONLINE). */
  async function managed(org: OrgFixture, name: string, provider = fake): Promise<{ id: string }> {
    const { id } = (await org.admin.ok(CREATE_WORKSPACE, { input: { name, provider: provider.name, model: 'claude-test' } })).createWorkspace;
    await runtimeRegisters(provider, id);
    return { id };
  }
  /** The org's concierge: a PLATFORM workspace on `fake`, registered, with its runtime's token. */
  async function concierge(name: string): Promise<WorkspaceFixture> {
    const { id } = (await orgA.admin.ok(CREATE_WORKSPACE, { input: { name, kind: 'PLATFORM', provider: fake.name, model: 'claude-test' } })).createWorkspace;
    const token = await fake.take(id);
    const client = server.client(token);
    await client.ok(REGISTER, { input: { mcpServerPresent: true, model: 'claude-test' } });
    return { id, token, client };
  }
  /** Waits until the operation has ended (another one meanwhile would be CONFLICT). */
  async function settled(operationId: string): Promise<void> {
    const prisma = server.trellis.services.db.prisma;
    await pollUntil('the operation to end', async () => ((await prisma.operation.findUniqueOrThrow({ where: { id: operationId } })).finishedAt ? true : undefined), 15_000, 50);
  }
  /** The runtime of the workspace's latest provision on `provider` registers. */
  async function runtimeRegisters(provider: RuntimeFake, id: string) {
    const token = await provider.take(id);
    await server.client(token).ok(REGISTER, { input: { mcpServerPresent: true, model: 'claude-test' } });
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set TRELLIS_SKIP_BROWSER_TESTS=1)`);
    fake = new RuntimeFake('fake');
    spare = new RuntimeFake('spare');
    // no staleness sweep: registered workspaces stay ONLINE; one provision attempt so a failure is final at once
    server = await startTestServer({ providers: [fake, spare], env: { TRELLIS_HEARTBEAT_STALE_MS: '3600000', TRELLIS_PROVISION_ATTEMPTS: '1' } });
    orgA = await createOrgWithUsers(server);
    orgB = await createOrgWithUsers(server);
    builder = await createExternalWorkspace(server, orgA, { name: 'builder' });
    await register(builder);
    beta = await createExternalWorkspace(server, orgB, { name: 'beta-ws' });
    alice = server.client((await orgA.admin.ok(TOKEN, { input: { role: 'MEMBER', label: 'Alice (on-call)' } })).createApiToken.token);
    base = server.url.replace(/\/graphql$/, '');
    await fs.mkdir(SCREENSHOTS, { recursive: true });
    console.log(`canvas screenshots: ${SCREENSHOTS}`);
    profile = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1100, height: 800 },
    });
  });
  afterAll(async () => {
    await context?.close();
    if (profile) await fs.rm(profile, { recursive: true, force: true });
    await server?.stop();
  });

  type Opened = { page: Page; cspViolations: string[] };

  /** A fresh tab (its own sessionStorage) signed in with `client`'s token. */
  async function signIn(client: GraphQLClient | string, width = 1100): Promise<Opened> {
    const page = await context.newPage();
    await page.setViewportSize({ width, height: 850 });
    const cspViolations: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
    const res = await page.goto(`${base}/canvas`);
    expect(res?.status()).toBe(200);
    await page.getByLabel('API token').fill(typeof client === 'string' ? client : client.token!);
    await page.getByRole('button', { name: 'Connect' }).click();
    try {
      await page.getByRole('heading', { name: /^Workspaces/ }).waitFor({ timeout: 15_000 });
    } catch (err) {
      throw new Error(`not signed in; the page says: ${await page.locator('body').innerText()}`, { cause: err });
    }
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    return { page, cspViolations };
  }

  async function axe(page: Page, what: string) {
    await page.evaluate(AXE);
    const result = await page.evaluate(async () => {
      const r = await (window as unknown as { axe: { run: (ctx: Document) => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run(document);
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(' ')) }));
    });
    expect(result.filter((v) => v.impact === 'serious' || v.impact === 'critical'), `axe on ${what}`).toEqual([]);
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  /** A request card in the tab panel shown (hidden panels are outside the accessibility tree). */
  const card = (page: Page, id: string) => page.getByRole('tabpanel').locator(`[data-request-id="${id}"]`);
  const alertWith = (page: Page, text: string | RegExp) => page.getByRole('alert').filter({ hasText: text });
  const opItem = (page: Page, name: string | RegExp) => page.getByRole('listitem', { name });
  const fact = (page: Page, term: string) => page.locator('.facts > div').filter({ has: page.getByRole('term').getByText(term, { exact: true }) }).getByRole('definition');
  const badgeOf = (page: Page, id: string) => page.locator(`[data-workspace-id="${id}"] .badge`);

  it('before sign-in only the sign-in form is shown; a wrong token is refused on the page; only the canvas files are served', async () => {
    const page = await context.newPage();
    const res = await page.goto(`${base}/canvas`);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    expect(res?.headers()['content-security-policy']).not.toContain('unsafe-inline');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.getByRole('heading', { name: /Workspaces|Requests/ }).count()).toBe(0);
    expect(await page.getByRole('tablist').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    await axe(page, 'sign-in');
    await page.getByLabel('API token').fill(`trl_${'x'.repeat(40)}`);
    await page.getByRole('button', { name: 'Connect' }).click();
    await alertWith(page, 'That token was not accepted.').waitFor();
    expect(await alertWith(page, 'That token was not accepted.').isVisible()).toBe(true);
    await page.close();

    for (const p of ['/canvas/../package.json', '/canvas/%2e%2e/config.ts', '/canvas/main.tsx', '/canvas/store.ts']) {
      expect((await fetch(`${base}${p}`)).status).toBe(404);
    }
    expect((await fetch(`${base}/canvas`, { method: 'POST', body: 'x' })).status).toBe(405);
    const head = await fetch(`${base}/canvas/canvas.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(head.headers.get('x-frame-options')).toBe('DENY');
  });

  it('ADMIN: opens a workspace and restarts, switches, stops and deletes it, each operation live; a failure and a conflict are shown; judges requests with notes', async () => {
    const runner = await managed(orgA, 'runner');
    const { page, cspViolations } = await signIn(orgA.admin);
    await badgeOf(page, runner.id).filter({ hasText: 'ONLINE' }).waitFor();
    await axe(page, 'ADMIN home');
    await shot(page, 'admin-home-1100');

    // filters and search
    await page.getByRole('searchbox', { name: 'Search workspaces' }).fill('run');
    await page.getByRole('link', { name: 'builder' }).waitFor({ state: 'detached' });
    await page.getByRole('searchbox', { name: 'Search workspaces' }).fill('');
    await page.getByRole('combobox', { name: 'Status' }).selectOption('STOPPED');
    await page.getByText('No workspace matches.').waitFor();
    await page.getByRole('combobox', { name: 'Status' }).selectOption('');

    // the workspace view
    await page.getByRole('link', { name: 'runner' }).click();
    await page.getByRole('heading', { name: 'runner', level: 2 }).waitFor();
    expect(await fact(page, 'Model').textContent()).toBe('claude-test');
    expect(await fact(page, 'Provider').textContent()).toBe('fake');
    expect(await fact(page, 'Restart pending').textContent()).toBe('no');
    expect(await fact(page, 'Last heartbeat').textContent()).toMatch(/ago/);
    await opItem(page, 'Provision SUCCEEDED').waitFor();
    await page.getByRole('listitem').filter({ hasText: 'PROVISIONING → ONLINE' }).first().waitFor();
    await axe(page, 'ADMIN workspace view');

    // Restart, held inside the provider: the operation and its step show while it runs.
    fake.provisionGate = new Gate();
    await page.getByRole('button', { name: 'Restart', exact: true }).click();
    await opItem(page, /^Restart (QUEUED|RUNNING)$/).waitFor();
    await opItem(page, 'Restart RUNNING').getByText('provisioning on fake').waitFor({ timeout: 15_000 });
    await page.locator('.title-row .badge[data-status="PROVISIONING"]').waitFor();
    // a second restart while one runs: CONFLICT, shown to the eye
    await page.getByRole('button', { name: 'Restart', exact: true }).click();
    await alertWith(page, /Could not restart runner: .*\(CONFLICT\)/).waitFor();
    await shot(page, 'admin-workspace-restarting-1100');
    fake.provisionGate.release();
    fake.provisionGate = undefined;
    await opItem(page, 'Restart SUCCEEDED').getByText(/waiting for the runtime to register/).waitFor({ timeout: 15_000 });
    await runtimeRegisters(fake, runner.id);
    await page.locator('.title-row .badge[data-status="ONLINE"]').waitFor();

    // Switch provider: the switch operation shows, the provider changes.
    await page.getByRole('combobox', { name: 'Switch provider to' }).selectOption('spare');
    await page.getByRole('button', { name: 'Switch provider' }).click();
    await opItem(page, /^Provider switch (QUEUED|RUNNING|SUCCEEDED)$/).waitFor();
    await runtimeRegisters(spare, runner.id);
    await opItem(page, 'Provider switch SUCCEEDED').waitFor({ timeout: 15_000 });
    await page.locator('.title-row .badge[data-status="ONLINE"]').waitFor();
    await fact(page, 'Provider').getByText('spare', { exact: true }).waitFor();

    // A restart that fails: the failure alert, the operation's error and the last error, all visible.
    spare.provisionFailure = new ProviderError('quota exceeded in the test region', false);
    await page.getByRole('button', { name: 'Restart', exact: true }).click();
    await alertWith(page, /Restart of runner failed: .*quota exceeded/).waitFor({ timeout: 15_000 });
    await opItem(page, 'Restart FAILED').getByText(/quota exceeded/).first().waitFor();
    await fact(page, 'Last error').getByText(/quota exceeded/).waitFor();
    await page.locator('.title-row .badge[data-status="FAILED"]').waitFor();
    spare.provisionFailure = undefined;
    await page.getByRole('button', { name: /^Dismiss: Restart of runner failed/ }).click();
    await page.getByRole('button', { name: /^Dismiss: Could not restart/ }).click();
    expect(await page.getByRole('alert').count()).toBe(0);

    // Stop
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await page.locator('.title-row .badge[data-status="STOPPED"]').waitFor();
    await opItem(page, 'Stop SUCCEEDED').waitFor({ timeout: 15_000 });
    expect((await orgA.admin.ok(WORKSPACE, { id: runner.id })).workspace?.status).toBe('STOPPED');

    // Delete asks first; "Keep it" keeps it.
    await page.getByRole('button', { name: 'Delete…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete runner?' });
    await dialog.waitFor();
    await axe(page, 'delete confirmation');
    await dialog.getByRole('button', { name: 'Keep it' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await orgA.admin.ok(WORKSPACE, { id: runner.id })).workspace).not.toBeNull();
    await page.getByRole('button', { name: 'Delete…' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('heading', { name: /^Workspaces/ }).waitFor();
    await page.getByRole('link', { name: 'runner' }).waitFor({ state: 'detached' });
    expect((await orgA.admin.ok(WORKSPACE, { id: runner.id })).workspace).toBeNull();

    // Requests: the payload is shown as text (a JSON tree), never as HTML.
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const approval = (await builder.client.ok(CREATE_REQUEST, { input: {
      kind: 'APPROVAL', title: 'Rotate the deploy key?', body: '<b>The old key leaked</b> into a log.',
      payload: { command: hostile, targets: ['eu-1', 'us-2'], dryRun: false, limits: { max: 3 } },
    } })).createRequest;
    const reject = (await builder.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'Drop the staging database?', payload: 'plain text payload' } })).createRequest;
    await page.getByRole('tab', { name: /Approvals/ }).click();
    await card(page, approval.id).waitFor();
    await card(page, approval.id).getByText(JSON.stringify(hostile)).waitFor();
    await card(page, approval.id).getByText('"eu-1"').waitFor();
    await card(page, approval.id).getByText('<b>The old key leaked</b> into a log.').waitFor();
    expect(await card(page, approval.id).locator('img, b').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await card(page, reject.id).getByText('plain text payload').waitFor();
    await axe(page, 'ADMIN approvals');
    await shot(page, 'admin-approvals-1100');

    await page.getByRole('textbox', { name: 'Note for Rotate the deploy key?' }).fill('Rotate it today.');
    await page.getByRole('button', { name: 'Approve: Rotate the deploy key?' }).click();
    await card(page, approval.id).waitFor({ state: 'detached' });
    expect((await orgA.admin.ok(NODE, { id: approval.id })).node).toMatchObject({ status: 'APPROVED', resolvedByKind: 'USER', note: 'Rotate it today.' });

    // Reject asks first.
    await page.getByRole('button', { name: 'Reject: Drop the staging database?' }).click();
    const confirm = page.getByRole('dialog', { name: 'Reject “Drop the staging database?”?' });
    await confirm.getByRole('button', { name: 'Keep it' }).click();
    expect((await orgA.admin.ok(NODE, { id: reject.id })).node).toMatchObject({ status: 'PENDING' });
    await page.getByRole('button', { name: 'Reject: Drop the staging database?' }).click();
    await confirm.getByRole('button', { name: 'Reject', exact: true }).click();
    await card(page, reject.id).waitFor({ state: 'detached' });
    expect((await orgA.admin.ok(NODE, { id: reject.id })).node).toMatchObject({ status: 'REJECTED', resolvedByKind: 'USER' });

    // The resolved history: outcome, who, when, note; filtered by outcome.
    await page.getByRole('tab', { name: 'Resolved' }).click();
    const done = card(page, approval.id);
    await done.getByText(/^Approved by an admin · /).waitFor(); // orgA.admin's token has no label: its role
    await done.getByText('Rotate it today.').waitFor();
    await page.getByRole('combobox', { name: 'Outcome' }).selectOption('REJECTED');
    await card(page, approval.id).waitFor({ state: 'detached' });
    await card(page, reject.id).waitFor();
    await axe(page, 'ADMIN resolved history');
    expect(cspViolations).toEqual([]);
    await page.close();
  });

  it('ADMIN at 390 px: nothing overflows, the header stays on one line, every view is usable', async () => {
    const watcher = await managed(orgA, 'a-workspace-with-a-rather-long-name-for-a-phone');
    await builder.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'Deploy build 4711 to production with the new feature flags?', body: 'A long body '.repeat(20), payload: { flags: { newCheckout: true, region: 'eu-central-1', owners: ['alice@example.com', 'bob@example.com'] } } } });
    const { page } = await signIn(orgA.admin, 390);
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    const oneLine = async () => {
      const h1 = (await page.getByRole('heading', { level: 1 }).boundingBox())!;
      const out = (await page.getByRole('button', { name: 'Sign out' }).boundingBox())!;
      expect(Math.abs(h1.y + h1.height / 2 - (out.y + out.height / 2))).toBeLessThan(8);
    };
    expect(await overflow()).toBe(0);
    await oneLine();
    await shot(page, 'admin-home-390');
    await page.getByRole('tab', { name: /Approvals/ }).click();
    expect(await overflow()).toBe(0);
    await shot(page, 'admin-approvals-390');
    await page.getByRole('link', { name: 'a-workspace-with-a-rather-long-name-for-a-phone' }).click();
    await page.getByRole('heading', { name: 'a-workspace-with-a-rather-long-name-for-a-phone', level: 2 }).waitFor();
    await opItem(page, 'Provision SUCCEEDED').waitFor();
    expect(await overflow()).toBe(0);
    await oneLine();
    await axe(page, 'workspace view at 390 px');
    await shot(page, 'admin-workspace-390');
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('dialog', { name: /^Delete / }).waitFor();
    await shot(page, 'admin-delete-dialog-390');
    await page.getByRole('dialog').getByRole('button', { name: 'Keep it' }).click();
    expect(watcher.id).toBeTruthy();
    await page.close();
  });

  it('MEMBER (a labelled token): restarts, resolves with notes and is named in the history, never sees stop/delete/switch; a request resolved elsewhere meanwhile is a visible conflict; resumes after a reconnect', async () => {
    const worker = await managed(orgA, 'worker');
    const task = (await builder.client.ok(CREATE_REQUEST, { input: { kind: 'TASK', title: 'Review the nightly report' } })).createRequest;
    const { page, cspViolations } = await signIn(alice);
    await card(page, task.id).waitFor(); // Tasks is the default tab
    await page.getByRole('textbox', { name: 'Note for Review the nightly report' }).fill('Looked fine.');
    await page.getByRole('button', { name: 'Mark done: Review the nightly report' }).click();
    await card(page, task.id).waitFor({ state: 'detached' });
    expect((await orgA.admin.ok(NODE, { id: task.id })).node).toMatchObject({ status: 'DONE', note: 'Looked fine.' });
    // the history names who did it (her token's label), when, and the note
    await page.getByRole('tab', { name: 'Resolved' }).click();
    await card(page, task.id).getByText(/^Marked done by Alice \(on-call\) · /).waitFor();
    await card(page, task.id).getByText('Looked fine.').waitFor();

    // Live stops (the network drops and stays down), someone else resolves, this tab tries: CONFLICT, visible.
    const contested = (await builder.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'Contested' } })).createRequest;
    await page.getByRole('tab', { name: /Approvals/ }).click();
    await card(page, contested.id).waitFor();
    let networkDown = true;
    await page.routeWebSocket(/\/graphql$/, (ws) => {
      if (networkDown) void ws.close({ code: 1001, reason: 'test: the network is down' });
      else ws.connectToServer(); // a plain pass-through to the real server
    });
    await page.evaluate(() => (window as unknown as { trellisCanvas: { drop: () => void } }).trellisCanvas.drop());
    await page.getByRole('status').filter({ hasText: /Reconnecting|Connecting/ }).waitFor();
    await orgA.admin.ok(RESOLVE, { input: { requestId: contested.id, decision: 'REJECT' } });
    await page.getByRole('button', { name: 'Approve: Contested' }).click();
    await alertWith(page, '“Contested” was already resolved by someone else.').waitFor();
    await card(page, contested.id).waitFor({ state: 'detached' });

    // While down, an approval is created: the resumed subscription (after its cursor) delivers it.
    const missed = (await builder.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'Created while offline' } })).createRequest;
    networkDown = false;
    await card(page, missed.id).waitFor({ timeout: 20_000 });
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    await orgA.admin.ok(RESOLVE, { input: { requestId: missed.id, decision: 'APPROVE' } });
    await card(page, missed.id).waitFor({ state: 'detached' });

    // Workspaces: restart only.
    await page.getByRole('link', { name: 'worker' }).click();
    await page.getByRole('heading', { name: 'worker', level: 2 }).waitFor();
    for (const name of ['Stop', 'Delete…', 'Switch provider']) expect(await page.getByRole('button', { name, exact: true }).count(), name).toBe(0);
    await page.getByRole('button', { name: 'Restart', exact: true }).click();
    await opItem(page, /^Restart (QUEUED|RUNNING|SUCCEEDED)$/).waitFor();
    await runtimeRegisters(fake, worker.id);
    await opItem(page, 'Restart SUCCEEDED').waitFor({ timeout: 15_000 });
    await page.locator('.title-row .badge[data-status="ONLINE"]').waitFor();
    await axe(page, 'MEMBER workspace view');
    expect(cspViolations).toEqual([]);
    await page.close();
  });

  it('VIEWER: sees everything live (who resolved, a deleted STOPPED workspace leaving), and no control it may not use', async () => {
    const { page } = await signIn(orgA.viewer);
    // resolved elsewhere, live: the history names the person
    const judged = (await builder.client.ok(CREATE_REQUEST, { input: { kind: 'TASK', title: 'Viewer sees who judged' } })).createRequest;
    await page.getByRole('tab', { name: 'Resolved' }).click();
    await alice.ok(RESOLVE, { input: { requestId: judged.id, decision: 'COMPLETE', note: 'Done by hand.' } });
    await card(page, judged.id).getByText(/^Marked done by Alice \(on-call\) · /).waitFor();
    await card(page, judged.id).getByText('Done by hand.').waitFor();

    // an already STOPPED workspace deleted elsewhere leaves the list live
    const doomed = await createExternalWorkspace(server, orgA, { name: 'doomed' });
    await register(doomed);
    await settled((await orgA.admin.ok(STOP, { id: doomed.id })).stopWorkspace.id);
    await badgeOf(page, doomed.id).filter({ hasText: 'STOPPED' }).waitFor();
    await orgA.admin.ok(DELETE, { id: doomed.id });
    await page.locator(`[data-workspace-id="${doomed.id}"]`).waitFor({ state: 'detached' });

    const asked = (await builder.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'Viewer sees this', payload: { a: 1 } } })).createRequest;
    await page.getByRole('tab', { name: /Approvals/ }).click();
    await card(page, asked.id).waitFor();
    for (const name of [/^Approve/, /^Reject/, /^Mark done/, /^Cancel/]) expect(await page.getByRole('button', { name }).count()).toBe(0);
    expect(await page.getByRole('textbox', { name: /^Note for/ }).count()).toBe(0);
    await axe(page, 'VIEWER approvals');
    await shot(page, 'viewer-approvals-1100');

    // A heartbeat with an error: DEGRADED and the error, live in the list and in the open view.
    await page.getByRole('link', { name: 'builder' }).click();
    await page.getByRole('heading', { name: 'builder', level: 2 }).waitFor();
    expect(await page.getByRole('heading', { name: 'Actions' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Restart', exact: true }).count()).toBe(0);
    await heartbeat(builder, { error: 'tool server crashed' });
    await page.locator('.title-row .badge[data-status="DEGRADED"]').waitFor();
    await fact(page, 'Last error').getByText('tool server crashed').waitFor();
    await page.getByRole('listitem').filter({ hasText: 'ONLINE → DEGRADED' }).first().waitFor();
    await heartbeat(builder, {});
    await page.locator('.title-row .badge[data-status="ONLINE"]').waitFor();
    await page.close();
  });

  it('a STANDARD workspace token sees its own requests, no Approve/Reject, no workspace actions, and not who resolved', async () => {
    const own = (await builder.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'Mine to ask, not to judge' } })).createRequest;
    const judged = (await builder.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'Judged for me' } })).createRequest;
    await alice.ok(RESOLVE, { input: { requestId: judged.id, decision: 'APPROVE', note: 'Fine by me.' } });
    const { page } = await signIn(builder.token);
    await page.getByRole('tab', { name: /Approvals/ }).click();
    await card(page, own.id).waitFor();
    expect(await page.getByRole('button', { name: /^(Approve|Reject)/ }).count()).toBe(0);
    // the API tells an agent only that a person resolved it (Request.resolvedBy is null for it)
    await page.getByRole('tab', { name: 'Resolved' }).click();
    await card(page, judged.id).getByText(/^Approved by a person · /).waitFor();
    await card(page, judged.id).getByText('Fine by me.').waitFor();
    expect(await card(page, judged.id).getByText(/Alice/).count()).toBe(0);
    // its own workspace only, and no actions on it
    expect(await page.getByRole('link', { name: 'doomed' }).count()).toBe(0);
    await page.getByRole('link', { name: 'builder' }).click();
    await page.getByRole('heading', { name: 'builder', level: 2 }).waitFor();
    expect(await page.getByRole('heading', { name: 'Actions' }).count()).toBe(0);
    for (const name of ['Restart', 'Stop', 'Delete…', 'Switch provider']) expect(await page.getByRole('button', { name, exact: true }).count(), name).toBe(0);
    await page.close();
  });

  it('the concierge (PLATFORM token): restarts, switches, stops and deletes like an ADMIN, never judges requests', async () => {
    const pilot = await concierge('pilot');
    const helper = await managed(orgA, 'helper');
    const asked = (await builder.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'Not for the concierge to judge' } })).createRequest;
    const { page, cspViolations } = await signIn(pilot.token);
    await page.getByText('Workspace pilot').waitFor();
    await page.locator(`[data-workspace-id="${pilot.id}"]`).getByText(/^concierge · fake/).waitFor();
    await page.getByRole('tab', { name: /Approvals/ }).click();
    await card(page, asked.id).waitFor();
    expect(await page.getByRole('button', { name: /^(Approve|Reject|Mark done|Cancel)/ }).count()).toBe(0);
    expect(await page.getByRole('textbox', { name: /^Note for/ }).count()).toBe(0);

    await page.getByRole('link', { name: 'helper' }).click();
    await page.getByRole('heading', { name: 'helper', level: 2 }).waitFor();
    await page.getByRole('heading', { name: 'Actions' }).waitFor();
    await page.getByRole('button', { name: 'Restart', exact: true }).click();
    await opItem(page, /^Restart (QUEUED|RUNNING|SUCCEEDED)$/).waitFor();
    await runtimeRegisters(fake, helper.id);
    await opItem(page, 'Restart SUCCEEDED').waitFor({ timeout: 15_000 });
    await page.locator('.title-row .badge[data-status="ONLINE"]').waitFor();

    await page.getByRole('combobox', { name: 'Switch provider to' }).selectOption('spare');
    await page.getByRole('button', { name: 'Switch provider' }).click();
    await opItem(page, /^Provider switch (QUEUED|RUNNING|SUCCEEDED)$/).waitFor();
    await runtimeRegisters(spare, helper.id);
    await opItem(page, 'Provider switch SUCCEEDED').waitFor({ timeout: 15_000 });
    await fact(page, 'Provider').getByText('spare', { exact: true }).waitFor();
    await page.locator('.title-row .badge[data-status="ONLINE"]').waitFor();

    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await page.locator('.title-row .badge[data-status="STOPPED"]').waitFor();
    await opItem(page, 'Stop SUCCEEDED').waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('dialog', { name: 'Delete helper?' }).getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('heading', { name: /^Workspaces/ }).waitFor();
    await page.getByRole('link', { name: 'helper' }).waitFor({ state: 'detached' });
    expect((await orgA.admin.ok(WORKSPACE, { id: helper.id })).workspace).toBeNull();

    await page.getByRole('link', { name: 'pilot' }).click();
    await fact(page, 'Kind').getByText('PLATFORM (concierge)').waitFor();
    await axe(page, 'concierge, its own view');
    await shot(page, 'concierge-own-view-1100');
    expect(cspViolations).toEqual([]);
    await page.close();
  });

  it('Restart pending: a deferred restart shows to every reader; MEMBER restarts it at once, VIEWER cannot; the idle heartbeat clears it live', async () => {
    const chief = await concierge('chief');
    const setSecret = async () => (await orgA.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: chief.id, key: 'CHIEF_API_KEY', value: `v-${Date.now()}`, runtimeConsumed: true } })).setSecret.restarts;
    expect(await setSecret()).toEqual([{ outcome: 'DEFERRED', reason: 'PLATFORM_WORKSPACE', workspace: { id: chief.id } }]);
    const pendingFact = (page: Page) => fact(page, 'Restart pending');
    const open = async (page: Page) => {
      await page.getByRole('link', { name: 'chief' }).click();
      await page.getByRole('heading', { name: 'chief', level: 2 }).waitFor();
    };

    const viewer = await signIn(orgA.viewer);
    await open(viewer.page);
    await pendingFact(viewer.page).getByText(/^yes/).waitFor();
    expect(await viewer.page.getByRole('button', { name: 'Restart', exact: true }).count()).toBe(0);

    const member = await signIn(orgA.member);
    await open(member.page);
    await pendingFact(member.page).getByText(/^yes/).waitFor();
    await axe(member.page, 'restart pending');
    await shot(member.page, 'member-restart-pending-1100');
    await member.page.getByRole('button', { name: 'Restart', exact: true }).click();
    await opItem(member.page, /^Restart (QUEUED|RUNNING|SUCCEEDED)$/).waitFor();
    const runtime = server.client(await fake.take(chief.id));
    await runtime.ok(REGISTER, { input: { mcpServerPresent: true, model: 'claude-test' } });
    await opItem(member.page, 'Restart SUCCEEDED').waitFor({ timeout: 15_000 });
    await pendingFact(member.page).getByText('no', { exact: true }).waitFor();
    await pendingFact(viewer.page).getByText('no', { exact: true }).waitFor(); // live: the status events reload it
    await member.page.close();

    // Deferred again; the agent's turn ends: the restart runs by itself, and the open view shows it.
    await setSecret();
    await viewer.page.getByRole('link', { name: '← All workspaces' }).click();
    await open(viewer.page);
    await pendingFact(viewer.page).getByText(/^yes/).waitFor();
    await runtime.ok(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false, model: 'claude-test' } });
    await pendingFact(viewer.page).getByText('no', { exact: true }).waitFor();
    await opItem(viewer.page, /^Restart (QUEUED|RUNNING|SUCCEEDED)$/).first().waitFor();
    await server.client(await fake.take(chief.id)).ok(REGISTER, { input: { mcpServerPresent: true, model: 'claude-test' } });
    await viewer.page.locator('.title-row .badge[data-status="ONLINE"]').waitFor();

    // A STANDARD agent cannot see the concierge at all.
    const agent = await signIn(builder.token);
    expect(await agent.page.getByRole('link', { name: 'chief' }).count()).toBe(0);
    await agent.page.close();
    await viewer.page.close();
  });

  it('live without a status change: a VIEWER\'s open workspace view shows a deferred restart made elsewhere (Restart pending, the new activity entry) with no reload and no re-read', async () => {
    const scout = await concierge('scout');
    const prisma = server.trellis.services.db.prisma;
    // nothing of it runs any more, so no re-read of a running operation can stand in for the event
    await pollUntil('scout\'s operations to end', async () => ((await prisma.operation.count({ where: { workspaceId: scout.id, finishedAt: null } })) === 0 ? true : undefined), 15_000, 50);
    const { page, cspViolations } = await signIn(orgA.viewer);
    await page.getByRole('link', { name: 'scout' }).click();
    await page.getByRole('heading', { name: 'scout', level: 2 }).waitFor();
    const activity = page.getByRole('region', { name: 'Recent activity' });
    await activity.getByRole('listitem').first().waitFor();
    await fact(page, 'Restart pending').getByText('no', { exact: true }).waitFor();
    expect(await activity.getByRole('listitem').filter({ hasText: 'RESTART_DEFERRED' }).count()).toBe(0);
    // a mark a reload would lose, and every read of the workspace from now on
    await page.evaluate(() => { (window as unknown as { unreloaded?: boolean }).unreloaded = true; });
    const reads: string[] = [];
    page.on('request', (r) => { if (r.postData()?.includes('query CanvasWorkspace(')) reads.push(r.url()); });

    const restarts = (await orgA.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: scout.id, key: 'SCOUT_API_KEY', value: 'scout-secret-value', runtimeConsumed: true } })).setSecret.restarts;
    expect(restarts).toEqual([{ outcome: 'DEFERRED', reason: 'PLATFORM_WORKSPACE', workspace: { id: scout.id } }]);

    await fact(page, 'Restart pending').getByText(/^yes/).waitFor({ timeout: 10_000 });
    const deferred = activity.getByRole('listitem').filter({ hasText: 'RESTART_DEFERRED' });
    await deferred.waitFor();
    expect(await activity.getByRole('listitem').first().textContent()).toContain('RESTART_DEFERRED'); // newest first
    await activity.getByRole('listitem').filter({ hasText: 'SECRET_SET' }).waitFor();
    expect(await page.evaluate(() => (window as unknown as { unreloaded?: boolean }).unreloaded)).toBe(true);
    expect(reads).toEqual([]);
    expect(await page.locator('body').innerText()).not.toContain('scout-secret-value');
    await shot(page, 'viewer-live-restart-pending-1100');
    expect(cspViolations).toEqual([]);
    await page.close();
  });

  it('instance admin: the org switcher scopes workspaces and requests; actions work in any org', async () => {
    const inB = (await beta.client.ok(CREATE_REQUEST, { input: { kind: 'TASK', title: 'Task in org B' } })).createRequest;
    const inA = (await builder.client.ok(CREATE_REQUEST, { input: { kind: 'TASK', title: 'Task in org A' } })).createRequest;
    const { page } = await signIn(server.adminToken);
    await page.getByText('Instance admin').waitFor();
    await page.getByRole('link', { name: 'beta-ws' }).waitFor();
    await page.getByRole('link', { name: 'builder' }).waitFor();
    await card(page, inA.id).waitFor();
    await card(page, inB.id).waitFor();

    const orgs = page.getByRole('combobox', { name: 'Org' });
    await orgs.selectOption({ label: `Org ${await orgSlug(orgB)}` });
    await page.getByRole('link', { name: 'builder' }).waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'beta-ws' }).waitFor();
    await card(page, inA.id).waitFor({ state: 'detached' });
    await card(page, inB.id).waitFor();
    await axe(page, 'instance admin, org B');
    await shot(page, 'instance-admin-org-b-1100');

    // request search
    await orgs.selectOption({ label: 'All orgs' });
    await page.getByRole('searchbox', { name: 'Search requests' }).fill('org A');
    await card(page, inB.id).waitFor({ state: 'detached' });
    await card(page, inA.id).waitFor();

    await page.getByRole('button', { name: 'Mark done: Task in org A' }).click();
    await card(page, inA.id).waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'beta-ws' }).click();
    await page.getByRole('heading', { name: 'beta-ws', level: 2 }).waitFor();
    for (const name of ['Restart', 'Stop', 'Delete…', 'Switch provider']) await page.getByRole('button', { name, exact: true }).waitFor();
    await page.close();
  });

  it('orgs (the switcher\'s list): every org for the instance admin, the own org for anyone else', async () => {
    const ORGS = graphql(`query CanvasTestOrgs($first: Int, $after: String) { orgs(first: $first, after: $after) { edges { node { id } cursor } pageInfo { hasNextPage endCursor } } }`);
    const all = (await server.admin.ok(ORGS, {})).orgs.edges.map((e) => e.node.id);
    expect(all).toEqual(expect.arrayContaining([orgA.orgId, orgB.orgId]));
    const first = (await server.admin.ok(ORGS, { first: 1 })).orgs;
    expect(first.pageInfo.hasNextPage).toBe(true);
    const rest = (await server.admin.ok(ORGS, { after: first.pageInfo.endCursor })).orgs.edges.map((e) => e.node.id);
    expect([...first.edges.map((e) => e.node.id), ...rest]).toEqual(all);
    for (const client of [orgA.admin, orgA.member, orgA.viewer, builder.client]) {
      expect((await client.ok(ORGS, {})).orgs.edges.map((e) => e.node.id)).toEqual([orgA.orgId]);
    }
    expect(await orgA.admin.code(ORGS, { after: 'not-a-cursor' })).toBe('BAD_USER_INPUT');
    expect(await server.client().code(ORGS, {})).toBe('UNAUTHENTICATED');
  });

  async function orgSlug(org: OrgFixture): Promise<string> {
    const r = await org.admin.ok(graphql(`query CanvasTestOrg { viewer { org { slug } } }`));
    return r.viewer.org!.slug;
  }
});
