/**
 * Multi-host file transfer: two `pigeon peer` processes, each in its own Linux
 * network namespace ("host"), joined by a bridge in a third "switch"
 * namespace (see ../support/netns.ts), broadcast discovery on the default
 * port. A folder tree (nested, empty and unicode-named folders, a 200 MB
 * random file) crosses the veth LAN intact; a 600 MB transfer survives its
 * receiver's cable being pulled, for 3 s (TCP normally carries the same data
 * connection through) and for longer than the engine's stall limit (the
 * receiver gives the connection up and fetches again from its partial file),
 * and never starts over. The sender runs with --log-level info: its "serving
 * file" lines show where each fetch began.
 *
 * Needs root and iproute2; skipped with a warning otherwise.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { DEAD_SESSION_MS } from '../../shared/protocol/constants.js';
import { PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { createLan, ip, netnsUnavailable, type Lan } from '../support/netns.js';
import { hashTree, randomFile, sha256File } from '../support/big-files.js';

const skipReason = await netnsUnavailable();
if (skipReason) console.warn(`tests/netns/transfer.test.ts skipped: ${skipReason}`);

const TEST_MS = 180_000;
/** A data connection without traffic for this long is given up and the file fetched again (core/transfer/data-link.ts). */
const STALL_MS = DEAD_SESSION_MS;
const MB = 1_000_000;
const MiB = 1 << 20;

let lan: Lan | null = null;
const running: PeerProcess[] = [];
const dirs: string[] = [];

function dir(label: string): string {
  const d = tempHome(`netns-xfer-${label}`);
  dirs.push(d);
  return d;
}

/** Every file and folder below root: relative path → sha256 (files) or 'dir'. */
const tree = (root: string): Promise<Record<string, string>> => hashTree(root, true);

async function transfers(home: string): Promise<TransferInfo[]> {
  const r = await pigeon(['transfers', '--home', home, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as TransferInfo[];
}

/** Polls fn until it returns something truthy; `what` names the condition in the timeout error. */
async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs: number, stepMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not reached within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Alice on host a (logging at info: "serving file" lines), Bob on host b accepting from her into `downloads`. */
async function startPair(downloads: string): Promise<{ alice: PeerProcess; bob: PeerProcess; ha: string; hb: string }> {
  const [ha, hb] = [dir('a'), dir('b')];
  const alice = new PeerProcess({ home: ha, name: 'Alice', args: ['--no-mdns', '--log-level', 'info'], prefix: lan!.host('a').prefix });
  running.push(alice);
  const bob = new PeerProcess({ home: hb, name: 'Bob', args: ['--no-mdns', '--log-level', 'info', '--accept-from', 'Alice', '--downloads', downloads], prefix: lan!.host('b').prefix });
  running.push(bob);
  await Promise.all([alice.ready(), bob.ready()]);
  await Promise.all([alice.sees('Bob', 30_000), bob.sees('Alice', 30_000)]);
  return { alice, bob, ha, hb };
}

/** The time stamp that starts a log line ("2026-01-02T03:04:05.678Z info ..."), in ms; NaN without one. */
function logTime(line: string | undefined): number {
  return Date.parse(line?.split(' ')[0] ?? '');
}

/** The fetches the sender served for one transfer, in order: its "serving file" log lines (offset, and when). */
function servedFetches(sender: PeerProcess, transfer: string): Array<{ offset: number; at: number }> {
  return sender.stderr
    .filter((l) => l.includes('serving file') && l.includes(transfer))
    .map((l) => ({ offset: Number(/"offset":(\d+)/.exec(l)?.[1] ?? NaN), at: logTime(l) }));
}

/** What both sides show, for a failure message: transfers, peers, recent log lines, TCP sockets per host. */
async function diagnose(peers: Record<string, { p: PeerProcess; home: string }>, part: string): Promise<string> {
  const out: string[] = [];
  for (const [label, { p, home }] of Object.entries(peers)) {
    const t = await pigeon(['transfers', '--home', home, '--json']);
    const peersJson = await pigeon(['peers', '--home', home, '--json']);
    const ss = await ip(['netns', 'exec', lan!.host(label).ns, 'ss', '-tnoi']);
    out.push(
      `--- ${p.opts.name} (host ${label})`,
      `transfers: ${t.stdout.trim() || t.stderr.trim()}`,
      `peers: ${peersJson.stdout.trim() || peersJson.stderr.trim()}`,
      `sockets:\n${ss.stdout.trim() || ss.stderr.trim()}`,
      `log (last 25 lines):\n${p.stderr.slice(-25).join('\n')}`,
    );
  }
  out.push(`part file: ${existsSync(part) ? statSync(part).size : 'absent'}`);
  return out.join('\n');
}

/** Unplugs (or plugs back) a host's cable: its switch port leaves (or rejoins) the bridge. */
async function cable(label: string, plugged: boolean): Promise<void> {
  const r = await ip(['-n', lan!.switchNs, 'link', 'set', `p-${label}`, ...(plugged ? ['master', 'br0'] : ['nomaster'])]);
  expect(r.code, r.stderr).toBe(0);
}

describe.skipIf(skipReason !== null)('file transfer between two hosts on a LAN of network namespaces', () => {
  beforeAll(async () => {
    lan = await createLan(['a', 'b']);
    console.log(`netns LAN ${lan.subnet}: ${lan.hosts.map((h) => `${h.ns}=${h.address}`).join(', ')} via ${lan.switchNs}`);
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    for (const d of dirs.splice(0)) removeHome(d);
  });

  afterAll(async () => {
    // afterEach may not have run if a hook failed; kill whatever is left, then the namespaces.
    await Promise.all(running.splice(0).map((p) => p.kill9()));
    for (const d of dirs.splice(0)) removeHome(d);
    await lan?.destroy();
    lan = null;
  });

  it(
    'a folder tree with nested, empty and unicode folders and a 200 MB file arrives intact',
    async () => {
      const src = dir('src');
      const root = join(src, 'Album 相册');
      mkdirSync(join(root, 'nested', 'deeper', 'deepest'), { recursive: true });
      mkdirSync(join(root, 'empty'), { recursive: true });
      mkdirSync(join(root, 'Ünïcødé 文件夹 ☕'), { recursive: true });
      writeFileSync(join(root, 'readme.txt'), 'hello across the LAN\n');
      writeFileSync(join(root, 'nested', 'a.txt'), 'a'.repeat(12_345));
      writeFileSync(join(root, 'nested', 'deeper', 'deepest', 'zero.bin'), Buffer.alloc(0));
      writeFileSync(join(root, 'Ünïcødé 文件夹 ☕', 'café ☕ 日本語.md'), '# données\n'.repeat(5000));
      randomFile(join(root, 'nested', 'deeper', 'big.bin'), 200);
      const expected = await tree(src);

      const downloads = join(dir('dl'), 'inbox');
      const { ha, hb } = await startPair(downloads);

      const t0 = Date.now();
      const r = await pigeon(['send-file', '--home', ha, 'Bob', root, '--wait']);
      const ms = Date.now() - t0;
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toMatch(/done/);
      const total = 200 * MiB;
      console.log(`folder (${Object.keys(expected).length} entries, ${(total / MB).toFixed(0)} MB) over the veth LAN: ${ms} ms, ${(total / MB / (ms / 1000)).toFixed(0)} MB/s (send-file --wait, offer to done)`);

      expect(await tree(downloads)).toEqual(expected);
      expect(Object.keys(expected)).toContain(join('Album 相册', 'empty'));
      expect(Object.keys(expected)).toContain(join('Album 相册', 'Ünïcødé 文件夹 ☕', 'café ☕ 日本語.md'));
      const [out] = await transfers(ha);
      expect(out).toMatchObject({ direction: 'out', state: 'done', peer: expect.any(String) });
      const [inc] = await transfers(hb);
      expect(inc).toMatchObject({ id: out!.id, direction: 'in', state: 'done', doneBytes: out!.totalBytes });
    },
    TEST_MS,
  );

  // A short pull (3 s) is normally carried through by TCP retransmission on the
  // same data connection; a pull longer than the engine's stall limit makes the
  // receiver give the connection up and fetch again from its partial file.
  for (const outageMs of [3000, STALL_MS + 5000]) {
    const long = outageMs > STALL_MS;
    it(
      `cable pulled for ${outageMs / 1000} s mid-transfer: a 600 MB file ${long ? 'is fetched again from the bytes already received' : 'completes without starting over'}`,
      async () => {
        const src = dir('src');
        const big = join(src, 'huge.bin');
        randomFile(big, 600);
        const size = 600 * MiB;
        const digest = await sha256File(big);

        const downloads = dir('dl');
        const part = join(downloads, 'huge.bin.pigeon-part');
        const { alice, bob, ha, hb } = await startPair(downloads);
        const diag = (): Promise<string> => diagnose({ a: { p: alice, home: ha }, b: { p: bob, home: hb } }, part);

        const t0 = Date.now();
        const r = await pigeon(['send-file', '--home', ha, 'Bob', big, '--json']);
        expect(r.code, r.stderr).toBe(0);
        const id = (JSON.parse(r.stdout.trim().split('\n')[0]!) as TransferInfo).id;
        const tag = `[${outageMs / 1000} s pull]`;

        const seen = await until('Bob has more than 100 MB of it', async () => (await transfers(hb)).find((t) => t.id === id && t.doneBytes > 100 * MB), 60_000, 50);
        const seenMs = Date.now() - t0;
        expect(seen.state).toBe('accepted');

        let plugged = true;
        let partial = 0;
        let partAtReplug = 0;
        let unpluggedAt = 0;
        let pluggedAt = 0;
        let bobEvents = 0;
        try {
          await cable('b', false);
          plugged = false;
          unpluggedAt = Date.now();
          console.log(`${tag} Bob's transfers showed ${(seen.doneBytes / MB).toFixed(0)} MB ${seenMs} ms after the offer; cable pulled`);
          await sleep(3000);
          expect(existsSync(part), 'the transfer ended before the cable was pulled').toBe(true);
          partial = statSync(part).size;
          const during = (await transfers(ha)).find((t) => t.id === id)!;
          console.log(`${tag} unplugged 3 s: the .pigeon-part file has ${(partial / MB).toFixed(1)} MB; Alice shows ${during.state}, ${(during.doneBytes / MB).toFixed(1)} MB`);
          expect(partial).toBeGreaterThan(50 * MB);
          expect(partial).toBeLessThan(size);
          await sleep(outageMs - 3000);
          partAtReplug = statSync(part).size;

          bobEvents = bob.events.length;
          await cable('b', true);
          plugged = true;
          pluggedAt = Date.now();
        } finally {
          if (!plugged) await cable('b', true);
        }
        // Bytes flowing again: the first progress event of Bob's after the replug beyond what the part file had.
        const flowing = bob
          .waitFor((e) => (e.type === 'transfer-progress' || e.type === 'transfer') && e.transfer.id === id && e.transfer.doneBytes > partAtReplug, 120_000, bobEvents)
          .then(() => Date.now() - pluggedAt);
        flowing.catch(() => {});

        const done = await until('Alice shows the transfer done', async () => (await transfers(ha)).find((t) => t.id === id && t.state === 'done'), 120_000, 250).catch(async (err: Error) => {
          console.log(`${tag} not done 120 s after the replug:\n${await diag()}`);
          throw err;
        });
        const doneMs = Date.now() - pluggedAt;
        const flowingMs = await flowing;
        expect(done.doneBytes).toBe(size);

        expect(existsSync(part)).toBe(false);
        expect(statSync(join(downloads, 'huge.bin')).size).toBe(size);
        expect(await sha256File(join(downloads, 'huge.bin'))).toBe(digest);
        expect((await transfers(hb)).find((t) => t.id === id)).toMatchObject({ state: 'done', direction: 'in' });

        // Resumed, not restarted: the first fetch began at 0; any later one where Bob's data ended.
        const served = servedFetches(alice, id);
        const refetches = served.slice(1);
        const stalls = bob.stderr.filter((l) => l.includes('transfer interrupted') && l.includes(id));
        const firstRefetch = refetches[0];
        console.log(
          `${tag} replugged after ${pluggedAt - unpluggedAt} ms; ` +
            (firstRefetch
              ? `Bob gave the stalled data connection up ${logTime(stalls[0]) - unpluggedAt} ms after the pull (${stalls.map((l) => /"error":"([^"]*)"/.exec(l)?.[1]).join('; ')}) and fetched again from ${firstRefetch.offset} (${(firstRefetch.offset / MB).toFixed(1)} MB) ${firstRefetch.at - pluggedAt} ms after the replug; `
              : 'the data connection survived (no second fetch); ') +
            `bytes flowed again ${flowingMs} ms and Alice showed done ${doneMs} ms after the replug, ${Date.now() - t0} ms after the offer. Fetch offsets served by Alice: ${served.map((f) => f.offset).join(', ')}`,
        );
        expect(served[0]?.offset).toBe(0);
        for (const f of refetches) expect(f.offset, 'a later fetch started over').toBeGreaterThanOrEqual(partial);
        if (long) {
          // Longer than the stall limit: the old connection was given up and the file fetched again from what Bob had.
          if (refetches.length === 0) console.log(`${tag} no second fetch:\n${await diag()}`);
          expect(refetches.length, `no second fetch after a ${outageMs / 1000} s pull`).toBeGreaterThan(0);
          expect(firstRefetch!.offset).toBeGreaterThan(0);
          expect(firstRefetch!.offset).toBe(partAtReplug);
        }
      },
      TEST_MS,
    );
  }
});
