/**
 * Hostile: another local user against the relay's data folder (issue 13,
 * "local files": relay.db and its -wal/-shm were 0644, readable through a
 * folder that already existed with 0755). Checked as user `nobody` with
 * `runuser`, after the relay repaired a folder made loose on purpose. Also:
 * the invite token can come from a file, and then is not in the process's
 * command line.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { Client, clients, envelope, makeDevice, msgId } from '../support/relay-ws-client.js';
import { startRelayProcess, stopRelayProcesses } from './hostile-relay.js';

const dirs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await stopRelayProcesses();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs `cmd` as user nobody; true if it succeeded. */
function asNobody(...cmd: string[]): { ok: boolean; err: string } {
  const r = spawnSync('runuser', ['-u', 'nobody', '--', ...cmd], { encoding: 'utf8' });
  return { ok: r.status === 0, err: (r.stderr || '').trim().split('\n')[0] ?? '' };
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8).padStart(4, '0');

const canRun = process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0;

describe.skipIf(!canRun)('hostile: the relay data folder as another local user', () => {
  it('repairs a loose data folder at start, makes every file 0600, and nobody can read the database', async () => {
    // A parent everyone may traverse, so only the data folder's own modes protect it.
    const parent = mkdtempSync(join(tmpdir(), 'pigeon-modes-'));
    dirs.push(parent);
    chmodSync(parent, 0o755);
    const data = join(parent, 'relay-data');
    mkdirSync(join(data, 'blobs'), { recursive: true, mode: 0o755 });
    chmodSync(data, 0o755);
    writeFileSync(join(data, 'notes.txt'), 'left by an administrator', { mode: 0o644 });
    const before = asNobody('cat', join(data, 'notes.txt'));

    const r = await startRelayProcess([], data);
    const [bob, alice] = [makeDevice(), makeDevice()];
    (await r.connect(bob, undefined, 'Bob')).ws.close();
    const a = await r.connect(alice, undefined, 'Alice');
    const id = msgId();
    a.send({ type: 'put', id, to: bob.id, body: envelope('secret', { from: alice, to: bob.id, id }) });
    await a.take('put-ack');

    const files = ['relay.db', 'relay.db-wal', 'relay.db-shm', 'relay-key.pem', 'relay-cert.pem', 'notes.txt'];
    const modes = Object.fromEntries([['.', mode(data)], ['blobs', mode(join(data, 'blobs'))], ...files.map((f) => [f, mode(join(data, f))])]);
    const reads = Object.fromEntries(['relay.db', 'relay.db-wal', 'relay-key.pem'].map((f) => [f, asNobody('cat', join(data, f)).ok]));
    const list = asNobody('ls', data);
    console.log(
      `data folder modes: before the relay started, nobody could read a 0644 file in the 0755 folder: ${before.ok}; ` +
        `after: modes ${JSON.stringify(modes)}; nobody reading ${JSON.stringify(reads)}; listing the folder: ${list.ok} (${list.err})`,
    );
    expect(before.ok).toBe(true); // the check can fail: a loose folder is readable
    expect(modes).toEqual({ '.': '0700', blobs: '0700', 'relay.db': '0600', 'relay.db-wal': '0600', 'relay.db-shm': '0600', 'relay-key.pem': '0600', 'relay-cert.pem': '0600', 'notes.txt': '0600' });
    expect(Object.values(reads)).toEqual([false, false, false]);
    expect(list.ok).toBe(false);
    expect(r.logs().some((l) => l.msg === 'data folder modes repaired')).toBe(true);
  });

  it('takes the invite token from a file, keeping it out of the command line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pigeon-token-'));
    dirs.push(dir);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'sales-2026-secret\n', { mode: 0o600 });
    const r = await startRelayProcess(['--invite-token-file', tokenFile]);
    const cmdline = readFileSync(`/proc/${r.proc.pid}/cmdline`, 'utf8');
    const good = await new Client(r.url).auth(makeDevice(), { token: 'sales-2026-secret' }).then(
      () => 'welcome',
      (e: { frame?: { code: string } }) => e.frame?.code,
    );
    const bad = await new Client(r.url).auth(makeDevice(), { token: 'guess' }).then(
      () => 'welcome',
      (e: { frame?: { code: string } }) => e.frame?.code,
    );
    console.log(`invite token from a file: command line shows the token: ${cmdline.includes('sales-2026-secret')}; right token: ${good}; wrong token: ${bad}`);
    expect(cmdline.includes('sales-2026-secret')).toBe(false);
    expect(good).toBe('welcome');
    expect(bad).toBe(ErrorCodes.RELAY_TOKEN);
  });
});
