/**
 * Hostile: another local user hunts for the relay's invite token (issue 13,
 * finding 9). It must not be in the peer's command line (/proc/PID/cmdline)
 * when it comes from PIGEON_RELAY_TOKEN or --relay-token-file, and never in
 * the profile's files (pigeon.db, -wal, -shm): a token file's path is saved,
 * not its content; a token an earlier version saved in clear is erased at
 * start. --relay-token still works, with a warning, and is not saved either.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freeUdpPort, PeerProcess, removeHome, tempHome } from '../support/cli-peer.js';
import { RelayPeers } from '../support/relay-peer-setup.js';
import type { RelayListening } from '../support/relay-process.js';

/** A token no other text in a profile would contain by chance. */
const TOKEN = 'invite-7d1f0c3a9b52e48d';

let work: string;
let net: RelayPeers;
let relay: RelayListening;

beforeEach(async () => {
  work = tempHome('relay-token');
  net = new RelayPeers(work);
  relay = await net.relay(['--invite-token', TOKEN]).listening;
});

afterEach(async () => {
  await net.stop();
  removeHome(work);
});

/** Which of the profile's files hold the token's bytes. */
function filesWithToken(profile: string): string[] {
  return readdirSync(profile).filter((n) => {
    const p = join(profile, n);
    return existsSync(p) && !n.endsWith('.sock') && readFileSync(p).includes(Buffer.from(TOKEN));
  });
}

async function peer(name: string, args: string[], env?: NodeJS.ProcessEnv): Promise<PeerProcess> {
  const p = net.add(
    new PeerProcess({
      home: join(work, name),
      name,
      args: ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns', ...args],
      ...(env ? { env } : {}),
    }),
  );
  await p.ready();
  return p;
}

const relayArgs = (): string[] => ['--relay', `wss://127.0.0.1:${relay.port}`, '--relay-fingerprint', relay.fingerprint];
const connected = (p: PeerProcess): Promise<unknown> => p.waitFor((e) => e.type === 'relay' && e.relay.connected, 20_000);

function cmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
}

describe('relay invite token', () => {
  it('from PIGEON_RELAY_TOKEN: connects, not in the command line, not in the profile, and nobody cannot read the environment', async () => {
    const alice = await peer('Alice', relayArgs(), { PIGEON_RELAY_TOKEN: TOKEN });
    await connected(alice);
    const line = cmdline(alice.pid);
    const environ = process.getuid?.() === 0 ? spawnSync('runuser', ['-u', 'nobody', '--', 'cat', `/proc/${alice.pid}/environ`]).status : null;
    const files = filesWithToken(join(work, 'Alice'));
    console.log(`PIGEON_RELAY_TOKEN: connected; token in cmdline: ${line.includes(TOKEN)}; cat /proc/PID/environ as nobody -> exit ${environ}; profile files holding it: [${files.join(', ')}]`);
    expect(line).not.toContain(TOKEN);
    if (environ !== null) expect(environ).not.toBe(0);
    expect(files).toEqual([]);
  });

  it('from --relay-token-file: connects, only the path is saved, and the next start reads the file again', async () => {
    const file = join(work, 'relay-token.txt');
    writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
    let alice = await peer('Alice', [...relayArgs(), '--relay-token-file', file]);
    await connected(alice);
    await alice.stop();
    const files = filesWithToken(join(work, 'Alice'));
    alice = await peer('Alice', []);
    await connected(alice);
    console.log(`--relay-token-file: connected; token in cmdline: ${cmdline(alice.pid).includes(TOKEN)}; profile files holding it: [${files.join(', ')}]; restarted without options: connected`);
    expect(cmdline(alice.pid)).not.toContain(TOKEN);
    expect(files).toEqual([]);
  });

  it('a token file others may read is used, with a warning; a missing one stops the start with a plain error', async () => {
    const file = join(work, 'relay-token.txt');
    writeFileSync(file, TOKEN, { mode: 0o644 });
    const alice = await peer('Alice', [...relayArgs(), '--relay-token-file', file]);
    await connected(alice);
    const warned = alice.stderr.filter((l) => l.includes('token file can be read by other users'));
    await alice.stop();
    const missing = net.add(new PeerProcess({ home: join(work, 'Alice'), name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns', '--relay-token-file', join(work, 'gone.txt')] }));
    const code = await missing.exited;
    console.log(`token file 0644 -> warning: ${warned.length}; missing token file -> exit ${code}: ${missing.stderr.join(' | ')}`);
    expect(warned).toHaveLength(1);
    expect(code).not.toBe(0);
    expect(missing.stderr.join('\n')).toMatch(/cannot read the relay token file .*gone\.txt: ENOENT/);
    expect(missing.stderr.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('--relay-token still works, with a warning, and is not saved', async () => {
    const alice = await peer('Alice', [...relayArgs(), '--relay-token', TOKEN]);
    await connected(alice);
    await alice.stop();
    const warned = alice.stderr.filter((l) => l.includes('--relay-token can be read by other users'));
    const files = filesWithToken(join(work, 'Alice'));
    console.log(`--relay-token: connected; warnings: ${warned.length}; profile files holding it: [${files.join(', ')}]`);
    expect(warned).toHaveLength(1);
    expect(files).toEqual([]);
  });

  it('a token saved in clear by an earlier version is used once and erased from the database and its WAL', async () => {
    // The profile as the previous version left it: relay settings with the token in clear.
    const profile = join(work, 'Alice');
    const first = await peer('Alice', relayArgs(), { PIGEON_RELAY_TOKEN: TOKEN });
    await connected(first);
    await first.stop();
    const db = new Database(join(profile, 'pigeon.db'));
    db.prepare(`INSERT INTO settings (key, value) VALUES ('relay.token', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(TOKEN);
    db.close();
    const before = filesWithToken(profile);
    const alice = await peer('Alice', []);
    await connected(alice);
    const after = filesWithToken(profile);
    const warned = alice.stderr.filter((l) => l.includes('erased the relay token'));
    console.log(`legacy token in clear: files holding it before start [${before.join(', ')}], after start [${after.join(', ')}]; connected once with it; warnings: ${warned.length}`);
    expect(before.length).toBeGreaterThan(0);
    expect(after).toEqual([]);
    expect(warned).toHaveLength(1);
  });
});
