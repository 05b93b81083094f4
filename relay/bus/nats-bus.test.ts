/**
 * The buses: NatsBus with two or three instances in this process on a real
 * NATS (PIGEON_TEST_NATS_URL, by default this machine's; a fresh subject
 * prefix per test), and OrderedBus over a LocalBus with an in-memory store
 * (bus.ts has no test file of its own).
 */
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBus, OrderedBus, type Bus, type BusEvent, type BusFrame } from './bus.js';
import { silentLogger, type RelayLogger } from '../log.js';
import { NatsBus, type NatsBusOptions } from './nats-bus.js';
import type { DeviceRow, MailboxEntry, RelayStore } from '../store/relay-store.js';

const NATS_URL = process.env.PIGEON_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

const natsProblem = await NatsBus.connect({ servers: NATS_URL }).then(
  async (b) => {
    await b.close();
    return null;
  },
  (err: Error) => err.message,
);
if (natsProblem) console.warn(`NatsBus tests skipped: ${natsProblem}`);

const A = 'a'.repeat(26);
const B = 'b'.repeat(26);
const C = 'c'.repeat(26);

function row(id: string): DeviceRow {
  return { id, spki: 'AAAA', enc: { key: 'k'.repeat(44), sig: 's'.repeat(88) }, profile: { name: id.slice(0, 1).toUpperCase(), group: '', host: '', status: 'online', away: '' }, lastSeen: 1 };
}

/** A store with devices and one mailbox per device in memory: what the buses read of it. */
function memoryStore(entries: Map<string, MailboxEntry[]> = new Map()): RelayStore {
  let version = 0;
  const no = (): never => {
    throw new Error('not used');
  };
  return {
    writesInCallOrder: true,
    epoch: async () => 'e',
    // A directory change: the next version (announce makes lost devices one, §12.2.1).
    upsertDevice: async () => ++version,
    directoryHead: no,
    devicesByIds: no,
    directoryChanges: no,
    directoryPage: no,
    prune: no,
    createGroup: no,
    group: no,
    groupsOf: no,
    addGroupMembers: no,
    removeGroupMember: no,
    groupChanges: no,
    device: async (id) => row(id),
    devices: async () => [],
    put: no,
    senderUsage: no,
    page: async (r, after, limit) => (entries.get(r) ?? []).filter((e) => e.seq > after).slice(0, limit),
    lastSeq: async (r) => entries.get(r)?.at(-1)?.seq ?? 0,
    ack: no,
    usage: no,
    expire: no,
    counts: no,
    close: async () => {},
  };
}

const opened: Bus[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

/** Events a handler received. */
function inbox(): { events: BusEvent[]; handler: (e: BusEvent) => void; frames: () => BusFrame[] } {
  const events: BusEvent[] = [];
  return { events, handler: (e) => events.push(e), frames: () => events.flatMap((e) => (e.type === 'frame' ? [e.frame] : [])) };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const presence = (id: string, online: boolean): BusFrame => ({ type: 'presence', peer: { id, online, spki: 'AAAA', enc: { key: 'k'.repeat(44), sig: 's'.repeat(88) }, lastSeen: 1, name: 'X', group: '', host: '', status: 'online', away: '' } });

describe.skipIf(natsProblem !== null)('NatsBus', () => {
  let prefix = '';
  async function bus(o: Partial<NatsBusOptions> = {}): Promise<NatsBus> {
    const b = await NatsBus.connect({ servers: NATS_URL, prefix, logger: silentLogger, ...o });
    opened.push(b);
    await b.start({ store: memoryStore() });
    return b;
  }

  beforeEach(() => {
    prefix = `pigeon-test-${randomBytes(6).toString('hex')}`;
  });

  it('sends a frame to a device on another instance, and says false for a device connected nowhere', async () => {
    const [one, two] = [await bus(), await bus()];
    const b = inbox();
    await two.attach(B, '1', b.handler);
    const frame: BusFrame = { type: 'pipe', key: 'f'.repeat(64), peer: A, role: 'server' };
    expect(await one.send(B, frame)).toBe(true);
    expect(b.frames()).toEqual([frame]);
    const t0 = performance.now();
    expect(await one.send(C, frame)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(1000); // "no responders", not a timeout
    await two.detach(B, '1');
    expect(await one.send(B, frame)).toBe(false);
  });

  it('knows who is online on every instance, broadcasts to all but one device, and lets a new instance learn the list at once', async () => {
    const [one, two] = [await bus(), await bus()];
    const [a, b] = [inbox(), inbox()];
    await one.attach(A, '1', a.handler);
    await two.attach(B, '1', b.handler);
    await until(async () => (await one.online()).has(B) && (await two.online()).has(A));
    await one.broadcast(presence(A, true), A);
    await until(() => b.frames().length === 1);
    expect(a.frames()).toEqual([]);
    const three = await bus();
    await until(async () => (await three.online()).size === 2);
    await two.detach(B, '1');
    await until(async () => !(await one.online()).has(B) && !(await three.online()).has(B));
  });

  it('closes an older connection of a device that attached on another instance, which then stays online', async () => {
    const [one, two] = [await bus(), await bus()];
    const [old, newer] = [inbox(), inbox()];
    await one.attach(B, '7', old.handler);
    await two.attach(B, '7', newer.handler);
    await until(() => old.events.some((e) => e.type === 'replaced'));
    // The old connection's detach after its close changes nothing.
    await one.detach(B, '7');
    await new Promise((r) => setTimeout(r, 100));
    expect(await one.online()).toEqual(new Set([B]));
    const frame: BusFrame = { type: 'pipe', key: 'e'.repeat(64), peer: A, role: 'server' };
    expect(await one.send(B, frame)).toBe(true);
    expect(newer.frames()).toEqual([frame]);
    expect(old.frames()).toEqual([]);
  });

  it('announces offline the devices of an instance that went silent past the TTL, and online again when its list comes back', async () => {
    // `two` refreshes its list only when asked (a hello); `one` expires after 300 ms.
    const one = await bus({ presenceTtlMs: 300, presenceRefreshMs: 100 });
    const two = await bus({ presenceRefreshMs: 3600_000 });
    const a = inbox();
    await one.attach(A, '1', a.handler);
    await two.attach(B, '1', inbox().handler);
    await until(async () => (await one.online()).has(B));
    // Told as a directory change with a version (§12.2.1), so that clients reconnecting elsewhere learn it from their delta.
    const news = (online: boolean): boolean => a.frames().some((f) => f.type === 'dir-push' && f.changes.some((c) => c.id === B && !('gone' in c) && c.online === online && c.v > 0));
    await until(() => news(false), 3000);
    expect(await one.online()).toEqual(new Set([A]));
    // A new instance says hello: `two` publishes its list, and B is back for `one`.
    await bus();
    await until(() => news(true), 3000);
    expect(await one.online()).toEqual(new Set([A, B]));
  });

  it('refuses messages of another bus version or malformed ones: counted, logged with their code, never acted on (a rolling upgrade across a version)', async () => {
    const lines: { msg: string; fields?: Record<string, unknown> }[] = [];
    const logger: RelayLogger = { log: (_level, msg, fields) => lines.push({ msg, ...(fields ? { fields } : {}) }) };
    const one = await bus({ logger, requestTimeoutMs: 300 });
    const a = inbox();
    await one.attach(A, '1', a.handler);
    const nc = await connect({ servers: NATS_URL });
    try {
      const newer = 'fedcba9876543210';
      const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
      // A newer instance says its device C is online, sends A a frame, and broadcasts; an older one (no v) too.
      nc.publish(`${prefix}.presence`, enc({ v: 2, t: 'on', inst: newer, id: C, conn: '1' }));
      nc.publish(`${prefix}.presence`, enc({ t: 'list', inst: newer, devs: [[B, '1']] }));
      nc.publish(`${prefix}.bcast`, enc({ v: 2, inst: newer, frame: presence(C, true) }));
      await expect(nc.request(`${prefix}.dev.${A}`, enc({ v: 2, t: 'frame', frame: presence(C, true) }), { timeout: 300 })).rejects.toThrow();
      // Malformed at this version: a frame a client could not parse.
      nc.publish(`${prefix}.bcast`, enc({ v: 1, inst: newer, frame: { type: 'deliver', seq: 1 } }));
      await nc.flush();
      await until(() => one.refusedMessages() === 5);
      expect(await one.online()).toEqual(new Set([A]));
      expect(a.events).toEqual([]);
      const refused = lines.filter((l) => l.msg === 'relay bus message refused').map((l) => l.fields);
      // One line per code per 10 s: the first of each.
      expect(refused).toEqual([
        { code: 'PIGEON_ERR_RELAY_BUS_VERSION', subject: 'presence', reason: 'version 2; this instance speaks version 1', instance: newer },
        { code: 'PIGEON_ERR_RELAY_BUS_MESSAGE', subject: 'bcast', reason: expect.stringMatching(/^frame\./), instance: newer },
      ]);
      // A reply of an older instance ("1", no version) is not taken as a delivery either.
      const old = await nc.subscribe(`${prefix}.dev.${C}`, { callback: (_e, m) => void m.respond('1') });
      await nc.flush();
      expect(await one.send(C, presence(A, true))).toBe(false);
      expect(one.refusedMessages()).toBe(6);
      old.unsubscribe();
    } finally {
      await nc.close();
    }
  });

  it('refuses a bad prefix and an unreachable server with one line', async () => {
    await expect(NatsBus.connect({ servers: NATS_URL, prefix: 'a.*' })).rejects.toThrow(/not a valid bus prefix/);
    await expect(NatsBus.connect({ servers: 'nats://127.0.0.1:1' })).rejects.toThrow(/^cannot reach NATS at nats:\/\/127\.0\.0\.1:1: /);
  });
});

describe('OrderedBus', () => {
  const deliver = (seq: number): BusFrame => ({ type: 'deliver', seq, id: seq.toString(16).padStart(32, '0'), from: A, ts: seq, body: { eph: 'e', nonce: 'n', ct: String(seq), sig: 's' } });
  const entry = (seq: number): MailboxEntry => ({ seq, msgId: seq.toString(16).padStart(32, '0'), sender: A, ts: seq, body: JSON.stringify({ eph: 'e', nonce: 'n', ct: String(seq), sig: 's' }) });

  it('hands deliveries on in seq order, reading skipped ones from the store, and drops what it handed on already', async () => {
    const mailbox = [entry(1), entry(2)];
    const entries = new Map([[B, mailbox]]);
    const bus = new OrderedBus(new LocalBus(), memoryStore(entries), silentLogger);
    opened.push(bus);
    const b = inbox();
    await bus.attach(B, '1', b.handler); // seqs 1 and 2 are for the sync to read
    mailbox.push(entry(3), entry(4), entry(5));
    await bus.send(B, deliver(5)); // 3 and 4 are committed but their deliveries are late
    await bus.send(B, deliver(4));
    await bus.send(B, deliver(3));
    await until(() => b.frames().length === 3);
    expect(b.frames().map((f) => (f.type === 'deliver' ? f.seq : 0))).toEqual([3, 4, 5]);
    mailbox.push(entry(6));
    await bus.send(B, deliver(6));
    expect(b.frames().map((f) => (f.type === 'deliver' ? f.seq : 0))).toEqual([3, 4, 5, 6]);
    await bus.send(B, deliver(2));
    expect(b.frames()).toHaveLength(4);
  });

  it('skips entries acknowledged meanwhile, and passes other frames and replacements straight on', async () => {
    const mailbox: MailboxEntry[] = [];
    const bus = new OrderedBus(new LocalBus(), memoryStore(new Map([[B, mailbox]])), silentLogger);
    opened.push(bus);
    const [first, second] = [inbox(), inbox()];
    await bus.attach(B, '1', first.handler);
    mailbox.push(entry(3)); // 1 and 2 were acknowledged and deleted
    await bus.send(B, deliver(3));
    await until(() => first.frames().length === 1);
    expect(first.frames()[0]).toMatchObject({ seq: 3 });
    await bus.broadcast(presence(A, true));
    expect(first.frames()[1]).toMatchObject({ type: 'presence' });
    await bus.attach(B, '2', second.handler);
    expect(first.events.at(-1)).toEqual({ type: 'replaced' });
  });
});
