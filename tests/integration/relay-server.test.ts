/**
 * The relay server over real sockets: a relay started with createRelay (and
 * once through the real `pigeon relay` command) and raw `ws` clients that
 * sign with freshly made P-256 keys. Every frame the relay sends is parsed
 * with the shared schema, so the relay cannot drift from the contract.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { CLIENT_MESSAGE_BURST, GROUP_CHAIN_START, RELAY_PATH, RELAY_PIPE_PATH, RELAY_SUBPROTOCOL } from '../../shared/protocol/relay-frames.js';
import { createRelay, type Relay, type RelayOptions } from '../../relay/server/relay-server.js';
import { PRESENCE_BATCH_MS } from '../../relay/directory/presence-batcher.js';
import { BIN } from '../support/cli-peer.js';
import { Client, clients, envelope, makeDevice, pipeBothWays, msgId, profile, WAIT_MS, type Device, type Frame } from '../support/relay-ws-client.js';
import { signedGroupChange } from '../support/relay-device.js';

interface Running {
  relay: Relay;
  dataDir: string;
  logs: Record<string, unknown>[];
  url(path?: string): string;
  connect(d: Device, o?: Parameters<Client['auth']>[1]): Promise<{ c: Client; welcome: Frame<'welcome'>; peers: Frame<'directory'>['peers'] }>;
}

const relays: Relay[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pigeon-relay-'));
  dirs.push(d);
  return d;
}

async function startRelay(opts: Partial<RelayOptions> = {}): Promise<Running> {
  const logs: Record<string, unknown>[] = [];
  const dataDir = opts.dataDir ?? tempDir();
  const relay = createRelay({ port: 0, host: '127.0.0.1', logger: { log: (level, msg, fields) => logs.push({ level, msg, ...fields }) }, ...opts, dataDir });
  await relay.start();
  relays.push(relay);
  const url = (path: string = RELAY_PATH): string => `wss://127.0.0.1:${relay.port}${path}`;
  return {
    relay,
    dataDir,
    logs,
    url,
    async connect(d, o) {
      const c = new Client(url());
      const welcome = await c.auth(d, o);
      return { c, welcome, peers: await c.directory() };
    },
  };
}

async function refused(r: Running, d: Device, o: Parameters<Client['auth']>[1]): Promise<{ message: string; code: string; close: number }> {
  const c = new Client(r.url());
  const err = (await c.auth(d, o).then(
    () => null,
    (e: { frame?: Frame<'error'> }) => e,
  )) as { frame: Frame<'error'> } | null;
  expect(err?.frame).toBeDefined();
  const { code } = await c.closed;
  return { message: err!.frame.message, code: err!.frame.code, close: code };
}

describe('relay server', () => {
  it('authenticates a device: welcome with epoch and cursor, then an empty directory', async () => {
    const r = await startRelay();
    const a = makeDevice();
    const { c, welcome, peers } = await r.connect(a, { name: 'Alice' });
    expect(welcome).toMatchObject({ type: 'welcome', id: a.id, last: 0 });
    expect(welcome.epoch).toMatch(/^[0-9a-f]{32}$/);
    expect(peers).toEqual([]);
    await c.roundTrip(7);
    expect(r.relay.stats()).toMatchObject({ connections: 1, authenticated: 1 });
    expect(r.relay.url).toBe(`wss://127.0.0.1:${r.relay.port}/pigeon/1`);
  });

  it('presents the certificate whose fingerprint it prints', async () => {
    const r = await startRelay();
    const cert = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: r.relay.port, rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate());
        s.destroy();
      });
      s.on('error', reject);
    });
    const hex = createHash('sha256').update(cert.raw).digest('hex');
    expect(r.relay.fingerprint).toBe(hex.match(/.{4}/g)!.join(' '));
  });

  it('refuses a bad signature, an id that is not the key\'s, a wrong or missing token, and a device not on the allowlist', async () => {
    const [a, b, c] = [makeDevice(), makeDevice(), makeDevice()];
    const r = await startRelay({ inviteToken: 'let-me-in', allow: [a.id, b.id] });
    const cases = [
      { o: { token: 'let-me-in', forge: 'sig' as const }, d: a, reason: /signature over the challenge/, code: ErrorCodes.RELAY_AUTH },
      { o: { token: 'let-me-in', forge: 'id' as const, as: b }, d: a, reason: /does not match/, code: ErrorCodes.RELAY_AUTH },
      { o: { token: 'let-me-out' }, d: a, reason: /wrong invite token/, code: ErrorCodes.RELAY_TOKEN },
      { o: { token: 'let-me-in-please' }, d: a, reason: /wrong invite token/, code: ErrorCodes.RELAY_TOKEN },
      { o: {}, d: a, reason: /requires an invite token/, code: ErrorCodes.RELAY_TOKEN },
      { o: { token: 'let-me-in' }, d: c, reason: /allowlist/, code: ErrorCodes.RELAY_DEVICE_REFUSED },
    ];
    for (const k of cases) {
      const got = await refused(r, k.d, k.o);
      expect(got.code).toBe(k.code);
      expect(got.message).toMatch(k.reason);
      expect(got.close).toBe(4003);
    }
    expect(r.logs.filter((l) => l.msg === 'auth refused')).toHaveLength(cases.length);
    // A forged encryption-key signature is refused too.
    const forged = { ...a, enc: { ...a.enc, sig: b.enc.sig } };
    expect((await refused(r, forged, { token: 'let-me-in' })).message).toMatch(/encryption key/);
    // And the right device with the right token gets in.
    const { welcome } = await r.connect(a, { token: 'let-me-in' });
    expect(welcome.id).toBe(a.id);
  });

  it('closes a connection that sends something else than auth first, or nothing in time', async () => {
    const r = await startRelay({ timing: { authTimeoutMs: 300 } });
    const c = new Client(r.url());
    await c.take('challenge');
    c.send({ type: 'ping', n: 1 });
    expect((await c.take('error')).code).toBe(ErrorCodes.PROTOCOL);
    expect((await c.closed).code).toBe(4002);
    const idle = new Client(r.url());
    expect((await idle.closed).code).toBe(4001);
  });

  it('shows devices to each other in the directory and with presence, online and offline', async () => {
    const r = await startRelay();
    const [a, b] = [makeDevice(), makeDevice()];
    const alice = await r.connect(a, { name: 'Alice' });
    const bob = await r.connect(b, { name: 'Bob' });
    expect(bob.peers).toEqual([expect.objectContaining({ id: a.id, name: 'Alice', online: true, spki: a.spki, enc: a.enc })]);
    expect(await alice.c.presenceOf(b.id)).toMatchObject({ id: b.id, name: 'Bob', online: true, host: 'bob-pc' });
    expect(bob.c.pending('presence')).toEqual([]);

    bob.c.send({ type: 'profile', profile: { ...profile('Bob'), status: 'away', away: 'lunch' } });
    expect(await alice.c.presenceOf(b.id)).toMatchObject({ id: b.id, status: 'away', away: 'lunch', online: true });

    // Bob connects again: the old connection is replaced, nobody sees him go offline.
    const bob2 = await r.connect(b, { name: 'Bob' });
    expect((await bob.c.closed).code).toBe(4005);
    expect(await alice.c.presenceOf(b.id)).toMatchObject({ id: b.id, online: true });
    await new Promise((r) => setTimeout(r, PRESENCE_BATCH_MS * 2));
    await alice.c.roundTrip();
    expect(alice.c.pending('presence')).toEqual([]);

    bob2.c.ws.close();
    expect(await alice.c.presenceOf(b.id)).toMatchObject({ id: b.id, online: false, status: 'online' });
    const carol = await r.connect(makeDevice());
    expect(carol.peers.map((p) => [p.id, p.online]).sort()).toEqual([[a.id, true], [b.id, false]].sort());
  });

  it('keeps a put for an offline device until it syncs and acks; dedups ids; seq keeps growing', async () => {
    const r = await startRelay();
    const [a, b] = [makeDevice(), makeDevice()];
    const bobOnce = await r.connect(b, { name: 'Bob' });
    bobOnce.c.ws.close();
    await bobOnce.c.closed;
    const alice = await r.connect(a, { name: 'Alice' });

    const id1 = msgId();
    const body = envelope('hello bob', { from: a, to: b.id, id: id1 });
    alice.c.send({ type: 'put', id: id1, to: b.id, body });
    expect(await alice.c.take('put-ack')).toEqual({ type: 'put-ack', id: id1, seq: 1 });
    alice.c.send({ type: 'put', id: id1, to: b.id, body });
    expect(await alice.c.take('put-ack')).toEqual({ type: 'put-ack', id: id1, seq: 1 });
    const unknown = makeDevice();
    const id2 = msgId();
    alice.c.send({ type: 'put', id: id2, to: unknown.id, body });
    expect(await alice.c.take('error')).toMatchObject({ code: ErrorCodes.PEER_NOT_FOUND, id: id2 });

    const bob = await r.connect(b, { name: 'Bob' });
    expect(bob.welcome.last).toBe(1);
    bob.c.send({ type: 'sync', after: 0 });
    const d = await bob.c.take('deliver');
    expect(d).toMatchObject({ seq: 1, id: id1, from: a.id, body });
    expect(await bob.c.take('synced')).toEqual({ type: 'synced', last: 1, complete: true });
    expect(bob.c.pending('deliver')).toEqual([]); // stored once
    bob.c.send({ type: 'ack', seq: 1 });
    bob.c.send({ type: 'sync', after: 0 });
    expect(await bob.c.take('synced')).toEqual({ type: 'synced', last: 0, complete: true });
    expect(bob.c.pending('deliver')).toEqual([]);

    // Live now: the next put is pushed at once, with a seq after the acked one; its repeat is not pushed again.
    const id3 = msgId();
    alice.c.send({ type: 'put', id: id3, to: b.id, body: envelope('live', { from: a, to: b.id, id: id3 }) });
    expect((await alice.c.take('put-ack')).seq).toBe(2);
    expect(await bob.c.take('deliver')).toMatchObject({ seq: 2, id: id3, from: a.id });
    alice.c.send({ type: 'put', id: id3, to: b.id, body: envelope('live', { from: a, to: b.id, id: id3 }) });
    expect((await alice.c.take('put-ack')).seq).toBe(2);
    await bob.c.roundTrip();
    expect(bob.c.pending('deliver')).toEqual([]);
    expect(r.relay.stats()).toMatchObject({ puts: 2, delivers: 2 });
  });

  it('pages a sync and goes live only after a complete one', async () => {
    const r = await startRelay();
    const [a, b] = [makeDevice(), makeDevice()];
    const bob = await r.connect(b);
    const alice = await r.connect(a);
    for (let i = 0; i < 5; i++) {
      const id = msgId();
      alice.c.send({ type: 'put', id, to: b.id, body: envelope(`m${i}`, { from: a, to: b.id, id }) });
      await alice.c.take('put-ack');
    }
    await bob.c.roundTrip();
    expect(bob.c.pending('deliver')).toEqual([]); // not live before a sync
    bob.c.send({ type: 'sync', after: 0, limit: 2 });
    expect(await bob.c.take('synced')).toEqual({ type: 'synced', last: 2, complete: false });
    expect(bob.c.pending('deliver').map((f) => (f as Frame<'deliver'>).seq)).toEqual([1, 2]);
    bob.c.send({ type: 'sync', after: 2, limit: 3 });
    expect(await bob.c.take('synced')).toEqual({ type: 'synced', last: 5, complete: true });
    const id6 = msgId();
    alice.c.send({ type: 'put', id: id6, to: b.id, body: envelope('live', { from: a, to: b.id, id: id6 }) });
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) seqs.push((await bob.c.take('deliver')).seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('keeps un-acked entries and the epoch across a restart on the same data folder', async () => {
    const r1 = await startRelay();
    const [a, b] = [makeDevice(), makeDevice()];
    (await r1.connect(b)).c.ws.close();
    const alice = await r1.connect(a);
    const ids = [msgId(), msgId()];
    for (const id of ids) {
      alice.c.send({ type: 'put', id, to: b.id, body: envelope(id, { from: a, to: b.id, id }) });
      await alice.c.take('put-ack');
    }
    const epoch = alice.welcome.epoch;
    const fingerprint = r1.relay.fingerprint;
    await r1.relay.stop();

    const r2 = await startRelay({ dataDir: r1.dataDir });
    expect(r2.relay.fingerprint).toBe(fingerprint);
    const bob = await r2.connect(b);
    expect(bob.welcome).toMatchObject({ epoch, last: 2 });
    bob.c.send({ type: 'sync', after: 0 });
    expect(await bob.c.take('synced')).toMatchObject({ last: 2, complete: true });
    expect(bob.c.pending('deliver').map((f) => (f as Frame<'deliver'>).id)).toEqual(ids);
  });

  it('refuses a put beyond the mailbox quota', async () => {
    const r = await startRelay({ mailboxMax: 3 });
    const [a, b] = [makeDevice(), makeDevice()];
    (await r.connect(b)).c.ws.close();
    const alice = await r.connect(a);
    for (let i = 0; i < 3; i++) {
      const id = msgId();
      alice.c.send({ type: 'put', id, to: b.id, body: envelope('x', { from: a, to: b.id, id }) });
      expect((await alice.c.take('put-ack')).seq).toBe(i + 1);
    }
    const id = msgId();
    alice.c.send({ type: 'put', id, to: b.id, body: envelope('x', { from: a, to: b.id, id }) });
    expect(await alice.c.take('error')).toMatchObject({ code: ErrorCodes.RELAY_QUOTA, id });
    await alice.c.roundTrip(); // the connection stays up
  });

  it('splices a pipe: 5 MB each way intact, closing one side closes the other, keys are single use', async () => {
    const r = await startRelay();
    const [a, b] = [makeDevice(), makeDevice()];
    const alice = await r.connect(a);
    const bob = await r.connect(b);
    alice.c.send({ type: 'pipe-open', to: b.id, ref: 'r1' });
    const mine = await alice.c.take('pipe');
    const theirs = await bob.c.take('pipe');
    expect(mine).toMatchObject({ peer: b.id, role: 'client', ref: 'r1' });
    expect(theirs).toMatchObject({ key: mine.key, peer: a.id, role: 'server' });
    expect(theirs.ref).toBeUndefined();

    const pipeUrl = r.url(`${RELAY_PIPE_PATH}?key=${mine.key}`);
    const pa = new Client(pipeUrl);
    const pb = new Client(pipeUrl);
    const SIZE = 5 * 1024 * 1024;
    await pipeBothWays(pa, pb, SIZE);
    expect(r.relay.stats()).toMatchObject({ pipes: 1, bytesPiped: 2 * SIZE });

    const third = new Client(pipeUrl);
    expect((await third.closed).code).toBe(4004);
    pa.ws.close();
    expect(await pb.closed).toEqual({ code: 1000, reason: 'the other side closed' });
    expect(r.relay.stats().pipes).toBe(0);

    const unknown = new Client(r.url(`${RELAY_PIPE_PATH}?key=${'0'.repeat(64)}`));
    expect((await unknown.closed).code).toBe(4004);
    expect(r.logs.filter((l) => l.msg === 'pipe refused')).toHaveLength(2);

    bob.c.ws.close();
    while ((await alice.c.presenceOf(b.id)).online);
    alice.c.send({ type: 'pipe-open', to: b.id, ref: 'r2' });
    expect(await alice.c.take('error')).toMatchObject({ code: ErrorCodes.PEER_OFFLINE, ref: 'r2' });
  });

  it('expires an unused pipe key, closes an idle pipe, and holds a pipe to its rate', async () => {
    const r = await startRelay({ timing: { pipePendingMs: 300, pipeIdleMs: 400 }, pipeRate: 1_000_000 });
    const [a, b] = [makeDevice(), makeDevice()];
    const alice = await r.connect(a);
    const bob = await r.connect(b);
    const pipe = async (): Promise<[Client, Client]> => {
      alice.c.send({ type: 'pipe-open', to: b.id, ref: 'x' });
      const { key } = await alice.c.take('pipe');
      await bob.c.take('pipe');
      const url = r.url(`${RELAY_PIPE_PATH}?key=${key}`);
      return [new Client(url), new Client(url)];
    };

    // Only one side comes: the key expires and that side is sent away.
    alice.c.send({ type: 'pipe-open', to: b.id, ref: 'late' });
    const { key } = await alice.c.take('pipe');
    const lonely = new Client(r.url(`${RELAY_PIPE_PATH}?key=${key}`));
    expect((await lonely.closed).code).toBe(4004);
    expect(r.logs.some((l) => l.msg === 'pipe key expired')).toBe(true);

    // 3 MB at 1 MB/s with a 2 MB burst takes about a second.
    const [pa, pb] = await pipe();
    await Promise.all([pa.opened, pb.opened]);
    const SIZE = 3_000_000;
    let got = 0;
    const done = new Promise<void>((resolve) => {
      pb.ws.removeAllListeners('message');
      pb.ws.on('message', (d: Buffer) => {
        got += d.length;
        if (got >= SIZE) resolve();
      });
    });
    const t0 = performance.now();
    for (let i = 0; i < SIZE; i += 100_000) pa.ws.send(randomBytes(100_000));
    await done;
    expect(performance.now() - t0).toBeGreaterThan(700);

    // Then silence: the pipe is closed as idle, both sides.
    expect((await pa.closed).code).toBe(4006);
    expect((await pb.closed).code).toBe(4006);
  });

  it('terminates a connection that stops answering pings', async () => {
    const r = await startRelay({ timing: { heartbeatMs: 100, deadMs: 400 } });
    const good = await r.connect(makeDevice());
    const mute = new Client(r.url(), [RELAY_SUBPROTOCOL], { autoPong: false });
    await mute.take('challenge');
    expect((await mute.closed).code).toBe(1006);
    expect(r.logs.some((l) => l.msg === 'no pong, connection terminated')).toBe(true);
    await good.c.roundTrip();
  });

  it('closes a client that does not read what it is sent', async () => {
    // Quotas far above the ~39 MB this test leaves in one mailbox from one sender.
    const r = await startRelay({ mailboxBytes: 1e9, senderBytes: 1e9 });
    const [a, b] = [makeDevice(), makeDevice()];
    const alice = await r.connect(a);
    const bob = await r.connect(b);
    // 100 entries of ~390 KB: ~39 MB, more than the 16 MiB send buffer plus what the kernel holds.
    for (let i = 0; i < 100; i++) {
      const id = msgId();
      alice.c.send({ type: 'put', id, to: b.id, body: envelope('x'.repeat(290_000), { from: a, to: b.id, id }) });
      await alice.c.take('put-ack');
    }
    bob.c.ws.pause();
    bob.c.send({ type: 'sync', after: 0, limit: 100 });
    const deadline = Date.now() + WAIT_MS;
    while (!r.logs.some((l) => l.msg === 'closing a slow reader') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    expect(r.logs.find((l) => l.msg === 'closing a slow reader')).toMatchObject({ id: b.id });
    await alice.c.roundTrip();
  });

  it('closes connections that send oversize, non-JSON, invalid or flooding input; another client keeps working', async () => {
    const r = await startRelay();
    const good = await r.connect(makeDevice());

    const big = await r.connect(makeDevice());
    big.c.send('x'.repeat(600 * 1024));
    expect((await big.c.closed).code).toBe(1009);
    await good.c.roundTrip();

    const junk = await r.connect(makeDevice());
    junk.c.send('{"type":"put", oops');
    expect(await junk.c.take('error')).toMatchObject({ code: ErrorCodes.PROTOCOL });
    expect((await junk.c.closed).code).toBe(4002);
    await good.c.roundTrip();

    const invalid = await r.connect(makeDevice());
    invalid.c.send({ type: 'put', id: 'nope', to: 'x', body: {} });
    expect((await invalid.c.take('error')).message).toMatch(/invalid relay request/);
    expect((await invalid.c.closed).code).toBe(4002);

    const flood = await r.connect(makeDevice());
    for (let i = 0; i < 4 * CLIENT_MESSAGE_BURST; i++) flood.c.send({ type: 'ping', n: i });
    expect(await flood.c.take('error')).toMatchObject({ code: ErrorCodes.RELAY_LIMIT });
    expect((await flood.c.closed).code).toBe(4008);
    expect(flood.c.pending('pong').length).toBeLessThanOrEqual(2 * CLIENT_MESSAGE_BURST);
    await good.c.roundTrip();

    const reasons = r.logs.filter((l) => l.level === 'warn').map((l) => `${String(l.msg)}: ${String(l.reason)}`);
    expect(reasons.some((s) => /connection error: .*Max payload size exceeded/i.test(s))).toBe(true);
    expect(reasons.some((s) => /bad input: invalid relay request: not JSON/.test(s))).toBe(true);
    expect(reasons.some((s) => /flood/.test(s))).toBe(true);
    expect(r.relay.stats().connections).toBe(1);
  });

  it('refuses other paths, a missing subprotocol, and connections beyond the limit', async () => {
    const r = await startRelay({ maxConnections: 2 });
    await expect(new Client(r.url('/elsewhere')).opened).rejects.toThrow(/HTTP 404/);
    await expect(new Client(r.url(), ['chat']).opened).rejects.toThrow(/HTTP 400/);
    const one = new Client(r.url());
    const two = new Client(r.url());
    await Promise.all([one.opened, two.opened]);
    await expect(new Client(r.url()).opened).rejects.toThrow(/HTTP 503/);
    expect(r.logs.some((l) => l.msg === 'connection refused' && l.reason === 'relay full')).toBe(true);
  });

  it('runs as `pigeon relay --json`, serves clients, and stops cleanly on SIGTERM', async () => {
    const dataDir = tempDir();
    const child = spawn(process.execPath, [BIN, 'relay', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', () => reject(new Error('relay exited')));
      });
      const listening = JSON.parse(line) as { type: string; port: number; url: string; fingerprint: string };
      expect(listening).toMatchObject({ type: 'listening', url: `wss://127.0.0.1:${listening.port}/pigeon/1` });
      expect(listening.fingerprint).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
      const c = new Client(`wss://127.0.0.1:${listening.port}${RELAY_PATH}`);
      const a = makeDevice();
      expect((await c.auth(a)).id).toBe(a.id);

      // A second relay on the same port says so in one line.
      const second = spawn(process.execPath, [BIN, 'relay', '--port', String(listening.port), '--data', tempDir()], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      second.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => second.on('exit', resolve));
      expect(code).toBe(1);
      expect(err.trim()).toBe(`pigeon relay: port ${listening.port} is in use; choose another with --port`);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect((await c.closed).code).toBe(1001);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('groups: strangers refused without losing the connection, a late member reads from its join, a duplicate stored once, a full log refused', async () => {
    const r = await startRelay({ groupLogMax: 4 });
    const [a, b, c, x] = [makeDevice(), makeDevice(), makeDevice(), makeDevice()];
    const alice = (await r.connect(a, { name: 'Alice' })).c;
    const bob = (await r.connect(b, { name: 'Bob' })).c;
    const carol = (await r.connect(c, { name: 'Carol' })).c;
    const gid = randomBytes(16).toString('hex');
    const body = { kid: '1c2d3e4f5a6b7c8d', nonce: randomBytes(12).toString('base64'), ct: randomBytes(40).toString('base64'), sig: randomBytes(64).toString('base64') };
    const ts = Date.now();

    const unregistered = signedGroupChange(a, { gid, rev: 1, prev: GROUP_CHAIN_START, by: a.id, ts, op: 'create', name: 'Sales', members: [a.id, b.id, x.id] });
    alice.send({ type: 'group-change', ref: 'g0', change: unregistered.change });
    expect(await alice.take('error')).toMatchObject({ code: ErrorCodes.PEER_NOT_FOUND, ref: 'g0' });
    const created = signedGroupChange(a, { gid, rev: 1, prev: GROUP_CHAIN_START, by: a.id, ts, op: 'create', name: 'Sales', members: [a.id, b.id] });
    alice.send({ type: 'group-change', ref: 'g1', change: created.change });
    expect((await alice.take('group')).group).toMatchObject({ gid, owner: a.id, members: [{ id: a.id, joined: 0 }, { id: b.id, joined: 0 }], last: 0, rev: 1 });
    expect((await bob.take('group')).group.gid).toBe(gid);
    // A retried create (its answer lost) is answered again, not refused.
    alice.send({ type: 'group-change', ref: 'g1b', change: created.change });
    expect(await alice.take('group')).toMatchObject({ ref: 'g1b' });
    await bob.take('group');

    const ids = [msgId(), msgId()];
    for (const id of ids) alice.send({ type: 'group-put', gid, id, body });
    expect((await alice.take('group-put-ack')).seq).toBe(1);
    expect((await alice.take('group-put-ack')).seq).toBe(2);
    alice.send({ type: 'group-put', gid, id: ids[0], body });
    expect(await alice.take('group-put-ack')).toMatchObject({ id: ids[0], seq: 1 });
    expect((await bob.take('group-deliver')).seq).toBe(1);
    expect((await bob.take('group-deliver')).seq).toBe(2);

    // Carol is no member: her requests are refused, and she stays connected.
    carol.send({ type: 'group-sync', gid, after: 0 });
    expect(await carol.take('error')).toMatchObject({ code: ErrorCodes.GROUP_NOT_FOUND });
    carol.send({ type: 'group-put', gid, id: msgId(), body });
    expect(await carol.take('error')).toMatchObject({ code: ErrorCodes.GROUP_NOT_FOUND });
    carol.send({ type: 'group-change', ref: 'c1', change: signedGroupChange(c, { gid, rev: 2, prev: created.hash, by: c.id, ts, op: 'add', members: [c.id] }).change });
    expect(await carol.take('error')).toMatchObject({ code: ErrorCodes.GROUP_NOT_FOUND, ref: 'c1' });
    carol.send({ type: 'group-chain', ref: 'c2', gid, after: 0 });
    expect(await carol.take('error')).toMatchObject({ code: ErrorCodes.GROUP_NOT_FOUND, ref: 'c2' });
    bob.send({ type: 'group-change', ref: 'r', change: signedGroupChange(b, { gid, rev: 2, prev: created.hash, by: b.id, ts, op: 'remove', member: a.id }).change });
    expect(await bob.take('error')).toMatchObject({ code: ErrorCodes.NOT_ALLOWED, ref: 'r' });
    // A change in another member's name, and one with a signature that does not match, are refused.
    bob.send({ type: 'group-change', ref: 'f1', change: signedGroupChange(b, { gid, rev: 2, prev: created.hash, by: a.id, ts, op: 'add', members: [c.id] }).change });
    expect(await bob.take('error')).toMatchObject({ code: ErrorCodes.NOT_ALLOWED, ref: 'f1' });
    bob.send({ type: 'group-change', ref: 'f2', change: { ...signedGroupChange(b, { gid, rev: 2, prev: created.hash, by: b.id, ts, op: 'add', members: [x.id] }).change, members: [c.id] } });
    expect(await bob.take('error')).toMatchObject({ code: ErrorCodes.BAD_REQUEST, ref: 'f2' });
    await carol.roundTrip();

    // Added now, Carol reads only what comes after.
    const added = signedGroupChange(b, { gid, rev: 2, prev: created.hash, by: b.id, ts, op: 'add', members: [c.id] });
    bob.send({ type: 'group-change', ref: 'g2', change: added.change });
    expect((await bob.take('group')).group.members).toContainEqual({ id: c.id, joined: 2 });
    await carol.take('group');
    expect((await alice.take('group')).group.rev).toBe(2);
    // A change signed on top of revision 1 lost the race: stale, fetch the chain and sign again.
    alice.send({ type: 'group-change', ref: 's', change: signedGroupChange(a, { gid, rev: 2, prev: created.hash, by: a.id, ts, op: 'remove', member: b.id }).change });
    expect(await alice.take('error')).toMatchObject({ code: ErrorCodes.GROUP_STALE, ref: 's' });
    carol.send({ type: 'group-chain', ref: 'ch', gid, after: 0 });
    expect(await carol.take('group-changes')).toMatchObject({ ref: 'ch', gid, changes: [created.change, added.change], complete: true, rev: 2 });
    alice.send({ type: 'group-put', gid, id: msgId(), body });
    await alice.take('group-put-ack');
    expect(await carol.take('group-deliver')).not.toHaveProperty('page'); // pushed live
    carol.send({ type: 'group-sync', gid, after: 0 });
    const page = await carol.take('group-deliver');
    expect(page).toMatchObject({ seq: 3, page: true });
    expect(await carol.take('group-synced')).toMatchObject({ last: 3, complete: true });

    // The log holds 4 entries at most here.
    alice.send({ type: 'group-put', gid, id: msgId(), body });
    expect((await alice.take('group-put-ack')).seq).toBe(4);
    alice.send({ type: 'group-put', gid, id: msgId(), body });
    expect(await alice.take('error')).toMatchObject({ code: ErrorCodes.RELAY_QUOTA });

    // Removed, Bob gets group-left and no more of the log.
    alice.send({ type: 'group-change', ref: 'g3', change: signedGroupChange(a, { gid, rev: 3, prev: added.hash, by: a.id, ts, op: 'remove', member: b.id }).change });
    expect((await alice.take('group')).group.rev).toBe(3);
    expect(await bob.take('group-left')).toMatchObject({ gid, by: a.id });
    bob.send({ type: 'group-sync', gid, after: 0 });
    expect(await bob.take('error')).toMatchObject({ code: ErrorCodes.GROUP_NOT_FOUND });
    expect(r.logs.some((l) => l.msg === 'group request refused')).toBe(true);
  });
});
