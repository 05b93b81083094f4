/**
 * `npm run bench:lan-groups`: what a LAN group without a relay costs
 * (docs/protocol/pigeon-v1.md §12.10): an author signing messages into the
 * group log (real GroupService, Messenger and SQLite profile), and a member
 * that was away catching up on all of them from one member: frames through
 * the session schema (JSON, parseSessionFrame), each entry's signature
 * checked and stored. In process, no sockets: the figure is the peers' own
 * work, not the network's. Prints one line per size and writes
 * bench-results/lan-group-catchup.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupOf } from '../../shared/api/conversation-key.js';
import { parseSessionFrame, type SessionFrame } from '../../shared/protocol/session-frames.js';
import { GroupService } from '../../core/groups/group-service.js';
import { loadOrCreateIdentity, type Identity } from '../../core/identity/identity.js';
import { Messenger } from '../../core/messaging/messenger.js';
import { Store } from '../../core/store/store.js';
import { silentLogger, systemClock, systemRandom } from '../../core/util/components.js';
import { ROOT } from '../support/cli-peer.js';

/** Messages said while the member was away: a busy morning, a busy week. */
const SIZES = [1000, 5000];

interface Device {
  identity: Identity;
  store: Store;
  groups: GroupService;
  messenger: Messenger;
}

async function run(size: number): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-bench-langroup-'));
  const devices = new Map<string, Device>();
  const online = new Set<string>();
  let frames = 0;
  let bytes = 0;
  /** Set before the profiles close: receipts still in flight are dropped. */
  let closed = false;
  const deliver = (from: string, to: string, frame: SessionFrame): void => {
    const wire = new TextEncoder().encode(JSON.stringify(frame));
    frames++;
    bytes += wire.length;
    const parsed = parseSessionFrame(wire);
    setImmediate(() => {
      if (closed) return;
      const lan = devices.get(to)!.groups.lan;
      if (parsed.type === 'group-have') lan.onHave(from, parsed);
      if (parsed.type === 'group-log') lan.onLog(from, parsed);
    });
  };
  const make = async (name: string): Promise<Device> => {
    const identity = await loadOrCreateIdentity(join(dir, name));
    const store = new Store(join(dir, name, 'pigeon.db'));
    const messenger: Messenger = new Messenger({ store, clock: systemClock, random: systemRandom, logger: silentLogger }, () => {}, (conv) => {
      const gid = groupOf(conv);
      if (gid) groups.carry(gid);
    });
    const groups: GroupService = new GroupService({
      identity, store, clock: systemClock, random: systemRandom, logger: silentLogger, messenger, relay: () => null, peerName: () => name, emit: () => {},
      session: (peer) => (online.has(peer) && online.has(identity.id) ? { send: (f) => deliver(identity.id, peer, f) } : undefined),
      ensure: () => {},
    });
    const d = { identity, store, groups, messenger };
    devices.set(identity.id, d);
    online.add(identity.id);
    return d;
  };
  const [alice, bob] = [await make('alice'), await make('bob')];
  for (const [a, b] of [[alice, bob], [bob, alice]] as const) {
    a.store.savePeer({ id: b.identity.id, name: 'x', group: '', host: 'h', addresses: [], port: 1, lastSeen: 1 });
    a.store.pinKey(b.identity.id, b.identity.spki);
  }
  const g = await alice.groups.create('Bench', [bob.identity.id]);
  await until(() => bob.groups.find('Bench') !== null);
  online.delete(bob.identity.id);

  let t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: size }, (_, i) => alice.groups.send(g.id, `message ${i} ${'x'.repeat(80)}`)));
  await until(() => alice.store.pending(`group:${g.id}`, 0, 1).length === 0);
  const writeMs = Number(process.hrtime.bigint() - t0) / 1e6;

  online.add(bob.identity.id);
  frames = bytes = 0;
  t0 = process.hrtime.bigint();
  alice.groups.lan.onOpen(bob.identity.id);
  bob.groups.lan.onOpen(alice.identity.id);
  // Polled on the author count (one indexed query) every 20 ms, so that the check costs the catch-up little.
  await until(() => bob.groups.lan.log.have(g.id).get(alice.identity.id) === size, 120_000, 20);
  const catchUpMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const got = bob.groups.history(g.id, size + 10).length;
  if (got !== size) throw new Error(`bob has ${got} of ${size}`);

  closed = true;
  for (const d of [alice, bob]) {
    d.groups.stop();
    d.messenger.stop();
    d.store.close();
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`${size} messages: signed into the log in ${writeMs.toFixed(0)} ms (${((size / writeMs) * 1000).toFixed(0)}/s); a returning member caught up in ${catchUpMs.toFixed(0)} ms (${((size / catchUpMs) * 1000).toFixed(0)}/s), ${frames} frames, ${(bytes / 1024).toFixed(0)} KiB`);
  return { messages: size, writeMs: Math.round(writeMs), catchUpMs: Math.round(catchUpMs), frames, kib: Math.round(bytes / 1024) };
}

async function until(done: () => boolean, ms = 60_000, every = 5): Promise<void> {
  for (const end = Date.now() + ms; !done(); await new Promise((r) => setTimeout(r, every))) if (Date.now() > end) throw new Error('timed out');
}

const results = [];
for (const size of SIZES) results.push(await run(size));
const out = join(ROOT, 'bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'lan-group-catchup.json'), JSON.stringify({ at: new Date().toISOString(), results }, null, 2) + '\n');
