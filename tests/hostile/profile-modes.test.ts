/**
 * Hostile: another local user (`nobody`) tries to read a running peer's
 * profile (issue 13, finding 9): the database with its -wal and -shm, and the
 * device key. The profile folder must be 0700 and its files 0600, whether
 * the peer made the folder or found it already there as 0755 with 0644 files
 * (then it is repaired at start, with one log line). Needs root (runuser).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freeUdpPort, PeerProcess, removeHome, tempHome } from '../support/cli-peer.js';

const running: PeerProcess[] = [];
const homes: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

const isRoot = process.getuid?.() === 0;

/** `cat path` as user nobody: its exit code and what it printed on stderr. */
function catAsNobody(path: string): { code: number; err: string } {
  const r = spawnSync('runuser', ['-u', 'nobody', '--', 'cat', path], { encoding: 'utf8' });
  return { code: r.status ?? -1, err: (r.stderr ?? '').trim() };
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

/** A parent folder that nobody may enter, so that only the profile's own modes protect it. */
function openParent(): string {
  const parent = tempHome('modes');
  homes.push(parent);
  chmodSync(parent, 0o755);
  return parent;
}

async function startPeer(profile: string): Promise<PeerProcess> {
  const p = new PeerProcess({ home: profile, name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns'] });
  running.push(p);
  await p.ready();
  return p;
}

/** Every entry of the profile with its mode, and what `nobody` got when reading each file. */
function probe(profile: string): { modes: Record<string, string>; reads: Record<string, number> } {
  const modes: Record<string, string> = { '.': mode(profile) };
  const reads: Record<string, number> = {};
  for (const name of readdirSync(profile)) {
    const path = join(profile, name);
    if (!statSync(path).isFile()) continue;
    modes[name] = mode(path);
    reads[name] = catAsNobody(path).code;
  }
  return { modes, reads };
}

describe.skipIf(!isRoot)('profile files as another local user', () => {
  it('a profile the peer creates is 0700 with 0600 files, and nobody reads none of them', async () => {
    const profile = join(openParent(), 'profile');
    await startPeer(profile);
    const { modes, reads } = probe(profile);
    console.log(`new profile: modes ${JSON.stringify(modes)}; cat as nobody exit codes ${JSON.stringify(reads)}`);
    expect(Object.keys(modes)).toEqual(expect.arrayContaining(['pigeon.db', 'pigeon.db-wal', 'pigeon.db-shm', 'device-key.pem']));
    expect(modes['.']).toBe('700');
    for (const [name, m] of Object.entries(modes)) if (name !== '.') expect(m, name).toBe('600');
    for (const [name, code] of Object.entries(reads)) expect(code, name).not.toBe(0);
  });

  it('a profile found as 0755 with 0644 files is repaired at start, with one log line', async () => {
    const profile = join(openParent(), 'profile');
    let alice = await startPeer(profile);
    await alice.stop();
    // What an older version, a backup restore or a careless umask leaves behind.
    chmodSync(profile, 0o755);
    for (const name of readdirSync(profile)) if (statSync(join(profile, name)).isFile()) chmodSync(join(profile, name), 0o644);
    const before = catAsNobody(join(profile, 'pigeon.db'));
    console.log(`weakened profile (0755, files 0644): cat pigeon.db as nobody -> exit ${before.code}`);
    expect(before.code).toBe(0); // the attack works on a weakened profile: the check below can fail

    alice = await startPeer(profile);
    const { modes, reads } = probe(profile);
    const logged = alice.stderr.filter((l) => l.includes('readable by other users'));
    console.log(`after start: modes ${JSON.stringify(modes)}; cat as nobody exit codes ${JSON.stringify(reads)}; log: ${logged.join(' | ')}`);
    expect(modes['.']).toBe('700');
    for (const [name, m] of Object.entries(modes)) if (name !== '.') expect(m, name).toBe('600');
    for (const [name, code] of Object.entries(reads)) expect(code, name).not.toBe(0);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('pigeon.db 0644→0600');
  });

  it('a downloads folder inside the profile is out of reach too', async () => {
    const profile = join(openParent(), 'profile');
    mkdirSync(join(profile, 'downloads'), { recursive: true, mode: 0o755 });
    chmodSync(profile, 0o755);
    await startPeer(profile);
    const r = spawnSync('runuser', ['-u', 'nobody', '--', 'ls', join(profile, 'downloads')], { encoding: 'utf8' });
    console.log(`ls <profile>/downloads as nobody -> exit ${r.status} ${(r.stderr ?? '').trim()}`);
    expect(r.status).not.toBe(0);
  });
});
