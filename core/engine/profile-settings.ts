/**
 * The profile's saved choices read at start: who we are (name, workgroup,
 * status), the on/off bridges, and the relay with its invite token. An option
 * given by the host wins and is saved; absent, the saved value is used.
 */
import { hostname, userInfo } from 'node:os';
import { MAX_LABEL_CHARS } from '../../shared/protocol/constants.js';
import type { PresenceStatus } from '../../shared/protocol/schemas-common.js';
import type { RelaySettings } from '../relay-client/relay-client.js';
import { resolveRelayToken } from '../relay-client/relay-token.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/components.js';
import type { PeerOptions } from './peer-options.js';

/** Who this peer says it is: changed by setProfile / setStatus, announced by every source. */
export interface SelfProfile {
  name: string;
  group: string;
  host: string;
  status: PresenceStatus;
  away: string;
}

/** A fresh profile before start: the host name, online, nothing else known yet. */
export function blankProfile(): SelfProfile {
  return { name: '', group: '', host: hostname().slice(0, MAX_LABEL_CHARS), status: 'online', away: '' };
}

/** Fills `me` from the options or the saved profile, and saves the name and workgroup chosen. */
export function loadProfile(me: SelfProfile, store: Store, options: PeerOptions): void {
  me.name = (options.name ?? store.getSetting('name') ?? userInfo().username ?? 'pigeon').slice(0, MAX_LABEL_CHARS);
  me.group = (options.group ?? store.getSetting('group') ?? '').slice(0, MAX_LABEL_CHARS);
  store.setSetting('name', me.name);
  store.setSetting('group', me.group);
  const savedStatus = store.getSetting('status');
  if (savedStatus === 'away' || savedStatus === 'busy') me.status = savedStatus;
  me.away = store.getSetting('away') ?? '';
}

/** An on/off profile setting: the option when given (and saved), else the saved value, else the fallback. */
export function resolveFlag(store: Store, key: string, given: boolean | undefined, fallback: boolean): boolean {
  if (given !== undefined) store.setSetting(key, given ? '1' : '0');
  const saved = store.getSetting(key);
  return given ?? (saved === null || saved === '' ? fallback : saved === '1');
}

/**
 * Relay settings from the options (saved in the profile) or, when absent, from the profile.
 * The invite token is never saved (relay-client/relay-token.ts says where it comes from).
 */
export function resolveRelaySettings(store: Store, options: PeerOptions, logger: Logger): RelaySettings | null {
  const given = options.relay;
  const token = resolveRelayToken(store, { relayToken: given?.token ?? options.relayToken, ...(options.relayTokenFile !== undefined ? { relayTokenFile: options.relayTokenFile } : {}) }, given === null ? null : given !== undefined, logger);
  if (given === null) {
    for (const k of ['relay.url', 'relay.fingerprint'] as const) store.setSetting(k, '');
    return null;
  }
  if (given) {
    store.setSetting('relay.url', given.url);
    store.setSetting('relay.fingerprint', given.fingerprint ?? '');
  }
  const url = store.getSetting('relay.url');
  if (!url) {
    if (token) logger.log('warn', 'a relay token was given but no relay is configured (--relay wss://host:port); it is not used', {});
    return null;
  }
  const fingerprint = store.getSetting('relay.fingerprint');
  return { url, ...(fingerprint ? { fingerprint } : {}), ...(token ? { token } : {}) };
}
