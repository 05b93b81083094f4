import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { DeviceRow, NewEntry } from './relay-store.js';
import { DEVICE_COMMIT_INTERVAL_MS, MAX_BATCH, RELAY_DB_FILE, SqliteStore } from './sqlite-store.js';

const dirs: string[] = [];
const open: SqliteStore[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-relay-store-'));
  dirs.push(dir);
  return join(dir, RELAY_DB_FILE);
}

function openStore(path: string): SqliteStore {
  const s = new SqliteStore(path);
  open.push(s);
  return s;
}

const BOB = 'b'.repeat(26);
const ALICE = 'a'.repeat(26);
const CAROL = 'c'.repeat(26);

let n = 0;
function entry(over: Partial<NewEntry> = {}): NewEntry {
  n++;
  return { recipient: BOB, sender: ALICE, msgId: n.toString(16).padStart(32, '0'), ts: 1_000_000 + n, body: `{"ct":"${n}"}`, ...over };
}

describe('SqliteStore', () => {
  it('lists devices in id order, from memory, as committed', async () => {
    const path = tempDb();
    const s = openStore(path);
    const ids = Array.from({ length: 50 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26)) + String(i).padStart(25, '2'));
    const row = (id: string, lastSeen = 1): DeviceRow => ({ id, spki: 'AAAA', enc: { key: 'k', sig: 's' }, profile: { name: id, group: '', host: '', status: 'online', away: '' }, lastSeen });
    await Promise.all(ids.map((id) => s.upsertDevice(row(id))));
    await s.upsertDevice(row(ids[3]!, 9));
    const sorted = [...ids].sort();
    expect((await s.devices()).map((d) => d.id)).toEqual(sorted);
    expect((await s.device(ids[3]!))?.lastSeen).toBe(9);
    // The same list after a reopen, read from the database.
    await s.close();
    const again = openStore(path);
    expect(await again.devices()).toEqual(await s.devices());
    // A caller cannot change what the store hands out.
    const d = (await again.device(ids[0]!))!;
    expect(() => ((d as { lastSeen: number }).lastSeen = 5)).toThrow(TypeError);
  });

  it('counts waiting entries for the quota through acks and expiry, and after an upgrade from schema 1', async () => {
    const path = tempDb();
    // A database of the first schema, with three entries waiting for Bob.
    const v1 = new Database(path);
    v1.exec(`CREATE TABLE mailbox (recipient TEXT NOT NULL, seq INTEGER NOT NULL, msg_id TEXT NOT NULL, sender TEXT NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL,
               PRIMARY KEY (recipient, seq), UNIQUE (recipient, sender, msg_id));
             CREATE INDEX mailbox_ts ON mailbox (ts);
             CREATE TABLE mailbox_seq (recipient TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE devices (id TEXT PRIMARY KEY, spki TEXT NOT NULL, enc_key TEXT NOT NULL, enc_sig TEXT NOT NULL, name TEXT NOT NULL, grp TEXT NOT NULL,
               host TEXT NOT NULL, status TEXT NOT NULL, away TEXT NOT NULL, last_seen INTEGER NOT NULL);
             INSERT INTO mailbox_seq VALUES ('${BOB}', 3);
             INSERT INTO mailbox VALUES ('${BOB}', 1, '${'1'.repeat(32)}', '${ALICE}', 100, '{}'), ('${BOB}', 2, '${'2'.repeat(32)}', '${ALICE}', 200, '{}'), ('${BOB}', 3, '${'3'.repeat(32)}', '${ALICE}', 300, '{}');
             PRAGMA user_version = 1;`);
    v1.close();
    const s = openStore(path);
    // The upgrade counted what waited: entries and bytes, per mailbox and per sender.
    expect(await s.senderUsage(BOB, ALICE)).toEqual({ count: 3, bytes: 6 });
    await expect(s.put(entry(), { entries: 3 })).rejects.toMatchObject({ code: ErrorCodes.RELAY_QUOTA });
    expect((await s.put(entry(), { entries: 4 })).seq).toBe(4);
    await s.ack(BOB, 2); // 3 and 4 wait
    expect(await s.expire(350)).toBe(1); // 3 (ts 300) expires; 4 waits
    const results = await Promise.allSettled([s.put(entry(), { entries: 3 }), s.put(entry(), { entries: 3 }), s.put(entry(), { entries: 3 })]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((await s.usage(BOB)).count).toBe(3);
  });

  it('reports an unopenable database with a clear error', () => {
    expect(() => new SqliteStore('/nonexistent-dir/x/relay.db')).toThrow(/cannot open the relay database/);
  });
});

describe('SqliteStore group commit', () => {
  /** Entries of `recipient` as another connection sees them: only what was committed. */
  function committed(path: string, recipient = BOB): number {
    const other = new Database(path, { readonly: true });
    try {
      return other.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM mailbox WHERE recipient = ?').get(recipient)!.n;
    } finally {
      other.close();
    }
  }

  it('commits the puts of one tick together and resolves each only after the commit', async () => {
    const path = tempDb();
    const s = openStore(path);
    const n = 200;
    const puts = Array.from({ length: n }, () => s.put(entry()));
    expect(committed(path)).toBe(0); // queued, not written yet: nothing may be acknowledged
    const seenByFirst = await puts[0]!.then(() => committed(path));
    expect(seenByFirst).toBe(n); // one transaction: when the first resolves, all of them are on disk
    expect((await Promise.all(puts)).map((r) => r.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it('commits a lone device row at once, lets the next ones wait for a shared commit, and never makes a put wait for them', async () => {
    const path = tempDb();
    // A wide interval, so that a loaded machine's slow turns still fall inside it.
    const interval = 60 * DEVICE_COMMIT_INTERVAL_MS;
    const s = new SqliteStore(path, interval);
    open.push(s);
    const reader = new Database(path, { readonly: true });
    const stored = (): number => (reader.prepare('SELECT COUNT(*) AS n FROM devices').get() as { n: number }).n;
    const row = (id: string): DeviceRow => ({ id, spki: 'AAAA', enc: { key: 'k', sig: 's' }, profile: { name: id, group: '', host: '', status: 'online', away: '' }, lastSeen: 1 });
    try {
      await s.upsertDevice(row(ALICE)); // idle: committed on the next turn, as any write
      const since = performance.now();
      const carol = s.upsertDevice(row(CAROL));
      await new Promise((r) => setImmediate(r));
      // Right after a commit a connect's row waits (up to the interval) for others to share its commit.
      if (performance.now() - since < interval / 2) expect(stored()).toBe(1);
      // A put does not wait: it commits on the next turn and takes the waiting row with it.
      await s.put(entry());
      expect(stored()).toBe(2);
      expect(await carol).toBeGreaterThan(0);
      // Rows that come turn after turn in a storm share commits.
      // (What the other connection sees when a row's promise settles tells its commit: rows of one commit see the same count.)
      const started = performance.now();
      const rows: Promise<number>[] = [];
      for (let i = 0; i < 10; i++) {
        rows.push(s.upsertDevice(row(String(i).padStart(26, 'd'))).then(stored));
        await new Promise((r) => setImmediate(r));
      }
      const commits = new Set(await Promise.all(rows)).size;
      if (performance.now() - started < interval) expect(commits).toBeLessThanOrEqual(2);
      expect(stored()).toBe(12);
    } finally {
      reader.close();
    }
  });

  it('gives many concurrent puts distinct increasing seqs per mailbox, across batches', async () => {
    const s = openStore(tempDb());
    const n = MAX_BATCH * 2 + 17;
    const recipients = [BOB, CAROL];
    const results = await Promise.all(Array.from({ length: n }, (_, i) => s.put(entry({ recipient: recipients[i % 2]! }))));
    for (const [k, r] of recipients.entries()) {
      const seqs = results.filter((_, i) => i % 2 === k).map((x) => x.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      expect(await s.lastSeq(r)).toBe(seqs.length);
    }
    expect(results.every((r) => !r.duplicate)).toBe(true);
  });

  it('answers a duplicate inside the same batch with the first one\'s seq and stores it once', async () => {
    const s = openStore(tempDb());
    const e = entry();
    const [a, other, b] = await Promise.all([s.put(e), s.put(entry()), s.put({ ...e, body: '{"other":1}' })]);
    expect(a).toEqual({ seq: 1, duplicate: false });
    expect(other).toEqual({ seq: 2, duplicate: false });
    expect(b).toEqual({ seq: 1, duplicate: true });
    const page = await s.page(BOB, 0, 10);
    expect(page.map((x) => [x.seq, x.body])).toEqual([
      [1, e.body],
      [2, page[1]!.body],
    ]);
  });

  it('rejects only the put beyond the quota; the rest of its batch commits', async () => {
    const path = tempDb();
    const s = openStore(path);
    const first = entry();
    const settled = await Promise.allSettled([
      s.put(first, { entries: 2 }),
      s.put(entry(), { entries: 2 }),
      s.put(entry(), { entries: 2 }), // the third for Bob: over the quota
      s.put(entry({ recipient: CAROL }), { entries: 2 }),
      s.put(first, { entries: 2 }), // a duplicate is answered even when the mailbox is full
    ]);
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const err = (settled[2] as PromiseRejectedResult).reason as unknown;
    expect(err).toBeInstanceOf(PigeonError);
    expect((err as PigeonError).code).toBe(ErrorCodes.RELAY_QUOTA);
    expect((settled[3] as PromiseFulfilledResult<unknown>).value).toEqual({ seq: 1, duplicate: false });
    expect((settled[4] as PromiseFulfilledResult<unknown>).value).toEqual({ seq: 1, duplicate: true });
    expect(committed(path)).toBe(2);
    expect(committed(path, CAROL)).toBe(1);
    expect(await s.lastSeq(BOB)).toBe(2); // the refused put used no seq
  });

  it('applies puts, acks and device updates of one batch in the order they were asked for', async () => {
    const s = openStore(tempDb());
    const d: DeviceRow = { id: ALICE, spki: 'AAAA', enc: { key: 'k', sig: 's' }, profile: { name: 'A', group: '', host: '', status: 'online', away: '' }, lastSeen: 1 };
    const [, , acked, third, ,] = await Promise.all([s.put(entry()), s.put(entry()), s.ack(BOB, 1), s.put(entry()), s.upsertDevice(d), s.upsertDevice({ ...d, lastSeen: 2 })]);
    expect(acked).toBe(1);
    expect(third.seq).toBe(3);
    expect((await s.page(BOB, 0, 10)).map((e) => e.seq)).toEqual([2, 3]);
    expect((await s.device(ALICE))?.lastSeen).toBe(2);
  });

  it('commits queued writes on close and refuses writes after it', async () => {
    const path = tempDb();
    const s = new SqliteStore(path);
    const put = s.put(entry());
    await s.close();
    expect(await put).toEqual({ seq: 1, duplicate: false });
    await expect(s.put(entry())).rejects.toThrow(/closed/);
    expect(committed(path)).toBe(1);
  });

  it('keeps every acknowledged put of a process killed with SIGKILL', async () => {
    // The writer runs in a child process (vite-node runs the TypeScript store as is): it prints each
    // seq as its put resolves, keeps putting, and kills itself without closing the database.
    const path = tempDb();
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const script = join(dirname(path), 'crash.ts');
    writeFileSync(
      script,
      [
        `import { SqliteStore } from ${JSON.stringify(join(root, 'relay', 'store', 'sqlite-store.ts'))};`,
        `const s = new SqliteStore(process.argv[2]!);`,
        `let n = 0, acked = 0;`,
        `const put = () => { const i = ++n; void s.put({ recipient: ${JSON.stringify(BOB)}, sender: ${JSON.stringify(ALICE)}, msgId: i.toString(16).padStart(32, '0'), ts: i, body: 'x' }).then((r) => {`,
        `  process.stdout.write(r.seq + '\\n'); put();`,
        `  if (++acked === 3000) process.kill(process.pid, 'SIGKILL');`,
        `}); };`,
        `for (let i = 0; i < 100; i++) put();`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, [join(root, 'node_modules', 'vite-node', 'vite-node.mjs'), script, path], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const acked: number[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => acked.push(Number(l)));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, sig) => resolve(sig)));
    expect(signal, stderr).toBe('SIGKILL');
    // The last lines written before the SIGKILL can be lost in the pipe on a loaded machine (seen: 2,936
    // of 3,000): what matters is that every seq this side did read was stored, over enough puts to count.
    expect(acked.length).toBeGreaterThanOrEqual(1000);
    const s = openStore(path);
    const stored = new Set((await s.page(BOB, 0, 1_000_000)).map((e) => e.seq));
    expect(acked.filter((seq) => !stored.has(seq))).toEqual([]);
  });
});
