/**
 * What the React app is given by the page it runs in: the typed engine API
 * and the few things only the host can do (turn a drop into local paths,
 * show a folder, notify). The Electron preload and the web UI's WebSocket
 * each provide one; the components never know which.
 */
import type { PigeonApi } from '../../shared/api/pigeon-api.js';

export type ConnectionState = 'open' | 'lost';

/** A drop, read synchronously in the drop handler (a DataTransfer is emptied after the event). */
export interface DropBundle {
  files: File[];
  /** Per file, its file system entry when the browser gives one (folders), else null. */
  entries: Array<FileSystemEntry | null>;
}

export interface Host {
  kind: 'web' | 'desktop';
  api: PigeonApi;
  /** Connection changes of the transport; on 'open' the UI (re)loads its state. */
  onConnection(listener: (state: ConnectionState) => void): () => void;
  /** Makes dropped files and folders offerable: their local paths. */
  stageDrop(drop: DropBundle, onProgress?: (sentBytes: number, totalBytes: number) => void): Promise<string[]>;
  /** Opens the download folder at a received transfer (desktop only). */
  showInFolder?(transferId: string): void;
  /** Opens one received file with its application (desktop only). */
  openFile?(transferId: string, index: number): void;
  /** Where a picture transfer's image is shown from (spec §13.8). */
  pictureUrl?(transferId: string): string;
  /** The download link of one received file (web UI only). */
  fileUrl?(transferId: string, index: number): string;
  /** Something arrived that notifies (desktop: a native notification; web: a sound, and the Notification API when allowed and the page is in the background). */
  notify(title: string, body: string, onClick?: () => void): void;
  /** The unread count on the app icon / tab title. */
  setBadge(count: number): void;
  /** Web only: may the page show notifications ('default': not asked yet)? */
  notificationPermission?(): 'granted' | 'default' | 'denied';
  /** Web only: asks the browser (must run in a click handler). */
  requestNotifications?(): Promise<void>;
}

/** Reads a DataTransfer now, before the drop event returns. */
export function collectDrop(dt: DataTransfer): DropBundle {
  const files = [...dt.files];
  const items = [...dt.items].filter((i) => i.kind === 'file');
  const entries = items.length === files.length ? items.map((i) => (typeof i.webkitGetAsEntry === 'function' ? i.webkitGetAsEntry() : null)) : files.map(() => null);
  return { files, entries };
}

export function hasFiles(dt: DataTransfer | null): boolean {
  return !!dt && [...dt.types].includes('Files');
}
