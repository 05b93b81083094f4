/**
 * ChangesMemo on a real SQLite store: the answer is kept while nothing
 * changed and read again after any write, so "who has work waiting?" is never
 * stale (a missed change would strand a queued message).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChangesMemo } from './changes-memo.js';
import { Store } from './store.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('ChangesMemo', () => {
  it('reads once while the database is unchanged, and again after every write', () => {
    dir = mkdtempSync(join(tmpdir(), 'memo-'));
    const store = new Store(join(dir, 'p.db'));
    let loads = 0;
    const memo = new ChangesMemo(
      () => store.changeCount(),
      () => {
        loads++;
        return new Set(store.peersWithPending());
      },
    );
    expect(memo.get().size).toBe(0);
    expect(memo.get().size).toBe(0);
    expect(loads).toBe(1);
    store.db.prepare(`INSERT INTO messages (id, peer, dir, seq, text, ts, state, pos) VALUES ('m1', 'bob', 0, 1, 'hi', 1, 'queued', 1)`).run();
    expect(memo.get().has('bob')).toBe(true);
    expect(loads).toBe(2);
    store.db.prepare(`UPDATE messages SET state = 'delivered' WHERE id = 'm1'`).run();
    expect(memo.get().has('bob')).toBe(false);
    expect(loads).toBe(3);
    store.close();
  });
});
