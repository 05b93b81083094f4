/**
 * Settings of the desktop app itself (not of the engine): start minimised
 * to the tray, start at login. Kept as JSON in the profile folder; a broken
 * file falls back to the defaults.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DesktopSettings {
  startMinimised: boolean;
  openAtLogin: boolean;
}

const DEFAULTS: DesktopSettings = { startMinimised: false, openAtLogin: false };
const FILE = 'desktop.json';

export function loadDesktopSettings(home: string): DesktopSettings {
  try {
    const raw = JSON.parse(readFileSync(join(home, FILE), 'utf8')) as Partial<DesktopSettings>;
    return { startMinimised: raw.startMinimised === true, openAtLogin: raw.openAtLogin === true };
  } catch {
    return { ...DEFAULTS };
  }
}

export function saveDesktopSettings(home: string, settings: DesktopSettings): void {
  writeFileSync(join(home, FILE), JSON.stringify(settings, null, 2) + '\n', { mode: 0o600 });
}
