/**
 * A device the way a peer makes one for the relay: a P-256 device key, its
 * id (the key's hash), and an X25519 encryption key signed by it. Used by
 * the relay tests and benchmarks; no vitest here, so benchmarks can load it.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { encKeyMessage, groupChangeHashInput, groupChangeMessage, type GroupChange, type UnsignedGroupChange } from '../../shared/protocol/relay-frames.js';
import { deviceIdFromDigest } from '../../shared/util/device-id.js';

export interface Device {
  id: string;
  spki: string;
  key: KeyObject;
  enc: { key: string; sig: string };
}

export function signText(key: KeyObject, text: string): string {
  return sign('sha256', Buffer.from(text), { key, dsaEncoding: 'ieee-p1363' }).toString('base64');
}

export function makeDevice(): Device {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const id = deviceIdFromDigest(createHash('sha256').update(spki).digest());
  const x = generateKeyPairSync('x25519');
  const encKey = x.publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).toString('base64');
  return { id, spki: spki.toString('base64'), key: privateKey, enc: { key: encKey, sig: signText(privateKey, encKeyMessage(id, encKey)) } };
}

/** A group membership change signed with `device`'s key, and its hash (what the next change names as prev). */
export function signedGroupChange(device: Device, c: UnsignedGroupChange): { change: GroupChange; hash: string } {
  const change = { ...c, sig: signText(device.key, groupChangeMessage(c)) } as GroupChange;
  return { change, hash: createHash('sha256').update(groupChangeHashInput(change)).digest('hex') };
}
