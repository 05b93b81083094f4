/** The profile's saved choices on a real store: an option wins and is saved, absent options read what was saved. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../store/store.js';
import { silentLogger } from '../util/components.js';
import { blankProfile, loadProfile, resolveFlag, resolveRelaySettings } from './profile-settings.js';

let home: string;
let store: Store;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'pigeon-profile-'));
  store = new Store(join(home, 'pigeon.db'));
});
afterEach(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});

describe('profile settings', () => {
  it('takes the name and workgroup given, saves them, and keeps a saved away status', () => {
    store.setSetting('status', 'away');
    store.setSetting('away', 'at lunch');
    const me = blankProfile();
    loadProfile(me, store, { home, name: 'Alice', group: 'Sales' });
    expect(me).toMatchObject({ name: 'Alice', group: 'Sales', status: 'away', away: 'at lunch' });
    const again = blankProfile();
    loadProfile(again, store, { home });
    expect(again).toMatchObject({ name: 'Alice', group: 'Sales' });
  });

  it('an on/off flag: given wins and is saved, else the saved value, else the fallback', () => {
    expect(resolveFlag(store, 'ipmsg', undefined, true)).toBe(true);
    expect(resolveFlag(store, 'ipmsg', false, true)).toBe(false);
    expect(resolveFlag(store, 'ipmsg', undefined, true)).toBe(false);
    expect(resolveFlag(store, 'ipmsg', true, false)).toBe(true);
    expect(resolveFlag(store, 'ipmsg', undefined, false)).toBe(true);
  });

  it('saves a relay given, reads it back when absent, forgets it on null; the token is never saved', () => {
    expect(resolveRelaySettings(store, { home }, silentLogger)).toBeNull();
    expect(resolveRelaySettings(store, { home, relay: { url: 'wss://r:8443', fingerprint: 'ab', token: 't1' } }, silentLogger)).toEqual({ url: 'wss://r:8443', fingerprint: 'ab', token: 't1' });
    expect(resolveRelaySettings(store, { home }, silentLogger)).toEqual({ url: 'wss://r:8443', fingerprint: 'ab' });
    expect(resolveRelaySettings(store, { home, relay: null }, silentLogger)).toBeNull();
    expect(resolveRelaySettings(store, { home }, silentLogger)).toBeNull();
  });
});
