/**
 * The rules of relay-store.ts, the same cases against both stores: the
 * embedded SQLite one and PostgreSQL (a fresh schema per test, skipped with
 * the reason printed when the database does not answer). Mailboxes (seqs,
 * duplicates, pages, quota, expiry, reopening), devices, and groups. What
 * only one store has is tested in sqlite-store.test.ts (group commit, kill
 * -9, schema upgrade) and postgres-store.test.ts (two instances at once).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PostgresStore } from './postgres-store.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { GROUP_CHAIN_START } from '../../shared/protocol/relay-frames.js';
import { groupMailbox, QuotaError, type DeviceRow, type GroupLink, type GroupRow, type NewEntry, type RelayStore } from './relay-store.js';
import { RELAY_DB_FILE, SqliteStore } from './sqlite-store.js';

const PG_URL = process.env.PIGEON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function pgProblem(): Promise<string | null> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return null;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await c.end().catch(() => {});
  }
}
const pgUnreachable = await pgProblem();
if (pgUnreachable) console.warn(`relay store tests on PostgreSQL skipped: ${PG_URL} is not reachable (${pgUnreachable})`);

const open: RelayStore[] = [];
const dirs: string[] = [];
const schemas: string[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

afterAll(async () => {
  if (pgUnreachable || schemas.length === 0) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  for (const s of schemas.splice(0)) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await c.end();
});

/** A place a store lives (a database file, a schema): open() opens it, again after a close. */
interface Place {
  open(): Promise<RelayStore>;
}

function keep<T extends RelayStore>(s: T): T {
  open.push(s);
  return s;
}

const stores: Array<[string, () => Place, boolean]> = [
  [
    'SqliteStore',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'pigeon-relay-store-'));
      dirs.push(dir);
      return { open: async () => keep(new SqliteStore(join(dir, RELAY_DB_FILE))) };
    },
    false,
  ],
  [
    'PostgresStore',
    () => {
      const schema = `pigeon_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return { open: async () => keep(await PostgresStore.open(PG_URL, { schema })) };
    },
    pgUnreachable !== null,
  ],
];

const [A, B, C, D] = ['a', 'b', 'c', 'd'].map((ch) => ch.repeat(26)) as [string, string, string, string];
const [ALICE, BOB, CAROL, DAVE] = [A, B, C, D];

let m = 0;
function entry(over: Partial<NewEntry> = {}): NewEntry {
  m++;
  return { recipient: BOB, sender: ALICE, msgId: m.toString(16).padStart(32, '0'), ts: 1_000_000 + m, body: `{"ct":"${m}"}`, ...over };
}
const GID = '1'.repeat(32);

function group(members: string[], over: Partial<GroupRow> = {}): GroupRow {
  return { gid: GID, name: 'Sales', owner: members[0]!, created: 1000, members: members.map((id) => ({ id, joined: 0 })), rev: 1, head: hash(1), ...over };
}

/** A stand-in hash for chain link `rev` (the store treats hashes as opaque). */
function hash(rev: number): string {
  return rev.toString(16).padStart(64, 'a');
}

/** The chain link of revision `rev`, following `rev - 1`. */
function link(rev: number, prev = rev === 1 ? GROUP_CHAIN_START : hash(rev - 1)): GroupLink {
  return { rev, prev, hash: hash(rev), body: `{"rev":${rev}}` };
}

let n = 0;
async function post(store: RelayStore, sender: string): Promise<number> {
  n++;
  return (await store.put({ recipient: groupMailbox(GID), sender, msgId: n.toString(16).padStart(32, '0'), ts: 1000 + n, body: `{"n":${n}}` })).seq;
}

for (const [name, place, skip] of stores) {
  const make = (): Promise<RelayStore> => place().open();

  describe.skipIf(skip)(`${name} mailboxes and devices`, () => {
    it('gives each mailbox its own strictly increasing seq, never reused after ack', async () => {
      const s = await make();
      expect(await s.lastSeq(BOB)).toBe(0);
      const seqs = [];
      for (let i = 0; i < 5; i++) seqs.push((await s.put(entry())).seq);
      expect(seqs).toEqual([1, 2, 3, 4, 5]);
      expect((await s.put(entry({ recipient: CAROL }))).seq).toBe(1);
      expect(await s.ack(BOB, 5)).toBe(5);
      expect(await s.page(BOB, 0, 100)).toEqual([]);
      expect(await s.lastSeq(BOB)).toBe(5);
      expect((await s.put(entry())).seq).toBe(6);
    });

    it('keeps seq, entries, devices and the epoch across a reopen; a new store has a new epoch', async () => {
      const where = place();
      const s1 = await where.open();
      const epoch = await s1.epoch();
      expect(epoch).toMatch(/^[0-9a-f]{32}$/);
      const device: DeviceRow = { id: ALICE, spki: 'AAAA', enc: { key: 'k'.repeat(44), sig: 'sig' }, profile: { name: 'Alice', group: 'Ops', host: 'pc1', status: 'online', away: '' }, lastSeen: 1_764_003_600_123 };
      await s1.upsertDevice(device);
      await s1.put(entry());
      await s1.put(entry());
      await s1.ack(BOB, 2);
      await s1.put(entry());
      await s1.close();

      const s2 = await where.open();
      expect(await s2.epoch()).toBe(epoch);
      expect(await s2.device(ALICE)).toEqual(device);
      expect((await s2.page(BOB, 0, 10)).map((e) => e.seq)).toEqual([3]);
      expect((await s2.put(entry())).seq).toBe(4);
      expect(await s2.lastSeq(BOB)).toBe(4);
      expect(await (await make()).epoch()).not.toBe(epoch);
    });

    it('dedups on (recipient, sender, msgId) and answers the original seq', async () => {
      const s = await make();
      const e = entry();
      expect(await s.put(e)).toEqual({ seq: 1, duplicate: false });
      expect(await s.put({ ...e, body: '{"other":1}' })).toEqual({ seq: 1, duplicate: true });
      // Same id from another sender, or to another recipient, is another message.
      expect(await s.put({ ...e, sender: CAROL })).toEqual({ seq: 2, duplicate: false });
      expect(await s.put({ ...e, recipient: CAROL })).toEqual({ seq: 1, duplicate: false });
      const page = await s.page(BOB, 0, 10);
      expect(page).toHaveLength(2);
      expect(page[0]!.body).toBe(e.body);
      expect(await s.usage(BOB)).toEqual({ count: 2, bytes: e.body.length * 2 });
      // The duplicate burnt no seq.
      expect(await s.lastSeq(BOB)).toBe(2);
    });

    it('pages in seq order after a cursor, at most limit', async () => {
      const s = await make();
      for (let i = 0; i < 10; i++) await s.put(entry());
      expect((await s.page(BOB, 0, 4)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect((await s.page(BOB, 4, 4)).map((e) => e.seq)).toEqual([5, 6, 7, 8]);
      expect((await s.page(BOB, 8, 4)).map((e) => e.seq)).toEqual([9, 10]);
      expect(await s.page(BOB, 10, 4)).toEqual([]);
      const [first] = await s.page(BOB, 0, 1);
      expect(first).toMatchObject({ seq: 1, sender: ALICE });
    });

    it('enforces the quota on new entries but still answers duplicates', async () => {
      const s = await make();
      const first = entry();
      await s.put(first, { entries: 2 });
      await s.put(entry(), { entries: 2 });
      const err = await s.put(entry(), { entries: 2 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PigeonError);
      expect((err as PigeonError).code).toBe(ErrorCodes.RELAY_QUOTA);
      expect(await s.put(first, { entries: 2 })).toEqual({ seq: 1, duplicate: true });
      expect((await s.usage(BOB)).count).toBe(2);
      // Another mailbox is not affected; an ack makes room.
      expect((await s.put(entry({ recipient: CAROL }), { entries: 2 })).seq).toBe(1);
      await s.ack(BOB, 1);
      expect((await s.put(entry(), { entries: 2 })).seq).toBe(3);
    });

    it('bounds each sender in a mailbox (entries and bytes) and the mailbox bytes; deletions give the room back', async () => {
      const s = await make();
      const size = JSON.stringify({ ct: 'x' }).length;
      const q = { entries: 100, senderEntries: 3, senderBytes: 100 * size, bytes: 1000 * size };
      for (let i = 0; i < 3; i++) await s.put(entry({ body: JSON.stringify({ ct: 'x' }) }), q);
      const err = await s.put(entry(), q).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QuotaError);
      expect(err).toMatchObject({ code: ErrorCodes.RELAY_QUOTA, kind: 'senderEntries', limit: 3 });
      // Another sender still gets in: one sender's junk does not close the mailbox.
      expect((await s.put(entry({ sender: CAROL }), q)).seq).toBe(4);
      expect(await s.senderUsage(BOB, ALICE)).toEqual({ count: 3, bytes: 3 * size });
      // Bytes: a body that would take the sender past its bytes is refused, a smaller one fits.
      const big = JSON.stringify({ ct: 'y'.repeat(60) });
      const qb = { senderBytes: big.length + size, bytes: 1000 };
      await s.put(entry({ recipient: DAVE, body: big }), qb);
      await expect(s.put(entry({ recipient: DAVE, body: big }), qb)).rejects.toMatchObject({ kind: 'senderBytes' });
      await s.put(entry({ recipient: DAVE, body: JSON.stringify({ ct: 'x' }) }), qb);
      await expect(s.put(entry({ recipient: DAVE, sender: CAROL, body: 'z'.repeat(1000) }), qb)).rejects.toMatchObject({ kind: 'bytes' });
      expect(await s.usage(DAVE)).toEqual({ count: 2, bytes: big.length + size });
      // An ack (and an expiry) gives the room back, to the sender and to the mailbox.
      await s.ack(BOB, 2);
      expect(await s.senderUsage(BOB, ALICE)).toEqual({ count: 1, bytes: size });
      expect((await s.put(entry(), q)).seq).toBe(5);
      await s.ack(DAVE, 2);
      expect(await s.senderUsage(DAVE, ALICE)).toEqual({ count: 0, bytes: 0 });
      await s.put(entry({ recipient: DAVE, body: big }), qb);
    });

    it('expires entries older than a time in every mailbox', async () => {
      const s = await make();
      await s.put(entry({ ts: 100 }));
      await s.put(entry({ ts: 200 }));
      await s.put(entry({ ts: 300 }));
      await s.put(entry({ recipient: CAROL, ts: 150 }));
      expect(await s.expire(250)).toBe(3);
      expect((await s.page(BOB, 0, 10)).map((e) => e.seq)).toEqual([3]);
      expect(await s.page(CAROL, 0, 10)).toEqual([]);
      expect(await s.lastSeq(CAROL)).toBe(1);
    });

    it('updates a device in place', async () => {
      const s = await make();
      const d: DeviceRow = { id: ALICE, spki: 'AAAA', enc: { key: 'k', sig: 's' }, profile: { name: 'A', group: '', host: '', status: 'online', away: '' }, lastSeen: 1 };
      await s.upsertDevice(d);
      await s.upsertDevice({ ...d, profile: { ...d.profile, status: 'away', away: 'lunch' }, lastSeen: 2 });
      expect(await s.devices()).toEqual([{ ...d, profile: { ...d.profile, status: 'away', away: 'lunch' }, lastSeen: 2 }]);
      expect(await s.device(BOB)).toBeNull();
    });
  });

  describe.skipIf(skip)(`${name} directory versions`, () => {
    const dev = (id: string, lastSeen = 1000): DeviceRow => ({ id, spki: 'AAAA', enc: { key: 'k'.repeat(44), sig: 'sig' }, profile: { name: id[0]!, group: '', host: '', status: 'online', away: '' }, lastSeen });

    it('gives every change the next version; changes after v are exactly the later ones, each device once at its last', async () => {
      const s = await make();
      expect(await s.directoryHead()).toEqual({ version: 0, floor: 0 });
      // Concurrent upserts (a pool on PostgreSQL): distinct versions with no holes.
      const vs = await Promise.all([ALICE, BOB, CAROL, DAVE, ALICE, BOB].map((id, i) => s.upsertDevice(dev(id, 1000 + i))));
      expect([...vs].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
      expect((await s.directoryHead()).version).toBe(6);
      const all = await s.directoryChanges(0, 100);
      expect(all.map((c) => c.v)).toEqual([...all.map((c) => c.v)].sort((x, y) => x - y));
      expect(all.map((c) => (c.gone ? c.id : c.row.id)).sort()).toEqual([ALICE, BOB, CAROL, DAVE]);
      const v = await s.upsertDevice(dev(CAROL, 5000));
      expect(v).toBe(7);
      const after = await s.directoryChanges(6, 100);
      expect(after).toEqual([{ v: 7, row: dev(CAROL, 5000) }]);
      expect(await s.directoryChanges(7, 100)).toEqual([]);
      // Limited, in version order.
      expect((await s.directoryChanges(0, 2)).length).toBe(2);
      // Pages in id order, each with its version.
      const p1 = await s.directoryPage('', 3);
      expect(p1.map((d) => d.row.id)).toEqual([ALICE, BOB, CAROL]);
      expect(p1.find((d) => d.row.id === CAROL)?.v).toBe(7);
      expect((await s.directoryPage(CAROL, 3)).map((d) => d.row.id)).toEqual([DAVE]);
    });

    it('content changes (registration, keys, profile) are told apart from comings and goings, in the order of their content versions', async () => {
      const s = await make();
      await s.upsertDevice(dev(ALICE, 100)); // 1: registered
      await s.upsertDevice(dev(BOB, 100)); // 2: registered
      expect(await s.upsertDevice(dev(ALICE, 200))).toBe(3); // only seen again: a change, not a content change
      await s.upsertDevice({ ...dev(BOB, 300), profile: { ...dev(BOB).profile, status: 'away' } }); // 4: profile
      await s.upsertDevice(dev(CAROL, 400)); // 5: registered
      await s.upsertDevice(dev(CAROL, 500)); // 6: seen
      await s.upsertDevice({ ...dev(ALICE, 600), enc: { key: 'n'.repeat(44), sig: 'new' } }); // 7: new keys
      await s.upsertDevice({ ...dev(ALICE, 700), enc: { key: 'n'.repeat(44), sig: 'new' } }); // 8: seen
      const all = await s.directoryChanges(0, 100);
      expect(all.map((c) => c.v)).toEqual([4, 6, 8]);
      const content = await s.directoryChanges(0, 100, 'content');
      // Each device once, as it is now (v: its last change), ordered by its last content change (c).
      expect(content.map((c) => (c.gone ? [c.id, c.v] : [c.row.id, c.c, c.v]))).toEqual([
        [BOB, 4, 4],
        [CAROL, 5, 6],
        [ALICE, 7, 8],
      ]);
      expect((await s.directoryChanges(5, 100, 'content')).map((c) => (c.gone ? c.id : c.row.id))).toEqual([ALICE]);
      expect(await s.directoryChanges(7, 100, 'content')).toEqual([]);
      // Limited: a page ends at the content version of its last entry.
      expect((await s.directoryChanges(0, 2, 'content')).map((c) => (c.gone ? c.v : c.c))).toEqual([4, 5]);
      // A pruned device is a content change (its tombstone), merged in order.
      await s.upsertDevice(dev(DAVE, 10)); // 9
      expect(await s.prune({ seenBefore: 50, tombstonesBefore: 0, now: 1000, keep: () => false })).toEqual([{ v: 10, id: DAVE }]);
      expect(await s.directoryChanges(7, 100, 'content')).toEqual([{ v: 10, id: DAVE, gone: true }]);
      // Rows by id, with their versions; unknown ids are left out.
      const some = await s.devicesByIds([CAROL, ALICE, DAVE]);
      expect(some.map((d) => [d.row.id, d.v]).sort()).toEqual([[ALICE, 8], [CAROL, 6]].sort());
      expect(await s.devicesByIds([])).toEqual([]);
    });

    it('prunes devices not seen since a time unless kept, each as a change with a tombstone; dropping tombstones raises the floor', async () => {
      const s = await make();
      await s.upsertDevice(dev(ALICE, 100));
      await s.upsertDevice(dev(BOB, 100));
      await s.upsertDevice(dev(CAROL, 9000));
      const gone = await s.prune({ seenBefore: 1000, tombstonesBefore: 0, now: 2000, keep: (id) => id === ALICE });
      expect(gone).toEqual([{ v: 4, id: BOB }]);
      expect(await s.device(BOB)).toBeNull();
      expect((await s.devices()).map((d) => d.id)).toEqual([ALICE, CAROL]);
      expect(await s.directoryChanges(3, 10)).toEqual([{ v: 4, id: BOB, gone: true }]);
      expect(await s.directoryHead()).toEqual({ version: 4, floor: 0 });
      // Bob comes back: a new version, and no tombstone left.
      expect(await s.upsertDevice(dev(BOB, 9500))).toBe(5);
      expect((await s.directoryChanges(3, 10)).map((c) => [c.v, c.gone ?? false])).toEqual([[5, false]]);
      // Dave pruned, and later his tombstone dropped: the floor moves to its version.
      await s.upsertDevice(dev(DAVE, 100));
      expect(await s.prune({ seenBefore: 1000, tombstonesBefore: 0, now: 3000, keep: (id) => id === ALICE })).toEqual([{ v: 7, id: DAVE }]);
      expect(await s.prune({ seenBefore: 1000, tombstonesBefore: 3001, now: 4000, keep: (id) => id === ALICE })).toEqual([]);
      expect(await s.directoryHead()).toEqual({ version: 7, floor: 7 });
      expect(await s.directoryChanges(6, 10)).toEqual([]);
    });
  });

  describe.skipIf(skip)(`${name} groups`, () => {
    it('creates a group once: a second create with the same id returns the first, unchanged', async () => {
      const s = await make();
      const g = await s.createGroup(group([A, B, C]), link(1));
      expect(g).toEqual(group([A, B, C]));
      expect(await s.createGroup(group([D], { name: 'Other', owner: D }), link(1))).toEqual(g);
      expect(await s.group(GID)).toEqual(g);
      expect(await s.group('2'.repeat(32))).toBeNull();
      expect((await s.groupsOf(B)).map((x) => x.gid)).toEqual([GID]);
      expect(await s.groupsOf(D)).toEqual([]);
    });

    it('adds members at the log\'s last seq, in order of joining, once each', async () => {
      const s = await make();
      await s.createGroup(group([A, B]), link(1));
      for (let i = 0; i < 3; i++) await post(s, A);
      const g = await s.addGroupMembers(GID, [C, B], link(2));
      expect(g!.members).toEqual([
        { id: A, joined: 0 },
        { id: B, joined: 0 },
        { id: C, joined: 3 },
      ]);
      expect(await s.addGroupMembers('2'.repeat(32), [C], link(2))).toBeNull();
    });

    it('removing the owner passes ownership to the earliest member; removing the last deletes the group and its log, but never reuses its seqs', async () => {
      const s = await make();
      await s.createGroup(group([A, B, C]), link(1));
      await post(s, A);
      await post(s, B);
      expect((await s.removeGroupMember(GID, A, link(2)))!.owner).toBe(B);
      expect((await s.removeGroupMember(GID, B, link(3)))!.owner).toBe(C);
      expect(await s.removeGroupMember(GID, C, link(4))).toBeNull();
      expect(await s.groupChanges(GID, 0, 10)).toEqual([]);
      expect(await s.group(GID)).toBeNull();
      expect(await s.page(groupMailbox(GID), 0, 10)).toEqual([]);
      expect(await s.groupsOf(C)).toEqual([]);
      expect(await s.lastSeq(groupMailbox(GID))).toBe(2);
    });

    it('keeps the chain of changes with the membership, and refuses a change that does not follow the head (nothing changes)', async () => {
      const s = await make();
      await s.createGroup(group([A, B]), link(1));
      await s.addGroupMembers(GID, [C], link(2));
      const stale = [
        () => s.addGroupMembers(GID, [D], link(2)), // a second change at revision 2: the race another member lost
        () => s.addGroupMembers(GID, [D], link(4)), // a gap
        () => s.removeGroupMember(GID, B, link(3, hash(1))), // names an older head: a fork
      ];
      for (const attempt of stale) await expect(attempt()).rejects.toMatchObject({ code: ErrorCodes.GROUP_STALE });
      const g = await s.group(GID);
      expect(g!.members.map((x) => x.id)).toEqual([A, B, C]);
      expect([g!.rev, g!.head]).toEqual([2, hash(2)]);
      expect(await s.groupChanges(GID, 0, 10)).toEqual([1, 2].map((r) => ({ rev: r, hash: hash(r), body: `{"rev":${r}}` })));
      expect((await s.groupChanges(GID, 1, 10)).map((x) => x.rev)).toEqual([2]);
    });

    it('keeps one log per group with its own seqs, stored once whatever the number of members', async () => {
      const s = await make();
      await s.createGroup(group([A, B, C, D]), link(1));
      const seqs = [await post(s, A), await post(s, B), await post(s, A)];
      expect(seqs).toEqual([1, 2, 3]);
      expect((await s.usage(groupMailbox(GID))).count).toBe(3);
      expect((await s.page(groupMailbox(GID), 1, 10)).map((e) => e.seq)).toEqual([2, 3]);
    });
  });
}
