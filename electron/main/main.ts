/**
 * The desktop app's main process: hosts the engine in process (through
 * core/index.ts), serves the renderer on app://pigeon, owns the window, the
 * tray, notifications and the unread badge. Also opens the profile's
 * control socket, so the command line works next to the app, and so a
 * second Pigeon on the same profile is refused.
 */
import { app, BrowserWindow, dialog, Notification, shell } from 'electron';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlServer, createPeer, isInside, stderrLogger, systemClock, systemRandom, type Peer } from '../../core/index.js';
import { PigeonError, ErrorCodes } from '../../shared/protocol/errors.js';
import { registerAppScheme, serveRenderer } from './app-protocol.js';
import { desktopPeerOptions } from './desktop-options.js';
import { loadDesktopSettings, saveDesktopSettings, type DesktopSettings } from './desktop-settings.js';
import { forwardEvents, registerIpc } from './ipc.js';
import { PastedFiles } from './pasted-files.js';
import { desktopPicture } from './desktop-pictures.js';
import { PigeonTray } from './tray.js';
import { createMainWindow, isTrustedSender, lockDownSession } from './window.js';

/** dist/electron/main/ -> dist/renderer/, dist/electron/preload.cjs, build/icons/ (the same layout inside app.asar). */
const RENDERER_DIR = fileURLToPath(new URL('../../renderer/', import.meta.url));
const PRELOAD = fileURLToPath(new URL('../preload.cjs', import.meta.url));
const TRAY_ICON = fileURLToPath(new URL('../../../build/icons/tray.png', import.meta.url));

const logger = stderrLogger(process.env.PIGEON_LOG_LEVEL === 'debug' ? 'debug' : 'warn');
let win: BrowserWindow | null = null;
let tray: PigeonTray | null = null;
let peer: Peer | null = null;
let control: ControlServer | null = null;
let quitting = false;

const options = desktopPeerOptions();
// Chromium's own state (storage, caches) in a folder of the profile: not
// mixed with the profile's files, and one running app per profile (the
// single-instance lock is per userData folder).
mkdirSync(join(options.home, 'desktop-app'), { recursive: true, mode: 0o700 });
app.setPath('userData', join(options.home, 'desktop-app'));
registerAppScheme();
if (!app.requestSingleInstanceLock()) app.quit();

function showWindow(): void {
  if (!win) return;
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}

async function start(): Promise<void> {
  lockDownSession();
  serveRenderer(RENDERER_DIR, async (id) => (peer ? desktopPicture(peer, options.home, id) : null));
  let settings: DesktopSettings = loadDesktopSettings(options.home);
  const p = createPeer({ clock: systemClock, random: systemRandom, logger }, options);
  const c = new ControlServer(p, options.home, logger);
  try {
    await c.start();
    await p.start();
  } catch (err) {
    await c.stop();
    const busy = err instanceof PigeonError && err.code === ErrorCodes.PROFILE_BUSY;
    dialog.showErrorBox('Pigeon', busy ? `Pigeon is already running for the profile ${options.home} (perhaps as "pigeon peer").` : `Pigeon could not start: ${(err as Error).message}`);
    app.exit(1);
    return;
  }
  peer = p;
  control = c;

  win = createMainWindow(PRELOAD, !settings.startMinimised);
  const trusted = (event: Electron.IpcMainInvokeEvent): boolean => isTrustedSender(win, event.senderFrame);
  const pasted = new PastedFiles(options.home);
  await pasted.clear().catch(() => {});
  registerIpc(p, logger, trusted, {
    stagePasted: (name, data) => pasted.stage(name, data),
    // Received files only, and only inside the download folder (the paths come from the transfer's rows).
    async showInFolder(id) {
      const downloads = p.settings().downloads;
      const info = p.transferFiles(id);
      const landed = info.transfer.direction === 'in' ? info.landed.find((l) => isInside(downloads, l) && existsSync(l)) : undefined;
      if (landed) shell.showItemInFolder(landed);
      else await shell.openPath(downloads);
    },
    async openFile(id, index) {
      const info = p.transferFiles(id);
      const file = info.transfer.direction === 'in' && info.transfer.state === 'done' ? info.files.find((f) => f.index === index) : undefined;
      if (file?.localPath && isInside(p.settings().downloads, file.localPath) && existsSync(file.localPath)) await shell.openPath(file.localPath);
    },
    notify(title, body) {
      if (win?.isFocused() || !Notification.isSupported()) return;
      const n = new Notification({ title, body });
      n.on('click', showWindow);
      n.show();
    },
    setBadge(count) {
      app.setBadgeCount(count);
      tray?.setUnread(count);
    },
  });
  forwardEvents(p, (channel, event) => {
    if (win && !win.isDestroyed()) win.webContents.send(channel, event);
  });
  win.on('close', (event) => {
    // Closing the window keeps Pigeon running in the tray; Quit in the tray ends it.
    if (!quitting && tray) {
      event.preventDefault();
      win?.hide();
    }
  });

  if (existsSync(TRAY_ICON)) {
    tray = new PigeonTray(TRAY_ICON, app.getLocale(), {
      status: () => p.self().status,
      setStatus: (s) => {
        p.setStatus(s, p.self().away);
        tray?.refresh();
      },
      open: showWindow,
      quit: () => app.quit(),
      settings: () => settings,
      setSettings: (patch) => {
        settings = { ...settings, ...patch };
        saveDesktopSettings(options.home, settings);
        app.setLoginItemSettings({ openAtLogin: settings.openAtLogin });
        tray?.refresh();
      },
    });
  } else logger.log('warn', 'tray icon missing; running without a tray', { path: TRAY_ICON });
}

app.on('second-instance', showWindow);
app.on('activate', showWindow);
app.on('window-all-closed', () => {
  if (!tray) app.quit();
});
app.on('before-quit', (event) => {
  if (quitting) return;
  quitting = true;
  event.preventDefault();
  void (async () => {
    tray?.destroy();
    await control?.stop();
    await peer?.stop();
    app.exit(0);
  })();
});

app.whenReady().then(start, (err: unknown) => {
  logger.log('error', 'desktop app failed to start', { error: String(err) });
  app.exit(1);
});
