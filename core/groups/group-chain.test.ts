/**
 * The checks every member makes on a group's membership chain (§12.7.1),
 * with real device keys: a chain made by its members verifies; a forged
 * signature, a change by a non-member, a removal by someone other than the
 * owner, a fork, a rollback and a gap are each refused with their own kind,
 * and nothing of the refused page is kept.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainBreak, type ChainBreakKind, type ChainState } from '../../shared/protocol/group-chain-rules.js';
import { GROUP_CHAIN_START, type GroupChange, type UnsignedGroupChange } from '../../shared/protocol/relay-frames.js';
import { loadOrCreateIdentity, type Identity } from '../identity/identity.js';
import { groupChangeHash, signGroupChange, verifyGroupChanges } from './group-chain.js';

const GID = '3f2a9c01d4e5b6a7980c1d2e3f4a5b6c';
const TS = 1_764_003_600_000;

describe('group membership chain', () => {
  let dir: string;
  let alice: Identity, bob: Identity, carol: Identity, mallory: Identity;
  let keys: Map<string, Buffer>;
  const spkiOf = (id: string): Buffer | null => keys.get(id) ?? null;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pigeon-group-chain-'));
    const made = await Promise.all(['a', 'b', 'c', 'm'].map((n) => loadOrCreateIdentity(join(dir, n))));
    [alice, bob, carol, mallory] = [made[0]!, made[1]!, made[2]!, made[3]!];
    keys = new Map([alice, bob, carol, mallory].map((d) => [d.id, d.spki]));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Signs the change that follows `after` (its revision and hash) as `who`. */
  function next(who: Identity, after: GroupChange | null, what: { op: 'add'; members: string[] } | { op: 'remove'; member: string } | { op: 'leave' }): GroupChange {
    return signGroupChange(who, { gid: GID, rev: (after?.rev ?? 0) + 1, prev: after ? groupChangeHash(after) : GROUP_CHAIN_START, by: who.id, ts: TS, ...what } as UnsignedGroupChange);
  }
  function create(): GroupChange {
    return signGroupChange(alice, { gid: GID, rev: 1, prev: GROUP_CHAIN_START, by: alice.id, ts: TS, op: 'create', name: 'Sales', members: [alice.id, bob.id] });
  }
  /** Verifies and expects a refusal of `kind`; prints what was tried and what came back. */
  function refused(what: string, state: ChainState | null, changes: GroupChange[], kind: ChainBreakKind): void {
    let got: unknown;
    try {
      verifyGroupChanges(state, changes, spkiOf);
    } catch (err) {
      got = err;
    }
    console.log(`chain: tried ${what}; got ${got instanceof ChainBreak ? `${got.kind}: ${got.message}` : 'accepted'}`);
    expect(got).toBeInstanceOf(ChainBreak);
    expect((got as ChainBreak).kind).toBe(kind);
  }

  it('verifies a chain its members made: create, add by any member, remove by the owner, owner hand-over on leave', () => {
    const c1 = create();
    const c2 = next(bob, c1, { op: 'add', members: [carol.id] });
    const c3 = next(alice, c2, { op: 'remove', member: bob.id });
    const c4 = next(alice, c3, { op: 'leave' });
    const { state, links } = verifyGroupChanges(null, [c1, c2, c3, c4], spkiOf);
    expect(state).toEqual({ gid: GID, name: 'Sales', owner: carol.id, members: [carol.id], rev: 4, head: groupChangeHash(c4) });
    expect(links.map((l) => l.rev)).toEqual([1, 2, 3, 4]);
    expect(links[1]!.hash).toBe(c3.prev);
    // Page by page gives the same.
    const first = verifyGroupChanges(null, [c1, c2], spkiOf).state;
    expect(verifyGroupChanges(first, [c3, c4], spkiOf).state).toEqual(state);
  });

  it('refuses a forged signature: the relay writes a change in a member\'s name, or alters a signed one', () => {
    const c1 = create();
    const state = verifyGroupChanges(null, [c1], spkiOf).state;
    // Mallory signs an add of herself but names Bob as its author.
    const forged = { ...next(mallory, c1, { op: 'add', members: [mallory.id] }), by: bob.id };
    refused('an add of mallory signed by mallory but claiming bob', state, [forged], 'signature');
    // A genuine add by Bob with the member list changed afterwards.
    const altered = { ...next(bob, c1, { op: 'add', members: [carol.id] }), members: [mallory.id] };
    refused('bob\'s add of carol altered to add mallory', state, [altered], 'signature');
    refused('a leave by mallory, who is not a member', state, [next(mallory, c1, { op: 'leave' })], 'not-member');
    const unknown = signGroupChange(mallory, { gid: GID, rev: 2, prev: groupChangeHash(c1), by: 'aaaaaaaaaaaaaaaaaaaaaaaaaa', ts: TS, op: 'leave' });
    refused('a change signed by an unknown device', state, [unknown], 'signature');
  });

  it('refuses a change by a non-member: mallory adds herself with her own valid signature', () => {
    const c1 = create();
    refused('mallory (not a member) adding mallory', verifyGroupChanges(null, [c1], spkiOf).state, [next(mallory, c1, { op: 'add', members: [mallory.id] })], 'not-member');
  });

  it('refuses the removal of another member by anyone but the owner', () => {
    const c1 = create();
    const c2 = next(alice, c1, { op: 'add', members: [carol.id] });
    const state = verifyGroupChanges(null, [c1, c2], spkiOf).state;
    refused('bob (member, not owner) removing carol', state, [next(bob, c2, { op: 'remove', member: carol.id })], 'not-owner');
  });

  it('refuses a fork: a change that does not name our head', () => {
    const c1 = create();
    const c2 = next(bob, c1, { op: 'add', members: [carol.id] });
    const state = verifyGroupChanges(null, [c1, c2], spkiOf).state;
    // Alice's concurrent change, signed on top of revision 1, offered as revision 3 to members who saw Bob's.
    const other = next(alice, c1, { op: 'add', members: [mallory.id] });
    refused('a change on another branch at revision 3', state, [{ ...signGroupChange(alice, { ...other, rev: 3 } as UnsignedGroupChange) }], 'fork');
  });

  it('refuses a rollback: changes at or below what we verified', () => {
    const c1 = create();
    const c2 = next(bob, c1, { op: 'add', members: [carol.id] });
    const state = verifyGroupChanges(null, [c1, c2], spkiOf).state;
    refused('revision 2 again on top of revision 2', state, [c2], 'rollback');
    refused('a fresh create on top of a group', state, [create()], 'rollback');
  });

  it('refuses a gap: a page that skips a revision, or starts without the create', () => {
    const c1 = create();
    const c2 = next(bob, c1, { op: 'add', members: [carol.id] });
    const c3 = next(alice, c2, { op: 'remove', member: bob.id });
    refused('revisions 1 and 3 without 2', null, [c1, c3], 'gap');
    refused('revision 2 with no create before it', null, [c2], 'gap');
    // Nothing of a refused page counts: the state passed in is still the one to build on.
    const state = verifyGroupChanges(null, [c1], spkiOf).state;
    refused('revision 3 on top of revision 1', state, [c3], 'gap');
    expect(verifyGroupChanges(state, [c2, c3], spkiOf).state!.members).toEqual([alice.id, carol.id]);
  });
});
