import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * The runtime's plugin settings file, `<workspace>/.trellis/settings.json`. Trellis delivers the
 * declared plugins into it; the runtime re-reads it on every heartbeat. The management MCP server
 * every workspace gets is the `trellis` entry.
 */
export const MANAGEMENT_MCP_SERVER = 'trellis';

export type PluginSettings = { mcpServers: Record<string, { source: string }> };

export const settingsPath = (workspaceDir: string) => path.join(workspaceDir, '.trellis', 'settings.json');

/** Writes `content` to `file` whole or not at all, creating its folder. */
export type FileWriter = (file: string, content: string) => Promise<void>;

/**
 * `write` replaces the plain write when the folder belongs to someone else: the `local` provider
 * writes into an isolated runtime's folder as that runtime, never as root.
 */
export async function writePluginSettings(workspaceDir: string, plugins: { name: string; source: string }[], write: FileWriter = writeWhole): Promise<void> {
  const settings: PluginSettings = { mcpServers: {} };
  for (const p of plugins) settings.mcpServers[p.name] = { source: p.source };
  // Last: a declared plugin that happens to be named like it never replaces the management server
  // (the MCP gate checks the name, so it would pass with a source nobody vetted).
  settings.mcpServers[MANAGEMENT_MCP_SERVER] = { source: 'builtin:trellis' };
  await write(settingsPath(workspaceDir), JSON.stringify(settings, null, 2));
}

async function writeWhole(file: string, content: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  // Write-then-rename so a runtime reading concurrently never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, content);
  await fs.rename(tmp, file);
}

/** Fresh on every call (no cache): a delivered plugin is seen by the very next heartbeat. */
export async function readPluginSettings(workspaceDir: string): Promise<PluginSettings | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(settingsPath(workspaceDir), 'utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && 'mcpServers' in parsed && parsed.mcpServers && typeof parsed.mcpServers === 'object') {
      return parsed as PluginSettings;
    }
    return undefined;
  } catch {
    return undefined;
  }
}
