/**
 * Starts the LocalSend bridge for createPeer() (core/peer.ts). A port held by
 * another program (the LocalSend app on this computer, most likely) is
 * reported as a warning event and LocalSend stays off; native peers are never
 * affected.
 */
import { ErrorCodes } from '../../shared/protocol/errors.js';
import type { BridgeDeps } from '../bridge-deps.js';
import { LocalSendBridge } from './localsend-bridge.js';
import { loadOrCreateLocalSendCert } from './ls-cert.js';
import { LOCALSEND_PORT, type DeviceType } from './ls-wire.js';

export interface StartLocalSendDeps extends BridgeDeps {
  home: string;
  alias: () => string;
}

export interface StartLocalSendOptions {
  bind?: string;
  port?: number;
  http?: boolean;
  pin?: string | null;
  downloads: string;
  deviceType: DeviceType;
  extraAddresses: string[];
  group?: string;
  /** Tests only: take other Pigeons as LocalSend contacts (LocalSendBridgeInit.acceptPigeons). */
  acceptPigeons?: boolean;
  /** --accept-from, for the namesake rule below. */
  acceptFrom: readonly string[];
}

/**
 * --accept-from by name, for a LocalSend device: its alias is whatever it
 * claims, so a device calling itself by the name of a native or IPMsg contact
 * is not taken unasked under that name (only 'all' or its id prefix take it).
 */
export function autoAcceptsFor(deps: StartLocalSendDeps, acceptFrom: readonly string[]): (id: string) => boolean {
  return (id) => {
    if (!deps.transfers.autoAccepts(id)) return false;
    const name = deps.directory.get(id)?.name;
    const namesake = deps.directory.list().some((p) => p.id !== id && (p.protocol ?? 'pigeon') !== 'localsend' && p.name === name);
    if (!namesake || acceptFrom.includes('all') || acceptFrom.some((a) => a.length >= 4 && id.startsWith(a.toLowerCase()))) return true;
    deps.logger.log('warn', 'LocalSend offer left for the user: the device calls itself by the name of another contact', { device: id, name: name ?? '' });
    return false;
  };
}

/** The running bridge, or null (with a warning event) when its port cannot be had. */
export async function startLocalSend(deps: StartLocalSendDeps, opts: StartLocalSendOptions): Promise<LocalSendBridge | null> {
  const { store, clock, random, logger, directory, messenger, transfers } = deps;
  const port = opts.port ?? LOCALSEND_PORT;
  const bridge = new LocalSendBridge(
    { store, clock, random, logger, sink: directory, service: transfers, cert: await loadOrCreateLocalSendCert(deps.home), alias: deps.alias, autoAccepts: autoAcceptsFor(deps, opts.acceptFrom), openChannel: (channel) => messenger.attach(channel, () => {}) },
    { ...(opts.bind !== undefined ? { bind: opts.bind } : {}), port, ...(opts.http ? { http: true } : {}), pin: opts.pin ?? null, downloads: opts.downloads, deviceType: opts.deviceType, extraAddresses: opts.extraAddresses, ...(opts.group ? { group: opts.group } : {}), ...(opts.acceptPigeons ? { acceptPigeons: true } : {}) },
  );
  for (const c of bridge.contacts.all()) directory.setProtocol(c.id, 'localsend');
  try {
    await bridge.start();
    return bridge;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const where = `${opts.bind ?? '0.0.0.0'}:${port}`;
    const message = e.code === 'EADDRINUSE' ? `LocalSend port ${where} is in use (the LocalSend app on this computer?); LocalSend contacts are off` : `cannot start LocalSend on ${where}: ${e.message}`;
    logger.log('warn', message);
    deps.emit({ type: 'warning', code: ErrorCodes.LOCALSEND_UNAVAILABLE, message });
    return null;
  }
}
