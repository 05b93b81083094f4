/**
 * The PostgreSQL store against a real PostgreSQL (PIGEON_TEST_PG_URL, by
 * default the local test database), each test in a fresh schema dropped
 * afterwards: what only a shared store has (two store instances at once).
 * The rules both stores keep are tested in relay-store.test.ts.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PostgresStore } from './postgres-store.js';
import type { NewEntry } from './relay-store.js';

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

let n = 0;
function entry(over: Partial<NewEntry> = {}): NewEntry {
  n++;
  return { recipient: BOB, sender: ALICE, msgId: n.toString(16).padStart(32, '0'), ts: 1_000_000 + n, body: `{"ct":"${n}"}`, ...over };
}

describe.skipIf(unreachable !== null)('PostgresStore', () => {
  it('stores opened together on one schema (relay instances starting at once) share one epoch', async () => {
    const schema = freshSchema();
    const [c, d] = await Promise.all([openStore(schema), openStore(schema)]);
    expect(await c.epoch()).toBe(await d.epoch());
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
