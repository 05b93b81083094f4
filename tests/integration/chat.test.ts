/**
 * Loopback integration: real `pigeon peer` processes discover each other by
 * broadcast on 127.255.255.255 (a per-test UDP port keeps tests apart), chat
 * through the one-shot commands, and keep every promise of issue 1/5 across
 * stops, kills and restarts: nothing lost, nothing twice, nothing out of order.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerInfo } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

let discoveryArgs: string[] = [];
const running: PeerProcess[] = [];
const homes: string[] = [];

function home(label: string): string {
  const h = tempHome(label);
  homes.push(h);
  return h;
}

function start(name: string, h: string, extra: string[] = []): PeerProcess {
  const p = new PeerProcess({ home: h, name, args: [...discoveryArgs, ...extra] });
  running.push(p);
  return p;
}

async function json<T>(args: string[]): Promise<T> {
  const r = await pigeon([...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
}

beforeAll(async () => {
  discoveryArgs = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
  // A fresh port per test: peers of the previous test cannot leak in.
  discoveryArgs[1] = String(await freeUdpPort());
});

describe('two peers on loopback', () => {
  it('discover each other, chat with delivery and read receipts, and show status', async () => {
    const [ha, hb] = [home('a'), home('b')];
    const alice = start('Alice', ha, ['--group', 'Sales']);
    const bob = start('Bob', hb);
    await Promise.all([alice.ready(), bob.ready()]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    const peers = await json<PeerInfo[]>(['peers', '--home', hb]);
    const a = peers.find((p) => p.name === 'Alice')!;
    expect(a).toMatchObject({ id: alice.id, group: 'Sales', online: true, status: 'online' });
    expect(a.addresses).toContain('127.0.0.1');
    expect(typeof a.host).toBe('string');

    const sent = await pigeon(['send', '--home', ha, 'Bob', 'hello bob', '--wait']);
    expect(sent.code).toBe(0);
    const [id, state] = sent.stdout.trim().split(' ');
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(state).toBe('delivered');

    // By unique id prefix instead of name.
    const r2 = await pigeon(['send', '--home', hb, alice.id.slice(0, 6), 'hi alice']);
    expect(r2.code).toBe(0);
    await alice.waitFor((e) => e.type === 'message' && e.message.text === 'hi alice');

    const inbox = await json<MessageInfo[]>(['history', '--home', hb, 'Alice']);
    expect(inbox.map((m) => [m.direction, m.text])).toEqual([
      ['in', 'hello bob'],
      ['out', 'hi alice'],
    ]);
    expect(inbox[0]!.state).toBe('received');

    // Bob reads: Alice's copy turns to "read".
    await pigeon(['history', '--home', hb, 'Alice', '--mark-read']);
    await alice.waitFor((e) => e.type === 'message-state' && e.message.id === id && e.message.state === 'read');
    const outbox = await json<MessageInfo[]>(['history', '--home', ha, 'Bob']);
    expect(outbox.find((m) => m.id === id)!.state).toBe('read');

    const st = await pigeon(['status', '--home', hb, 'away', 'at', 'lunch']);
    expect(st.code).toBe(0);
    await alice.waitFor((e) => e.type === 'peer-updated' && e.peer.name === 'Bob' && e.peer.status === 'away' && e.peer.away === 'at lunch');
  });

  it('a stopped peer is offline at once; a killed one within 15 s', async () => {
    const alice = start('Alice', home('a'));
    const bob = start('Bob', home('b'));
    const carol = start('Carol', home('c'));
    await Promise.all([alice.sees('Bob'), alice.sees('Carol')]);

    let t0 = Date.now();
    await bob.stop();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Bob', 5000);
    const graceful = Date.now() - t0;
    expect(graceful).toBeLessThan(2000);

    t0 = Date.now();
    await carol.kill9();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Carol', 20000);
    const silent = Date.now() - t0;
    expect(silent).toBeLessThan(15500);
    console.log(`offline after SIGTERM: ${graceful} ms, after kill -9: ${silent} ms`);
  });

  it('queues for an absent peer and delivers exactly once, in order, across restarts of both sides', async () => {
    const [ha, hb] = [home('a'), home('b')];
    let alice = start('Alice', ha);
    let bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    await bob.stop();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Bob');

    const texts = Array.from({ length: 20 }, (_, i) => `queued ${i}`);
    for (const t of texts) expect((await pigeon(['send', '--home', ha, 'Bob', t])).code).toBe(0);
    const queued = await json<MessageInfo[]>(['history', '--home', ha, 'Bob']);
    expect(queued.map((m) => m.state)).toEqual(texts.map(() => 'queued'));

    // The messages wait at least 1.5 s, so the history line must name when they came (it does from 1 s late).
    await new Promise((r) => setTimeout(r, 1500));
    // Alice restarts too: the outbox is on disk.
    await alice.stop();
    alice = start('Alice', ha);
    await alice.ready();
    bob = start('Bob', hb);
    await bob.ready();
    await alice.waitFor((e) => e.type === 'message-state' && e.message.text === 'queued 19' && e.message.state === 'delivered', 30000);

    const got = await json<MessageInfo[]>(['history', '--home', hb, 'Alice']);
    expect(got.map((m) => m.text)).toEqual(texts);
    expect(got.map((m) => m.seq)).toEqual(texts.map((_, i) => i + 1));
    // Each shows when Alice wrote it (not when it came), and keeps when it came.
    expect(got.map((m) => m.ts)).toEqual(queued.map((m) => m.ts));
    expect(got.every((m) => m.received !== null && m.received > m.ts)).toBe(true);
    const line = (await pigeon(['history', '--home', hb, 'Alice', '--limit', '1'])).stdout.trim();
    expect(line).toMatch(/^\[[-\d]+ [:\d]+\] Alice: queued 19 {2}\(unread, received \d\d:\d\d:\d\d\)$/);
    console.log(`a queued message in Bob's history: ${line}`);
    const sent = await json<MessageInfo[]>(['history', '--home', ha, 'Bob']);
    expect(sent.every((m) => m.state === 'delivered')).toBe(true);
  });

  it('holds a scheduled message until it is due', async () => {
    const ha = home('a');
    const alice = start('Alice', ha);
    const bob = start('Bob', home('b'));
    await alice.sees('Bob');
    const r = await pigeon(['send', '--home', ha, 'Bob', 'later', '--at', '+3s', '--json']);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout) as MessageInfo;
    expect(m.state).toBe('scheduled');
    const t0 = Date.now();
    await bob.waitFor((e) => e.type === 'message' && e.message.text === 'later', 15000);
    expect(Date.now() - t0).toBeGreaterThan(1500);
  });
});

describe('command-line errors', () => {
  it('says plainly that no peer runs, with exit code 3', async () => {
    const r = await pigeon(['peers', '--home', home('none')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no peer is running/);
    expect(r.stderr).not.toMatch(/at .*\.js/); // no stack trace
  });

  it('maps unknown peers, timeouts, busy profiles and bad usage to their exit codes', async () => {
    const ha = home('a');
    const alice = start('Alice', ha);
    await alice.ready();
    const unknown = await pigeon(['send', '--home', ha, 'Nobody', 'hi']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/no peer named "Nobody"/);

    // A peer that was seen and went away: --wait times out with exit 5, the message stays queued.
    const hb = home('b');
    const bob = start('Bob', hb);
    await alice.sees('Bob');
    await bob.stop();
    const late = await pigeon(['send', '--home', ha, 'Bob', 'are you there?', '--wait', '--timeout', '1']);
    expect(late.code).toBe(5);
    expect(late.stderr).toMatch(/not delivered/);

    const twice = await pigeon(['peer', '--home', ha, '--name', 'Again', '--port', '0', ...discoveryArgs]);
    expect(twice.code).toBe(6);
    expect(twice.stderr).toMatch(/already running/);

    const bad = await pigeon(['status', '--home', ha, 'sleeping']);
    expect(bad.code).toBe(2);
    const badTime = await pigeon(['send', '--home', ha, 'Bob', 'x', '--at', 'tomorrowish']);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toMatch(/invalid time/);
  });

  it('prints whoami without a running peer, and the same identity with one', async () => {
    const h = home('w');
    const offline = await json<{ id: string; fingerprint: string }>(['whoami', '--home', h]);
    expect(offline.id).toMatch(/^[a-z2-7]{26}$/);
    expect(offline.fingerprint).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    const p = start('W', h);
    await p.ready();
    const online = await json<{ id: string; fingerprint: string }>(['whoami', '--home', h]);
    expect(online).toMatchObject(offline);
  });
});

describe('pigeon chat', () => {
  it('sends each typed line in order, shows replies, and marks them read', async () => {
    const [ha, hb] = [home('a'), home('b')];
    const alice = start('Alice', ha);
    const bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    await pigeon(['send', '--home', hb, 'Alice', 'earlier from bob', '--wait']);

    // Bob replies while Alice's chat is open; the chat prints it and marks it read.
    const replied = bob.waitFor((e) => e.type === 'message' && e.message.text === 'line 3').then(() => pigeon(['send', '--home', hb, 'Alice', 'got them', '--wait']));
    const chat = pigeon(['chat', '--home', ha, 'Bob'], { input: 'line 1\nline 2\nline 3\n', keepOpenMs: 4000 });
    await replied;
    const r = await chat;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Chat with Bob/);
    expect(r.stdout).toMatch(/earlier from bob/);
    expect(r.stdout).toMatch(/Bob: got them/);

    const got = JSON.parse((await pigeon(['history', '--home', hb, 'Alice', '--json'])).stdout) as MessageInfo[];
    expect(got.filter((m) => m.direction === 'in').map((m) => m.text)).toEqual(['line 1', 'line 2', 'line 3']);
    const mine = JSON.parse((await pigeon(['history', '--home', hb, 'Alice', '--json'])).stdout) as MessageInfo[];
    await bob.waitFor((e) => e.type === 'message-state' && e.message.text === 'got them' && e.message.state === 'read');
    expect(mine.find((m) => m.text === 'earlier from bob')!.state).toMatch(/delivered|read/);
  });
});
