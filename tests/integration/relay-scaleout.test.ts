/**
 * Relay scale-out: two real `pigeon relay` processes on one PostgreSQL
 * (a fresh schema per test) and one NATS (a fresh subject prefix per test),
 * sharing one certificate, with raw `ws` clients on either instance. Every
 * feature of the single relay must work between clients on different
 * instances. Skipped, with the reason printed, when PostgreSQL or NATS does
 * not answer.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import type { MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { RELAY_PATH, RELAY_PIPE_PATH, type RelayServerFrame, type RemotePeer } from '../../shared/protocol/relay-frames.js';
import { loadOrCreateSelfSigned } from '../../relay/server/tls-cert.js';
import { PRESENCE_TTL_MS } from '../../relay/bus/nats-bus.js';
import { freeUdpPort, PeerProcess, pigeon } from '../support/cli-peer.js';
import { RelayProcess, type RelayListening } from '../support/relay-process.js';
import { Client, clients, envelope, makeDevice, msgId, pipeBothWays, profile, received, type Device, type Frame } from '../support/relay-ws-client.js';
import { dropSchema, freshPrefix, freshSchema, NATS_URL, PG_URL, scaleOutUnavailable } from '../support/scaleout-services.js';

const unavailable = await scaleOutUnavailable();
if (unavailable) console.warn(`relay scale-out tests skipped: ${unavailable}`);

let work: string;
let schema: string;
let prefix: string;
let certFiles: string[];
const running: Array<{ stop(): Promise<void> }> = [];
let instances = 0;

beforeEach(async () => {
  work = mkdtempSync(join(tmpdir(), 'pigeon-scaleout-'));
  schema = freshSchema();
  prefix = freshPrefix();
  // One certificate for all instances, as an administrator would deploy it: clients pin one fingerprint.
  await loadOrCreateSelfSigned(join(work, 'cert'));
  certFiles = ['--cert', join(work, 'cert', 'relay-cert.pem'), '--key', join(work, 'cert', 'relay-key.pem')];
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  if (!unavailable) await dropSchema(schema);
  rmSync(work, { recursive: true, force: true });
});

function startInstance(extra: string[] = []): RelayProcess {
  const r = new RelayProcess([
    ...['--port', '0', '--host', '127.0.0.1', '--data', join(work, `instance-${++instances}`)],
    ...['--store', PG_URL, '--store-schema', schema, '--bus', NATS_URL, '--bus-prefix', prefix],
    ...certFiles,
    ...extra,
  ]);
  running.push(r);
  return r;
}

async function twoInstances(): Promise<[RelayListening, RelayListening, RelayProcess, RelayProcess]> {
  const [p1, p2] = [startInstance(), startInstance()];
  const [r1, r2] = await Promise.all([p1.listening, p2.listening]);
  return [r1, r2, p1, p2];
}

const url = (r: RelayListening, path: string = RELAY_PATH): string => `wss://127.0.0.1:${r.port}${path}`;

async function connect(r: RelayListening, d: Device, name = 'Dev'): Promise<{ c: Client; welcome: Frame<'welcome'>; peers: Frame<'directory'>['peers'] }> {
  const c = new Client(url(r));
  const welcome = await c.auth(d, { name });
  return { c, welcome, peers: await c.directory() };
}

/** Registers a device at the relay and leaves: it has a mailbox and is offline. */
async function register(r: RelayListening, d: Device, name: string): Promise<void> {
  const { c } = await connect(r, d, name);
  c.ws.close();
  await c.closed;
}

async function put(c: Client, to: string, id = msgId(), text = 'x'): Promise<number> {
  c.send({ type: 'put', id, to, body: envelope(text, { from: c.device!, to, id }) });
  const ack = await c.take('put-ack');
  expect(ack.id).toBe(id);
  return ack.seq;
}

/** A `pigeon peer` process alone on its discovery port, connected to relay instance `r`. */
async function peer(name: string, r: RelayListening): Promise<PeerProcess> {
  const args = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns', '--relay', `wss://127.0.0.1:${r.port}`, '--relay-fingerprint', r.fingerprint];
  const p = new PeerProcess({ home: join(work, name), name, args });
  running.push(p);
  await p.ready();
  await p.waitFor((e) => e.type === 'relay' && e.relay.connected);
  return p;
}

/** Takes presence news until some for `id` with that online flag. */
async function presence(c: Client, id: string, online: boolean, ms?: number): Promise<RemotePeer> {
  for (;;) {
    const p = await c.presenceOf(id, ms);
    if (p.online === online) return p;
  }
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe.skipIf(unavailable !== null)('relay scale-out: two instances on PostgreSQL and NATS', () => {
  it('shares one certificate and one epoch; presence and profiles cross instances, online and offline', async () => {
    const [r1, r2] = await twoInstances();
    expect(r1.fingerprint).toBe(r2.fingerprint);
    const [a, b] = [makeDevice(), makeDevice()];
    const alice = await connect(r1, a, 'Alice');
    const bob = await connect(r2, b, 'Bob');
    expect(bob.welcome.epoch).toBe(alice.welcome.epoch);
    expect(bob.peers).toEqual([expect.objectContaining({ id: a.id, name: 'Alice', online: true, spki: a.spki, enc: a.enc })]);
    expect(await alice.c.presenceOf(b.id)).toMatchObject({ id: b.id, name: 'Bob', online: true });

    bob.c.send({ type: 'profile', profile: { ...profile('Bob'), status: 'away', away: 'lunch' } });
    expect(await alice.c.presenceOf(b.id)).toMatchObject({ id: b.id, status: 'away', away: 'lunch', online: true });

    bob.c.ws.close();
    expect(await presence(alice.c, b.id, false)).toMatchObject({ id: b.id, status: 'away' });
    const carol = await connect(r1, makeDevice(), 'Carol');
    expect(carol.peers.map((p) => [p.id, p.online]).sort()).toEqual([[a.id, true], [b.id, false]].sort());
  });

  it('reconnecting a device to the other instance closes its old connection (4005); nobody sees it go offline', async () => {
    const [r1, r2] = await twoInstances();
    const [a, b] = [makeDevice(), makeDevice()];
    const alice = await connect(r1, a, 'Alice');
    const bob1 = await connect(r1, b, 'Bob');
    await presence(alice.c, b.id, true);
    const bob2 = await connect(r2, b, 'Bob');
    expect((await bob1.c.closed).code).toBe(4005);
    await presence(alice.c, b.id, true);
    await alice.c.roundTrip();
    await new Promise((r) => setTimeout(r, 300));
    const news = (f: RelayServerFrame): RemotePeer[] => (f.type === 'presence' ? [f.peer] : f.type === 'directory' ? f.peers : []);
    expect([...alice.c.pending('presence'), ...alice.c.pending('directory')].flatMap(news).filter((p) => p.id === b.id && !p.online)).toEqual([]);
    // And back: the connection on instance 2 is the one closed now.
    const bob3 = await connect(r1, b, 'Bob');
    expect((await bob2.c.closed).code).toBe(4005);
    await bob3.c.roundTrip();
    expect(bob3.peers).toEqual([expect.objectContaining({ id: a.id, online: true })]);
  });

  it('keeps a put made on instance 1 for an offline device that syncs on instance 2, once; dedups an id put again on instance 2; delivers live across instances', async () => {
    const [r1, r2] = await twoInstances();
    const [a, b] = [makeDevice(), makeDevice()];
    await register(r2, b, 'Bob');
    let alice = await connect(r1, a, 'Alice');
    const id1 = msgId();
    expect(await put(alice.c, b.id, id1, 'hello bob')).toBe(1);

    // Alice's client retries the put through the other instance: same seq, stored once.
    const alice2 = await connect(r2, a, 'Alice');
    expect((await alice.c.closed).code).toBe(4005);
    expect(await put(alice2.c, b.id, id1, 'hello bob')).toBe(1);
    alice2.c.ws.close();
    alice = await connect(r1, a, 'Alice');

    const bob = await connect(r2, b, 'Bob');
    expect(bob.welcome.last).toBe(1);
    bob.c.send({ type: 'sync', after: 0 });
    expect(await bob.c.take('deliver')).toMatchObject({ seq: 1, id: id1, from: a.id });
    expect(await bob.c.take('synced')).toEqual({ type: 'synced', last: 1, complete: true });
    expect(bob.c.pending('deliver')).toEqual([]);
    bob.c.send({ type: 'ack', seq: 1 });

    // Live: a put on instance 1 is pushed at once to Bob on instance 2; its repeat is not pushed again.
    const id2 = msgId();
    expect(await put(alice.c, b.id, id2, 'live')).toBe(2);
    expect(await bob.c.take('deliver')).toMatchObject({ seq: 2, id: id2, from: a.id });
    expect(await put(alice.c, b.id, id2, 'live')).toBe(2);
    await bob.c.roundTrip();
    await new Promise((r) => setTimeout(r, 200));
    expect(bob.c.pending('deliver')).toEqual([]);
  });

  it('hands a live mailbox its entries in seq order without holes while senders on both instances put at once', async () => {
    const [r1, r2] = await twoInstances();
    const [a, c, b] = [makeDevice(), makeDevice(), makeDevice()];
    const bob = await connect(r2, b, 'Bob');
    bob.c.send({ type: 'sync', after: 0 });
    await bob.c.take('synced');
    const alice = await connect(r1, a, 'Alice');
    const carol = await connect(r2, c, 'Carol');
    const N = 60;
    for (let i = 0; i < N; i++) {
      const [ia, ic] = [msgId(), msgId()];
      alice.c.send({ type: 'put', id: ia, to: b.id, body: envelope(`a${i}`, { from: a, to: b.id, id: ia }) });
      carol.c.send({ type: 'put', id: ic, to: b.id, body: envelope(`c${i}`, { from: c, to: b.id, id: ic }) });
    }
    const seqs: number[] = [];
    for (let i = 0; i < 2 * N; i++) seqs.push((await bob.c.take('deliver')).seq);
    expect(seqs).toEqual(Array.from({ length: 2 * N }, (_, i) => i + 1));
    await bob.c.roundTrip();
    expect(bob.c.pending('deliver')).toEqual([]);
  });

  it('pipes between instances: 5 MB each way intact, one side closing closes the other, keys single use, both sockets on the other instance, PEER_OFFLINE across instances', async () => {
    const [r1, r2, p1, p2] = await twoInstances();
    const bridged = (p: RelayProcess): number => p.stderr.filter((l) => l.includes('"pipe bridged to another relay instance"')).length;
    const [a, b] = [makeDevice(), makeDevice()];
    const alice = await connect(r1, a, 'Alice');
    const bob = await connect(r2, b, 'Bob');
    alice.c.send({ type: 'pipe-open', to: b.id, ref: 'r1' });
    const mine = await alice.c.take('pipe');
    const theirs = await bob.c.take('pipe');
    expect(mine).toMatchObject({ peer: b.id, role: 'client', ref: 'r1' });
    expect(theirs).toMatchObject({ key: mine.key, peer: a.id, role: 'server' });

    // Alice's socket on instance 1 (which made the key), Bob's on instance 2.
    const path = `${RELAY_PIPE_PATH}?key=${mine.key}`;
    const pa = new Client(url(r1, path));
    await pa.opened;
    const pb = new Client(url(r2, path));
    await pipeBothWays(pa, pb, 5 * 1024 * 1024);
    expect((await new Client(url(r2, path)).closed).code).toBe(4004);
    expect((await new Client(url(r1, path)).closed).code).toBe(4004);
    expect([bridged(p1), bridged(p2)]).toEqual([1, 1]);
    pa.ws.close();
    expect(await pb.closed).toEqual({ code: 1000, reason: 'the other side closed' });

    // Bob opens this time; the key is made on instance 2 and both sockets go to instance 1.
    bob.c.send({ type: 'pipe-open', to: a.id, ref: 'r2' });
    const key2 = (await bob.c.take('pipe')).key;
    expect((await alice.c.take('pipe')).key).toBe(key2);
    const path2 = `${RELAY_PIPE_PATH}?key=${key2}`;
    const [qa, qb] = [new Client(url(r1, path2)), new Client(url(r1, path2))];
    await pipeBothWays(qa, qb, 256 * 1024);
    qb.ws.close();
    expect((await qa.closed).code).toBe(1000);
    expect([bridged(p1), bridged(p2)]).toEqual([1, 1]); // spliced on instance 1 directly

    // The first socket on the instance that did not make the key, the second on the one that did.
    alice.c.send({ type: 'pipe-open', to: b.id, ref: 'r3' });
    const key3 = (await alice.c.take('pipe')).key;
    await bob.c.take('pipe');
    const path3 = `${RELAY_PIPE_PATH}?key=${key3}`;
    const sb = new Client(url(r2, path3));
    await sb.opened;
    sb.ws.send(randomBytes(300)); // a TLS hello sent before the other side is there must not be lost
    await new Promise((r) => setTimeout(r, 200));
    const sa = new Client(url(r1, path3));
    const hello = received(sa.ws, 300);
    await sa.opened;
    expect((await hello).length).toBe(300);
    await pipeBothWays(sa, sb, 1024 * 1024);
    expect([bridged(p1), bridged(p2)]).toEqual([2, 2]);

    expect((await new Client(url(r2, `${RELAY_PIPE_PATH}?key=${'0'.repeat(64)}`)).closed).code).toBe(4004);

    bob.c.ws.close();
    await presence(alice.c, b.id, false);
    alice.c.send({ type: 'pipe-open', to: b.id, ref: 'r4' });
    expect(await alice.c.take('error')).toMatchObject({ code: ErrorCodes.PEER_OFFLINE, ref: 'r4' });
  });

  it('pipes with the key made on instance 1 and the sockets on instances 2 and 3; a reader that stalls holds the sender back, and nothing is lost', async () => {
    const [p1, p2, p3] = [startInstance(), startInstance(), startInstance()];
    const [r1, r2, r3] = await Promise.all([p1.listening, p2.listening, p3.listening]);
    const [a, b] = [makeDevice(), makeDevice()];
    const alice = await connect(r1, a, 'Alice');
    const bob = await connect(r1, b, 'Bob');
    alice.c.send({ type: 'pipe-open', to: b.id, ref: 'r' });
    const { key } = await alice.c.take('pipe');
    await bob.c.take('pipe');
    const path = `${RELAY_PIPE_PATH}?key=${key}`;
    const pa = new Client(url(r2, path));
    await pa.opened;
    const pb = new Client(url(r3, path));
    await pipeBothWays(pa, pb, 1024 * 1024);

    // Bob stops reading for a while: 64 MB from Alice must wait (TCP and the NATS window push back), then all arrive in order.
    // Why 64 MB: loopback sockets autotune to ~4 MB send + ~6 MB receive buffers, and there are two hops (Alice→instance 2,
    // instance 3→Bob) plus the credit window, so 16 MB could vanish into kernel buffers on a loaded machine (a CI run saw
    // bufferedAmount 0). 64 MB is well past all of them together.
    const SIZE = 64 * 1024 * 1024;
    const data = randomBytes(SIZE);
    const got = received(pb.ws, SIZE);
    pb.ws.pause();
    for (let i = 0; i < SIZE; i += 64 * 1024) pa.ws.send(data.subarray(i, i + 64 * 1024));
    await new Promise((r) => setTimeout(r, 1500));
    expect(pa.ws.bufferedAmount).toBeGreaterThan(0); // held back at Alice's end, not piled up in the relays
    pb.ws.resume();
    expect(sha(await got)).toBe(sha(data));
    for (const p of [p1, p2, p3]) expect(p.stderr.filter((l) => l.includes('overran the window'))).toEqual([]);
  });

  it(
    'kill -9 of an instance loses nothing acknowledged, and its devices go offline on the other within the presence TTL',
    async () => {
      const [r1, r2, p1] = await twoInstances();
      const [a, b, c] = [makeDevice(), makeDevice(), makeDevice()];
      await register(r2, c, 'Carol');
      const alice = await connect(r1, a, 'Alice');
      const bob = await connect(r2, b, 'Bob');
      await presence(alice.c, b.id, true);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        ids.push(msgId());
        await put(alice.c, c.id, ids[i]!, `m${i}`);
      }

      await p1.kill9();
      const t0 = Date.now();
      await presence(bob.c, a.id, false, PRESENCE_TTL_MS + 10_000);
      const ms = Date.now() - t0;
      expect(ms).toBeLessThan(PRESENCE_TTL_MS + 3000);

      const carol = await connect(r2, c, 'Carol');
      expect(carol.welcome.last).toBe(20);
      expect(carol.peers.find((p) => p.id === a.id)?.online).toBe(false);
      carol.c.send({ type: 'sync', after: 0, limit: 100 });
      expect(await carol.c.take('synced')).toEqual({ type: 'synced', last: 20, complete: true });
      expect(carol.c.pending('deliver').map((f) => (f as Frame<'deliver'>).id)).toEqual(ids);

      // Alice comes back through the surviving instance.
      await connect(r2, a, 'Alice');
      await presence(bob.c, a.id, true);
    },
    PRESENCE_TTL_MS + 60_000,
  );

  it('peers: Alice on instance 1 and Bob on instance 2 chat, and Bob gets what was left while he was away', async () => {
    const [r1, r2] = await twoInstances();
    const remoteOnline = (name: string) => (e: PeerEvent) => (e.type === 'peer-online' || e.type === 'peer-updated') && e.peer.name === name && e.peer.online && e.peer.remote;
    const stateOf = (id: string, state: string) => (e: PeerEvent) => e.type === 'message-state' && e.message.id === id && e.message.state === state;
    const send = async (text: string): Promise<string> => {
      const r = await pigeon(['send', '--home', join(work, 'Alice'), 'Bob', text, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as MessageInfo).id;
    };

    const alice = await peer('Alice', r1);
    let bob = await peer('Bob', r2);
    await Promise.all([alice.waitFor(remoteOnline('Bob')), bob.waitFor(remoteOnline('Alice'))]);
    const live = await send('hello across instances');
    await alice.waitFor(stateOf(live, 'delivered'));
    await bob.waitFor((e) => e.type === 'message' && e.message.id === live);

    await bob.stop();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Bob');
    const left = [await send('left 1'), await send('left 2')];
    for (const id of left) await alice.waitFor(stateOf(id, 'relayed'));
    bob = await peer('Bob', r2);
    for (const id of left) await bob.waitFor((e) => e.type === 'message' && e.message.id === id);
    for (const id of left) await alice.waitFor(stateOf(id, 'delivered'));
  });

  it('groups: members on different instances get every message in order, and one who was away catches up on the other instance', async () => {
    const [r1, r2] = await twoInstances();
    const cli = async <T>(args: string[]): Promise<T> => {
      const r = await pigeon([...args, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as T;
    };
    const seen = (name: string) => (e: PeerEvent) => (e.type === 'peer-online' || e.type === 'peer-updated') && e.peer.name === name && e.peer.remote;
    const got = (text: string) => (e: PeerEvent) => e.type === 'message' && e.message.group !== undefined && e.message.text === text;

    const alice = await peer('Alice', r1);
    const bob = await peer('Bob', r2);
    let carol = await peer('Carol', r1);
    await alice.waitFor(seen('Bob'));
    await alice.waitFor(seen('Carol'));
    const g = await cli<{ id: string }>(['group', 'create', '--home', join(work, 'Alice'), 'Branches', 'Bob', 'Carol']);
    await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id);
    await carol.waitFor((e) => e.type === 'group' && e.group.id === g.id);

    for (let i = 1; i <= 10; i++) await cli(['send', '--home', join(work, 'Alice'), 'Branches', `a${i}`]);
    await bob.waitFor(got('a10'));
    await cli(['send', '--home', join(work, 'Bob'), 'Branches', 'b1']);
    await alice.waitFor(got('b1'));
    await carol.waitFor(got('b1'));
    const texts = async (name: string): Promise<string[]> =>
      (await cli<MessageInfo[]>(['history', '--home', join(work, name), 'Branches'])).filter((m) => m.direction === 'in').map((m) => m.text);
    expect(await texts('Bob')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => `a${i}`));

    await carol.stop();
    for (let i = 1; i <= 5; i++) await cli(['send', '--home', join(work, 'Alice'), 'Branches', `later ${i}`]);
    carol = await peer('Carol', r2);
    await carol.waitFor(got('later 5'));
    expect(await texts('Carol')).toEqual([...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => `a${i}`), 'b1', ...[1, 2, 3, 4, 5].map((i) => `later ${i}`)]);
  });
});
