import type { Services } from '../app/context.ts';
import type { Tx } from '../db/client.ts';
import type { Workspace } from '../generated/prisma/client.ts';
import type { ActivityEntry } from '../activity/append.ts';
import { enqueueJob } from '../jobs/enqueue.ts';
import { ProviderError } from '../providers/provider.ts';

export const PLUGIN_RECONCILE_TASK = 'reconcile-plugins';

/**
 * Seed 000: the MCP gate fails closed, and that must never cut off the only path that heals it.
 * Called on EVERY check-in of a PLATFORM workspace that fails the MCP gate, whatever its status
 * (already FAILED included), inside the check-in's transaction while it holds the row
 * (FOR NO KEY UPDATE). The cooldown is a column claimed with a conditional update whose row count
 * is checked, so it holds across every process; the delivery job is enqueued in the same
 * transaction as the claim. Returns the PLUGIN_RECONCILE_FIRED entry for the caller to append last.
 */
export async function firePluginRecovery(
  tx: Tx,
  svc: Pick<Services, 'config' | 'providers' | 'log'>,
  ws: Pick<Workspace, 'id' | 'orgId' | 'provider'>,
): Promise<ActivityEntry | undefined> {
  const cooldownSecs = svc.config.mcpRecoveryCooldownMs / 1000;
  const claimed = await tx.$executeRaw`
    UPDATE "Workspace" SET "pluginReconcileFiredAt" = now()
     WHERE id = ${ws.id} AND kind = 'PLATFORM' AND "deletedAt" IS NULL
       AND ("pluginReconcileFiredAt" IS NULL OR "pluginReconcileFiredAt" <= now() - make_interval(secs => ${cooldownSecs}::float8))`;
  if (claimed !== 1) return undefined; // fired within the cooldown (by this process or another)

  const provider = svc.providers.get(ws.provider);
  if (provider?.deliverPlugins) {
    await enqueueJob(tx, PLUGIN_RECONCILE_TASK, { workspaceId: ws.id }, { jobKey: `plugins:${ws.id}`, maxAttempts: 5 });
    return {
      orgId: ws.orgId, workspaceId: ws.id, type: 'PLUGIN_RECONCILE_FIRED',
      message: `management MCP server missing: delivering the declared plugins to the runtime (${ws.provider})`,
      data: { reason: 'MCP_SERVER_MISSING', provider: ws.provider, delivery: 'QUEUED' },
    };
  }
  // Nothing Trellis can reach: say so, loudly, once per cooldown.
  const why = ws.provider === 'external'
    ? 'the runtime is started by someone else (provider external), so Trellis cannot deliver plugins to it; install the declared plugins on that runtime'
    : `the ${ws.provider} provider cannot deliver plugins into a running instance; restart the workspace (a new instance starts with its declared plugins)`;
  svc.log.error({ workspaceId: ws.id, provider: ws.provider }, `PLATFORM workspace is missing its management MCP server and ${why}`);
  return {
    orgId: ws.orgId, workspaceId: ws.id, type: 'PLUGIN_RECONCILE_FIRED',
    message: `management MCP server missing: ${why}`,
    data: { reason: 'MCP_SERVER_MISSING', provider: ws.provider, delivery: 'UNSUPPORTED' },
  };
}

/**
 * The job: write the workspace's declared plugins (the management MCP server always among them)
 * into the settings file of its current instance. Retryable failures are retried by
 * graphile-worker; a failure no retry can fix is logged loudly, and the next gate-failing
 * heartbeat after the cooldown fires again.
 */
export async function deliverDeclaredPlugins(svc: Services, workspaceId: string): Promise<void> {
  const ws = await svc.db.prisma.workspace.findUnique({ where: { id: workspaceId }, include: { declaredPlugins: { orderBy: { name: 'asc' } } } });
  if (!ws || ws.deletedAt || ws.status === 'STOPPED') return void svc.log.info({ workspaceId }, 'plugin reconcile: workspace stopped or gone; nothing to deliver');
  if (!ws.instanceId) return void svc.log.warn({ workspaceId }, 'plugin reconcile: the workspace has no instance yet; its next provision delivers the plugins');
  const provider = svc.providers.get(ws.provider);
  if (!provider?.deliverPlugins) return void svc.log.error({ workspaceId, provider: ws.provider }, 'plugin reconcile: the provider cannot deliver plugins');
  try {
    await provider.deliverPlugins({ workspaceId, instanceId: ws.instanceId, plugins: ws.declaredPlugins.map((p) => ({ name: p.name, source: p.source })) });
  } catch (err) {
    if (err instanceof ProviderError && !err.retryable) {
      svc.log.error({ workspaceId, instanceId: ws.instanceId, error: err.message }, 'plugin reconcile: delivery failed');
      return;
    }
    throw err;
  }
}
