/**
 * Hostile: the relay operator adds its own device to a group (issue 13,
 * finding 2). A real relay process and real peers on loopback; the operator
 * writes straight into the relay's SQLite database, first a member row, then
 * a forged chain entry in a member's name as well, and restarts the relay so
 * that every member is told the group changed. The members must refuse the
 * relay's member list, warn, and keep sending their messages and sender keys
 * only to the members of the signed chain: the injected device, connected
 * all along, gets the ciphertext the relay hands it and never a sender key.
 * Then the operator rolls the relay's database back to before a change the
 * members saw: they are warned, and keep the members they verified.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GroupInfo, PeerEvent } from '../../shared/api/control-api.js';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { groupChangeHashInput, type GroupChange } from '../../shared/protocol/relay-frames.js';
import { pigeon, removeHome, tempHome, type PeerProcess } from '../support/cli-peer.js';
import { signedGroupChange } from '../support/relay-device.js';
import type { RelayListening, RelayProcess } from '../support/relay-process.js';
import { RelayPeers } from '../support/relay-peer-setup.js';
import { Client, makeDevice, type Device } from '../support/relay-ws-client.js';

let work: string;
let env: RelayPeers;
const sockets: Client[] = [];

beforeEach(() => {
  work = tempHome('relay-injected-member');
  env = new RelayPeers(work);
});

afterEach(async () => {
  for (const c of sockets.splice(0)) c.ws.terminate();
  await env.stop();
  removeHome(work);
});

/** How long the injected device listens for anything sealed to it after a message was sent (its key would come before the message). */
const LISTEN_MS = 1500;

const remoteSeen = (name: string) => (e: PeerEvent) => (e.type === 'peer-online' || e.type === 'peer-updated') && e.peer.name === name && e.peer.remote;
const groupMessage = (text: string) => (e: PeerEvent) => e.type === 'message' && e.message.group !== undefined && e.message.text === text;
const tamperWarning = (about: RegExp) => (e: PeerEvent) => e.type === 'warning' && e.code === ErrorCodes.GROUP_TAMPERED && about.test(e.message);

async function cli<T>(home: string, args: string[]): Promise<T> {
  const r = await pigeon([...args, '--home', home, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** The operator's device: registered and connected like any client, so members know its keys and the relay pushes to it. */
async function connectMallory(relay: RelayListening, d: Device): Promise<Client> {
  const c = new Client(`wss://127.0.0.1:${relay.port}/pigeon/1`);
  sockets.push(c);
  await c.auth(d, { name: 'Mallory' });
  return c;
}

/** What reached the injected device: log entries (ciphertext) and mailbox deliveries (where a sender key would come). */
async function drain(c: Client): Promise<{ groupDeliver: number; deliver: number }> {
  const got = { groupDeliver: 0, deliver: 0 };
  c.send({ type: 'sync', after: 0 }); // its whole mailbox, whether pushed live or not
  for (;;) {
    try {
      const f = await c.take(['group-deliver', 'deliver'], LISTEN_MS);
      if (f.type === 'deliver') got.deliver++;
      else got.groupDeliver++;
    } catch {
      return got;
    }
  }
}

function withRelayDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(join(work, 'relay', 'relay.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

describe('hostile: a group member injected by the relay operator', () => {
  it('the injected device gets no sender key and cannot read; the members refuse the list and are warned', async () => {
    let relayProc: RelayProcess = env.relay();
    const relay = await relayProc.listening;
    const [alice, bob] = [await env.peer('Alice', relay), await env.peer('Bob', relay)];
    const home = (p: PeerProcess): string => join(work, p === alice ? 'Alice' : 'Bob');
    const mallory = makeDevice();
    await connectMallory(relay, mallory);
    await alice.waitFor(remoteSeen('Bob'));
    await alice.waitFor(remoteSeen('Mallory'));
    await bob.waitFor(remoteSeen('Mallory'));

    const g = await cli<GroupInfo>(home(alice), ['group', 'create', 'Sales', 'Bob']);
    await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id && e.group.joined);
    await cli(home(alice), ['send', 'Sales', 'before']);
    await bob.waitFor(groupMessage('before'));

    // 1. One INSERT: the operator's device as a member, the chain untouched.
    await relayProc.stop();
    withRelayDb((db) => db.prepare('INSERT INTO group_members (gid, device, joined, pos) VALUES (?, ?, 1, 99)').run(g.id, mallory.id));
    relayProc = env.relay([], relay.port);
    await relayProc.listening;
    let malloryWs = await connectMallory(relay, mallory);
    for (const p of [alice, bob]) await p.waitFor(tamperWarning(/Mallory|whom no signed change added/));
    const from1 = alice.events.length;
    await cli(home(alice), ['send', 'Sales', 'secret one']);
    await bob.waitFor(groupMessage('secret one'));
    const got1 = await drain(malloryWs);
    const rows1 = withRelayDb((db) => (db.prepare('SELECT COUNT(*) AS n FROM mailbox WHERE recipient = ?').get(mallory.id) as { n: number }).n);
    console.log(
      `hostile injected member: tried INSERT INTO group_members (operator's device ${mallory.id.slice(0, 8)}) + relay restart; ` +
        `got warnings at Alice and Bob, mallory received ${got1.groupDeliver} log entries (ciphertext) and ${got1.deliver} sealed bodies (sender keys), ${rows1} left in its mailbox`,
    );
    expect(got1.groupDeliver).toBeGreaterThan(0); // the relay did hand it the log ...
    expect(got1.deliver).toBe(0); // ... but no member sealed a sender key to it
    expect(rows1).toBe(0);
    expect(alice.events.slice(from1).some((e) => e.type === 'group' && e.group.members.some((m) => m.id === mallory.id))).toBe(false);

    // 2. A forged chain entry too: revision 2 "Alice adds Mallory", signed with the operator's key.
    await relayProc.stop();
    const forged = withRelayDb((db) => {
      const head = (db.prepare('SELECT head FROM groups WHERE gid = ?').get(g.id) as { head: string }).head;
      const made = signedGroupChange(mallory, { gid: g.id, rev: 2, prev: head, by: mallory.id, ts: Date.now(), op: 'add', members: [mallory.id] });
      const change: GroupChange = { ...made.change, by: alice.id };
      const hash = createHash('sha256').update(groupChangeHashInput(change)).digest('hex');
      db.prepare('INSERT INTO group_changes (gid, rev, hash, body) VALUES (?, 2, ?, ?)').run(g.id, hash, JSON.stringify(change));
      db.prepare('UPDATE groups SET rev = 2, head = ? WHERE gid = ?').run(hash, g.id);
      return change;
    });
    relayProc = env.relay([], relay.port);
    await relayProc.listening;
    malloryWs = await connectMallory(relay, mallory);
    for (const p of [alice, bob]) await p.waitFor(tamperWarning(/signature/));
    await cli(home(bob), ['send', 'Sales', 'secret two']);
    await alice.waitFor(groupMessage('secret two'));
    const got2 = await drain(malloryWs);
    const aliceView = (await cli<GroupInfo[]>(home(alice), ['group', 'list']))[0]!;
    console.log(
      `hostile injected member: tried a forged chain entry (rev ${forged.rev} add of mallory in Alice's name, signed by mallory) + relay restart; ` +
        `got signature warnings at Alice and Bob, Alice still lists ${aliceView.members.map((m) => m.name).join(', ')}, mallory received ${got2.groupDeliver} log entries and ${got2.deliver} sealed bodies`,
    );
    expect(got2.groupDeliver).toBeGreaterThan(0);
    expect(got2.deliver).toBe(0);
    expect(aliceView.members.map((m) => m.id).sort()).toEqual([alice.id, bob.id].sort());
    expect(aliceView.tampered).toMatch(/signature/);
    const listed = await pigeon(['group', 'list', '--home', home(alice)]);
    expect(listed.stdout).toContain('TAMPERED');

    // The members' profiles keep the refusal, and neither holds a key from or for the injected device.
    for (const p of [alice, bob]) {
      const db = new Database(join(home(p), 'pigeon.db'), { readonly: true });
      try {
        expect((db.prepare('SELECT tampered FROM groups WHERE gid = ?').get(g.id) as { tampered: string | null }).tampered).toMatch(/signature/);
        expect(db.prepare('SELECT COUNT(*) AS n FROM group_keys WHERE sender = ?').get(mallory.id)).toEqual({ n: 0 });
        expect(db.prepare('SELECT members FROM group_own_keys WHERE gid = ?').get(g.id)).not.toMatchObject({ members: expect.stringContaining(mallory.id) });
      } finally {
        db.close();
      }
    }
  });

  it('a relay database rolled back below what members saw is refused, and members keep the verified members', async () => {
    let relayProc: RelayProcess = env.relay();
    const relay = await relayProc.listening;
    const [alice, bob, carol] = [await env.peer('Alice', relay), await env.peer('Bob', relay), await env.peer('Carol', relay)];
    await alice.waitFor(remoteSeen('Bob'));
    await alice.waitFor(remoteSeen('Carol'));
    const g = await cli<GroupInfo>(join(work, 'Alice'), ['group', 'create', 'Ops', 'Bob']);
    await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id && e.group.joined);

    // The operator keeps a copy of revision 1, lets Alice add Carol (revision 2), then puts the copy back.
    // Alice's events are counted from before the stop: she can be back (a resumed TLS session) before `listening` reaches the test.
    const beforeStop = alice.events.length;
    await relayProc.stop();
    const db = join(work, 'relay', 'relay.db');
    copyFileSync(db, `${db}.rev1`);
    relayProc = env.relay([], relay.port);
    await relayProc.listening;
    await alice.waitFor((e) => e.type === 'relay' && !e.relay.connected, 20000, beforeStop);
    const lostAt = alice.events.findIndex((e, i) => i >= beforeStop && e.type === 'relay' && !e.relay.connected);
    await alice.waitFor((e) => e.type === 'relay' && e.relay.connected, 20000, lostAt + 1);
    const added = await cli<GroupInfo>(join(work, 'Alice'), ['group', 'add', 'Ops', 'Carol']);
    expect(added.members).toHaveLength(3);
    await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id && e.group.members.length === 3);
    await carol.waitFor((e) => e.type === 'group' && e.group.id === g.id && e.group.joined);
    await relayProc.stop();
    copyFileSync(`${db}.rev1`, db);
    for (const f of ['-wal', '-shm']) rmSync(`${db}${f}`, { force: true }); // nothing of revision 2 may come back through the WAL
    relayProc = env.relay([], relay.port);
    await relayProc.listening;

    for (const p of [alice, bob]) await p.waitFor(tamperWarning(/rollback|revision 1/));
    const view = (await cli<GroupInfo[]>(join(work, 'Bob'), ['group', 'list']))[0]!;
    console.log(
      `hostile rollback: tried restoring relay.db to revision 1 after members verified revision 2; got rollback warnings at Alice and Bob, ` +
        `Bob still lists ${view.members.map((m) => m.name).join(', ')}`,
    );
    expect(view.members.map((m) => m.id).sort()).toEqual([alice.id, bob.id, carol.id].sort());
  });
});
