/**
 * Which profile folder a command uses: --home, else $PIGEON_HOME, else the
 * platform's per-user config folder.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function defaultHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return join(env.APPDATA || join(homedir(), 'AppData', 'Roaming'), 'Pigeon');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Pigeon');
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'pigeon');
}

export function resolveHome(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(option || env.PIGEON_HOME || defaultHome(env));
}
