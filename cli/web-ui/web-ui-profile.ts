/**
 * What makes the web UI's link last across restarts: its port and access
 * token, kept in the profile (`web-ui.json`, readable by its user only, like
 * the rest of the profile). `pigeon peer --ui` reuses them, so a tab left open
 * reconnects after a restart and a bookmarked link keeps working; `pigeon ui`
 * prints the link again from them.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** File of the profile folder that holds the web UI's port and token. */
export const WEB_UI_PROFILE_FILE = 'web-ui.json';
/** 32 random bytes: beyond guessing, and short enough to copy from a terminal. */
const TOKEN_BYTES = 32;

export interface WebUiProfile {
  /** The 127.0.0.1 port the UI was last served on. */
  port: number;
  /** The access token of the link (base64url). */
  token: string;
}

export function newWebUiToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** The saved port and token, or null when the profile never served the UI (or the file is damaged). */
export function loadWebUiProfile(home: string): WebUiProfile | null {
  try {
    const data = JSON.parse(readFileSync(join(home, WEB_UI_PROFILE_FILE), 'utf8')) as Partial<WebUiProfile>;
    const portOk = Number.isInteger(data.port) && data.port! > 0 && data.port! <= 65535;
    const tokenOk = typeof data.token === 'string' && /^[A-Za-z0-9_-]{32,}$/.test(data.token);
    return portOk && tokenOk ? { port: data.port!, token: data.token! } : null;
  } catch {
    return null;
  }
}

export function saveWebUiProfile(home: string, profile: WebUiProfile): void {
  writeFileSync(join(home, WEB_UI_PROFILE_FILE), JSON.stringify(profile, null, 2) + '\n', { mode: 0o600 });
}

/** The address to open: the token in the query string is exchanged for a cookie on the first request. */
export function webUiUrl(profile: WebUiProfile): string {
  return `http://127.0.0.1:${profile.port}/?token=${profile.token}`;
}
