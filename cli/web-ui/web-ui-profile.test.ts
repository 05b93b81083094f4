import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadWebUiProfile, newWebUiToken, saveWebUiProfile, WEB_UI_PROFILE_FILE, webUiUrl } from './web-ui-profile.js';

const homes: string[] = [];
const home = (): string => {
  const h = mkdtempSync(join(tmpdir(), 'pigeon-webui-profile-'));
  homes.push(h);
  return h;
};
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

describe('the web UI link kept in the profile', () => {
  it('saves port and token readable by the user only, and loads them back', () => {
    const h = home();
    expect(loadWebUiProfile(h)).toBeNull();
    const profile = { port: 45123, token: newWebUiToken() };
    saveWebUiProfile(h, profile);
    expect(statSync(join(h, WEB_UI_PROFILE_FILE)).mode & 0o777).toBe(0o600);
    expect(loadWebUiProfile(h)).toEqual(profile);
    expect(webUiUrl(profile)).toBe(`http://127.0.0.1:45123/?token=${profile.token}`);
  });

  it('treats a damaged or hand-edited file as absent (a new link is made) rather than serving a weak token', () => {
    const h = home();
    const tries = ['not json', JSON.stringify({ port: 0, token: newWebUiToken() }), JSON.stringify({ port: 45123, token: 'short' }), JSON.stringify({ port: 45123, token: 'x'.repeat(40) + '/../' })];
    for (const text of tries) {
      writeFileSync(join(h, WEB_UI_PROFILE_FILE), text);
      const got = loadWebUiProfile(h);
      console.log(`web-ui.json ${JSON.stringify(text).slice(0, 60)} -> ${JSON.stringify(got)}`);
      expect(got).toBeNull();
    }
  });
});
