/**
 * Unit tests of the store's peer bookkeeping for trust: forgetting rows an
 * older version stored for every announcement (ghosts) while keeping peers
 * with a key, a history or a confirmation; and moving a reinstalled
 * colleague's conversation, outbox (scheduled included) and sequence to the
 * new device id in one transaction, keeping the old id as an alias.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from './store.js';

const OLD = 'oooooooooooooooooooooooooo';
const NEW = 'nnnnnnnnnnnnnnnnnnnnnnnnnn';
const T0 = 1_700_000_000_000;

let dir: string;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-migr-'));
  store = new Store(join(dir, 'pigeon.db'));
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function peer(id: string): { id: string; name: string; group: string; host: string; addresses: string[]; port: number; lastSeen: number } {
  return { id, name: 'Carol', group: '', host: 'carol-pc', addresses: [], port: 2426, lastSeen: T0 };
}

describe('forgetUnconfirmedPeers', () => {
  it('removes rows an older version saved unconfirmed, keeps pinned, confirmed and talked-to peers', () => {
    store.close();
    // Rows as an older version wrote them: no `confirmed` mark.
    const db = new Database(join(dir, 'pigeon.db'));
    const insert = db.prepare(`INSERT INTO peers (id, name, grp, host, addresses, port, last_seen, spki, confirmed) VALUES (?, 'x', '', '', '[]', 1, 0, ?, 0)`);
    for (let i = 0; i < 50; i++) insert.run(`ghost${String(i).padStart(21, 'a')}`, null);
    insert.run('pinnedaaaaaaaaaaaaaaaaaaaa', Buffer.from('k'));
    insert.run('talkedaaaaaaaaaaaaaaaaaaaa', null);
    db.prepare(`INSERT INTO messages (id, peer, dir, seq, text, ts, state) VALUES ('m1', 'talkedaaaaaaaaaaaaaaaaaaaa', 1, 1, 'hi', 0, 'received')`).run();
    db.close();
    store = new Store(join(dir, 'pigeon.db'));
    store.savePeer(peer(NEW));
    expect(store.forgetUnconfirmedPeers()).toBe(50);
    expect(store.knownPeers().map((p) => p.id).sort()).toEqual([NEW, 'pinnedaaaaaaaaaaaaaaaaaaaa', 'talkedaaaaaaaaaaaaaaaaaaaa']);
  });
});

describe('migratePeer', () => {
  it('moves history, outbox and scheduled messages to the new id, continues the sequence, keeps an alias', () => {
    store.savePeer(peer(OLD));
    store.pinKey(OLD, Buffer.from('old key'));
    store.enqueue([
      { id: 'a'.repeat(32), peer: OLD, text: 'delivered one', ts: T0 },
      { id: 'b'.repeat(32), peer: OLD, text: 'waiting', ts: T0 + 1 },
      { id: 'c'.repeat(32), peer: OLD, text: 'scheduled', ts: T0 + 2, due: T0 + 60_000 },
    ]);
    store.savePeer(peer(NEW));
    store.migratePeer(OLD, NEW);
    expect(store.history(OLD, 10)).toEqual([]);
    expect(store.history(NEW, 10).map((m) => [m.text, m.state])).toEqual([
      ['delivered one', 'queued'],
      ['waiting', 'queued'],
      ['scheduled', 'scheduled'],
    ]);
    expect(store.pending(NEW, 0, 10).map((m) => m.seq)).toEqual([1, 2]);
    const [next] = store.enqueue([{ id: 'd'.repeat(32), peer: NEW, text: 'after', ts: T0 + 3 }]);
    expect(next!.seq).toBe(3);
    expect(store.aliasOf(OLD)).toBe(NEW);
    expect(store.knownPeers().map((p) => p.id)).toEqual([NEW]);
  });
});
