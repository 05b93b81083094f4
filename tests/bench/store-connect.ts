/**
 * What the SQLite store costs per relay connect (issue 17 item 2), without
 * TLS or sockets: with N devices stored, every device "connects" again in a
 * random order, B at a time: its row written (upsertDevice, group commit
 * with fsync) and what welcome reads (lastSeq, directoryHead, two
 * directory changes). Prints the process's CPU per connect and the wall
 * time, per round. B is how many connects share a commit: what the relay
 * gets at a given connect rate.
 *
 * Usage: node dist/tests/bench/store-connect.js [devices=10000] [B=4] [rounds=3] [device commit interval ms, 0: none]
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../relay/store/sqlite-store.js';
import type { DeviceRow } from '../../relay/store/relay-store.js';
import { makeDevice } from '../support/relay-device.js';

const [nS, bS, roundsS, intervalS] = process.argv.slice(2);
const n = Number(nS ?? 10_000);
const B = Number(bS ?? 4);
const rounds = Number(roundsS ?? 3);
const dir = mkdtempSync(join(os.tmpdir(), 'pigeon-store-connect-'));
// The interval 0 by default: here B alone says how many rows share a commit.
const store = new SqliteStore(join(dir, 'relay.db'), Number(intervalS ?? 0));
const devices = Array.from({ length: n }, () => makeDevice());
const row = (i: number): DeviceRow => ({ id: devices[i]!.id, spki: devices[i]!.spki, enc: devices[i]!.enc, profile: { name: `Bench ${i}`, group: 'Bench', host: 'bench', status: 'online', away: '' }, lastSeen: Date.now() });
await Promise.all(devices.map((_, i) => store.upsertDevice(row(i))));
// The database with its write-ahead log: rows not yet checkpointed are only in the latter.
const bytes = ['relay.db', 'relay.db-wal'].map((f) => join(dir, f)).filter((f) => existsSync(f)).reduce((a, f) => a + statSync(f).size, 0);
process.stdout.write(`${n} devices, database and log ${(bytes / 1e6).toFixed(1)} MB, ${B} connects per commit\n`);
for (let r = 0; r < rounds; r++) {
  const order = devices.map((_, i) => i).sort(() => Math.random() - 0.5);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i += B) {
    await Promise.all(
      order.slice(i, i + B).map(async (k) => {
        await store.upsertDevice(row(k));
        await store.lastSeq(devices[k]!.id);
        const head = await store.directoryHead();
        await store.directoryChanges(head.version - 5, 2, 'content');
      }),
    );
  }
  const c = process.cpuUsage(c0);
  process.stdout.write(`round ${r + 1}: ${((c.user + c.system) / n).toFixed(0)} µs CPU per connect (user ${(c.user / n).toFixed(0)}, system ${(c.system / n).toFixed(0)}), ${(((performance.now() - t0) * 1000) / n).toFixed(0)} µs wall\n`);
}
await store.close();
rmSync(dir, { recursive: true, force: true });
