import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../shared/logger.ts';
import { allPids, environOf, isAlive, parentOf } from '../../shared/processes.ts';
import { writePluginSettings } from '../../runtime/settings.ts';
import { ProviderError, type PluginDelivery, type Provider, type ProvisionRequest, type ProvisionResult, type TaggedInstance } from '../provider.ts';
import { RUNTIME_ENTRY, TSX_LOADER, type RuntimeIsolation } from './isolation.ts';
import { instanceTagEnv, listLocalInstances, localInstanceIdFor, writeInstanceTags } from './tags.ts';
const INSTANCE_ID = /^lcl_[0-9a-f]{32}$/;

export type LocalProviderOptions = {
  instancesDir: string;
  apiUrl: () => string;
  heartbeatIntervalMs: number;
  log: Logger;
  /** Who runtimes run as and how their files are owned; `instancesDir` is its runtime root. */
  isolation: RuntimeIsolation;
  /** Where an older build kept instance folders (DATA_DIR/instances): its runtimes stay adoptable and stoppable. */
  legacyInstancesDir?: string;
  /** How long a stopped runtime's process group has between SIGTERM and SIGKILL (default 10 s). */
  stopGraceMs?: number;
};

/**
 * Starts the bundled runtime as a detached process on this host, one folder per instance under
 * `TRELLIS_RUNTIME_DIR/<instanceId>/` (pid file, log, token file, workspace folder), outside
 * DATA_DIR and, when the API is root, under a uid of the workspace's own (./isolation.ts). Detached processes outlive
 * an API restart and are found again through their pid file, which we trust only when that pid's
 * environment names the same instance (pids get reused).
 */
export class LocalProvider implements Provider {
  readonly name = 'local';
  readonly startsRuntime = true;
  /** This host's runtimes only: the process table and folders it lists are this host's. */
  readonly listingScope: string;
  constructor(private readonly opts: LocalProviderOptions) {
    this.listingScope = `local@${os.hostname()}:${path.resolve(opts.instancesDir)}`;
  }

  available() {
    return true;
  }

  instanceDir(instanceId: string) {
    const dir = path.join(this.opts.instancesDir, instanceId);
    const legacy = this.opts.legacyInstancesDir && path.join(this.opts.legacyInstancesDir, instanceId);
    return legacy && !existsSync(dir) && existsSync(legacy) ? legacy : dir;
  }

  workspaceDir(instanceId: string) {
    return path.join(this.instanceDir(instanceId), 'workspace');
  }

  async provision(req: ProvisionRequest): Promise<ProvisionResult> {
    // Derived from the operation id: a retried provision finds the instance it already started.
    const instanceId = localInstanceIdFor(req.operationId);
    if (this.pidOf(instanceId) !== undefined) return { instanceId, url: null };
    // A crash between spawning and writing the pid file must not make a retry start a second
    // runtime for the same instance: look for one by its environment before spawning.
    const orphan = findByInstanceEnv(instanceId);
    if (orphan !== undefined) {
      await writePidFile(this.instanceDir(instanceId), orphan);
      return { instanceId, url: null };
    }

    const dir = this.instanceDir(instanceId);
    const workspaceDir = this.workspaceDir(instanceId);
    const { isolation } = this.opts;
    const user = await isolation.userFor(req.workspace.id);
    await isolation.makeInstanceDirs(dir, workspaceDir, user);
    await writeInstanceTags(dir, req);
    await writePluginSettings(workspaceDir, req.plugins, isolation.writerAs(user));

    const tokenFile = await isolation.writeToken(dir, await req.workspaceToken(), user);
    const logFd = openSync(path.join(dir, 'runtime.log'), 'a', 0o600); // ours: runtimes see only their own, by fd
    try {
      const child = spawn(process.execPath, ['--import', TSX_LOADER, RUNTIME_ENTRY], {
        cwd: workspaceDir,
        ...isolation.spawnAs(user),
        detached: true, // its own process group: it survives the API and its signals
        stdio: ['ignore', logFd, logFd],
        // Only what the runtime needs: never the API's own environment (database URL, tokens), and
        // its token by file (another process of the same user could read /proc/<pid>/environ).
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: workspaceDir,
          NODE_ENV: process.env.NODE_ENV ?? 'production',
          TRELLIS_API_URL: this.opts.apiUrl(),
          TRELLIS_WORKSPACE_TOKEN_FILE: tokenFile,
          TRELLIS_INSTANCE_ID: instanceId,
          ...instanceTagEnv(req),
          TRELLIS_WORKSPACE_DIR: workspaceDir,
          TRELLIS_HEARTBEAT_INTERVAL_MS: String(this.opts.heartbeatIntervalMs),
          TRELLIS_MODEL: req.model ?? '',
        },
      });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once('spawn', () => resolve(child.pid!));
        child.once('error', (err) => reject(new ProviderError(`could not start the local runtime: ${err.message}`, true)));
      });
      child.unref();
      await writePidFile(dir, pid);
      this.opts.log.info({ instanceId, pid, workspaceId: req.workspace.id, uid: user?.uid }, 'started local runtime');
      return { instanceId, url: null };
    } finally {
      closeSync(logFd);
    }
  }

  async stop(instanceId: string): Promise<void> {
    // a runtime whose pid file was never written (a crash right after the spawn) is found by its environment
    const pid = this.pidOf(instanceId) ?? (INSTANCE_ID.test(instanceId) && existsSync(this.instanceDir(instanceId)) ? findByInstanceEnv(instanceId) : undefined);
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGTERM'); // the whole group: the runtime and anything it started
    } catch {
      return;
    }
    // Watched by pid and environment, not by pid file: a runtime found without one escalates too.
    const marker = `TRELLIS_INSTANCE_ID=${instanceId}`;
    const stillRunning = () => isAlive(pid) && (environOf(pid)?.includes(marker) ?? false);
    const deadline = Date.now() + (this.opts.stopGraceMs ?? 10_000);
    let killed = false;
    while (stillRunning()) {
      if (!killed && Date.now() > deadline) {
        try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
        killed = true;
      } else if (killed && Date.now() > deadline + 5_000) {
        break; // not even SIGKILL took (uninterruptible sleep): the orphan sweep tries again later
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await fs.rm(path.join(this.instanceDir(instanceId), 'runtime.pid'), { force: true });
  }

  /** An id that is not one of this host's instances (no folder) is unknown, never "not running". */
  async isRunning(instanceIds: readonly string[]): Promise<Map<string, boolean>> {
    const known = instanceIds.filter((id) => INSTANCE_ID.test(id) && existsSync(this.instanceDir(id)));
    return new Map(known.map((id) => [id, this.pidOf(id) !== undefined]));
  }

  async listInstances(filter: { operationId?: string } = {}): Promise<TaggedInstance[]> {
    // Runtimes an older build started under DATA_DIR/instances are swept too.
    return listLocalInstances([this.opts.instancesDir, ...(this.opts.legacyInstancesDir ? [this.opts.legacyInstancesDir] : [])], filter);
  }

  /** Rewrites the runtime's plugin settings file, which it re-reads on every heartbeat. */
  async deliverPlugins(req: PluginDelivery): Promise<void> {
    // instanceId may have been reported by the runtime itself: never a path of its choosing.
    if (!INSTANCE_ID.test(req.instanceId)) throw new ProviderError(`"${req.instanceId}" is not a local instance id; cannot deliver plugins`, false);
    const dir = this.workspaceDir(req.instanceId);
    if (!existsSync(dir)) throw new ProviderError(`the workspace folder of local instance ${req.instanceId} is gone; restart the workspace`, false);
    await writePluginSettings(dir, req.plugins, this.opts.isolation.writerAs(await this.opts.isolation.ownerOf(dir)));
    this.opts.log.info({ instanceId: req.instanceId, workspaceId: req.workspaceId, plugins: req.plugins.map((p) => p.name) }, 'declared plugins delivered to the local runtime');
  }

  /** The pid of the live runtime of `instanceId`, or undefined when there is none. */
  pidOf(instanceId: string): number | undefined {
    if (!INSTANCE_ID.test(instanceId)) return undefined;
    const pidFile = path.join(this.instanceDir(instanceId), 'runtime.pid');
    if (!existsSync(pidFile)) return undefined;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return isAlive(pid) && environOf(pid)?.includes(`TRELLIS_INSTANCE_ID=${instanceId}`) ? pid : undefined;
  }
}

/** Written whole or not at all (tmp + rename): a reader never sees a partial pid. */
async function writePidFile(dir: string, pid: number): Promise<void> {
  const file = path.join(dir, 'runtime.pid');
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(`${file}.tmp`, String(pid));
  await fs.rename(`${file}.tmp`, file);
}

/** The pid of a live process whose environment names this instance, if any. */
function findByInstanceEnv(instanceId: string): number | undefined {
  const marker = `TRELLIS_INSTANCE_ID=${instanceId}`;
  const hasMarker = (pid: number) => environOf(pid)?.includes(marker) ?? false;
  // the runtime itself, not a helper process it started (those inherit its environment)
  return allPids().find((pid) => hasMarker(pid) && isAlive(pid) && !hasMarker(parentOf(pid) ?? 0));
}
