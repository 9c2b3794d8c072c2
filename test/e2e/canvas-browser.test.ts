import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, register, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The canvas in a real browser: Debian's chromium driven by playwright-core against a real
 * server (.ci/run installs chromium, so this runs in CI). Set TRELLIS_SKIP_BROWSER_TESTS=1 to
 * skip it on a machine without /usr/bin/chromium.
 */
const CHROMIUM = '/usr/bin/chromium';
const SKIP = process.env.TRELLIS_SKIP_BROWSER_TESTS === '1';
export const SCREENSHOT = path.join(os.tmpdir(), 'trellis-canvas.png');

const CREATE = graphql(`mutation CanvasTestCreate($input: CreateRequestInput!) { createRequest(input: $input) { id } }`);
const NODE = graphql(`query CanvasTestNode($id: ID!) { node(id: $id) { ... on Request { status resolvedByKind } } }`);

describe.skipIf(SKIP)('canvas in chromium (playwright-core)', () => {
  let server: TestServer;
  let org: OrgFixture;
  let ws: WorkspaceFixture;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let base: string;
  let memberToken: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set TRELLIS_SKIP_BROWSER_TESTS=1)`);
    // no staleness sweep: the workspace registers once and must stay ONLINE
    server = await startTestServer({ env: { TRELLIS_HEARTBEAT_STALE_MS: '3600000' } });
    org = await createOrgWithUsers(server);
    memberToken = org.member.token!;
    ws = await createExternalWorkspace(server, org, { name: 'builder' });
    base = server.url.replace(/\/graphql$/, '');
    profile = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1100, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });
  afterAll(async () => {
    await context?.close();
    if (profile) await fs.rm(profile, { recursive: true, force: true });
    await server?.stop();
  });

  const badge = (id: string) => page.locator(`[data-workspace-id="${id}"] .badge`);
  const requestItem = (id: string) => page.locator(`[data-request-id="${id}"]`);

  it('token entry, a workspace turning ONLINE live, approving a pending approval, resuming after a reconnect', async () => {
    const approval = (await ws.client.ok(CREATE, { input: { kind: 'APPROVAL', title: 'Rotate the deploy key?', body: 'The old key leaked into a log.' } })).createRequest;
    const task = (await ws.client.ok(CREATE, { input: { kind: 'TASK', title: 'Review the nightly report' } })).createRequest;

    const res = await page.goto(`${base}/canvas`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("connect-src 'self'");
    await page.getByLabel('API token').fill(memberToken);
    await page.getByRole('button', { name: 'Connect' }).click();

    await badge(ws.id).waitFor();
    expect(await badge(ws.id).textContent()).toBe('PROVISIONING');
    await page.locator('#connection[data-state="live"]').waitFor();
    await requestItem(task.id).waitFor(); // the Tasks tab is the default

    await register(ws);
    await page.locator(`[data-workspace-id="${ws.id}"] .badge[data-status="ONLINE"]`).waitFor({ timeout: 10_000 });

    await page.getByRole('tab', { name: /Approvals/ }).click();
    await requestItem(approval.id).waitFor();
    expect(await page.locator('#count-approvals').textContent()).toBe('1');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.getByRole('button', { name: 'Approve: Rotate the deploy key?' }).click();
    await requestItem(approval.id).waitFor({ state: 'detached' });
    const after = await org.admin.ok(NODE, { id: approval.id });
    expect(after.node).toMatchObject({ status: 'APPROVED', resolvedByKind: 'USER' });
    expect(await page.locator('#count-approvals').textContent()).toBe('0');

    // Drop the connection and create an approval while it is down: the resumed subscription
    // (after: its last cursor) delivers it.
    await page.evaluate(() => (window as unknown as { trellisCanvas: { drop: () => void } }).trellisCanvas.drop());
    await page.locator('#connection:not([data-state="live"])').waitFor();
    const missed = (await ws.client.ok(CREATE, { input: { kind: 'APPROVAL', title: 'Created while offline' } })).createRequest;
    await requestItem(missed.id).waitFor({ timeout: 15_000 });
    await page.locator('#connection[data-state="live"]').waitFor();

    // an approval resolved elsewhere leaves the tab too
    await org.admin.ok(graphql(`mutation CanvasTestResolve($input: ResolveRequestInput!) { resolveRequest(input: $input) { id } }`), { input: { requestId: missed.id, decision: 'REJECT' } });
    await requestItem(missed.id).waitFor({ state: 'detached' });
  });

  it('a wrong token is refused on the page, and only the canvas files are served', async () => {
    await page.goto(`${base}/canvas`);
    await page.getByRole('button', { name: 'Sign out' }).click().catch(() => undefined);
    await page.getByLabel('API token').fill(`trl_${'x'.repeat(40)}`);
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByText('That token was not accepted.').waitFor();
    for (const p of ['/canvas/../package.json', '/canvas/%2e%2e/config.ts', '/canvas/service.ts']) {
      const r = await fetch(`${base}${p}`);
      expect(r.status).toBe(404);
    }
    expect((await fetch(`${base}/canvas`, { method: 'POST', body: 'x' })).status).toBe(405);
    const head = await fetch(`${base}/canvas/canvas.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(head.headers.get('x-frame-options')).toBe('DENY');
  });
});
