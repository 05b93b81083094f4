/**
 * What a name typed by a person means. The key is the identity, never the
 * name: when a colleague whose key is pinned has the name, only pinned
 * colleagues are candidates (a new device calling itself "Bob" is never
 * chosen by name until the user trusts it); a contact of a protocol without
 * keys (IPMsg) is never chosen by a name a native contact has; and two
 * matches are never resolved silently (PEER_AMBIGUOUS, listing each with its
 * device-id prefix). A device-id prefix names one device exactly.
 */
import type { PeerInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { didYouMean } from '../../shared/text/did-you-mean.js';

/** Characters of the id shown to tell two devices apart (40 bits: no accidental twins in an office). */
const ID_PREFIX_CHARS = 8;

function describe(p: PeerInfo): string {
  const parts = [`${p.name} (${p.id.slice(0, ID_PREFIX_CHARS)}`];
  if (p.host) parts.push(`on ${p.host}`);
  if (p.protocol === 'ipmsg') parts.push('IPMsg, unencrypted');
  else if (p.protocol === 'localsend') parts.push('LocalSend');
  else if (!p.pinned) parts.push('new device');
  return parts.join(', ') + ')';
}

function ambiguous(query: string, candidates: PeerInfo[]): PigeonError {
  const list = candidates.map(describe).join(', ');
  return new PigeonError(ErrorCodes.PEER_AMBIGUOUS, `"${query}" matches several peers: ${list}; use a device-id prefix`);
}

/** Who may be meant by a name: pinned colleagues first and only; namesakes wait for `pigeon trust`. */
function nameCandidates(named: PeerInfo[]): { candidates: PeerInfo[]; native: PeerInfo[] } {
  const native = named.filter((p) => (p.protocol ?? 'pigeon') === 'pigeon');
  const pinned = native.filter((p) => p.pinned);
  return { candidates: pinned.length > 0 ? pinned : native.length > 0 ? native.filter((p) => !p.namesakeOf) : named, native };
}

/**
 * Picks one peer for `query` among `all` (every entry, successors of a
 * changed key included: they have `successorOf` and are reachable by id only).
 * Names match without regard to case ("bob" finds Bob); the trust rules apply
 * to every spelling at once, so an unpinned "BOB" never takes `send bob` from
 * a pinned Bob. Only between several trusted candidates does the exact case
 * decide. A miss names the closest names ("Did you mean Bob?").
 */
export function resolvePeer(query: string, all: PeerInfo[]): PeerInfo {
  const q = query.toLowerCase();
  const named = all.filter((p) => p.name.toLowerCase() === q && !p.successorOf);
  const { candidates, native } = nameCandidates(named);
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length > 1) {
    const exact = candidates.filter((p) => p.name === query);
    if (exact.length === 1) return exact[0]!;
    throw ambiguous(query, exact.length > 1 ? exact : candidates);
  }
  const byId = all.filter((p) => p.id.startsWith(q));
  if (byId.length === 1) return byId[0]!;
  if (byId.length > 1) throw ambiguous(query, byId);
  if (native.length > 0) {
    const n = native[0]!;
    throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, `"${query}" is only the name a new device gave itself (${n.id.slice(0, ID_PREFIX_CHARS)}, fingerprint ${n.fingerprint}): use its device-id prefix, or \`pigeon trust ${n.id.slice(0, ID_PREFIX_CHARS)}\` after comparing fingerprints`);
  }
  const names = all.filter((p) => !p.successorOf).map((p) => p.name);
  throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, `no peer named "${query}" and no device id starting with it.${didYouMean(query, names) || ' pigeon peers lists who is known.'}`);
}
