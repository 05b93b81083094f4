/**
 * Which profile and network settings the desktop app runs with. The same
 * profile folder as the command line (`$PIGEON_HOME`, else the per-user
 * config folder), so `pigeon send` and friends talk to the running app
 * through its control socket. The PIGEON_* variables below exist for tests
 * and unusual networks; a normal start needs none of them.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { PeerOptions } from '../../core/index.js';

/** The per-user config folder, as cli/home.ts chooses it (kept equal: one profile for both). */
function defaultHome(env: NodeJS.ProcessEnv): string {
  if (process.platform === 'win32') return join(env.APPDATA || join(homedir(), 'AppData', 'Roaming'), 'Pigeon');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Pigeon');
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'pigeon');
}

function int(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isInteger(n) ? n : undefined;
}

export function desktopPeerOptions(env: NodeJS.ProcessEnv = process.env): PeerOptions {
  const port = int(env.PIGEON_PORT);
  const discoveryPort = int(env.PIGEON_DISCOVERY_PORT);
  return {
    home: resolve(env.PIGEON_HOME || defaultHome(env)),
    ...(env.PIGEON_NAME ? { name: env.PIGEON_NAME } : {}),
    ...(env.PIGEON_GROUP ? { group: env.PIGEON_GROUP } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(discoveryPort !== undefined ? { discoveryPort } : {}),
    broadcast: env.PIGEON_BROADCAST ? env.PIGEON_BROADCAST.split(',').map((s) => s.trim()) : 'auto',
    mdns: env.PIGEON_NO_MDNS !== '1',
    // The IPMsg / Feiq / iptux bridge is on in the desktop app unless the profile says otherwise (PIGEON_IPMSG=0 for tests).
    ipmsgDefault: true,
    ...(env.PIGEON_IPMSG === '0' ? { ipmsg: false } : {}),
    // LocalSend (phones and laptops) likewise, shown to them as a desktop (PIGEON_LOCALSEND=0 for tests).
    localsendDefault: true,
    localsendDeviceType: 'desktop',
    ...(env.PIGEON_LOCALSEND === '0' ? { localsend: false } : {}),
  };
}
