/**
 * Names of the Electron IPC channels between electron/preload and
 * electron/main, in one place so both sides agree: one channel per control
 * method, one for engine events, five for what only the desktop does.
 */
import type { ApiMethod } from './pigeon-api.js';

export const methodChannel = (method: ApiMethod): string => `pigeon:${method}`;

export const EVENT_CHANNEL = 'pigeon:event';

export const DESKTOP_CHANNELS = {
  showInFolder: 'desktop:show-in-folder',
  openFile: 'desktop:open-file',
  stagePasted: 'desktop:stage-pasted',
  notify: 'desktop:notify',
  setBadge: 'desktop:set-badge',
} as const;
