/**
 * Settling two membership changes made at once on a LAN with no relay
 * (§12.10 "Concurrent membership changes"): two members that sign a change
 * on the same revision fork the chain. Every member settles it the same way,
 * whatever order the two branches reach it in: the branch whose first change
 * has the lower hash wins; a member that holds the other branch replaces it
 * from the fork, and the author of a change that lost signs it again on top
 * of the winner (if it still means something), as GROUP_STALE makes it do
 * with a relay. So the chain stays one story, and nobody's change is lost.
 */
import { ChainBreak } from '../../shared/protocol/group-chain-rules.js';
import type { GroupChange } from '../../shared/protocol/relay-frames.js';
import type { Logger } from '../util/components.js';
import { groupChangeHash, verifyGroupChanges } from './group-chain.js';
import type { GroupDb, LocalGroup } from './group-db.js';
import type { ChangeWish } from './group-membership.js';
import type { GroupLogDb } from './group-log-db.js';

export interface ForkDeps {
  self: string;
  db: GroupDb;
  log: GroupLogDb;
  logger: Logger;
  spkiOf: (id: string) => Buffer | null;
  /** Signs one of our changes that lost again, on top of the chain as it now is. */
  resign: (gid: string, wish: (members: readonly string[], owner: string) => ChangeWish | null) => void;
}

/** What one of our lost changes asks for on top of the winner: nothing if the winner already did it. */
function wishOf(c: GroupChange, self: string): (members: readonly string[], owner: string) => ChangeWish | null {
  return (members, owner) => {
    if (c.op === 'add') {
      const fresh = c.members.filter((id) => !members.includes(id));
      return fresh.length > 0 ? { op: 'add', members: fresh } : null;
    }
    if (c.op === 'remove') return members.includes(c.member) && owner === self ? { op: 'remove', member: c.member } : null;
    if (c.op === 'leave') return members.includes(self) ? { op: 'leave' } : null;
    return null;
  };
}

/**
 * `changes` (from a member) fork from our chain at some revision we hold:
 * if their branch wins (lower hash at the fork) and verifies from the common
 * part, it replaces ours, and our own lost changes are signed again. Returns
 * the group as it now is, and whether it changed. A fork below what the
 * member sent, or a branch that does not verify, leaves ours as it is.
 */
export function settleFork(deps: ForkDeps, g: LocalGroup, changes: readonly GroupChange[]): { group: LocalGroup; replaced: boolean } {
  const keep = { group: g, replaced: false };
  const sorted = [...changes].sort((a, b) => a.rev - b.rev);
  const fork = sorted.find((c) => c.rev <= g.rev && groupChangeHash(c) !== deps.db.chainHash(g.gid, c.rev));
  // Two different creates are two groups that happen to share an id: nothing to settle.
  if (!fork || fork.rev === 1) return keep;
  // Forked below what was sent: the full chain comes with the next exchange (holdings name their head).
  if (fork.prev !== deps.db.chainHash(g.gid, fork.rev - 1)) return keep;
  const ours = deps.db.chainHash(g.gid, fork.rev)!;
  const theirsHash = groupChangeHash(fork);
  if (theirsHash > ours) {
    deps.logger.log('info', 'kept our branch of a group changed twice at once (the lower hash wins)', { gid: g.gid, rev: fork.rev });
    return keep;
  }
  const mine = deps.log.chain(g.gid);
  let next;
  try {
    const base = verifyGroupChanges(null, mine.slice(0, fork.rev - 1), deps.spkiOf).state;
    next = verifyGroupChanges(base, sorted.filter((c) => c.rev >= fork.rev), deps.spkiOf);
  } catch (err) {
    if (!(err instanceof ChainBreak)) throw err;
    deps.logger.log('warn', 'refused a branch of a group changed twice at once', { gid: g.gid, rev: fork.rev, kind: err.kind, why: err.message });
    return keep;
  }
  if (!next.state) return keep;
  const state = next.state;
  const lost = mine.slice(fork.rev - 1);
  const group = deps.log.transaction(() => {
    deps.db.truncateChain(g.gid, fork.rev);
    return deps.db.saveVerified(state, next.links, deps.self, new Map());
  });
  deps.logger.log('info', 'took the winning branch of a group changed twice at once (the lower hash wins)', { gid: g.gid, rev: fork.rev, lost: lost.length });
  for (const c of lost) if (c.by === deps.self) deps.resign(g.gid, wishOf(c, deps.self));
  return { group, replaced: true };
}
