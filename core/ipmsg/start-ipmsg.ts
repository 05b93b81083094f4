/**
 * Starts the IPMsg bridge for createPeer() (core/peer.ts): the UDP side
 * (contacts and messages) and, when the TCP side of the port can be opened
 * too, file transfers. A port held by another IPMsg client on this computer
 * is reported as a warning event; native peers are never affected.
 */
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { BridgeDeps } from '../bridge-deps.js';
import { IPMSG_PORT } from './constants.js';
import { IpmsgBridge, type IpmsgSelf } from './ipmsg-bridge.js';
import { IpmsgTransfers } from './ipmsg-transfers.js';

export interface StartIpmsgDeps extends BridgeDeps {
  self: () => IpmsgSelf;
}

export interface StartIpmsgOptions {
  bind?: string;
  port?: number;
  broadcast: 'auto' | string[];
  extraAddresses: string[];
  downloads: string;
  /** Tests only: a shorter presence refresh (see IpmsgBridgeInit.refreshMs). */
  refreshMs?: number;
}

function warn(deps: StartIpmsgDeps, err: unknown, what: string): void {
  const e = err instanceof PigeonError ? err : new PigeonError(ErrorCodes.IPMSG_UNAVAILABLE, `${what}: ${(err as Error).message}`);
  deps.logger.log('warn', e.message);
  deps.emit({ type: 'warning', code: e.code, message: e.message });
}

/** The running bridge, or null (with a warning event) when its port cannot be had. */
export async function startIpmsg(deps: StartIpmsgDeps, opts: StartIpmsgOptions): Promise<IpmsgBridge | null> {
  const { store, clock, random, logger, directory, messenger, transfers } = deps;
  const bridge = new IpmsgBridge(
    { store, clock, random, logger, sink: directory, self: deps.self, openChannel: (channel) => messenger.attach(channel, () => {}) },
    { ...(opts.bind !== undefined ? { bind: opts.bind } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}), broadcast: opts.broadcast, extraAddresses: opts.extraAddresses, ...(opts.refreshMs !== undefined ? { refreshMs: opts.refreshMs } : {}) },
  );
  for (const c of bridge.book.all()) directory.setProtocol(c.id, 'ipmsg');
  const files = new IpmsgTransfers({ bridge, service: transfers, logger, random, clock, downloads: opts.downloads });
  try {
    await files.start(opts.bind, opts.port ?? IPMSG_PORT);
    bridge.files = files;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    warn(deps, new PigeonError(ErrorCodes.IPMSG_UNAVAILABLE, e.code === 'EADDRINUSE' ? `IPMsg TCP port ${opts.port ?? IPMSG_PORT} is in use; files with IPMsg contacts are off` : `cannot open the IPMsg TCP port: ${e.message}`), 'IPMsg files');
  }
  try {
    await bridge.start();
  } catch (err) {
    await files.stop();
    warn(deps, err, 'IPMsg');
    return null;
  }
  return bridge;
}
