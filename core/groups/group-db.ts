/**
 * What a peer keeps about its groups in the profile database (migration 3
 * of core/store/schema.ts): the groups as the relay last described them with
 * the cursor of each log, the other members' sender keys, our own sender key
 * per group, and log entries that arrived before their sender key.
 */
import type Database from 'better-sqlite3';
import type { GroupDeliverFrame, GroupState } from '../../shared/protocol/relay-frames.js';

export interface LocalGroup {
  gid: string;
  name: string;
  owner: string;
  members: GroupState['members'];
  member: boolean;
  cursor: number;
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
}

function toGroup(r: GroupSqlRow): LocalGroup {
  return { gid: r.gid, name: r.name, owner: r.owner, members: JSON.parse(r.members) as GroupState['members'], member: r.member === 1, cursor: r.cursor };
}

export class GroupDb {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      all: db.prepare<[], GroupSqlRow>('SELECT * FROM groups ORDER BY name, gid'),
      get: db.prepare<[string], GroupSqlRow>('SELECT * FROM groups WHERE gid = ?'),
      position: db.prepare<[string], { member: number; cursor: number }>('SELECT member, cursor FROM groups WHERE gid = ?'),
      upsert: db.prepare<[string, string, string, string, number]>(
        `INSERT INTO groups (gid, name, owner, members, member, cursor) VALUES (?, ?, ?, ?, 1, ?)
         ON CONFLICT (gid) DO UPDATE SET name = excluded.name, owner = excluded.owner, members = excluded.members, member = 1,
           cursor = CASE WHEN groups.member = 1 THEN MAX(groups.cursor, excluded.cursor) ELSE excluded.cursor END`,
      ),
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

  /** The relay described a group we are in; a member who just joined starts reading at its `joined` seq. */
  save(state: GroupState, self: string): LocalGroup {
    const joined = state.members.find((m) => m.id === self)?.joined ?? 0;
    this.s.upsert.run(state.gid, state.name, state.owner, JSON.stringify(state.members), joined);
    return this.get(state.gid)!;
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
