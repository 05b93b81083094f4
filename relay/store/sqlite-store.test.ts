import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { DeviceRow, NewEntry } from './relay-store.js';
import { RELAY_DB_FILE, SqliteStore } from './sqlite-store.js';

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
  it('gives each mailbox its own strictly increasing seq, never reused after ack', async () => {
    const s = openStore(tempDb());
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
    const path = tempDb();
    const s1 = openStore(path);
    const epoch = await s1.epoch();
    expect(epoch).toMatch(/^[0-9a-f]{32}$/);
    const device: DeviceRow = { id: ALICE, spki: 'AAAA', enc: { key: 'k'.repeat(44), sig: 'sig' }, profile: { name: 'Alice', group: 'Ops', host: 'pc1', status: 'online', away: '' }, lastSeen: 42 };
    await s1.upsertDevice(device);
    await s1.put(entry());
    await s1.put(entry());
    await s1.ack(BOB, 2);
    await s1.put(entry());
    await s1.close();

    const s2 = openStore(path);
    expect(await s2.epoch()).toBe(epoch);
    expect(await s2.device(ALICE)).toEqual(device);
    expect((await s2.page(BOB, 0, 10)).map((e) => e.seq)).toEqual([3]);
    expect((await s2.put(entry())).seq).toBe(4);
    expect(await s2.lastSeq(BOB)).toBe(4);
  });

  it('a new store has a new epoch', async () => {
    const a = openStore(tempDb());
    const b = openStore(tempDb());
    expect(await a.epoch()).not.toBe(await b.epoch());
  });

  it('dedups on (recipient, sender, msgId) and answers the original seq', async () => {
    const s = openStore(tempDb());
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
  });

  it('pages in seq order after a cursor, at most limit', async () => {
    const s = openStore(tempDb());
    for (let i = 0; i < 10; i++) await s.put(entry());
    expect((await s.page(BOB, 0, 4)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect((await s.page(BOB, 4, 4)).map((e) => e.seq)).toEqual([5, 6, 7, 8]);
    expect((await s.page(BOB, 8, 4)).map((e) => e.seq)).toEqual([9, 10]);
    expect(await s.page(BOB, 10, 4)).toEqual([]);
    const [first] = await s.page(BOB, 0, 1);
    expect(first).toMatchObject({ seq: 1, sender: ALICE });
  });

  it('enforces the quota on new entries but still answers duplicates', async () => {
    const s = openStore(tempDb());
    const first = entry();
    await s.put(first, 2);
    await s.put(entry(), 2);
    const err = await s.put(entry(), 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PigeonError);
    expect((err as PigeonError).code).toBe(ErrorCodes.RELAY_QUOTA);
    expect(await s.put(first, 2)).toEqual({ seq: 1, duplicate: true });
    expect((await s.usage(BOB)).count).toBe(2);
    // Another mailbox is not affected; an ack makes room.
    expect((await s.put(entry({ recipient: CAROL }), 2)).seq).toBe(1);
    await s.ack(BOB, 1);
    expect((await s.put(entry(), 2)).seq).toBe(3);
  });

  it('expires entries older than a time in every mailbox', async () => {
    const s = openStore(tempDb());
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
    const s = openStore(tempDb());
    const d: DeviceRow = { id: ALICE, spki: 'AAAA', enc: { key: 'k', sig: 's' }, profile: { name: 'A', group: '', host: '', status: 'online', away: '' }, lastSeen: 1 };
    await s.upsertDevice(d);
    await s.upsertDevice({ ...d, profile: { ...d.profile, status: 'away', away: 'lunch' }, lastSeen: 2 });
    expect(await s.devices()).toEqual([{ ...d, profile: { ...d.profile, status: 'away', away: 'lunch' }, lastSeen: 2 }]);
    expect(await s.device(BOB)).toBeNull();
  });

  it('reports an unopenable database with a clear error', () => {
    expect(() => new SqliteStore('/nonexistent-dir/x/relay.db')).toThrow(/cannot open the relay database/);
  });
});
