/**
 * Group membership and group logs, the same cases against both stores: the
 * embedded SQLite one and PostgreSQL (a fresh schema per test, skipped with
 * the reason printed when the database does not answer).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PostgresStore } from './postgres-store.js';
import { groupMailbox, type GroupRow, type RelayStore } from './relay-store.js';
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
if (pgUnreachable) console.warn(`group store tests on PostgreSQL skipped: ${PG_URL} is not reachable (${pgUnreachable})`);

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

const stores: Array<[string, () => Promise<RelayStore>, boolean]> = [
  [
    'SqliteStore',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pigeon-group-store-'));
      dirs.push(dir);
      const s = new SqliteStore(join(dir, RELAY_DB_FILE));
      open.push(s);
      return s;
    },
    false,
  ],
  [
    'PostgresStore',
    async () => {
      const schema = `pigeon_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      const s = await PostgresStore.open(PG_URL, { schema });
      open.push(s);
      return s;
    },
    pgUnreachable !== null,
  ],
];

const [A, B, C, D] = ['a', 'b', 'c', 'd'].map((ch) => ch.repeat(26)) as [string, string, string, string];
const GID = '1'.repeat(32);

function group(members: string[], over: Partial<GroupRow> = {}): GroupRow {
  return { gid: GID, name: 'Sales', owner: members[0]!, created: 1000, members: members.map((id) => ({ id, joined: 0 })), ...over };
}

let n = 0;
async function post(store: RelayStore, sender: string): Promise<number> {
  n++;
  return (await store.put({ recipient: groupMailbox(GID), sender, msgId: n.toString(16).padStart(32, '0'), ts: 1000 + n, body: `{"n":${n}}` })).seq;
}

for (const [name, make, skip] of stores) {
  describe.skipIf(skip)(`${name} groups`, () => {
    it('creates a group once: a second create with the same id returns the first, unchanged', async () => {
      const s = await make();
      const g = await s.createGroup(group([A, B, C]));
      expect(g).toEqual(group([A, B, C]));
      expect(await s.createGroup(group([D], { name: 'Other', owner: D }))).toEqual(g);
      expect(await s.group(GID)).toEqual(g);
      expect(await s.group('2'.repeat(32))).toBeNull();
      expect((await s.groupsOf(B)).map((x) => x.gid)).toEqual([GID]);
      expect(await s.groupsOf(D)).toEqual([]);
    });

    it('adds members at the log\'s last seq, in order of joining, once each', async () => {
      const s = await make();
      await s.createGroup(group([A, B]));
      for (let i = 0; i < 3; i++) await post(s, A);
      const g = await s.addGroupMembers(GID, [C, B]);
      expect(g!.members).toEqual([
        { id: A, joined: 0 },
        { id: B, joined: 0 },
        { id: C, joined: 3 },
      ]);
      expect(await s.addGroupMembers('2'.repeat(32), [C])).toBeNull();
    });

    it('removing the owner passes ownership to the earliest member; removing the last deletes the group and its log, but never reuses its seqs', async () => {
      const s = await make();
      await s.createGroup(group([A, B, C]));
      await post(s, A);
      await post(s, B);
      expect((await s.removeGroupMember(GID, A))!.owner).toBe(B);
      expect((await s.removeGroupMember(GID, B))!.owner).toBe(C);
      expect(await s.removeGroupMember(GID, C)).toBeNull();
      expect(await s.group(GID)).toBeNull();
      expect(await s.page(groupMailbox(GID), 0, 10)).toEqual([]);
      expect(await s.groupsOf(C)).toEqual([]);
      expect(await s.lastSeq(groupMailbox(GID))).toBe(2);
    });

    it('keeps one log per group with its own seqs, stored once whatever the number of members', async () => {
      const s = await make();
      await s.createGroup(group([A, B, C, D]));
      const seqs = [await post(s, A), await post(s, B), await post(s, A)];
      expect(seqs).toEqual([1, 2, 3]);
      expect((await s.usage(groupMailbox(GID))).count).toBe(3);
      expect((await s.page(groupMailbox(GID), 1, 10)).map((e) => e.seq)).toEqual([2, 3]);
    });
  });
}
