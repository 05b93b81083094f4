/**
 * What a peer keeps about its groups in the profile database (migrations 3
 * and 6 of core/store/schema.ts): each group as its verified chain of
 * membership changes says it is (name, owner, members, revision and head
 * hash, every verified change) with the cursor of its log and, if the relay
 * ever told otherwise, why its account was refused; the other members'
 * sender keys, our own sender key per group, and log entries that arrived
 * before their sender key.
 */
import type Database from 'better-sqlite3';
import type { ChainState } from '../../shared/protocol/group-chain-rules.js';
import type { GroupDeliverFrame, GroupState } from '../../shared/protocol/relay-frames.js';
import type { ChainLink } from './group-chain.js';

export interface LocalGroup {
  gid: string;
  name: string;
  owner: string;
  /** The verified members, in the order they joined; `joined` is the log seq the relay says they read from. */
  members: GroupState['members'];
  member: boolean;
  cursor: number;
  /** Revision and hash of the last verified change (0 and '' before any). */
  rev: number;
  head: string;
  /** Why the relay's account of the group was last refused, or null. */
  tampered: string | null;
}

export interface OwnKey {
  kid: string;
  key: Buffer;
  /** The members it was made for: sorted ids, comma-separated. */
  members: string;
  ready: boolean;
}

interface GroupSqlRow {
  gid: string;
  name: string;
  owner: string;
  members: string;
  member: number;
  cursor: number;
  rev: number;
  head: string;
  tampered: string | null;
}

function toGroup(r: GroupSqlRow): LocalGroup {
  return {
    gid: r.gid,
    name: r.name,
    owner: r.owner,
    members: JSON.parse(r.members) as GroupState['members'],
    member: r.member === 1,
    cursor: r.cursor,
    rev: r.rev,
    head: r.head,
    tampered: r.tampered,
  };
}

/** The verified state of a group as kept. */
export function chainStateOf(g: LocalGroup): ChainState | null {
  return g.rev === 0 ? null : { gid: g.gid, name: g.name, owner: g.owner, members: g.members.map((m) => m.id), rev: g.rev, head: g.head };
}

export class GroupDb {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      all: db.prepare<[], GroupSqlRow>('SELECT * FROM groups ORDER BY name, gid'),
      get: db.prepare<[string], GroupSqlRow>('SELECT * FROM groups WHERE gid = ?'),
      position: db.prepare<[string], { member: number; cursor: number }>('SELECT member, cursor FROM groups WHERE gid = ?'),
      // A member that (re)joins starts at its joined seq; one that is out keeps its cursor.
      upsert: db.prepare<{ gid: string; name: string; owner: string; members: string; member: number; cursor: number; rev: number; head: string }>(
        `INSERT INTO groups (gid, name, owner, members, member, cursor, rev, head) VALUES (@gid, @name, @owner, @members, @member, @cursor, @rev, @head)
         ON CONFLICT (gid) DO UPDATE SET name = excluded.name, owner = excluded.owner, members = excluded.members, member = excluded.member,
           rev = excluded.rev, head = excluded.head,
           cursor = CASE WHEN excluded.member = 0 THEN groups.cursor WHEN groups.member = 1 THEN MAX(groups.cursor, excluded.cursor) ELSE excluded.cursor END`,
      ),
      link: db.prepare<[string, number, string, string]>('INSERT OR IGNORE INTO group_chain (gid, rev, hash, change) VALUES (?, ?, ?, ?)'),
      truncate: db.prepare<[string, number]>('DELETE FROM group_chain WHERE gid = ? AND rev >= ?'),
      linkHash: db.prepare<[string, number], { hash: string }>('SELECT hash FROM group_chain WHERE gid = ? AND rev = ?'),
      tampered: db.prepare<[string, string]>('UPDATE groups SET tampered = ? WHERE gid = ?'),
      left: db.prepare<[string]>('UPDATE groups SET member = 0 WHERE gid = ?'),
      cursor: db.prepare<[number, string]>('UPDATE groups SET cursor = MAX(cursor, ?) WHERE gid = ?'),
      key: db.prepare<[string, string, string], { key: Buffer }>('SELECT key FROM group_keys WHERE gid = ? AND sender = ? AND kid = ?'),
      saveKey: db.prepare<[string, string, string, Buffer]>('INSERT OR IGNORE INTO group_keys (gid, sender, kid, key) VALUES (?, ?, ?, ?)'),
      own: db.prepare<[string], { kid: string; key: Buffer; members: string; ready: number }>('SELECT kid, key, members, ready FROM group_own_keys WHERE gid = ?'),
      saveOwn: db.prepare<[string, string, Buffer, string, number]>(
        `INSERT INTO group_own_keys (gid, kid, key, members, ready) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (gid) DO UPDATE SET kid = excluded.kid, key = excluded.key, members = excluded.members, ready = excluded.ready`,
      ),
      dropKeys: db.prepare<[string]>('DELETE FROM group_keys WHERE gid = ?'),
      dropOwn: db.prepare<[string]>('DELETE FROM group_own_keys WHERE gid = ?'),
      hold: db.prepare<[string, number, string, string, string]>('INSERT OR IGNORE INTO group_pending (gid, seq, sender, kid, frame) VALUES (?, ?, ?, ?, ?)'),
      held: db.prepare<[string, string, string], { frame: string }>('SELECT frame FROM group_pending WHERE gid = ? AND sender = ? AND kid = ? ORDER BY seq'),
      release: db.prepare<[string, number]>('DELETE FROM group_pending WHERE gid = ? AND seq = ?'),
    };
  }

  list(): LocalGroup[] {
    return this.s.all.all().map(toGroup);
  }

  get(gid: string): LocalGroup | null {
    const r = this.s.get.get(gid);
    return r ? toGroup(r) : null;
  }

  /** Whether we are a member and the cursor of the log, without reading the member list (every log entry asks). */
  position(gid: string): { member: boolean; cursor: number } | null {
    const r = this.s.position.get(gid);
    return r ? { member: r.member === 1, cursor: r.cursor } : null;
  }

  /**
   * Keeps newly verified changes and the state they lead to. `joined` (the
   * log seq each member reads from) comes from the relay, which serves the
   * log anyway; a member who just joined starts reading at its own. When the
   * chain says we are out, the keys go.
   */
  saveVerified(state: ChainState, links: readonly ChainLink[], self: string, joined: ReadonlyMap<string, number>): LocalGroup {
    const old = this.get(state.gid);
    const members = state.members.map((id) => ({ id, joined: joined.get(id) ?? old?.members.find((m) => m.id === id)?.joined ?? 0 }));
    const member = state.members.includes(self);
    this.db.transaction(() => {
      for (const l of links) this.s.link.run(state.gid, l.rev, l.hash, JSON.stringify(l.change));
      this.s.upsert.run({
        gid: state.gid,
        name: state.name,
        owner: state.owner,
        members: JSON.stringify(members),
        member: member ? 1 : 0,
        cursor: members.find((m) => m.id === self)?.joined ?? 0,
        rev: state.rev,
        head: state.head,
      });
      if (!member) {
        this.s.dropKeys.run(state.gid);
        this.s.dropOwn.run(state.gid);
      }
    })();
    return this.get(state.gid)!;
  }

  /** Forgets the verified changes from `rev` on (a branch that lost to a concurrent one, group-fork.ts); saveVerified follows. */
  truncateChain(gid: string, rev: number): void {
    this.s.truncate.run(gid, rev);
  }

  /** The hash of the verified change at `rev`, or null if we have not verified that far. */
  chainHash(gid: string, rev: number): string | null {
    return this.s.linkHash.get(gid, rev)?.hash ?? null;
  }

  /** Records why the relay's account of a group was refused. */
  markTampered(gid: string, why: string): void {
    this.s.tampered.run(why, gid);
  }

  /** We left or were removed: the history stays, the keys go. */
  leave(gid: string): void {
    this.db.transaction(() => {
      this.s.left.run(gid);
      this.s.dropKeys.run(gid);
      this.s.dropOwn.run(gid);
    })();
  }

  advance(gid: string, seq: number): void {
    this.s.cursor.run(seq, gid);
  }

  senderKey(gid: string, sender: string, kid: string): Buffer | null {
    return this.s.key.get(gid, sender, kid)?.key ?? null;
  }

  saveSenderKey(gid: string, sender: string, kid: string, key: Buffer): void {
    this.s.saveKey.run(gid, sender, kid, key);
  }

  ownKey(gid: string): OwnKey | null {
    const r = this.s.own.get(gid);
    return r ? { kid: r.kid, key: r.key, members: r.members, ready: r.ready === 1 } : null;
  }

  saveOwnKey(gid: string, k: OwnKey): void {
    this.s.saveOwn.run(gid, k.kid, k.key, k.members, k.ready ? 1 : 0);
  }

  /** Keeps an entry whose sender key has not arrived yet. */
  hold(frame: GroupDeliverFrame): void {
    this.s.hold.run(frame.gid, frame.seq, frame.from, frame.body.kid, JSON.stringify(frame));
  }

  /** Entries held for this sender key, in seq order. */
  held(gid: string, sender: string, kid: string): GroupDeliverFrame[] {
    return this.s.held.all(gid, sender, kid).map((r) => JSON.parse(r.frame) as GroupDeliverFrame);
  }

  release(gid: string, seq: number): void {
    this.s.release.run(gid, seq);
  }
}
