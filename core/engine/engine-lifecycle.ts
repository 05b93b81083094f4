/**
 * Opening and closing the engine: the profile folder, identity and store,
 * then assembleEngine() (assemble-engine.ts) and the parts started in order
 * (sessions, messenger, directory, discovery sources, the IPMsg and LocalSend
 * bridges, the relay). A start that fails part-way closes what it opened.
 * closeEngine() stops the parts in the reverse sense: who announces us first
 * (a goodbye on every source), the relay, then the services, sessions and store.
 */
import { join } from 'node:path';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { loadOrCreateIdentity, type Identity } from '../identity/identity.js';
import { startIpmsg } from '../ipmsg/start-ipmsg.js';
import { startLocalSend } from '../localsend/start-localsend.js';
import { ownerOnlyFile, secureProfileFolder } from '../store/profile-folder.js';
import { Store } from '../store/store.js';
import { assembleEngine } from './assemble-engine.js';
import type { Engine } from './engine.js';
import { downloadsOf, type PeerComponents, type PeerOptions } from './peer-options.js';
import { loadProfile, resolveFlag, type SelfProfile } from './profile-settings.js';

/**
 * Opens the profile and starts every part. `hooks` hear the device's identity as soon as it is
 * loaded (the façade shows it even if the rest fails) and the engine once assembled (its port and
 * relay show in self() while it starts). The engine is returned started; the caller resumes
 * transfers once it has made the engine its running one.
 */
export async function openEngine(
  components: PeerComponents,
  options: PeerOptions,
  me: SelfProfile,
  emit: (event: PeerEvent) => void,
  hooks: { identity(identity: Identity): void; assembled(engine: Engine): void },
): Promise<Engine> {
  secureProfileFolder(options.home, components.logger);
  const identity = await loadOrCreateIdentity(options.home);
  hooks.identity(identity);
  const store = new Store(ownerOnlyFile(join(options.home, 'pigeon.db')));
  let engine: Engine;
  try {
    loadProfile(me, store, options);
    engine = assembleEngine(components, options, { identity, store, me }, emit);
  } catch (err) {
    store.close();
    throw err;
  }
  hooks.assembled(engine);
  try {
    await startEngine(engine);
  } catch (err) {
    await closeEngine(engine);
    throw err;
  }
  return engine;
}

async function startEngine(engine: Engine): Promise<void> {
  const { components, options, store, directory, messenger, transfers, sessions, routes, sources, me, emit } = engine;
  const { clock, random, logger } = components;
  await sessions.start();
  messenger.start();
  directory.start();
  for (const s of sources) await s.start();
  const bridgeDeps = { store, clock, random, logger, directory, messenger, transfers, emit };
  if (resolveFlag(store, 'ipmsg', options.ipmsg, options.ipmsgDefault ?? false)) {
    const ipmsg = await startIpmsg(
      { ...bridgeDeps, self: () => ({ ...me }) },
      {
        ...(options.ipmsgBind !== undefined ? { bind: options.ipmsgBind } : {}),
        ...(options.ipmsgPort !== undefined ? { port: options.ipmsgPort } : {}),
        ...(options.ipmsgRefreshMs !== undefined ? { refreshMs: options.ipmsgRefreshMs } : {}),
        broadcast: options.broadcast ?? 'auto',
        extraAddresses: options.extraAddresses ?? [],
        downloads: downloadsOf(options),
      },
    );
    if (ipmsg) {
      routes.attachIpmsg(ipmsg);
      sources.push(ipmsg);
    }
  }
  if (resolveFlag(store, 'localsend', options.localsend, options.localsendDefault ?? false)) {
    const localsend = await startLocalSend(
      { ...bridgeDeps, home: options.home, alias: () => me.name },
      {
        ...(options.localsendBind !== undefined ? { bind: options.localsendBind } : {}),
        ...(options.localsendPort !== undefined ? { port: options.localsendPort } : {}),
        ...(options.localsendHttp ? { http: true } : {}),
        ...(options.localsendGroup ? { group: options.localsendGroup } : {}),
        pin: options.localsendPin ?? null,
        downloads: downloadsOf(options),
        deviceType: options.localsendDeviceType ?? 'headless',
        extraAddresses: options.localsendAddresses ?? [],
        acceptFrom: options.acceptFrom ?? [],
        ...(options.localsendAcceptPigeons ? { acceptPigeons: true } : {}),
      },
    );
    if (localsend) {
      routes.attachLocalsend(localsend);
      sources.push(localsend);
    }
  }
  engine.relay?.start();
}

/** Stops every part (safe on parts never started) and closes the store. */
export async function closeEngine(engine: Engine): Promise<void> {
  const { components, sources, routes, relay, relayFiles, groups, messenger, transfers, sessions, directory, store } = engine;
  for (const s of sources) {
    try {
      await s.stop();
    } catch (err) {
      components.logger.log('warn', 'discovery source did not stop cleanly', { source: s.name, error: (err as Error).message });
    }
  }
  sources.length = 0;
  routes.detach();
  relayFiles?.stop();
  relay?.stop();
  groups.stop();
  messenger.stop();
  transfers.stop();
  await sessions.stop();
  directory.stop();
  store.close();
}
