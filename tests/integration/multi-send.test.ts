/**
 * Several recipients at once (issue 14, item 3; spec §7.12) with real
 * `pigeon peer` processes on loopback: `send Bob,Carol`, `--workgroup`,
 * `--everyone`, the same on `send-file`, "delivered to N of M" with the list
 * (CLI output, --json, history, `pigeon recipients`), a copy per recipient
 * with its own state, and an unknown name that sends nothing (exit 4).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageInfo, MultiSendInfo, TransferInfo } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

const running: PeerProcess[] = [];
const homes: Record<string, string> = {};
let discoveryArgs: string[] = [];

function start(name: string, group: string): PeerProcess {
  homes[name] ??= tempHome(`multi-${name.toLowerCase()}`);
  const p = new PeerProcess({ home: homes[name], name, group, args: [...discoveryArgs, '--accept-from', 'all'] });
  running.push(p);
  return p;
}

async function json<T>(args: string[]): Promise<T> {
  const r = await pigeon([...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
}

let alice: PeerProcess;
let bob: PeerProcess;
let carol: PeerProcess;
let dave: PeerProcess;

beforeAll(async () => {
  discoveryArgs = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
  alice = start('Alice', 'Sales');
  bob = start('Bob', 'Sales');
  carol = start('Carol', 'Sales');
  dave = start('Dave', 'Support');
  await Promise.all(running.map((p) => p.ready()));
  await Promise.all(['Bob', 'Carol', 'Dave'].map((n) => alice.sees(n)));
}, 60_000);

afterAll(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of Object.values(homes)) removeHome(h);
});

describe('sending to several people at once', () => {
  it('send Bob,Carol: a copy each, delivered to 2 of 2, shown in history and by pigeon recipients', async () => {
    const r = await pigeon(['send', '--home', homes.Alice!, 'Bob,Carol', 'meeting at 3', '--wait']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{32} delivered to 2 of 2\n\s+Bob\s+delivered\n\s+Carol\s+delivered\n$/);
    const id = r.stdout.slice(0, 32);
    await bob.waitFor((e) => e.type === 'message' && e.message.text === 'meeting at 3');
    await carol.waitFor((e) => e.type === 'message' && e.message.text === 'meeting at 3');
    expect(dave.events.some((e) => e.type === 'message' && e.message.text === 'meeting at 3')).toBe(false);

    const m = await json<MultiSendInfo>(['recipients', '--home', homes.Alice!, id.slice(0, 8)]);
    expect(m).toMatchObject({ id, text: 'meeting at 3', total: 2, delivered: 2 });
    expect(m.recipients.map((x) => [x.name, x.state]).sort()).toEqual([['Bob', 'delivered'], ['Carol', 'delivered']]);
    // Each copy is its own message with its own id.
    expect(new Set(m.recipients.map((x) => x.message)).size).toBe(2);

    const history = await json<MessageInfo[]>(['history', '--home', homes.Alice!, 'Bob']);
    expect(history.at(-1)).toMatchObject({ text: 'meeting at 3', multi: { id, total: 2, delivered: 2 } });
    const human = await pigeon(['history', '--home', homes.Alice!, 'Carol']);
    expect(human.stdout).toContain(`[to 2 people: delivered to 2 of 2; pigeon recipients ${id.slice(0, 8)}]`);

    // Bob reads his copy: the multi-send counts it as read.
    await pigeon(['history', '--home', homes.Bob!, 'Alice', '--mark-read']);
    await alice.waitFor((e) => e.type === 'multi-send' && e.multi.id === id && e.multi.read === 1);
  });

  it('an unknown name sends nothing, names which, and exits 4', async () => {
    const before = bob.events.length;
    const r = await pigeon(['send', '--home', homes.Alice!, 'Bob,Zed,Yves', 'hello all']);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('unknown recipients: "Zed", "Yves"; nothing was sent');
    const history = await json<MessageInfo[]>(['history', '--home', homes.Alice!, 'Bob']);
    expect(history.some((m) => m.text === 'hello all')).toBe(false);
    await new Promise((res) => setTimeout(res, 300));
    expect(bob.events.slice(before).some((e) => e.type === 'message' && e.message.text === 'hello all')).toBe(false);
  });

  it('--workgroup Sales reaches Bob and Carol, --everyone reaches all three', async () => {
    const wg = await json<MultiSendInfo>(['send', '--home', homes.Alice!, '--workgroup', 'sales', 'sales only', '--wait']);
    expect(wg.recipients.map((x) => x.name).sort()).toEqual(['Bob', 'Carol']);
    expect(wg.delivered).toBe(2);
    const all = await json<MultiSendInfo>(['send', '--home', homes.Alice!, '--everyone', 'fire drill at 4', '--wait']);
    expect(all.recipients.map((x) => x.name).sort()).toEqual(['Bob', 'Carol', 'Dave']);
    expect(all).toMatchObject({ total: 3, delivered: 3 });
    await dave.waitFor((e) => e.type === 'message' && e.message.text === 'fire drill at 4');
    const none = await pigeon(['send', '--home', homes.Alice!, '--workgroup', 'Legal', 'hi']);
    expect(none.code).toBe(4);
    expect(none.stderr).toContain('nobody known is in the workgroup "Legal"');
  });

  it('a recipient who is away: delivered to 1 of 2 (exit 5), then 2 of 2 once Dave is back', async () => {
    await dave.stop();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Dave');
    const r = await pigeon(['send', '--home', homes.Alice!, 'Bob,Dave', 'while you were out', '--wait', '--timeout', '2']);
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/delivered to 1 of 2\n\s+Bob\s+delivered\n\s+Dave\s+queued\n/);
    expect(r.stderr).toContain('delivered to 1 of 2 within 2 s');
    const id = r.stdout.slice(0, 32);
    const from = alice.events.length;
    dave = start('Dave', 'Support');
    await dave.waitFor((e) => e.type === 'message' && e.message.text === 'while you were out', 30_000);
    await alice.waitFor((e) => e.type === 'multi-send' && e.multi.id === id && e.multi.delivered === 2, 30_000, from);
    const m = await json<MultiSendInfo>(['recipients', '--home', homes.Alice!, id]);
    expect(m).toMatchObject({ total: 2, delivered: 2 });
  }, 60_000);

  it('send-file Bob,Carol and --workgroup: one transfer each, received by 2 of 2', async () => {
    const file = join(homes.Alice!, 'agenda.txt');
    writeFileSync(file, 'agenda: budgets\n');
    const r = await pigeon(['send-file', '--home', homes.Alice!, 'Bob,Carol', file, '--wait', '--timeout', '30']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^received by 2 of 2\n/);
    for (const n of ['Bob', 'Carol']) expect(readFileSync(join(homes[n]!, 'downloads', 'agenda.txt'), 'utf8')).toBe('agenda: budgets\n');
    const list = await json<TransferInfo[]>(['send-file', '--home', homes.Alice!, '--workgroup', 'Support', file, '--wait', '--timeout', '30']);
    expect(list).toHaveLength(1);
    expect(list[0]!.state).toBe('done');
    const bad = await pigeon(['send-file', '--home', homes.Alice!, 'Bob,Nobody', file]);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain('"Nobody"');
  }, 60_000);
});
