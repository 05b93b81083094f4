/**
 * The Peer's own profile while running: status and away text, name and
 * workgroup (saved, then announced at once on every source, the relay and
 * open sessions), and the settings the UI shows.
 */
import { resolve as resolvePath } from 'node:path';
import type { SelfInfo, SettingsInfo } from '../../shared/api/control-api.js';
import { MAX_AWAY_CHARS, MAX_LABEL_CHARS } from '../../shared/protocol/constants.js';
import type { PresenceStatus } from '../../shared/protocol/schemas-common.js';
import { selfInfoOf, type Engine } from './engine.js';
import { downloadsOf } from './peer-options.js';

export function setStatus(engine: Engine, status: PresenceStatus, away = ''): SelfInfo {
  const { me, store, sources, relay, sessions, awayReply } = engine;
  awayReply.statusChanged(me.status, status);
  me.status = status;
  me.away = away.slice(0, MAX_AWAY_CHARS);
  store.setSetting('status', status);
  store.setSetting('away', me.away);
  for (const s of sources) s.update();
  relay?.client.updateProfile();
  sessions.sendAll({ type: 'status', status: me.status, away: me.away });
  return selfInfoOf(engine.identity, me, engine);
}

/** Changes the display name and workgroup (saved in the profile, announced at once). */
export function setProfile(engine: Engine, name: string, group: string): SelfInfo {
  const { me, store, sources, relay } = engine;
  me.name = name.trim().slice(0, MAX_LABEL_CHARS) || me.name;
  me.group = group.trim().slice(0, MAX_LABEL_CHARS);
  store.setSetting('name', me.name);
  store.setSetting('group', me.group);
  for (const s of sources) s.update();
  relay?.client.updateProfile();
  return selfInfoOf(engine.identity, me, engine);
}

export function settings(engine: Engine): SettingsInfo {
  const { me, store, options } = engine;
  const url = store.getSetting('relay.url');
  return {
    name: me.name,
    group: me.group,
    downloads: resolvePath(downloadsOf(options)),
    acceptFrom: options.acceptFrom ?? [],
    relay: url ? { url, fingerprint: store.getSetting('relay.fingerprint') ?? '' } : null,
  };
}
