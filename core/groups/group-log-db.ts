/**
 * What a peer keeps of a LAN group's log (§12.10; the group_log migration of
 * core/store/schema.ts): every signed entry it holds, by author and author
 * seq, so that it can hand any member what that member lacks; and the
 * verified membership chain read back (group_chain), to tell who was a member
 * at each revision; and per member what it last said it holds and has read
 * (group_seen), for receipts.
 */
import type Database from 'better-sqlite3';
import type { GroupEntry } from '../../shared/protocol/group-lan-frames.js';
import type { GroupChange } from '../../shared/protocol/relay-frames.js';

export class GroupLogDb {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      put: db.prepare<[string, string, number, number, string]>('INSERT OR IGNORE INTO group_log (gid, author, aseq, lc, entry) VALUES (?, ?, ?, ?, ?)'),
      have: db.prepare<[string], { author: string; aseq: number }>('SELECT author, MAX(aseq) AS aseq FROM group_log WHERE gid = ? GROUP BY author ORDER BY author'),
      lastLc: db.prepare<[string], { lc: number | null }>('SELECT MAX(lc) AS lc FROM group_log WHERE gid = ?'),
      after: db.prepare<[string, string, number, number], { entry: string }>('SELECT entry FROM group_log WHERE gid = ? AND author = ? AND aseq > ? ORDER BY aseq LIMIT ?'),
      atLc: db.prepare<[string, string, number], { entry: string }>('SELECT entry FROM group_log WHERE gid = ? AND author = ? AND lc = ?'),
      lastSeq: db.prepare<[string], { seq: number | null }>("SELECT MAX(seq) AS seq FROM messages WHERE peer = ? AND state NOT IN ('queued', 'scheduled')"),
      seen: db.prepare<[string, string, string, number, number]>(
        `INSERT INTO group_seen (gid, member, author, have, read) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (gid, member, author) DO UPDATE SET have = MAX(have, excluded.have), read = MAX(read, excluded.read)`,
      ),
      seenAll: db.prepare<[string], { member: string; author: string; have: number; read: number }>('SELECT member, author, have, read FROM group_seen WHERE gid = ?'),
      chain: db.prepare<[string], { change: string }>('SELECT change FROM group_chain WHERE gid = ? ORDER BY rev'),
      chainAfter: db.prepare<[string, number, number], { change: string }>('SELECT change FROM group_chain WHERE gid = ? AND rev > ? ORDER BY rev LIMIT ?'),
    };
  }

  /** Keeps an entry; false if it was held already. */
  put(gid: string, e: GroupEntry): boolean {
    return this.s.put.run(gid, e.author, e.aseq, e.lc, JSON.stringify(e)).changes === 1;
  }

  /** Per author, the highest author seq held (entries are kept with no gap, so this is all of them up to it). */
  have(gid: string): Map<string, number> {
    return new Map(this.s.have.all(gid).map((r) => [r.author, r.aseq]));
  }

  /** The highest Lamport position held (0 for none). */
  lastLc(gid: string): number {
    return this.s.lastLc.get(gid)?.lc ?? 0;
  }

  /** An author's entry at Lamport position `lc` (an author's positions only grow, so there is at most one). */
  atLc(gid: string, author: string, lc: number): GroupEntry | null {
    const r = this.s.atLc.get(gid, author, lc);
    return r ? (JSON.parse(r.entry) as GroupEntry) : null;
  }

  /** The highest seq shown in a conversation (a relay group's older messages carry the relay's seq: new entries come after them). */
  lastShown(conversation: string): number {
    return this.s.lastSeq.get(conversation)?.seq ?? 0;
  }

  /** An author's entries after `aseq`, in order, at most `limit`. */
  after(gid: string, author: string, aseq: number, limit: number): GroupEntry[] {
    return this.s.after.all(gid, author, aseq, limit).map((r) => JSON.parse(r.entry) as GroupEntry);
  }

  /** Records what a member (or this device) holds and has read of each author; never goes back. */
  saveSeen(gid: string, member: string, have: ReadonlyMap<string, number>, read: ReadonlyMap<string, number>): void {
    this.transaction(() => {
      for (const author of new Set([...have.keys(), ...read.keys()])) this.s.seen.run(gid, member, author, have.get(author) ?? 0, read.get(author) ?? 0);
    });
  }

  /** Per member, per author: what it holds and has read, as last told. */
  seen(gid: string): Map<string, Map<string, { have: number; read: number }>> {
    const out = new Map<string, Map<string, { have: number; read: number }>>();
    for (const r of this.s.seenAll.all(gid)) {
      let m = out.get(r.member);
      if (!m) out.set(r.member, (m = new Map()));
      m.set(r.author, { have: r.have, read: r.read });
    }
    return out;
  }

  /** The verified membership changes, in order (all, or those after `rev`). */
  chain(gid: string, afterRev = 0, limit = Number.MAX_SAFE_INTEGER): GroupChange[] {
    const rows = afterRev === 0 && limit === Number.MAX_SAFE_INTEGER ? this.s.chain.all(gid) : this.s.chainAfter.all(gid, afterRev, limit);
    return rows.map((r) => JSON.parse(r.change) as GroupChange);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
