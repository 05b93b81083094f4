/**
 * The PostgreSQL store against a real PostgreSQL (PIGEON_TEST_PG_URL, by
 * default the local test database), each test in a fresh schema dropped
 * afterwards. Mirrors sqlite-store.test.ts, plus what only a shared store
 * has: two store instances putting to one mailbox at once.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { PostgresStore } from './postgres-store.js';
import type { DeviceRow, NewEntry } from './relay-store.js';

const PG_URL = process.env.PIGEON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function reachable(): Promise<string | null> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await c.end().catch(() => {});
  }
}

const unreachable = await reachable();
if (unreachable) console.warn(`PostgresStore tests skipped: PostgreSQL at ${PG_URL} is not reachable (${unreachable})`);

const schemas: string[] = [];
const open: PostgresStore[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

afterAll(async () => {
  if (unreachable) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  for (const s of schemas.splice(0)) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await c.end();
});

function freshSchema(): string {
  const s = `pigeon_test_${randomBytes(6).toString('hex')}`;
  schemas.push(s);
  return s;
}

async function openStore(schema = freshSchema()): Promise<PostgresStore> {
  const s = await PostgresStore.open(PG_URL, { schema });
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

describe.skipIf(unreachable !== null)('PostgresStore', () => {
  it('gives each mailbox its own strictly increasing seq, never reused after ack', async () => {
    const s = await openStore();
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

  it('keeps seq, entries, devices and the epoch across a reopen', async () => {
    const schema = freshSchema();
    const s1 = await openStore(schema);
    const epoch = await s1.epoch();
    expect(epoch).toMatch(/^[0-9a-f]{32}$/);
    const device: DeviceRow = { id: ALICE, spki: 'AAAA', enc: { key: 'k'.repeat(44), sig: 'sig' }, profile: { name: 'Alice', group: 'Ops', host: 'pc1', status: 'online', away: '' }, lastSeen: 1_764_003_600_123 };
    await s1.upsertDevice(device);
    await s1.put(entry());
    await s1.put(entry());
    await s1.ack(BOB, 2);
    await s1.put(entry());
    await s1.close();

    const s2 = await openStore(schema);
    expect(await s2.epoch()).toBe(epoch);
    expect(await s2.device(ALICE)).toEqual(device);
    expect((await s2.page(BOB, 0, 10)).map((e) => e.seq)).toEqual([3]);
    expect((await s2.put(entry())).seq).toBe(4);
    expect(await s2.lastSeq(BOB)).toBe(4);
  });

  it('a new store has a new epoch; stores opened together on one schema share it', async () => {
    const a = await openStore();
    const b = await openStore();
    expect(await a.epoch()).not.toBe(await b.epoch());
    const schema = freshSchema();
    const [c, d] = await Promise.all([openStore(schema), openStore(schema)]);
    expect(await c.epoch()).toBe(await d.epoch());
  });

  it('dedups on (recipient, sender, msgId) and answers the original seq', async () => {
    const s = await openStore();
    const e = entry();
    expect(await s.put(e)).toEqual({ seq: 1, duplicate: false });
    expect(await s.put({ ...e, body: '{"other":1}' })).toEqual({ seq: 1, duplicate: true });
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
    const s = await openStore();
    for (let i = 0; i < 10; i++) await s.put(entry());
    expect((await s.page(BOB, 0, 4)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect((await s.page(BOB, 4, 4)).map((e) => e.seq)).toEqual([5, 6, 7, 8]);
    expect((await s.page(BOB, 8, 4)).map((e) => e.seq)).toEqual([9, 10]);
    expect(await s.page(BOB, 10, 4)).toEqual([]);
    const [first] = await s.page(BOB, 0, 1);
    expect(first).toMatchObject({ seq: 1, sender: ALICE });
  });

  it('enforces the quota on new entries but still answers duplicates', async () => {
    const s = await openStore();
    const first = entry();
    await s.put(first, 2);
    await s.put(entry(), 2);
    const err = await s.put(entry(), 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PigeonError);
    expect((err as PigeonError).code).toBe(ErrorCodes.RELAY_QUOTA);
    expect(await s.put(first, 2)).toEqual({ seq: 1, duplicate: true });
    expect((await s.usage(BOB)).count).toBe(2);
    expect((await s.put(entry({ recipient: CAROL }), 2)).seq).toBe(1);
    await s.ack(BOB, 1);
    expect((await s.put(entry(), 2)).seq).toBe(3);
  });

  it('expires entries older than a time in every mailbox', async () => {
    const s = await openStore();
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
    const s = await openStore();
    const d: DeviceRow = { id: ALICE, spki: 'AAAA', enc: { key: 'k', sig: 's' }, profile: { name: 'A', group: '', host: '', status: 'online', away: '' }, lastSeen: 1 };
    await s.upsertDevice(d);
    await s.upsertDevice({ ...d, profile: { ...d.profile, status: 'away', away: 'lunch' }, lastSeen: 2 });
    expect(await s.devices()).toEqual([{ ...d, profile: { ...d.profile, status: 'away', away: 'lunch' }, lastSeen: 2 }]);
    expect(await s.device(BOB)).toBeNull();
  });

  it('two stores (two relay instances) putting to one mailbox at once get distinct, gap-free seqs; a duplicate raced from both is stored once', async () => {
    const schema = freshSchema();
    const [s1, s2] = await Promise.all([openStore(schema), openStore(schema)]);
    const puts = [];
    for (let i = 0; i < 100; i++) puts.push((i % 2 ? s1 : s2).put(entry()));
    const seqs = (await Promise.all(puts)).map((r) => r.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    // Entries in seq order are the puts in commit order: each one's seq is above every seq committed before it.
    expect((await s1.page(BOB, 0, 200)).map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));

    const e = entry();
    const raced = await Promise.all([s1.put(e), s2.put(e), s1.put(e), s2.put(e)]);
    expect(new Set(raced.map((r) => r.seq)).size).toBe(1);
    expect(raced.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(await s2.lastSeq(BOB)).toBe(101);
  });

  it('reports an unreachable database and a bad schema name with a clear error', async () => {
    await expect(PostgresStore.open('postgres://postgres@127.0.0.1:1/test')).rejects.toThrow(/^cannot reach PostgreSQL at 127\.0\.0\.1:1\/test: .*ECONNREFUSED/);
    await expect(PostgresStore.open(PG_URL, { schema: 'Robert"); DROP' })).rejects.toThrow(/not a valid schema name/);
  });
});
