/**
 * Relay onboarding (issue 15, item 5), with a real `pigeon relay` and real
 * `pigeon peer` processes read as people read them (plain text, no --json):
 * - the relay prints every reachable address and one command for
 *   colleagues, and that command, run by a shell, sets up a working peer;
 * - a wrong token or a device not on the allowlist costs one attempt and
 *   one error line naming the fix; a changed fingerprint asks to compare;
 * - a relay that cannot start leaves no files behind;
 * - a colleague known only through the relay is "online via the relay".
 */
import { createServer, type Server } from 'node:net';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, freeUdpPort, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { LineProcess } from '../support/line-process.js';

/** How long a refused peer is watched for a second attempt: the old back-off (0.5, 1, 2, 5 s) made four in this time. */
const WATCH_MS = 6000;
const TOKEN = 'sales-2026-secret';
/** The line a peer prints once the relay let it in. */
const CONNECTED = /relay wss:\/\/\S+: connected$/;

let work: string;
const running: LineProcess[] = [];

beforeAll(() => {
  work = tempHome('relay-onboarding');
});
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  removeHome(work);
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): LineProcess {
  const p = new LineProcess(process.execPath, [BIN, ...args], { env });
  running.push(p);
  return p;
}

/** A relay printing its start-up text for people; resolves once the command for colleagues is printed. */
async function relay(name: string, args: string[]): Promise<{ proc: LineProcess; command: string }> {
  const proc = start(['relay', '--port', '0', '--data', join(work, name), ...args]);
  const command = (await proc.waitForLine(/^ {2}pigeon peer /)).trim();
  return { proc, command };
}

/** Flags that keep a test peer off the LAN: the relay is its only way to anyone. */
async function isolated(home: string, name: string): Promise<string[]> {
  return ['--home', home, '--name', name, '--port', '0', '--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns'];
}

function tokenFile(path: string, token: string): string {
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return path;
}

/** `auth refused` lines in a relay's JSON log: one per connection attempt it refused. */
const refusals = (r: LineProcess): number => r.stderr.filter((l) => l.includes('"msg":"auth refused"')).length;

describe('relay onboarding', () => {
  it('prints every reachable address and one command that, pasted into a shell, sets up a working peer', async () => {
    const { proc, command } = await relay('relay-a', ['--invite-token-file', tokenFile(join(work, 'relay-a-token'), TOKEN)]);
    const out = proc.stdout.join('\n');
    console.log(`relay start-up text:\n${out}`);
    expect(out).not.toContain('0.0.0.0');
    expect(out).not.toContain(TOKEN);
    const port = /wss:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]!;
    // Every IPv4 address of this machine but the link-local ones, LAN ones before loopback.
    const lan = Object.values(networkInterfaces()).flat().filter((i) => i && i.family === 'IPv4' && !i.internal && !i.address.startsWith('169.254.')).map((i) => i!.address);
    const urlLines = proc.stdout.filter((l) => l.startsWith('  wss://'));
    expect(urlLines.map((l) => /wss:\/\/([^:]+):/.exec(l)![1])).toEqual([...lan, '127.0.0.1']);
    expect(urlLines.at(-1)).toContain('(this machine only)');
    // The command: first LAN address, fingerprint as printed, the token from a file.
    const fingerprint = proc.stdout[proc.stdout.findIndex((l) => l.startsWith('Certificate fingerprint')) + 1]!.trim();
    expect(fingerprint).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    expect(command).toBe(`pigeon peer --relay wss://${lan[0] ?? '127.0.0.1'}:${port} --relay-fingerprint ${fingerprint.replace(/ /g, '')} --relay-token-file ~/.pigeon-relay-token`);

    // Two colleagues save the token where the text says, then paste the command into a shell.
    const colleague = async (name: string): Promise<LineProcess> => {
      const home = join(work, `home-${name}`);
      mkdirSync(home);
      tokenFile(join(home, '.pigeon-relay-token'), TOKEN);
      const pasted = command.replace(/^pigeon /, `'${process.execPath}' '${BIN}' `);
      // `exec`: the shell expands the pasted line (the ~ of the token file) and becomes the peer,
      // so stopping the process stops the peer (a shell that forks left it running after the test).
      const p = new LineProcess('/bin/sh', ['-c', `exec ${pasted} ${(await isolated(join(home, 'profile'), name)).join(' ')}`], { env: { HOME: home }, cwd: home });
      running.push(p);
      return p;
    };
    const [ann, bo] = await Promise.all([colleague('Ann'), colleague('Bo')]);
    await Promise.all([ann.waitForLine(CONNECTED), bo.waitForLine(CONNECTED)]);
    // Known only through the relay: no LAN address, and the log says so instead of "at ?".
    const seen = await ann.waitForLine(/ Bo is online /);
    expect(seen).toMatch(/Bo is online via the relay$/);
    expect(ann.lines.join('\n')).not.toContain('online at ?');
  });

  it('stops after a wrong token or a refused device, with one error naming the fix, and compares fingerprints instead of copying', async () => {
    const withToken = await relay('relay-b', ['--invite-token-file', tokenFile(join(work, 'relay-b-token'), TOKEN)]);
    const closed = await relay('relay-c', ['--allow', 'a'.repeat(26)]);
    const urlOf = (cmd: string): string[] => cmd.split(' ').slice(2, 6); // --relay URL --relay-fingerprint FP
    const [bUrl, bFp] = [urlOf(withToken.command)[1]!, urlOf(withToken.command)[3]!];
    const cUrl = urlOf(closed.command);

    const wrongToken = start(['peer', ...(await isolated(join(work, 'cy'), 'Cy')), '--relay', bUrl, '--relay-fingerprint', bFp, '--relay-token-file', tokenFile(join(work, 'cy-token'), 'sales-2025-old')]);
    const noToken = start(['peer', ...(await isolated(join(work, 'di'), 'Di')), '--relay', bUrl, '--relay-fingerprint', bFp]);
    const notAllowed = start(['peer', ...(await isolated(join(work, 'ed'), 'Ed')), ...cUrl]);
    const otherFp = 'ab'.repeat(32);
    const swapped = start(['peer', ...(await isolated(join(work, 'flo'), 'Flo')), '--relay', bUrl, '--relay-fingerprint', otherFp, '--relay-token-file', tokenFile(join(work, 'flo-token'), TOKEN)]);

    const [cy, di, ed, flo] = await Promise.all([
      wrongToken.waitForLine(/PIGEON_ERR_RELAY_TOKEN/),
      noToken.waitForLine(/PIGEON_ERR_RELAY_TOKEN/),
      notAllowed.waitForLine(/PIGEON_ERR_RELAY_DEVICE_REFUSED/),
      swapped.waitForLine(/PIGEON_ERR_RELAY_FINGERPRINT/),
    ]);
    await new Promise((r) => setTimeout(r, WATCH_MS));
    console.log(`wrong token: ${cy}\nno token: ${di}\nnot on the allowlist: ${ed}\nother fingerprint: ${flo}`);

    // The fix is named: the token file, or the device id to add to --allow.
    expect(cy).toMatch(/refused the invite token \(wrong invite token\).*--relay-token-file.*restart the peer; not retrying/);
    expect(di).toMatch(/requires an invite token.*--relay-token-file FILE.*PIGEON_RELAY_TOKEN/);
    const edId = (await pigeon(['whoami', '--home', join(work, 'ed'), '--json'])).stdout;
    expect(ed).toContain(`add the device id ${(JSON.parse(edId) as { id: string }).id} to the relay's --allow list`);
    // A changed certificate: both fingerprints to compare, and the administrator's copy decides.
    expect(flo).toMatch(/not the pinned ab ?ab/);
    expect(flo).toMatch(/ask the relay's administrator .* for the fingerprint the relay printed at start, and pass it with --relay-fingerprint only if it is the one shown here/);

    // Once: one line in each peer's output that mentions the relay, and one refused attempt at each relay.
    for (const p of [wrongToken, noToken, notAllowed, swapped]) expect(p.lines.filter((l) => /relay/i.test(l))).toHaveLength(1);
    expect(refusals(withToken.proc)).toBe(2);
    expect(refusals(closed.proc)).toBe(1);
    // `pigeon whoami` shows the same, with the code, for as long as the peer runs.
    const whoami = await pigeon(['whoami', '--home', join(work, 'cy')]);
    expect(whoami.stdout).toMatch(/relay: +wss:\S+ not connected: .*refused the invite token.* \[PIGEON_ERR_RELAY_TOKEN\]/);
  }, 60_000);

  it('creates no files when it cannot start, and removes a data folder it made before failing', async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = String((busy.address() as { port: number }).port);
    try {
      const inUse = await pigeon(['relay', '--host', '127.0.0.1', '--port', port, '--data', join(work, 'fail-port', 'data')]);
      expect(inUse.code).toBe(1);
      expect(inUse.stderr).toMatch(/port \d+ is in use/);
      expect(existsSync(join(work, 'fail-port'))).toBe(false);

      const badCert = await pigeon(['relay', '--port', '0', '--data', join(work, 'fail-cert', 'data'), '--cert', join(work, 'missing.pem'), '--key', join(work, 'missing-key.pem')]);
      expect(badCert.code).toBe(1);
      expect(existsSync(join(work, 'fail-cert'))).toBe(false);

      // The blob folder fails after the data folder, key and database were made: they go again.
      writeFileSync(join(work, 'a-file'), 'not a folder');
      const badBlobs = await pigeon(['relay', '--host', '127.0.0.1', '--port', '0', '--data', join(work, 'fail-blobs'), '--blob-dir', join(work, 'a-file', 'blobs')]);
      expect(badBlobs.code).toBe(1);
      expect(badBlobs.stderr).toMatch(/blob folder/);
      expect(existsSync(join(work, 'fail-blobs'))).toBe(false);

      // A data folder that was there before is left as it was.
      const kept = join(work, 'kept');
      mkdirSync(kept, { mode: 0o700 });
      writeFileSync(join(kept, 'note.txt'), 'the administrator made this folder');
      const again = await pigeon(['relay', '--host', '127.0.0.1', '--port', port, '--data', kept]);
      expect(again.code).toBe(1);
      expect(readdirSync(kept)).toEqual(['note.txt']);
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });
});
