/**
 * The file operations of the Peer: offers (files and pictures) and the
 * answers to them. A transfer with an IPMsg or LocalSend contact is run by
 * that bridge; every other by the native transfer service, which leaves the
 * files on the relay when the peer is offline everywhere.
 */
import { resolve as resolvePath } from 'node:path';
import type { TransferFilesInfo, TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { IpmsgFiles } from '../ipmsg/ipmsg-files.js';
import { storePicture } from '../transfer/pictures.js';
import { transferFiles as filesOf } from '../transfer/transfer-files.js';
import type { Engine } from './engine.js';
import { downloadsOf } from './peer-options.js';

/** Who answers for a transfer: accept, decline and cancel. */
type TransferAnswers = Pick<IpmsgFiles, 'accept' | 'decline' | 'cancel'>;

/** `pin`: the PIN a LocalSend receiver asks for. */
export async function sendFiles(engine: Engine, peerQuery: string, paths: string[], pin?: string): Promise<TransferInfo> {
  const { directory, routes, transfers, relayFiles } = engine;
  const peer = directory.resolve(peerQuery);
  const kind = routes.kindOf(peer.id);
  if (kind === 'localsend' && routes.localsend) return routes.localsend.offer(peer.id, paths, pin);
  if (kind === 'ipmsg' && routes.ipmsg) {
    const files = routes.ipmsg.files;
    if (!files) throw new PigeonError(ErrorCodes.IPMSG_UNAVAILABLE, `${peer.name} uses IPMsg, and the IPMsg TCP port could not be opened: files with IPMsg contacts are off`);
    return files.offer(peer.id, paths);
  }
  const info = await transfers.offer(peer.id, paths);
  // Offline everywhere, known to the relay: the files are left there.
  relayFiles?.carry(info.peer);
  return info;
}

/** One picture (stored once in the profile, shown inline); to an IPMsg contact, an ordinary file. */
export async function sendPicture(engine: Engine, peerQuery: string, path: string): Promise<TransferInfo> {
  const { directory, routes, transfers, relayFiles, options } = engine;
  const peer = directory.resolve(peerQuery);
  const stored = await storePicture(options.home, path);
  if (routes.kindOf(peer.id) === 'ipmsg' && routes.ipmsg) return sendFiles(engine, peer.id, [stored]);
  const info = await transfers.offer(peer.id, [stored], { picture: true });
  relayFiles?.carry(info.peer);
  return info;
}

/** The bridge (LocalSend, IPMsg) running this transfer, else the native transfer service. */
export function answersFor(engine: Engine, transfer: string): TransferAnswers {
  const { transfers, routes } = engine;
  const id = transfers.find(transfer).id;
  const localsend = routes.localsend;
  if (localsend?.ownsTransfer(id)) return localsend;
  const files = routes.ipmsg?.files;
  return files && files.owns(id) ? files : transfers;
}

/** The files a transfer actually carried and where they are. */
export function transferFiles(engine: Engine, transfer: string): TransferFilesInfo {
  const { transfers, options } = engine;
  return filesOf(transfers.ledger, transfers.find(transfer), resolvePath(downloadsOf(options)));
}
