/**
 * The rules of a group's membership chain (§12.7.1), without cryptography so
 * that the relay and every member apply the very same ones: a change must
 * follow the head (next revision, previous hash), be made by a member, and
 * be allowed to that member (anyone adds, only the owner removes others,
 * anyone leaves; an owner who leaves hands the group to the earliest
 * remaining member). Signatures are checked by the caller (node:crypto is
 * not available here): core/groups/group-chain.ts and relay/server/group-requests.ts.
 */
import { GROUP_CHAIN_START, MAX_GROUP_MEMBERS, type GroupChange } from './relay-frames.js';

/** A group as its verified chain says it is. */
export interface ChainState {
  gid: string;
  name: string;
  owner: string;
  /** In the order they joined (create order, then each add's order). */
  members: string[];
  /** Revision of the last change applied. */
  rev: number;
  /** Hash of the last change applied. */
  head: string;
}

/** Why a change or a chain was refused; `kind` is stable (tests and warnings use it). */
export type ChainBreakKind = 'gap' | 'fork' | 'rollback' | 'signature' | 'not-member' | 'not-owner' | 'bad-change';

export class ChainBreak extends Error {
  constructor(
    readonly kind: ChainBreakKind,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The state after `c` (whose hash is `hash`), or a ChainBreak: `state` null
 * means no group yet, and only a create may start one.
 */
export function applyGroupChange(state: ChainState | null, c: GroupChange, hash: string): ChainState {
  const rev = state?.rev ?? 0;
  const head = state?.head ?? GROUP_CHAIN_START;
  if (state && c.gid !== state.gid) throw new ChainBreak('bad-change', `change for group ${c.gid} in the chain of ${state.gid}`);
  if (c.rev > rev + 1) throw new ChainBreak('gap', `change ${c.rev} follows revision ${rev}: ${c.rev - rev - 1} missing`);
  if (c.rev <= rev) throw new ChainBreak('rollback', `change ${c.rev} does not come after revision ${rev}`);
  if (c.prev !== head) throw new ChainBreak('fork', `change ${c.rev} names a previous change other than the one at revision ${rev}`);
  const next = (members: string[], owner: string, name = state?.name ?? ''): ChainState => ({ gid: c.gid, name, owner, members, rev: c.rev, head: hash });
  if (c.op === 'create') {
    if (state) throw new ChainBreak('bad-change', 'a group is created once');
    if (c.members[0] !== c.by) throw new ChainBreak('bad-change', 'the creator is the first member of its group');
    if (new Set(c.members).size !== c.members.length) throw new ChainBreak('bad-change', 'a member is named twice');
    return next([...c.members], c.by, c.name);
  }
  if (!state) throw new ChainBreak('gap', `change ${c.rev} (${c.op}) comes before the group's create`);
  if (!state.members.includes(c.by)) throw new ChainBreak('not-member', `${c.by} is not a member, so it cannot ${c.op}`);
  switch (c.op) {
    case 'add': {
      if (new Set(c.members).size !== c.members.length) throw new ChainBreak('bad-change', 'a member is named twice');
      const already = c.members.filter((id) => state.members.includes(id));
      if (already.length > 0) throw new ChainBreak('bad-change', `already members: ${already.join(', ')}`);
      if (state.members.length + c.members.length > MAX_GROUP_MEMBERS) throw new ChainBreak('bad-change', `a group has at most ${MAX_GROUP_MEMBERS} members`);
      return next([...state.members, ...c.members], state.owner);
    }
    case 'remove':
      if (c.by !== state.owner) throw new ChainBreak('not-owner', `${c.by} is not the owner, so it cannot remove ${c.member}`);
      if (c.member === c.by) throw new ChainBreak('bad-change', 'a member removes itself with leave');
      if (!state.members.includes(c.member)) throw new ChainBreak('bad-change', `${c.member} is not a member`);
      return next(
        state.members.filter((id) => id !== c.member),
        state.owner,
      );
    case 'leave': {
      const rest = state.members.filter((id) => id !== c.by);
      return next(rest, state.owner === c.by ? (rest[0] ?? c.by) : state.owner);
    }
  }
}
