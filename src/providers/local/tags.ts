import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { allPids, environOf, parentOf } from '../../shared/processes.ts';
import type { ProvisionRequest, TaggedInstance } from '../provider.ts';

/**
 * Tags of `local` instances (CONTRACT §11): written into the instance folder before the runtime is
 * spawned and carried in its environment, so whatever a crash leaves behind can be found and
 * named by workspace and operation. Kept apart from how runtimes are spawned.
 */
export const TAGS_FILE = 'trellis-tags.json';

type LocalTags = { workspaceId: string; orgId: string; operationId: string };

/** The instance id an operation's attempt may start: fixed before anything is started. */
export const localInstanceIdFor = (operationId: string) => `lcl_${operationId.replace(/^op_/, '')}`;

/** Writes the tags file (whole or not at all) into the instance folder. */
export async function writeInstanceTags(instanceDir: string, req: ProvisionRequest): Promise<void> {
  const tags: LocalTags = { workspaceId: req.workspace.id, orgId: req.workspace.orgId, operationId: req.operationId };
  const file = path.join(instanceDir, TAGS_FILE);
  await fs.mkdir(instanceDir, { recursive: true });
  await fs.writeFile(`${file}.tmp`, JSON.stringify(tags));
  await fs.rename(`${file}.tmp`, file);
}

/** The tag entries of the runtime's environment. */
export function instanceTagEnv(req: ProvisionRequest): Record<string, string> {
  return { TRELLIS_WORKSPACE_ID: req.workspace.id, TRELLIS_OPERATION_ID: req.operationId };
}

const INSTANCE_MARKER = /^TRELLIS_INSTANCE_ID=(lcl_[0-9a-f]{32})$/;

/**
 * The live runtimes of instances under one of `instancesDirs`, in one pass over the process table: a
 * process whose environment names an instance (the top of its tree: helpers inherit the
 * environment) whose folder is one of ours. Tags come from the folder's tags file, else from the
 * process environment. A runtime without a pid file (a crash between spawn and pid file) is found
 * all the same.
 */
export function listLocalInstances(instancesDirs: readonly string[], filter: { operationId?: string } = {}): TaggedInstance[] {
  const only = filter.operationId ? localInstanceIdFor(filter.operationId) : undefined;
  const byPid = new Map<number, { instanceId: string; env: string[] }>();
  for (const pid of allPids()) {
    const env = environOf(pid);
    const marker = env?.map((e) => INSTANCE_MARKER.exec(e)?.[1]).find((m) => m !== undefined);
    if (!env || !marker || (only && marker !== only)) continue;
    byPid.set(pid, { instanceId: marker, env });
  }
  const found = new Map<string, TaggedInstance>();
  for (const [pid, { instanceId, env }] of byPid) {
    if (byPid.get(parentOf(pid) ?? 0)?.instanceId === instanceId) continue; // a helper of the runtime
    const dir = instancesDirs.map((root) => path.join(root, instanceId)).find((d) => existsSync(d));
    if (!dir) continue; // another DATA_DIR's runtime
    const tags = readTags(dir) ?? tagsFromEnv(env);
    if (!tags) continue;
    found.set(instanceId, { instanceId, workspaceId: tags.workspaceId, operationId: tags.operationId });
  }
  return [...found.values()];
}

function readTags(dir: string): Pick<LocalTags, 'workspaceId' | 'operationId'> | undefined {
  try {
    const t = JSON.parse(readFileSync(path.join(dir, TAGS_FILE), 'utf8')) as Partial<LocalTags>;
    return typeof t.workspaceId === 'string' && typeof t.operationId === 'string' ? { workspaceId: t.workspaceId, operationId: t.operationId } : undefined;
  } catch {
    return undefined;
  }
}

function tagsFromEnv(env: string[]): { workspaceId: string; operationId: string | null } | undefined {
  const get = (name: string) => env.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
  const workspaceId = get('TRELLIS_WORKSPACE_ID');
  return workspaceId ? { workspaceId, operationId: get('TRELLIS_OPERATION_ID') ?? null } : undefined;
}
