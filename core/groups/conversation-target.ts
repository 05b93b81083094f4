/**
 * What a name on the command line or in the UI means: a colleague or one of
 * our groups. `group:<name>` names a group only; a bare name that matches
 * both is refused as ambiguous rather than guessed.
 */
import type { PeerInfo } from '../../shared/api/control-api.js';
import { GROUP_PREFIX } from '../../shared/api/conversation-key.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { LocalGroup } from './group-db.js';


export type ConversationTarget = { kind: 'peer'; peer: PeerInfo } | { kind: 'group'; group: LocalGroup };

export function resolveTarget(query: string, peers: { resolve(q: string): PeerInfo }, groups: { find(q: string): LocalGroup | null } | null): ConversationTarget {
  if (query.startsWith(GROUP_PREFIX)) {
    const name = query.slice(GROUP_PREFIX.length);
    const group = groups?.find(name);
    if (!group) throw new PigeonError(ErrorCodes.GROUP_NOT_FOUND, `no group named "${name}"`);
    return { kind: 'group', group };
  }
  const group = groups?.find(query) ?? null;
  let peer: PeerInfo;
  try {
    peer = peers.resolve(query);
  } catch (err) {
    if (group && err instanceof PigeonError && err.code === ErrorCodes.PEER_NOT_FOUND) return { kind: 'group', group };
    throw err;
  }
  if (group) throw new PigeonError(ErrorCodes.PEER_AMBIGUOUS, `"${query}" names both a colleague and a group: write group:${query} for the group, or the colleague's id`);
  return { kind: 'peer', peer };
}
