/**
 * The tray icon: presence (online / away / busy), open, start options, quit;
 * its tooltip shows the unread count.
 */
import { Menu, Tray, nativeImage } from 'electron';
import type { PresenceStatus } from '../../shared/protocol/schemas-common.js';
import type { DesktopSettings } from './desktop-settings.js';

export interface TrayHandlers {
  status(): PresenceStatus;
  setStatus(status: PresenceStatus): void;
  open(): void;
  quit(): void;
  settings(): DesktopSettings;
  setSettings(patch: Partial<DesktopSettings>): void;
}

/** Tray texts follow the system language (the tray has no page to switch it in). */
const TEXTS = {
  en: { open: 'Open Pigeon', online: 'Online', away: 'Away', busy: 'Busy', minimised: 'Start minimised', login: 'Start at login', quit: 'Quit', unread: (n: number) => `${n} unread` },
  zh: { open: '打开 Pigeon', online: '在线', away: '离开', busy: '忙碌', minimised: '启动时最小化', login: '开机启动', quit: '退出', unread: (n: number) => `${n} 条未读` },
};

export class PigeonTray {
  private readonly tray: Tray;
  private unread = 0;
  private readonly texts;

  constructor(iconPath: string, locale: string, private readonly h: TrayHandlers) {
    this.texts = locale.toLowerCase().startsWith('zh') ? TEXTS.zh : TEXTS.en;
    this.tray = new Tray(nativeImage.createFromPath(iconPath));
    this.tray.on('click', () => h.open());
    this.refresh();
  }

  setUnread(count: number): void {
    this.unread = count;
    this.refresh();
  }

  refresh(): void {
    const t = this.texts;
    const status = this.h.status();
    const settings = this.h.settings();
    const presence = (s: PresenceStatus) => ({ label: t[s], type: 'radio' as const, checked: status === s, click: () => this.h.setStatus(s) });
    this.tray.setToolTip(this.unread > 0 ? `Pigeon — ${t.unread(this.unread)}` : 'Pigeon');
    this.tray.setContextMenu(
      Menu.buildFromTemplate([
        { label: t.open, click: () => this.h.open() },
        { type: 'separator' },
        presence('online'),
        presence('away'),
        presence('busy'),
        { type: 'separator' },
        { label: t.minimised, type: 'checkbox', checked: settings.startMinimised, click: (item) => this.h.setSettings({ startMinimised: item.checked }) },
        { label: t.login, type: 'checkbox', checked: settings.openAtLogin, click: (item) => this.h.setSettings({ openAtLogin: item.checked }) },
        { type: 'separator' },
        { label: t.quit, click: () => this.h.quit() },
      ]),
    );
  }

  destroy(): void {
    this.tray.destroy();
  }
}
