/**
 * The profile database (SQLite through better-sqlite3): known peers with their
 * pinned keys, the conversation history, and the persistent outbox. Writes
 * that arrive together are grouped into one transaction by the callers.
 */
import Database from 'better-sqlite3';
import type { MessageInfo, MessageState } from '../../shared/api/control-api.js';
import type { Presence } from '../../shared/protocol/schemas-common.js';
import { groupOf } from '../../shared/api/conversation-key.js';
import { systemClock, type Clock, type TimerHandle } from '../util/components.js';
import { MIGRATIONS } from './schema.js';

export interface KnownPeerRow extends Omit<Presence, 'status' | 'away'> {
  addresses: string[];
  lastSeen: number;
  spki: Buffer | null;
}

export interface MessageRow {
  id: string;
  peer: string;
  dir: number;
  seq: number | null;
  text: string;
  ts: number;
  due: number | null;
  state: string;
  sender?: string | null;
  received: number | null;
  pos: number;
  multi: string | null;
  auto: number;
}

export interface OutgoingDraft {
  id: string;
  peer: string;
  text: string;
  ts: number;
  /** Set for a scheduled message: held until this time. */
  due?: number;
  /** The multi-send this copy belongs to (§7.12). */
  multi?: string;
  /** An automatic (away) reply (§7.11). */
  auto?: boolean;
}

export interface IncomingMessage {
  id: string;
  /** The sender's sequence number in this conversation (a group's: the group log's). */
  seq: number;
  /** When the sender wrote it, on the sender's clock. */
  ts: number;
  text: string;
  /** In a group conversation: the member who wrote it. */
  sender?: string;
  /** The sender marked it an automatic reply (§7.11). */
  auto?: boolean;
}

export function toInfo(row: MessageRow): MessageInfo {
  return {
    id: row.id,
    peer: row.peer,
    direction: row.dir === 0 ? 'out' : 'in',
    text: row.text,
    state: row.state as MessageState,
    ts: row.ts,
    received: row.received,
    order: row.pos,
    due: row.due,
    seq: row.seq,
    ...groupFields(row.peer, row.sender ?? null),
    ...extraFields(row.multi, row.auto === 1),
  };
}

/** The auto flag, and the multi-send id (its summary is filled in by the caller: core/messaging/multi-send.ts). */
function extraFields(multi: string | null | undefined, auto: boolean | undefined): Pick<MessageInfo, 'multi' | 'auto'> {
  return { ...(auto ? { auto: true as const } : {}), ...(multi ? { multi: { id: multi, total: 0, delivered: 0 } } : {}) };
}

function groupFields(peer: string, sender: string | null): Pick<MessageInfo, 'group' | 'from'> {
  const group = groupOf(peer);
  return group ? { group, from: sender } : {};
}

/** Rank of outgoing states: a state only ever moves forward. */
const OUT_RANK: Record<string, number> = { scheduled: 0, queued: 1, sent: 2, relayed: 3, delivered: 4, read: 5 };

/**
 * Period of WAL checkpoints. Short enough that the WAL stays small under a
 * sustained 25,000 msgs/s (~ tens of MB at most), long enough to be off the
 * path of nearly every message.
 */
const CHECKPOINT_MS = 2000;

/**
 * How far back a late incoming message may be placed (before the sender's
 * next message). Late arrivals are seconds late (the relay mailbox pulled
 * after a session delivered later messages; a restart); a seq that goes
 * back further means a sender that counts again (an IPMsg client's packet
 * numbers after a restart, a restored profile) or one trying to slip a
 * message into old history: such a message is placed where it arrived.
 */
export const LATE_WINDOW_MS = 10 * 60 * 1000;

/** The columns toInfo() reads. */
export const COLS = 'id, peer, dir, seq, text, ts, due, state, received, pos, multi, auto';

/** Keeps `t` between the places of a sender's previous and next messages (null: no such message). */
function clamp(t: number, lower: number | null, upper: number | null): number {
  let p = t;
  if (lower !== null && p < lower) p = lower;
  if (upper !== null && p > upper) p = upper;
  return p;
}

/**
 * An outgoing message still in the outbox: queued, or sent on a session and
 * not acknowledged yet. In a group conversation `sent` means the LAN group
 * log on this device holds it (§12.10): out of the outbox, like `relayed`.
 */
const IN_OUTBOX = `(state = 'queued' OR (state = 'sent' AND peer NOT LIKE 'group:%'))`;

export class Store {
  readonly db: Database.Database;
  private readonly checkpointTimer: TimerHandle;
  private readonly s;

  constructor(
    path: string,
    private readonly clock: Clock = systemClock,
  ) {
    this.db = new Database(path);
    // WAL with synchronous=NORMAL: durable across process crashes (the issue's
    // kill -9), one fsync per checkpoint instead of per commit.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    // Checkpoints (which fsync) run from a timer instead of inside whichever
    // commit crosses the 1000-page mark: a chat message never waits for one.
    this.db.pragma('wal_autocheckpoint = 0');
    this.checkpointTimer = clock.setInterval(() => this.checkpoint(), CHECKPOINT_MS);
    this.migrate();
    const db = this.db;
    this.s = {
      upsertPeer: db.prepare(
        `INSERT INTO peers (id, name, grp, host, addresses, port, last_seen, confirmed) VALUES (@id, @name, @group, @host, @addresses, @port, @lastSeen, 1)
         ON CONFLICT(id) DO UPDATE SET name=excluded.name, grp=excluded.grp, host=excluded.host,
           addresses=excluded.addresses, port=excluded.port, last_seen=excluded.last_seen`,
      ),
      knownPeers: db.prepare(`SELECT id, name, grp, host, addresses, port, last_seen, spki FROM peers`),
      pin: db.prepare(`UPDATE peers SET spki = ? WHERE id = ?`),
      pinned: db.prepare(`SELECT spki FROM peers WHERE id = ?`),
      nextSeq: db.prepare(
        `INSERT INTO conversations (peer, out_seq) VALUES (?, 1)
         ON CONFLICT(peer) DO UPDATE SET out_seq = out_seq + 1 RETURNING out_seq`,
      ),
      insertOut: db.prepare(
        `INSERT INTO messages (id, peer, dir, seq, text, ts, due, state, pos, multi, auto) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // The place of the last message we gave a seq in a conversation.
      lastOutPos: db.prepare(`SELECT out_pos FROM conversations WHERE peer = ?`),
      setOutPos: db.prepare(`UPDATE conversations SET out_pos = ? WHERE peer = ?`),
      // The places of the sender's messages just before and just after a seq.
      inPosBefore: db.prepare(`SELECT pos FROM messages WHERE peer = ? AND dir = 1 AND seq < ? ORDER BY seq DESC LIMIT 1`),
      inPosAfter: db.prepare(`SELECT pos FROM messages WHERE peer = ? AND dir = 1 AND seq > ? ORDER BY seq LIMIT 1`),
      lastInSeq: db.prepare(`SELECT seq, pos FROM messages WHERE peer = ? AND dir = 1 ORDER BY seq DESC, rowid DESC LIMIT 1`),
      dueScheduled: db.prepare(`SELECT ${COLS} FROM messages WHERE state = 'scheduled' AND due <= ? ORDER BY due, rowid`),
      promote: db.prepare(`UPDATE messages SET state = 'queued', seq = ?, ts = ?, pos = ? WHERE dir = 0 AND id = ?`),
      nextDue: db.prepare(`SELECT MIN(due) AS due FROM messages WHERE state = 'scheduled'`),
      pending: db.prepare(
        `SELECT ${COLS} FROM messages
         WHERE dir = 0 AND peer = ? AND ${IN_OUTBOX} AND seq > ? ORDER BY seq LIMIT ?`,
      ),
      peersWithPending: db.prepare(`SELECT DISTINCT peer FROM messages WHERE dir = 0 AND ${IN_OUTBOX}`),
      peersWithReceipts: db.prepare(`SELECT DISTINCT peer FROM messages WHERE dir = 1 AND state = 'read' AND receipt_sent = 0`),
      totalChanges: db.prepare(`SELECT total_changes()`).pluck(),
      getOut: db.prepare(`SELECT ${COLS} FROM messages WHERE dir = 0 AND id = ?`),
      setOutState: db.prepare(`UPDATE messages SET state = ? WHERE dir = 0 AND peer = ? AND id = ?`),
      insertIn: db.prepare(
        `INSERT OR IGNORE INTO messages (id, peer, dir, seq, text, ts, state, sender, received, pos, auto) VALUES (?, ?, 1, ?, ?, ?, 'received', ?, ?, ?, ?)`,
      ),
      setOutSeq: db.prepare(`UPDATE messages SET seq = ? WHERE dir = 0 AND peer = ? AND id = ?`),
      // A group's order is its log's: by group seq, with what is still in our outbox (local seqs) after it.
      historyGroup: db.prepare(
        `SELECT * FROM (SELECT rowid, ${COLS}, sender FROM messages WHERE peer = ?
           ORDER BY state IN ('queued', 'scheduled') DESC, seq DESC, rowid DESC LIMIT ?) ORDER BY state IN ('queued', 'scheduled'), seq, rowid`,
      ),
      historyBefore: db.prepare(
        `SELECT * FROM (SELECT rowid, ${COLS}, sender FROM messages WHERE peer = ? AND seq < ? AND state != 'queued'
           ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
      ),
      getIn: db.prepare(`SELECT ${COLS} FROM messages WHERE dir = 1 AND peer = ? AND id = ?`),
      unread: db.prepare(`SELECT id FROM messages WHERE dir = 1 AND peer = ? AND state = 'received'`),
      markInRead: db.prepare(`UPDATE messages SET state = 'read', receipt_sent = 0 WHERE dir = 1 AND peer = ? AND state = 'received'`),
      receipts: db.prepare(`SELECT id FROM messages WHERE dir = 1 AND peer = ? AND state = 'read' AND receipt_sent = 0 LIMIT ?`),
      receiptSent: db.prepare(`UPDATE messages SET receipt_sent = 1 WHERE dir = 1 AND peer = ? AND id = ?`),
      // A conversation's order (§7.5): by place, then ours before theirs, then the sender's seq.
      history: db.prepare(
        `SELECT * FROM (SELECT rowid, ${COLS}, sender FROM messages WHERE peer = ?
           ORDER BY pos DESC, dir DESC, seq DESC, rowid DESC LIMIT ?) ORDER BY pos, dir, seq, rowid`,
      ),
      // DISTINCT over the (peer, …) index: one step per conversation, not per message.
      conversationPeers: db.prepare('SELECT DISTINCT peer FROM messages LIMIT ?'),
      unreadCounts: db.prepare(`SELECT peer, COUNT(*) AS count FROM messages WHERE dir = 1 AND state = 'received' GROUP BY peer`),
      search: db.prepare(
        `SELECT ${COLS} FROM messages WHERE text LIKE ? ESCAPE '\\' ORDER BY pos DESC, rowid DESC LIMIT ?`,
      ),
      getSetting: db.prepare(`SELECT value FROM settings WHERE key = ?`),
      setSetting: db.prepare(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** Copies the WAL back into the database file; cheap when nothing was written. */
  checkpoint(): void {
    if (this.db.open) this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  close(): void {
    this.clock.clear(this.checkpointTimer);
    if (this.db.open) this.db.close();
  }

  /** Runs fn in one transaction (nested calls join the outer one). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ---- peers ------------------------------------------------------------

  savePeer(p: Omit<KnownPeerRow, 'spki'>): void {
    this.s.upsertPeer.run({ ...p, addresses: JSON.stringify(p.addresses) });
  }

  knownPeers(): KnownPeerRow[] {
    return (this.s.knownPeers.all() as Array<Record<string, unknown>>).map((r) => ({
      id: r.id as string,
      name: r.name as string,
      group: r.grp as string,
      host: r.host as string,
      addresses: JSON.parse(r.addresses as string) as string[],
      port: r.port as number,
      lastSeen: r.last_seen as number,
      spki: (r.spki as Buffer | null) ?? null,
    }));
  }

  pinnedKey(id: string): Buffer | null {
    const row = this.s.pinned.get(id) as { spki: Buffer | null } | undefined;
    return row?.spki ?? null;
  }

  pinKey(id: string, spki: Buffer): void {
    this.s.pin.run(spki, id);
  }

  /**
   * Forgets peers that were never confirmed: rows an older version stored
   * for every announcement it heard (issue 2/6 item 8), with no pinned key,
   * no message and no transfer. Returns how many rows went.
   */
  forgetUnconfirmedPeers(): number {
    return this.db
      .prepare(
        `DELETE FROM peers WHERE spki IS NULL AND confirmed = 0
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.peer = peers.id)
           AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.peer = peers.id)`,
      )
      .run().changes;
  }

  /**
   * A colleague's device changed (reinstall) and the user trusted the new key:
   * the old id's conversation, outbox (scheduled messages included) and
   * transfers move to the new id, in one transaction; the old id stays as an
   * alias and its peer row goes. The new id must not have a conversation of
   * its own yet beyond what the two ids share (its messages are kept).
   */
  migratePeer(oldId: string, newId: string): void {
    this.tx(() => {
      const db = this.db;
      const oldSeq = (db.prepare(`SELECT out_seq FROM conversations WHERE peer = ?`).get(oldId) as { out_seq: number } | undefined)?.out_seq ?? 0;
      db.prepare(`UPDATE OR IGNORE messages SET peer = ? WHERE peer = ?`).run(newId, oldId);
      db.prepare(`DELETE FROM messages WHERE peer = ?`).run(oldId);
      db.prepare(`INSERT INTO conversations (peer, out_seq) VALUES (?, ?) ON CONFLICT(peer) DO UPDATE SET out_seq = MAX(out_seq, excluded.out_seq)`).run(newId, oldSeq);
      db.prepare(`DELETE FROM conversations WHERE peer = ?`).run(oldId);
      db.prepare(`UPDATE transfers SET peer = ? WHERE peer = ?`).run(newId, oldId);
      db.prepare(`UPDATE relay_files SET peer = ? WHERE peer = ?`).run(newId, oldId);
      db.prepare(`UPDATE peer_aliases SET new = ? WHERE new = ?`).run(newId, oldId);
      db.prepare(`INSERT INTO peer_aliases (old, new) VALUES (?, ?) ON CONFLICT(old) DO UPDATE SET new = excluded.new`).run(oldId, newId);
      db.prepare(`DELETE FROM peers WHERE id = ?`).run(oldId);
    });
  }

  /** The device id an old id of a colleague now stands for, or null. */
  aliasOf(oldId: string): string | null {
    return (this.db.prepare(`SELECT new FROM peer_aliases WHERE old = ?`).get(oldId) as { new: string } | undefined)?.new ?? null;
  }

  // ---- outgoing ---------------------------------------------------------

  /**
   * Stores new outgoing messages; immediate ones get the next sequence number
   * and their place in the conversation (a scheduled one is placed at its due
   * time until it goes).
   */
  enqueue(drafts: OutgoingDraft[]): MessageInfo[] {
    return this.tx(() =>
      drafts.map((d) => {
        const scheduled = d.due !== undefined && d.due > d.ts;
        const seq = scheduled ? null : this.nextSeq(d.peer);
        const state = scheduled ? 'scheduled' : 'queued';
        const ts = scheduled ? d.due! : d.ts;
        const pos = scheduled ? ts : this.outgoingPlace(d.peer, ts);
        this.s.insertOut.run(d.id, d.peer, seq, d.text, ts, scheduled ? d.due! : null, state, pos, d.multi ?? null, d.auto ? 1 : 0);
        return { id: d.id, peer: d.peer, direction: 'out', text: d.text, state, ts, received: null, order: pos, due: scheduled ? d.due! : null, seq, ...groupFields(d.peer, null), ...extraFields(d.multi, d.auto) } as MessageInfo;
      }),
    );
  }

  private nextSeq(peer: string): number {
    return (this.s.nextSeq.get(peer) as { out_seq: number }).out_seq;
  }

  /**
   * Our next message's place: when it was written, but never before our
   * previous one (this clock may have been set back), so our messages keep
   * their seq order. Called right after nextSeq() (which made the
   * conversation's row). A group's order is its log's and needs no place.
   */
  private outgoingPlace(peer: string, written: number): number {
    if (groupOf(peer)) return written;
    const last = this.s.lastOutPos.get(peer) as { out_pos: number | null } | undefined;
    const pos = clamp(written, last?.out_pos ?? null, null);
    this.s.setOutPos.run(pos, peer);
    return pos;
  }

  /**
   * An incoming message's place: when it arrived, but between the places of
   * the sender's messages just before and after it in the sender's seq, so
   * that one which arrives late (through the relay, after a restart) goes
   * just before the next one the sender wrote instead of after it, unless
   * that one is more than LATE_WINDOW_MS older.
   */
  private incomingPlace(peer: string, seq: number, receivedAt: number, last: { seq: number; pos: number } | null): number {
    if (groupOf(peer)) return receivedAt;
    // The usual case, a message after every one we have: no next one, and the previous is the last.
    if (last === null || seq > last.seq) return clamp(receivedAt, last?.pos ?? null, null);
    const before = this.s.inPosBefore.get(peer, seq) as { pos: number } | undefined;
    const after = this.s.inPosAfter.get(peer, seq) as { pos: number } | undefined;
    const upper = after && after.pos >= receivedAt - LATE_WINDOW_MS ? after.pos : null;
    return clamp(receivedAt, before?.pos ?? null, upper);
  }

  /** Moves scheduled messages that are due into the outbox, in due order. */
  promoteDue(now: number): MessageInfo[] {
    return this.tx(() =>
      (this.s.dueScheduled.all(now) as MessageRow[]).map((row) => {
        const seq = this.nextSeq(row.peer);
        const pos = this.outgoingPlace(row.peer, now);
        this.s.promote.run(seq, now, pos, row.id);
        return toInfo({ ...row, seq, ts: now, pos, state: 'queued' });
      }),
    );
  }

  nextDue(): number | null {
    return (this.s.nextDue.get() as { due: number | null }).due;
  }

  /** Unacknowledged outgoing messages to a peer with seq > afterSeq, in order. */
  pending(peer: string, afterSeq: number, limit: number): MessageInfo[] {
    return (this.s.pending.all(peer, afterSeq, limit) as MessageRow[]).map(toInfo);
  }

  peersWithPending(): string[] {
    return (this.s.peersWithPending.all() as Array<{ peer: string }>).map((r) => r.peer);
  }

  /** Peers with read receipts still to send. */
  peersWithReceipts(): string[] {
    return (this.s.peersWithReceipts.all() as Array<{ peer: string }>).map((r) => r.peer);
  }

  /** Rows this connection changed since it opened (triggers not counted): unchanged means so are the tables (ChangesMemo). */
  changeCount(): number {
    return this.s.totalChanges.get() as number;
  }

  getOutgoing(id: string): MessageInfo | null {
    const row = this.s.getOut.get(id) as MessageRow | undefined;
    return row ? toInfo(row) : null;
  }

  /**
   * Moves outgoing messages of one peer forward to `state`; a message never
   * moves back (a late 'sent' does not undo 'delivered'). Returns the changed ones.
   */
  advance(peer: string, ids: readonly string[], state: 'sent' | 'relayed' | 'delivered' | 'read'): MessageInfo[] {
    return this.tx(() => {
      const changed: MessageInfo[] = [];
      for (const id of ids) {
        const row = this.s.getOut.get(id) as MessageRow | undefined;
        if (!row || row.peer !== peer) continue;
        if ((OUT_RANK[row.state] ?? 0) >= OUT_RANK[state]!) continue;
        this.s.setOutState.run(state, peer, id);
        changed.push(toInfo({ ...row, state }));
      }
      return changed;
    });
  }

  // ---- incoming ---------------------------------------------------------

  /**
   * Stores incoming messages with the time the sender wrote them and the time
   * they arrived; duplicates (same sender, same id) are ignored. Returns the new ones.
   */
  storeIncoming(peer: string, messages: readonly IncomingMessage[], receivedAt: number): MessageInfo[] {
    return this.tx(() => {
      const fresh: MessageInfo[] = [];
      // The sender's message with the highest seq, kept up to date through the batch (one query per batch, not two per message).
      let last = (this.s.lastInSeq.get(peer) as { seq: number; pos: number } | undefined) ?? null;
      for (const m of messages) {
        const pos = this.incomingPlace(peer, m.seq, receivedAt, last);
        const r = this.s.insertIn.run(m.id, peer, m.seq, m.text, m.ts, m.sender ?? null, receivedAt, pos, m.auto ? 1 : 0);
        if (r.changes === 1) {
          if (last === null || m.seq > last.seq) last = { seq: m.seq, pos };
          fresh.push({ id: m.id, peer, direction: 'in', text: m.text, state: 'received', ts: m.ts, received: receivedAt, order: pos, due: null, seq: m.seq, ...groupFields(peer, m.sender ?? null), ...extraFields(null, m.auto) });
        }
      }
      return fresh;
    });
  }

  /** Marks every unread message from a peer as read; returns their ids (receipts to send). */
  markRead(peer: string): string[] {
    return this.tx(() => {
      const ids = (this.s.unread.all(peer) as Array<{ id: string }>).map((r) => r.id);
      if (ids.length > 0) this.s.markInRead.run(peer);
      return ids;
    });
  }

  pendingReceipts(peer: string, limit: number): string[] {
    return (this.s.receipts.all(peer, limit) as Array<{ id: string }>).map((r) => r.id);
  }

  receiptsDelivered(peer: string, ids: readonly string[]): void {
    this.tx(() => {
      for (const id of ids) this.s.receiptSent.run(peer, id);
    });
  }

  // ---- history and settings ----------------------------------------------

  history(peer: string, limit: number): MessageInfo[] {
    return ((groupOf(peer) ? this.s.historyGroup : this.s.history).all(peer, limit) as MessageRow[]).map(toInfo);
  }

  /** A group conversation's messages with a group seq below `before` (the page before it), in seq order. */
  historyBefore(peer: string, before: number, limit: number): MessageInfo[] {
    return (this.s.historyBefore.all(peer, before, limit) as MessageRow[]).map(toInfo);
  }

  /** An outgoing group message got its place in the group's log: its seq becomes that. */
  setOutgoingSeq(peer: string, id: string, seq: number): void {
    this.s.setOutSeq.run(seq, peer, id);
  }

  /** Peers this profile has a conversation with (any message either way), at most `limit`: whose relay presence it watches. */
  conversationPeers(limit: number): string[] {
    return (this.s.conversationPeers.all(limit) as Array<{ peer: string }>).map((r) => r.peer);
  }

  /** Unread incoming messages per conversation (only conversations that have some). */
  unreadCounts(): Array<{ peer: string; count: number }> {
    return this.s.unreadCounts.all() as Array<{ peer: string; count: number }>;
  }

  /** Messages of every conversation containing `query` (LIKE: case-insensitive for ASCII), newest first. */
  search(query: string, limit: number): MessageInfo[] {
    const pattern = `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    return (this.s.search.all(pattern, limit) as MessageRow[]).map(toInfo);
  }

  getSetting(key: string): string | null {
    return (this.s.getSetting.get(key) as { value: string } | undefined)?.value ?? null;
  }

  setSetting(key: string, value: string): void {
    this.s.setSetting.run(key, value);
  }
}
