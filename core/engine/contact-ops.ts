/**
 * The contact operations of the Peer that go beyond a directory lookup: trusting
 * a changed key (one contact, its history and outbox moving to the new device),
 * the changed keys waiting for the user, and members named on a command line.
 */
import type { KeyChangeInfo, PeerInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { Engine } from './engine.js';

/** Accepts the changed key a peer presented. */
export function trust(engine: Engine, peerQuery: string): PeerInfo {
  const { directory: dir, sessions, store, messenger, transfers, routes } = engine;
  const peer = dir.resolve(peerQuery);
  // A pinned colleague whose device changed: trust means its new device.
  const device = peer.keyChanged ? dir.get(peer.keyChanged.id) : peer;
  const key = device && device.protocol !== 'ipmsg' && !device.pinned ? (sessions.refusedKey(device.id) ?? dir.announcedKey(device.id)) : null;
  if (!device || !key) throw new PigeonError(ErrorCodes.BAD_REQUEST, `${peer.name} has not presented a changed key`);
  // The same colleague (same name and host) on a new key: one contact, its history and outbox move along.
  const predecessor = peer.keyChanged ? peer.id : (device.successorOf ?? null);
  store.tx(() => {
    dir.confirm(device.id, key);
    if (predecessor) store.migratePeer(predecessor, device.id);
  });
  if (predecessor) dir.replaced(predecessor, device.id);
  sessions.trust(device.id);
  if (messenger.hasWork(device.id) || transfers.hasWork(device.id)) routes.ensure(device.id);
  return dir.get(device.id)!;
}

/** Changed keys refused until the user trusts them. */
export function keyChanges(engine: Engine): KeyChangeInfo[] {
  const { sessions, directory: dir } = engine;
  const out = sessions.refused().map((k) => ({ ...k, name: dir.get(k.peerId)?.name ?? '' }));
  // A new key seen only in signed announcements (no session tried yet) waits as well.
  for (const p of dir.list()) {
    if (p.keyChanged && !out.some((k) => k.peerId === p.keyChanged!.id)) out.push({ peerId: p.keyChanged.id, name: p.name, pinned: p.fingerprint, presented: p.keyChanged.fingerprint });
  }
  return out;
}

/** Members named as on the command line (names or id prefixes), as device ids. */
export function memberIds(engine: Engine, names: readonly string[]): string[] {
  return names.map((n) => engine.directory.resolve(n).id);
}
