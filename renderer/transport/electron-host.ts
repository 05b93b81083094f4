/**
 * The host inside the desktop app: the preload (electron/preload) exposes
 * `window.pigeon`, one function per control method plus onEvent, and
 * `window.pigeonDesktop` for what only the desktop does. Dropped files are
 * passed by path (webUtils.getPathForFile in the preload), never read here;
 * only a pasted picture, which has no path, is handed over as bytes
 * (electron/main/pasted-files.ts writes it).
 */
import type { PigeonBridge } from '../../shared/api/pigeon-api.js';
import { apiFromBridge } from '../../shared/api/pigeon-api.js';
import type { DropBundle, Host } from './host.js';

/** What electron/preload exposes besides the API bridge. */
export interface DesktopBridge {
  pathForFile(file: File): string;
  showInFolder(transferId: string): void;
  openFile(transferId: string, index: number): void;
  /** A pasted picture (no path on disk): its bytes written by the main process; its path, or '' when refused. */
  stagePasted(name: string, data: Uint8Array): Promise<string>;
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
      const paths: string[] = [];
      for (const f of drop.files) {
        // A file from disk has a path; a pasted screenshot has only bytes.
        const path = desktop.pathForFile(f) || (f.type.startsWith('image/') ? await desktop.stagePasted(f.name, new Uint8Array(await f.arrayBuffer())) : '');
        if (path) paths.push(path);
      }
      return paths;
    },
    showInFolder: (id) => desktop.showInFolder(id),
    openFile: (id, index) => desktop.openFile(id, index),
    pictureUrl: (id) => `app://pigeon/pictures/${id}`,
    notify: (title, body) => desktop.notify(title, body),
    setBadge: (count) => desktop.setBadge(count),
  };
}
