/**
 * The main window, locked down as Electron's security checklist asks:
 * context isolation, sandbox, no Node integration, the preload as the only
 * bridge; navigation, new windows, permission requests and webviews denied.
 */
import { BrowserWindow, session, shell, type WebContents } from 'electron';
import { APP_ORIGIN, APP_URL } from './app-protocol.js';

/** A size that fits the three columns on a 1366x768 laptop. */
const DEFAULT_SIZE = { width: 1200, height: 760, minWidth: 820, minHeight: 520 };

/** Denies every permission (camera, notifications from the page, geolocation, …): main notifies, not the page. */
export function lockDownSession(): void {
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
}

function lockDownContents(contents: WebContents): void {
  contents.on('will-navigate', (event, url) => {
    if (!url.startsWith(APP_ORIGIN + '/')) event.preventDefault();
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    // Links in messages open in the system browser, never inside the app.
    if (url.startsWith('https://') || url.startsWith('http://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
}

export function createMainWindow(preloadPath: string, show: boolean): BrowserWindow {
  const win = new BrowserWindow({
    ...DEFAULT_SIZE,
    show,
    title: 'Pigeon',
    backgroundColor: '#f4f6f8',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: true,
    },
  });
  lockDownContents(win.webContents);
  win.removeMenu();
  void win.loadURL(APP_URL);
  return win;
}

/** Is this IPC sender the app's own page in the main frame (not an iframe, not another origin)? */
export function isTrustedSender(win: BrowserWindow | null, frame: Electron.WebFrameMain | null): boolean {
  if (!win || !frame || win.isDestroyed()) return false;
  // Node's URL gives custom schemes the origin 'null': compare the prefix.
  return frame === win.webContents.mainFrame && frame.url.startsWith(APP_ORIGIN + '/');
}
