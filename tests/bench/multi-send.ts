/**
 * `npm run bench:multi-send`: what a message to a whole office costs the
 * sender (docs/protocol/pigeon-v1.md §7.12): storing one copy per recipient
 * (real Messenger and SQLite profile database, no network), the account
 * "delivered to N of M" (`multiSend`), and the acknowledgements of every
 * copy arriving in one turn, with the one coalesced `multi-send` event they
 * cause. Prints one line per figure and writes bench-results/multi-send.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerEvent, PeerInfo } from '../../shared/api/control-api.js';
import { Messenger } from '../../core/messaging/messenger.js';
import { MultiSends } from '../../core/messaging/multi-send.js';
import { Store } from '../../core/store/store.js';
import { silentLogger, systemClock, systemRandom } from '../../core/util/components.js';
import { ROOT } from '../support/cli-peer.js';

/** Recipients: a large office floor, the size the office tests use (150) and beyond. */
const SIZES = [50, 150, 500];
/** Repeats of the account, for a stable mean. */
const READS = 200;

/** A distinct 26-character id per colleague (the store does not check the alphabet). */
const deviceId = (i: number): string => `p${i.toString(32).padStart(25, '0')}`;

async function run(size: number): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-bench-multi-'));
  const store = new Store(join(dir, 'pigeon.db'));
  let events = 0;
  const contacts: PeerInfo[] = Array.from({ length: size }, (_, i) => ({ id: deviceId(i), name: `Colleague ${i}`, group: 'Floor 3', host: `pc-${i}`, port: 2426, status: 'online', away: '', addresses: [], online: true, sources: ['broadcast'], remote: false, lastSeen: 0, fingerprint: '' }));
  let multi: MultiSends | null = null;
  const emit = (e: PeerEvent): void => {
    if (e.type === 'multi-send') events++;
    if (e.type === 'message-state') multi?.changed(e.message);
  };
  const messenger = new Messenger({ store, clock: systemClock, random: systemRandom, logger: silentLogger }, emit, () => {});
  multi = new MultiSends({
    store,
    random: systemRandom,
    contacts: () => contacts,
    resolve: (q) => contacts.find((p) => p.id === q)!,
    sendCopy: (p, text, at, id) => messenger.send(p.id, text, at, { multi: id }),
    waitDelivered: (id, ms) => messenger.waitDelivered(id, ms),
    emit,
  });
  let t0 = process.hrtime.bigint();
  const sent = await multi.send({ everyone: true }, 'Fire drill at 4, please leave by the east stairs');
  const storeMs = Number(process.hrtime.bigint() - t0) / 1e6;
  t0 = process.hrtime.bigint();
  for (let i = 0; i < READS; i++) multi.get(sent.id);
  const accountUs = Number(process.hrtime.bigint() - t0) / 1000 / READS;
  t0 = process.hrtime.bigint();
  for (const r of sent.recipients) messenger.receipt(r.peer, [r.message], 'delivered');
  await new Promise((r) => setImmediate(r));
  const acksMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const after = multi.get(sent.id);
  if (after.delivered !== size) throw new Error(`delivered ${after.delivered} of ${size}`);
  messenger.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(`${size} recipients: copies stored in ${storeMs.toFixed(1)} ms; "delivered to N of M" in ${accountUs.toFixed(0)} µs; ${size} acks and their account in ${acksMs.toFixed(1)} ms (${events} multi-send event${events === 1 ? '' : 's'})`);
  return { recipients: size, storeMs: Math.round(storeMs * 10) / 10, accountUs: Math.round(accountUs), acksMs: Math.round(acksMs * 10) / 10, events };
}

const results = [];
for (const size of SIZES) results.push(await run(size));
const out = join(ROOT, 'bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'multi-send.json'), JSON.stringify({ at: new Date().toISOString(), results }, null, 2) + '\n');
