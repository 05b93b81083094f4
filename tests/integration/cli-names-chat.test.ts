/**
 * The CLI as a person types it (issue 15, item 4), with real peers on
 * loopback: names match in any case, a near miss gets "Did you mean"; `chat`
 * knows /help, /file PATH and /quit, and never sends an unknown /command as a
 * message; `status` and `chat` speak JSON with --json.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent, SelfInfo, TransferInfo } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

let ha: string;
let hb: string;
let alice: PeerProcess;
let bob: PeerProcess;
let files: string;

beforeAll(async () => {
  const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
  [ha, hb] = [tempHome('names-a'), tempHome('names-b')];
  files = mkdtempSync(join(tmpdir(), 'pigeon-chat-files-'));
  alice = new PeerProcess({ home: ha, name: 'Alice', args: discovery });
  bob = new PeerProcess({ home: hb, name: 'Bob', args: discovery });
  await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
});

afterAll(async () => {
  await Promise.all([alice.stop(), bob.stop()]);
  for (const h of [ha, hb, files]) removeHome(h);
});

describe('names', () => {
  it('`send bob` finds Bob; `send BOB` too', async () => {
    for (const name of ['bob', 'BOB']) {
      const r = await pigeon(['send', '--home', ha, name, `to ${name}`, '--wait', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as MessageInfo).peer).toBe(bob.id);
    }
  });

  it('a near miss exits 4 with "Did you mean Bob?"; nothing is sent', async () => {
    const r = await pigeon(['send', '--home', ha, 'Bbo', 'typo']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^pigeon: no peer named "Bbo".*Did you mean Bob\?\n$/);
    const far = await pigeon(['history', '--home', ha, 'Zebedee']);
    expect(far.code).toBe(4);
    expect(far.stderr).toContain('pigeon peers');
    const history = JSON.parse((await pigeon(['history', '--home', ha, 'bob', '--json'])).stdout) as MessageInfo[];
    expect(history.map((m) => m.text)).not.toContain('typo');
  });
});

describe('pigeon status --json', () => {
  it('prints the presence as JSON, and plain text without it', async () => {
    const r = await pigeon(['status', '--home', ha, 'away', 'back', 'at', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout) as SelfInfo).toMatchObject({ id: alice.id, status: 'away', away: 'back at 2' });
    const plain = await pigeon(['status', '--home', ha, 'online']);
    expect(plain.stdout).toBe('online\n');
  });
});

describe('pigeon chat commands', () => {
  it('/help lists the commands, /x is refused and not sent, /file offers a file, /quit leaves; the rest goes as typed', async () => {
    const path = join(files, 'notes one.txt');
    writeFileSync(path, 'chat file\n');
    const from = bob.events.length;
    const input = ['/help', '/shrug', 'hello from chat', `/file "${path}"`, '//slash text', '/quit', 'never sent'].join('\n') + '\n';
    const r = await pigeon(['chat', '--home', ha, 'bob'], { input, keepOpenMs: 3000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('/file PATH');
    expect(r.stdout).toContain('unknown command /shrug: not sent');
    expect(r.stdout).toMatch(/transfer [0-9a-f]{8} to Bob: notes one\.txt.*pigeon transfers [0-9a-f]{8}/);

    await bob.waitFor((e) => e.type === 'message' && e.message.text === '/slash text', 10_000, from);
    await bob.waitFor((e) => e.type === 'transfer' && e.transfer.state === 'offered', 10_000, from);
    const texts = bob.events.slice(from).flatMap((e) => (e.type === 'message' ? [e.message.text] : []));
    expect(texts).toEqual(['hello from chat', '/slash text']);
  });

  it('--json: history, events and sent messages as JSON lines on stdout, words for people on stderr', async () => {
    const replied = bob.waitFor((e) => e.type === 'message' && e.message.text === 'json line').then(() => pigeon(['send', '--home', hb, 'Alice', 'json reply', '--wait']));
    const chat = pigeon(['chat', '--home', ha, 'Bob', '--json'], { input: 'json line\n/help\n', keepOpenMs: 4000 });
    await replied;
    const r = await chat;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; message?: MessageInfo; transfer?: TransferInfo } | PeerEvent);
    expect(lines.some((l) => l.type === 'history')).toBe(true);
    expect(lines.find((l) => l.type === 'sent')).toMatchObject({ message: { text: 'json line', peer: bob.id } });
    expect(lines.find((l) => l.type === 'message')).toMatchObject({ message: { text: 'json reply' } });
    expect(r.stderr).toContain('Chat with Bob');
    expect(r.stderr).toContain('/quit');
  });
});
