/**
 * Signing and checking group membership changes (§12.7.1): a change is
 * signed with the device key of the member that makes it and names the hash
 * of the change before it; a member replays what the relay hands over on top
 * of the state it verified last, and believes a member list only when every
 * signature and every rule (shared/protocol/group-chain-rules.ts) holds.
 */
import { createHash, sign, verify } from 'node:crypto';
import { applyGroupChange, ChainBreak, type ChainState } from '../../shared/protocol/group-chain-rules.js';
import { groupChangeHashInput, groupChangeMessage, type GroupChange, type UnsignedGroupChange } from '../../shared/protocol/relay-frames.js';
import { deviceIdFromSpki, type Identity } from '../identity/identity.js';
import { deviceKeyFromSpki, SIGNATURE_ENCODING } from '../relay-client/enc-key.js';

/** A verified change and its hash, as the profile keeps them. */
export interface ChainLink {
  rev: number;
  hash: string;
  change: GroupChange;
}

/** SHA-256 (hex) of a change: what the next change names as `prev`. */
export function groupChangeHash(c: GroupChange): string {
  return createHash('sha256').update(groupChangeHashInput(c)).digest('hex');
}

/** Signs a change with our device key. */
export function signGroupChange(identity: Identity, c: UnsignedGroupChange): GroupChange {
  const sig = sign('sha256', Buffer.from(groupChangeMessage(c)), { key: identity.keyPem, dsaEncoding: SIGNATURE_ENCODING }).toString('base64');
  return { ...c, sig } as GroupChange;
}

/** Whether `c` is signed by the device key whose DER SPKI is `spki`, and that key is `c.by`'s. */
export function groupChangeSigned(c: GroupChange, spki: Buffer): boolean {
  if (deviceIdFromSpki(spki) !== c.by) return false;
  try {
    return verify('sha256', Buffer.from(groupChangeMessage(c)), { key: deviceKeyFromSpki(spki), dsaEncoding: SIGNATURE_ENCODING }, Buffer.from(c.sig, 'base64'));
  } catch {
    return false;
  }
}

/**
 * Applies `changes` in order on top of `state` (null: nothing verified yet),
 * checking each signature with `spkiOf` (a device's DER SPKI, or null when
 * unknown). Returns the new state and the links to keep; throws ChainBreak
 * at the first change that does not verify, and nothing of the page is kept.
 */
export function verifyGroupChanges(state: ChainState | null, changes: readonly GroupChange[], spkiOf: (id: string) => Buffer | null): { state: ChainState | null; links: ChainLink[] } {
  let s = state;
  const links: ChainLink[] = [];
  for (const c of changes) {
    const spki = spkiOf(c.by);
    if (!spki) throw new ChainBreak('signature', `change ${c.rev} is signed by ${c.by}, a device whose key is not known`);
    if (!groupChangeSigned(c, spki)) throw new ChainBreak('signature', `change ${c.rev} (${c.op}) does not carry a valid signature of ${c.by}`);
    const hash = groupChangeHash(c);
    s = applyGroupChange(s, c, hash);
    links.push({ rev: c.rev, hash, change: c });
  }
  return { state: s, links };
}
