/**
 * The host inside the desktop app: the preload (electron/preload) exposes
 * `window.pigeon`, one function per control method plus onEvent, and
 * `window.pigeonDesktop` for what only the desktop does. Dropped files are
 * passed by path (webUtils.getPathForFile in the preload), never read here.
 */
import type { PigeonBridge } from '../../shared/api/pigeon-api.js';
import { apiFromBridge } from '../../shared/api/pigeon-api.js';
import type { DropBundle, Host } from './host.js';

/** What electron/preload exposes besides the API bridge. */
export interface DesktopBridge {
  pathForFile(file: File): string;
  showInFolder(transferId: string): void;
  openFile(transferId: string, index: number): void;
  notify(title: string, body: string): void;
  setBadge(count: number): void;
}

declare global {
  interface Window {
    pigeon?: PigeonBridge;
    pigeonDesktop?: DesktopBridge;
  }
}

export function createElectronHost(bridge: PigeonBridge, desktop: DesktopBridge): Host {
  return {
    kind: 'desktop',
    api: apiFromBridge(bridge),
    onConnection(listener) {
      listener('open'); // the engine runs in the main process: always there
      return () => {};
    },
    async stageDrop(drop: DropBundle) {
      return drop.files.map((f) => desktop.pathForFile(f)).filter((p) => p !== '');
    },
    showInFolder: (id) => desktop.showInFolder(id),
    openFile: (id, index) => desktop.openFile(id, index),
    notify: (title, body) => desktop.notify(title, body),
    setBadge: (count) => desktop.setBadge(count),
  };
}
