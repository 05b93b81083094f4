/**
 * Unit tests of the profile database against real SQLite files in a fresh
 * temporary folder: outbox sequence numbers, scheduled messages and their
 * promotion, pending() order and paging, forward-only state changes, incoming
 * de-duplication, read receipts, history, settings, known peers and pinned
 * keys, transactions, and durability across close and reopen.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from './schema.js';
import { LATE_WINDOW_MS, Store, type OutgoingDraft } from './store.js';

const ALICE = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';
const BOB = 'bbbbbbbbbbbbbbbbbbbbbbbbbb';
const T0 = 1_700_000_000_000;

let dir: string;
let dbPath: string;
const open: Store[] = [];

function openStore(): Store {
  const s = new Store(dbPath);
  open.push(s);
  return s;
}

/** A message id like the messenger makes: 32 lowercase hex digits, unique by n. */
function mid(n: number): string {
  return n.toString(16).padStart(32, '0');
}

function draft(n: number, peer = ALICE, extra: Partial<OutgoingDraft> = {}): OutgoingDraft {
  return { id: mid(n), peer, text: `m${n}`, ts: T0 + n, ...extra };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-store-'));
  dbPath = join(dir, 'pigeon.db');
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('enqueue', () => {
  it('gives immediate messages increasing sequence numbers per peer, starting at 1', () => {
    const s = openStore();
    const first = s.enqueue([draft(1), draft(2)]);
    const second = s.enqueue([draft(3)]);
    expect([...first, ...second].map((m) => m.seq)).toEqual([1, 2, 3]);
    for (const m of [...first, ...second]) {
      expect(m).toMatchObject({ peer: ALICE, direction: 'out', state: 'queued', due: null });
    }
    expect(first[0]).toEqual({ id: mid(1), peer: ALICE, direction: 'out', text: 'm1', state: 'queued', ts: T0 + 1, received: null, order: T0 + 1, due: null, seq: 1 });
  });

  it('keeps one independent sequence per peer', () => {
    const s = openStore();
    const out = s.enqueue([draft(1, ALICE), draft(2, BOB), draft(3, ALICE), draft(4, BOB), draft(5, BOB)]);
    expect(out.map((m) => [m.peer, m.seq])).toEqual([
      [ALICE, 1],
      [BOB, 1],
      [ALICE, 2],
      [BOB, 2],
      [BOB, 3],
    ]);
  });

  it('returns exactly what it stored', () => {
    const s = openStore();
    const [m] = s.enqueue([draft(9, BOB, { text: 'héllo\nwörld 🐦' })]);
    expect(s.getOutgoing(mid(9))).toEqual(m);
  });

  it('rolls back the whole batch, sequence numbers included, when one draft fails', () => {
    const s = openStore();
    expect(() => s.enqueue([draft(1), draft(1)])).toThrow(/UNIQUE/);
    expect(s.getOutgoing(mid(1))).toBeNull();
    expect(s.pending(ALICE, 0, 100)).toEqual([]);
    expect(s.enqueue([draft(2)])[0]!.seq).toBe(1);
  });
});

describe('scheduled messages', () => {
  it('get no sequence number and the state "scheduled"; ts is the due time', () => {
    const s = openStore();
    const [m] = s.enqueue([draft(1, ALICE, { ts: T0, due: T0 + 60_000 })]);
    expect(m).toMatchObject({ state: 'scheduled', seq: null, due: T0 + 60_000, ts: T0 + 60_000 });
    expect(s.getOutgoing(mid(1))).toEqual(m);
    expect(s.pending(ALICE, 0, 100)).toEqual([]);
    expect(s.peersWithPending()).toEqual([]);
  });

  it('a due time not after ts means "send now"', () => {
    const s = openStore();
    const [now, past] = s.enqueue([draft(1, ALICE, { ts: T0, due: T0 }), draft(2, ALICE, { ts: T0, due: T0 - 5 })]);
    expect(now).toMatchObject({ state: 'queued', seq: 1, due: null, ts: T0 });
    expect(past).toMatchObject({ state: 'queued', seq: 2, due: null, ts: T0 });
  });

  it('nextDue() reports the earliest scheduled time, or null', () => {
    const s = openStore();
    expect(s.nextDue()).toBeNull();
    s.enqueue([draft(1, ALICE, { ts: T0, due: T0 + 500 }), draft(2, BOB, { ts: T0, due: T0 + 100 }), draft(3)]);
    expect(s.nextDue()).toBe(T0 + 100);
    s.promoteDue(T0 + 100);
    expect(s.nextDue()).toBe(T0 + 500);
    s.promoteDue(T0 + 500);
    expect(s.nextDue()).toBeNull();
  });

  it('promoteDue() moves only due messages, in due order, and gives them the next seq at promotion time', () => {
    const s = openStore();
    s.enqueue([
      draft(1, ALICE, { ts: T0, due: T0 + 300 }),
      draft(2, ALICE, { ts: T0, due: T0 + 100 }),
      draft(3, ALICE, { ts: T0, due: T0 + 900 }),
    ]);
    // Immediate messages sent meanwhile take seq 1 and 2.
    s.enqueue([draft(4), draft(5)]);
    expect(s.promoteDue(T0 + 99)).toEqual([]);
    const promoted = s.promoteDue(T0 + 400);
    expect(promoted.map((m) => [m.id, m.seq, m.state, m.ts])).toEqual([
      [mid(2), 3, 'queued', T0 + 400],
      [mid(1), 4, 'queued', T0 + 400],
    ]);
    expect(s.getOutgoing(mid(1))).toMatchObject({ state: 'queued', seq: 4, ts: T0 + 400 });
    expect(s.getOutgoing(mid(3))).toMatchObject({ state: 'scheduled', seq: null });
    // An immediate message after the promotion continues the sequence.
    expect(s.enqueue([draft(6)])[0]!.seq).toBe(5);
    expect(s.pending(ALICE, 0, 100).map((m) => m.id)).toEqual([mid(4), mid(5), mid(2), mid(1), mid(6)]);
  });

  it('promoteDue() twice does not promote (or renumber) a message again', () => {
    const s = openStore();
    s.enqueue([draft(1, ALICE, { ts: T0, due: T0 + 10 })]);
    expect(s.promoteDue(T0 + 10)).toHaveLength(1);
    expect(s.promoteDue(T0 + 20)).toEqual([]);
    expect(s.getOutgoing(mid(1))).toMatchObject({ seq: 1, ts: T0 + 10 });
  });

  it('promoteDue() numbers each peer in its own sequence', () => {
    const s = openStore();
    s.enqueue([draft(1, BOB)]);
    s.enqueue([draft(2, ALICE, { ts: T0, due: T0 + 1 }), draft(3, BOB, { ts: T0, due: T0 + 2 })]);
    expect(s.promoteDue(T0 + 5).map((m) => [m.peer, m.seq])).toEqual([
      [ALICE, 1],
      [BOB, 2],
    ]);
  });
});

describe('pending()', () => {
  it('returns unacknowledged messages of one peer in seq order', () => {
    const s = openStore();
    s.enqueue([draft(1, ALICE), draft(2, BOB), draft(3, ALICE), draft(4, ALICE)]);
    expect(s.pending(ALICE, 0, 100).map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(s.pending(ALICE, 0, 100).map((m) => m.id)).toEqual([mid(1), mid(3), mid(4)]);
    expect(s.pending(BOB, 0, 100).map((m) => m.id)).toEqual([mid(2)]);
    expect(s.pending('cccccccccccccccccccccccccc', 0, 100)).toEqual([]);
  });

  it('respects afterSeq and limit, so the outbox can be paged', () => {
    const s = openStore();
    s.enqueue(Array.from({ length: 10 }, (_, i) => draft(i + 1)));
    expect(s.pending(ALICE, 0, 3).map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(s.pending(ALICE, 3, 3).map((m) => m.seq)).toEqual([4, 5, 6]);
    expect(s.pending(ALICE, 9, 3).map((m) => m.seq)).toEqual([10]);
    expect(s.pending(ALICE, 10, 3)).toEqual([]);
    expect(s.pending(ALICE, 0, 0)).toEqual([]);
  });

  it('includes sent messages but not delivered, read or scheduled ones', () => {
    const s = openStore();
    s.enqueue([draft(1), draft(2), draft(3), draft(4), draft(5, ALICE, { ts: T0, due: T0 + 1000 })]);
    s.advance(ALICE, [mid(2)], 'sent');
    s.advance(ALICE, [mid(3)], 'delivered');
    s.advance(ALICE, [mid(4)], 'read');
    expect(s.pending(ALICE, 0, 100).map((m) => [m.id, m.state])).toEqual([
      [mid(1), 'queued'],
      [mid(2), 'sent'],
    ]);
  });

  it('peersWithPending() lists each peer with queued or sent messages once', () => {
    const s = openStore();
    s.enqueue([draft(1, ALICE), draft(2, ALICE), draft(3, BOB)]);
    expect(s.peersWithPending().sort()).toEqual([ALICE, BOB]);
    s.advance(BOB, [mid(3)], 'delivered');
    expect(s.peersWithPending()).toEqual([ALICE]);
  });
});

describe('advance()', () => {
  it('moves states forward and returns the changed messages', () => {
    const s = openStore();
    s.enqueue([draft(1), draft(2)]);
    const sent = s.advance(ALICE, [mid(1), mid(2)], 'sent');
    expect(sent.map((m) => [m.id, m.state])).toEqual([
      [mid(1), 'sent'],
      [mid(2), 'sent'],
    ]);
    expect(s.advance(ALICE, [mid(1)], 'delivered')).toMatchObject([{ id: mid(1), state: 'delivered', seq: 1 }]);
    expect(s.advance(ALICE, [mid(1)], 'read')).toMatchObject([{ id: mid(1), state: 'read' }]);
    expect(s.getOutgoing(mid(1))!.state).toBe('read');
  });

  it('never moves a state back: a late "sent" leaves "delivered" alone', () => {
    const s = openStore();
    s.enqueue([draft(1), draft(2)]);
    s.advance(ALICE, [mid(1)], 'delivered');
    s.advance(ALICE, [mid(2)], 'read');
    expect(s.advance(ALICE, [mid(1), mid(2)], 'sent')).toEqual([]);
    expect(s.advance(ALICE, [mid(2)], 'delivered')).toEqual([]);
    expect(s.getOutgoing(mid(1))!.state).toBe('delivered');
    expect(s.getOutgoing(mid(2))!.state).toBe('read');
  });

  it('does not report a message that is already in the target state', () => {
    const s = openStore();
    s.enqueue([draft(1)]);
    expect(s.advance(ALICE, [mid(1)], 'sent')).toHaveLength(1);
    expect(s.advance(ALICE, [mid(1)], 'sent')).toEqual([]);
  });

  it('may skip states (queued straight to delivered)', () => {
    const s = openStore();
    s.enqueue([draft(1)]);
    expect(s.advance(ALICE, [mid(1)], 'delivered')).toMatchObject([{ state: 'delivered' }]);
  });

  it('ignores unknown ids and ids that belong to another peer', () => {
    const s = openStore();
    s.enqueue([draft(1, ALICE), draft(2, BOB)]);
    // Bob cannot acknowledge a message that was sent to Alice.
    expect(s.advance(BOB, [mid(1), mid(99)], 'delivered')).toEqual([]);
    expect(s.getOutgoing(mid(1))!.state).toBe('queued');
    expect(s.advance(BOB, [mid(2)], 'delivered')).toHaveLength(1);
  });

  it('does not touch incoming messages with the same id', () => {
    const s = openStore();
    s.storeIncoming(ALICE, [{ id: mid(1), seq: 1, ts: T0, text: 'in' }], T0);
    expect(s.advance(ALICE, [mid(1)], 'delivered')).toEqual([]);
    expect(s.history(ALICE, 10)).toMatchObject([{ direction: 'in', state: 'received' }]);
  });

});

describe('storeIncoming()', () => {
  it('stores new messages and returns them as received: ts = when the sender wrote it, received = when it came', () => {
    const s = openStore();
    const fresh = s.storeIncoming(BOB, [{ id: mid(1), seq: 1, ts: T0 - 999, text: 'hello' }], T0);
    expect(fresh).toEqual([{ id: mid(1), peer: BOB, direction: 'in', text: 'hello', state: 'received', ts: T0 - 999, received: T0, order: T0, due: null, seq: 1 }]);
    expect(s.history(BOB, 10)).toEqual(fresh);
  });

  it('drops duplicates by id: the second delivery returns [] and stores nothing', () => {
    const s = openStore();
    const m = { id: mid(1), seq: 1, ts: T0, text: 'once' };
    expect(s.storeIncoming(BOB, [m], T0)).toHaveLength(1);
    expect(s.storeIncoming(BOB, [m], T0 + 5)).toEqual([]);
    // Even with different content the first copy wins.
    expect(s.storeIncoming(BOB, [{ ...m, text: 'twice' }], T0 + 6)).toEqual([]);
    expect(s.history(BOB, 10)).toMatchObject([{ id: mid(1), text: 'once', ts: T0 }]);
  });

  it('drops duplicates within one batch and returns only the new ones of a mixed batch', () => {
    const s = openStore();
    s.storeIncoming(BOB, [{ id: mid(1), seq: 1, ts: T0, text: 'a' }], T0);
    const fresh = s.storeIncoming(
      BOB,
      [
        { id: mid(1), seq: 1, ts: T0, text: 'a' },
        { id: mid(2), seq: 2, ts: T0, text: 'b' },
        { id: mid(2), seq: 2, ts: T0, text: 'b' },
      ],
      T0 + 1,
    );
    expect(fresh.map((m) => m.id)).toEqual([mid(2)]);
    expect(s.history(BOB, 10)).toHaveLength(2);
  });

  it('scopes ids by sender: the same id from two peers is two messages', () => {
    const s = openStore();
    expect(s.storeIncoming(ALICE, [{ id: mid(1), seq: 1, ts: T0, text: 'from alice' }], T0)).toHaveLength(1);
    expect(s.storeIncoming(BOB, [{ id: mid(1), seq: 1, ts: T0, text: 'from bob' }], T0)).toHaveLength(1);
    expect(s.history(ALICE, 10).map((m) => m.text)).toEqual(['from alice']);
    expect(s.history(BOB, 10).map((m) => m.text)).toEqual(['from bob']);
  });

  it('keeps an incoming message and an outgoing one with the same id apart', () => {
    const s = openStore();
    s.enqueue([draft(1, BOB)]);
    expect(s.storeIncoming(BOB, [{ id: mid(1), seq: 1, ts: T0, text: 'echo' }], T0 + 100)).toHaveLength(1);
    expect(s.getOutgoing(mid(1))).toMatchObject({ direction: 'out', text: 'm1' });
    expect(s.history(BOB, 10).map((m) => m.direction)).toEqual(['out', 'in']);
  });
});

describe('read receipts', () => {
  function receive(s: Store, peer: string, ns: number[], at = T0): void {
    s.storeIncoming(peer, ns.map((n) => ({ id: mid(n), seq: n, ts: at, text: `in${n}` })), at);
  }

  it('markRead() returns the unread ids of that peer once and marks them read', () => {
    const s = openStore();
    receive(s, BOB, [1, 2]);
    receive(s, ALICE, [3]);
    expect(s.markRead(BOB).sort()).toEqual([mid(1), mid(2)]);
    expect(s.markRead(BOB)).toEqual([]);
    expect(s.history(BOB, 10).map((m) => m.state)).toEqual(['read', 'read']);
    expect(s.history(ALICE, 10).map((m) => m.state)).toEqual(['received']);
  });

  it('markRead() does not touch outgoing messages', () => {
    const s = openStore();
    s.enqueue([draft(1, BOB)]);
    expect(s.markRead(BOB)).toEqual([]);
    expect(s.getOutgoing(mid(1))!.state).toBe('queued');
  });

  it('pendingReceipts() lists read messages whose receipt is not delivered, up to limit', () => {
    const s = openStore();
    receive(s, BOB, [1, 2, 3]);
    expect(s.pendingReceipts(BOB, 10)).toEqual([]); // nothing read yet
    s.markRead(BOB);
    expect(s.pendingReceipts(BOB, 10).sort()).toEqual([mid(1), mid(2), mid(3)]);
    expect(s.pendingReceipts(BOB, 2)).toHaveLength(2);
    expect(s.pendingReceipts(ALICE, 10)).toEqual([]);
  });

  it('receiptsDelivered() removes exactly the given ids from the pending receipts', () => {
    const s = openStore();
    receive(s, BOB, [1, 2, 3]);
    s.markRead(BOB);
    s.receiptsDelivered(BOB, [mid(1), mid(3)]);
    expect(s.pendingReceipts(BOB, 10)).toEqual([mid(2)]);
    // Ids of another peer are not affected.
    s.receiptsDelivered(ALICE, [mid(2)]);
    expect(s.pendingReceipts(BOB, 10)).toEqual([mid(2)]);
    s.receiptsDelivered(BOB, [mid(2)]);
    expect(s.pendingReceipts(BOB, 10)).toEqual([]);
  });

  it('messages arriving after a markRead are unread again until the next markRead', () => {
    const s = openStore();
    receive(s, BOB, [1]);
    s.markRead(BOB);
    s.receiptsDelivered(BOB, [mid(1)]);
    receive(s, BOB, [2], T0 + 10);
    expect(s.pendingReceipts(BOB, 10)).toEqual([]);
    expect(s.markRead(BOB)).toEqual([mid(2)]);
    expect(s.pendingReceipts(BOB, 10)).toEqual([mid(2)]);
  });
});

describe('history()', () => {
  it('orders both directions by place (written here, received there), mine first at the same place', () => {
    const s = openStore();
    s.enqueue([{ id: mid(1), peer: BOB, text: 'out@20', ts: T0 + 20 }]);
    // The sender's written times (ts) do not order anything: they come from another clock.
    s.storeIncoming(BOB, [{ id: mid(2), seq: 1, ts: T0 + 999, text: 'in@10' }], T0 + 10);
    s.storeIncoming(BOB, [{ id: mid(3), seq: 2, ts: 0, text: 'in@20' }], T0 + 20);
    expect(s.history(BOB, 100).map((m) => m.text)).toEqual(['in@10', 'out@20', 'in@20']);
  });

  it('keeps my messages in seq order when this clock goes back', () => {
    const s = openStore();
    s.enqueue([{ id: mid(1), peer: BOB, text: 'first', ts: T0 + 20 }]);
    const [second] = s.enqueue([{ id: mid(2), peer: BOB, text: 'second', ts: T0 + 5 }]);
    expect(second).toMatchObject({ seq: 2, ts: T0 + 5, order: T0 + 20 });
    expect(s.history(BOB, 100).map((m) => m.text)).toEqual(['first', 'second']);
  });

  it("keeps the sender's seq order when a message arrives after a later one (relay, restart)", () => {
    const s = openStore();
    s.enqueue([{ id: mid(10), peer: BOB, text: 'mine@5', ts: T0 + 5 }]);
    s.storeIncoming(BOB, [{ id: mid(1), seq: 1, ts: T0, text: 'b1' }], T0 + 10);
    s.storeIncoming(BOB, [{ id: mid(3), seq: 3, ts: T0 + 2, text: 'b3' }], T0 + 30);
    s.enqueue([{ id: mid(11), peer: BOB, text: 'mine@40', ts: T0 + 40 }]);
    // b2 was written before b3 but comes last: it goes just before b3, not at the end.
    const [b2] = s.storeIncoming(BOB, [{ id: mid(2), seq: 2, ts: T0 + 1, text: 'b2' }], T0 + 50);
    expect(b2).toMatchObject({ ts: T0 + 1, received: T0 + 50, order: T0 + 30 });
    expect(s.history(BOB, 100).map((m) => m.text)).toEqual(['mine@5', 'b1', 'b2', 'b3', 'mine@40']);
    // A second message with a seq already used (a sender that lost its database) goes before the sender's next one.
    s.storeIncoming(BOB, [{ id: mid(4), seq: 4, ts: T0 + 3, text: 'b4' }], T0 + 60);
    s.storeIncoming(BOB, [{ id: mid(0), seq: 1, ts: 0, text: 'b1-again-other-id' }], T0 + 70);
    expect(s.history(BOB, 100).map((m) => m.text)).toEqual(['mine@5', 'b1', 'b1-again-other-id', 'b2', 'b3', 'mine@40', 'b4']);
  });

  it('places a message at its arrival when the next one of its sender is older than the late window', () => {
    const s = openStore();
    s.storeIncoming(BOB, [{ id: mid(5), seq: 5, ts: T0, text: 'b5' }], T0);
    s.enqueue([{ id: mid(9), peer: BOB, text: 'mine', ts: T0 + 1000 }]);
    // seq 1 again, much later: a sender that counts again (or tries to slip a message into old history).
    const later = T0 + LATE_WINDOW_MS + 1;
    const [again] = s.storeIncoming(BOB, [{ id: mid(1), seq: 1, ts: T0 - 86_400_000, text: 'b1-much-later' }], later);
    expect(again).toMatchObject({ order: later, received: later });
    expect(s.history(BOB, 100).map((m) => m.text)).toEqual(['b5', 'mine', 'b1-much-later']);
  });

  it('keeps the order, written and received times across close and reopen', () => {
    let s = openStore();
    s.storeIncoming(BOB, [{ id: mid(1), seq: 1, ts: T0, text: 'b1' }], T0 + 10);
    s.enqueue([{ id: mid(9), peer: BOB, text: 'mine', ts: T0 + 15 }]);
    s.storeIncoming(BOB, [{ id: mid(3), seq: 3, ts: T0 + 2, text: 'b3' }], T0 + 30);
    const before = s.history(BOB, 100);
    s.close();
    s = openStore();
    s.storeIncoming(BOB, [{ id: mid(2), seq: 2, ts: T0 + 1, text: 'b2' }], T0 + 90);
    expect(s.history(BOB, 100).map((m) => m.text)).toEqual(['b1', 'mine', 'b2', 'b3']);
    expect(s.history(BOB, 100).filter((m) => m.id !== mid(2))).toEqual(before);
  });

  it('migrates an older database: old incoming rows keep their arrival time as received and as place', () => {
    const s = openStore();
    s.storeIncoming(BOB, [{ id: mid(1), seq: 1, ts: T0 - 5000, text: 'old' }], T0);
    s.enqueue([{ id: mid(2), peer: BOB, text: 'mine', ts: T0 + 1 }]);
    // Back to the schema before received/pos, as an older Pigeon left it (ts = arrival time then);
    // the later migrations (the group chain, confirmed peers, the LAN group log) are undone too, so they run again.
    s.db.exec(`DROP INDEX messages_by_peer; DROP INDEX messages_in_seq; ALTER TABLE messages DROP COLUMN received; ALTER TABLE messages DROP COLUMN pos; ALTER TABLE conversations DROP COLUMN out_pos;
      CREATE INDEX messages_by_peer ON messages (peer, ts, rowid); UPDATE messages SET ts = ${T0} WHERE dir = 1;
      DROP TABLE group_chain; ALTER TABLE groups DROP COLUMN rev; ALTER TABLE groups DROP COLUMN head; ALTER TABLE groups DROP COLUMN tampered;
      DROP TABLE peer_aliases; ALTER TABLE peers DROP COLUMN confirmed;
      DROP INDEX messages_by_multi; ALTER TABLE messages DROP COLUMN multi; ALTER TABLE messages DROP COLUMN auto;
      DROP TABLE picture_transfers; DROP TABLE group_log; DROP TABLE group_seen`);
    s.db.pragma(`user_version = ${MIGRATIONS.findIndex((m) => m.includes('ADD COLUMN received'))}`);
    s.close();
    const again = openStore();
    expect(again.history(BOB, 10)).toMatchObject([
      { text: 'old', ts: T0, received: T0, order: T0 },
      { text: 'mine', ts: T0 + 1, received: null, order: T0 + 1 },
    ]);
    // The place of our last message came through too: one written on a clock set back still goes after it.
    expect(again.enqueue([{ id: mid(3), peer: BOB, text: 'next', ts: T0 - 100 }])[0]).toMatchObject({ seq: 2, order: T0 + 1 });
  });

  it('returns the latest `limit` messages, oldest first', () => {
    const s = openStore();
    s.enqueue(Array.from({ length: 10 }, (_, i) => ({ id: mid(i), peer: BOB, text: `t${i}`, ts: T0 + i })));
    expect(s.history(BOB, 3).map((m) => m.text)).toEqual(['t7', 't8', 't9']);
    expect(s.history(BOB, 100)).toHaveLength(10);
  });

  it('only shows the given peer; a scheduled message sits at its due time', () => {
    const s = openStore();
    s.enqueue([draft(1, ALICE), { id: mid(2), peer: BOB, text: 'later', ts: T0, due: T0 + 1000 }, { id: mid(3), peer: BOB, text: 'now', ts: T0 + 1 }]);
    expect(s.history(BOB, 10).map((m) => [m.text, m.state])).toEqual([
      ['now', 'queued'],
      ['later', 'scheduled'],
    ]);
    expect(s.history(ALICE, 10).map((m) => m.id)).toEqual([mid(1)]);
    expect(s.history('cccccccccccccccccccccccccc', 10)).toEqual([]);
  });
});

describe('settings', () => {
  it('returns null for an unknown key, then the value set, then the overwritten value', () => {
    const s = openStore();
    expect(s.getSetting('name')).toBeNull();
    s.setSetting('name', 'Ada');
    expect(s.getSetting('name')).toBe('Ada');
    s.setSetting('name', 'Grace');
    expect(s.getSetting('name')).toBe('Grace');
    s.setSetting('away', '');
    expect(s.getSetting('away')).toBe('');
    expect(s.getSetting('other')).toBeNull();
  });
});

describe('known peers and pinned keys', () => {
  const peer = { id: ALICE, name: 'Alice', group: 'R&D', host: 'alice-pc', addresses: ['10.0.0.2', '192.168.1.2'], port: 2426, lastSeen: T0 };

  it('saves, lists and updates a peer without losing its pinned key', () => {
    const s = openStore();
    expect(s.knownPeers()).toEqual([]);
    s.savePeer(peer);
    expect(s.knownPeers()).toEqual([{ ...peer, spki: null }]);
    expect(s.pinnedKey(ALICE)).toBeNull();
    const key = Buffer.from([1, 2, 3, 4]);
    s.pinKey(ALICE, key);
    expect(s.pinnedKey(ALICE)).toEqual(key);
    s.savePeer({ ...peer, name: 'Alice B.', addresses: ['10.0.0.9'], lastSeen: T0 + 1 });
    expect(s.knownPeers()).toEqual([{ ...peer, name: 'Alice B.', addresses: ['10.0.0.9'], lastSeen: T0 + 1, spki: key }]);
  });

  it('has no pinned key for an unknown peer, and pinning one is a no-op', () => {
    const s = openStore();
    expect(s.pinnedKey(BOB)).toBeNull();
    s.pinKey(BOB, Buffer.from([9]));
    expect(s.pinnedKey(BOB)).toBeNull();
    expect(s.knownPeers()).toEqual([]);
  });
});

describe('transactions', () => {
  it('tx() commits on return and rolls everything back on throw', () => {
    const s = openStore();
    expect(s.tx(() => s.enqueue([draft(1)]).length)).toBe(1);
    expect(() =>
      s.tx(() => {
        s.enqueue([draft(2)]);
        s.setSetting('k', 'v');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(s.getOutgoing(mid(2))).toBeNull();
    expect(s.getSetting('k')).toBeNull();
    expect(s.enqueue([draft(3)])[0]!.seq).toBe(2);
  });
});

describe('durability', () => {
  it('keeps everything across close and reopen, and the sequence continues', () => {
    const a = openStore();
    a.enqueue([draft(1), draft(2), draft(3), draft(4, ALICE, { ts: T0, due: T0 + 1000 })]);
    a.advance(ALICE, [mid(1)], 'delivered');
    a.advance(ALICE, [mid(2)], 'sent');
    a.storeIncoming(BOB, [{ id: mid(10), seq: 1, ts: T0, text: 'in' }], T0);
    a.markRead(BOB);
    a.setSetting('name', 'Ada');
    a.savePeer({ id: BOB, name: 'Bob', group: '', host: 'b', addresses: ['10.0.0.3'], port: 2426, lastSeen: T0 });
    a.pinKey(BOB, Buffer.from('key'));
    a.close();

    const b = openStore();
    expect(b.pending(ALICE, 0, 100).map((m) => [m.id, m.state, m.seq])).toEqual([
      [mid(2), 'sent', 2],
      [mid(3), 'queued', 3],
    ]);
    expect(b.getOutgoing(mid(1))!.state).toBe('delivered');
    expect(b.nextDue()).toBe(T0 + 1000);
    expect(b.pendingReceipts(BOB, 10)).toEqual([mid(10)]);
    expect(b.storeIncoming(BOB, [{ id: mid(10), seq: 1, ts: T0, text: 'in' }], T0 + 1)).toEqual([]);
    expect(b.getSetting('name')).toBe('Ada');
    expect(b.knownPeers()).toMatchObject([{ id: BOB, addresses: ['10.0.0.3'] }]);
    expect(b.pinnedKey(BOB)).toEqual(Buffer.from('key'));
    expect(b.enqueue([draft(5)])[0]!.seq).toBe(4);
    expect(b.promoteDue(T0 + 1000)).toMatchObject([{ id: mid(4), seq: 5 }]);
  });

  it('does not re-run migrations on reopen and records the schema version', () => {
    const a = openStore();
    a.setSetting('k', 'v');
    const version = a.db.pragma('user_version', { simple: true });
    expect(version).toBeGreaterThanOrEqual(1);
    a.close();
    const b = openStore(); // would fail with "table already exists" if migrations ran again
    expect(b.db.pragma('user_version', { simple: true })).toBe(version);
    expect(b.getSetting('k')).toBe('v');
  });

  it('keeps committed writes of a process killed with SIGKILL (no close(), no checkpoint)', () => {
    // The writer runs in a child process (vite-node runs the TypeScript store
    // as is) that kills itself right after its transactions commit.
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const script = join(dir, 'crash.ts');
    writeFileSync(
      script,
      [
        `import { Store } from ${JSON.stringify(join(root, 'core', 'store', 'store.ts'))};`,
        `const s = new Store(process.argv[2]!);`,
        `s.enqueue([{ id: ${JSON.stringify(mid(1))}, peer: ${JSON.stringify(ALICE)}, text: 'survives', ts: ${T0} }]);`,
        `s.storeIncoming(${JSON.stringify(BOB)}, [{ id: ${JSON.stringify(mid(2))}, seq: 1, ts: 0, text: 'in' }], ${T0});`,
        `s.setSetting('name', 'Ada');`,
        `process.kill(process.pid, 'SIGKILL');`,
      ].join('\n'),
    );
    const child = spawnSync(process.execPath, [join(root, 'node_modules', 'vite-node', 'vite-node.mjs'), script, dbPath], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.signal, child.stderr).toBe('SIGKILL');
    const s = openStore();
    expect(s.pending(ALICE, 0, 10)).toMatchObject([{ id: mid(1), text: 'survives', seq: 1 }]);
    expect(s.history(BOB, 10)).toMatchObject([{ id: mid(2), state: 'received' }]);
    expect(s.getSetting('name')).toBe('Ada');
    expect(s.enqueue([draft(3)])[0]!.seq).toBe(2);
  });

  it('committed writes are visible to a new connection while the first is still open', () => {
    // Committed transactions live in the WAL file until a checkpoint; readers must see them.
    const a = openStore();
    a.enqueue([draft(1)]);
    a.storeIncoming(BOB, [{ id: mid(2), seq: 1, ts: T0, text: 'x' }], T0);
    const b = openStore();
    expect(b.pending(ALICE, 0, 10).map((m) => m.id)).toEqual([mid(1)]);
    expect(b.history(BOB, 10)).toHaveLength(1);
    expect(b.db.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('close() twice is harmless', () => {
    const s = openStore();
    s.close();
    expect(() => s.close()).not.toThrow();
  });
});

describe('unreadCounts() and search() (for the UI)', () => {
  it('counts unread incoming messages per conversation until read', () => {
    const s = openStore();
    s.storeIncoming(ALICE, [1, 2, 3].map((n) => ({ id: mid(n), seq: n, ts: T0 + n, text: `a${n}` })), T0);
    s.storeIncoming(BOB, [{ id: mid(4), seq: 1, ts: T0, text: 'b' }], T0);
    s.enqueue([draft(5, ALICE)]);
    expect(s.unreadCounts().sort((x, y) => x.peer.localeCompare(y.peer))).toEqual([
      { peer: ALICE, count: 3 },
      { peer: BOB, count: 1 },
    ]);
    s.markRead(ALICE);
    expect(s.unreadCounts()).toEqual([{ peer: BOB, count: 1 }]);
  });

  it('finds text in every conversation, newest first, ASCII case-insensitively, with LIKE wildcards taken literally', () => {
    const s = openStore();
    s.enqueue([{ id: mid(1), peer: ALICE, text: 'Lunch at 12?', ts: T0 + 1 }]);
    s.storeIncoming(BOB, [{ id: mid(2), seq: 1, ts: T0 + 2, text: 'lunch tomorrow, 100% sure' }], T0 + 2);
    s.storeIncoming(BOB, [{ id: mid(3), seq: 2, ts: T0 + 3, text: '午饭吃什么' }], T0 + 3);
    expect(s.search('LUNCH', 10).map((m) => m.text)).toEqual(['lunch tomorrow, 100% sure', 'Lunch at 12?']);
    expect(s.search('100%', 10).map((m) => m.id)).toEqual([mid(2)]);
    expect(s.search('%', 10).map((m) => m.id)).toEqual([mid(2)]);
    expect(s.search('_', 10)).toEqual([]);
    expect(s.search('午饭', 10).map((m) => m.id)).toEqual([mid(3)]);
    expect(s.search('lunch', 1)).toHaveLength(1);
  });
});
