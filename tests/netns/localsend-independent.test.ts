/**
 * LocalSend against an independent implementation: a `pigeon peer --localsend`
 * on host p and the npm package `localsend` 0.1.2 (CrossCopy/localsend-ts, a
 * TypeScript implementation with a CLI; an exact devDependency) on host l of
 * a LAN of network namespaces (../support/netns.ts), on LocalSend's defaults
 * (port 53317, group 224.0.0.167).
 *
 * Covered, each way the independent peer can: discovery both ways (its
 * `discover --json` lists Pigeon, Pigeon's `peers` lists its receiver);
 * files both ways byte-exact (an empty file, unicode names, and 200 MB plus a
 * folder from Pigeon; 50 MiB in one POST and 61 MiB in ranged pieces from
 * it); decline both ways; a PIN both ways; Pigeon's HTTPS and HTTP servers;
 * cancel by Pigeon as sender and as receiver (of one POST and of pieces).
 *
 * What the independent peer cannot do (read in its dist/cli.js and observed
 * here), so these cases rest on Pigeon-to-Pigeon tests and the protocol
 * document's examples (localsend.test.ts, localsend-doc.test.ts):
 * - its receiver serves plain HTTP only: Pigeon to it is HTTP, never HTTPS;
 * - its `send` takes one file, no folder, and cannot cancel (it only sends
 *   /cancel after its own upload failed);
 * - files over 50 MiB it sends in 10 MiB POSTs with an `X-Content-Range`
 *   header, not in the document (one POST per file); Pigeon takes them
 *   (core/localsend/ls-pieces.ts; hostile pieces are tested on loopback in
 *   tests/integration/localsend-pieces.test.ts). Its `send` of such a file
 *   crashes by itself after the first piece, whatever the receiver (its own
 *   too: observed): its progress line divides the bytes since the last call
 *   by the milliseconds since it, two calls fall in one millisecond, and
 *   0/0 is NaN, which its size formatter throws on ("Expected a finite
 *   number, got number: NaN"). Those sends run with Date.now() made strictly
 *   increasing in its process (STRICT_NOW); its upload code is untouched;
 * - its `send` always sends a PIN (default "123456"); Pigeon without a PIN
 *   ignores it;
 * - every run of its CLI makes a new random fingerprint (HTTP mode), so each
 *   `send` is a new contact to Pigeon: the senders here are "Lars", the
 *   receiver "Lisa", so that Pigeon's `send-file Lisa` names one device.
 *
 * Needs root and iproute2 (tc slows the links for the cancel cases); skipped with a warning otherwise.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PeerInfo, TransferInfo } from '../../shared/api/control-api.js';
import { hashTree, randomFile, sha256File } from '../support/big-files.js';
import { pigeonJson } from '../support/group-steps.js';
import { untilDefined } from '../support/until.js';
import { PeerProcess, pigeon, removeHome, ROOT, tempHome } from '../support/cli-peer.js';
import { createLan, ip, netnsUnavailable, type Lan } from '../support/netns.js';

const skipReason = await netnsUnavailable();
if (skipReason) console.warn(`tests/netns/localsend-independent.test.ts skipped: ${skipReason}`);

/** The independent peer's CLI, run with this Node (its bin is an ES module). */
const LS_CLI = join(ROOT, 'node_modules', 'localsend', 'dist', 'cli.js');
/**
 * Preloaded into its `send` of a file in pieces: Date.now() never returns
 * the same value twice, so its progress line never divides 0 bytes by 0 ms
 * (the crash described above). Only the clock its display reads is changed.
 */
const STRICT_NOW = 'data:text/javascript,const now=Date.now;let last=0;Date.now=()=>(last=Math.max(now(),last+1));';

const TEST_MS = 120_000;
/** The large file (Pigeon to the independent peer). */
const BIG_MIB = 200;
/** The largest file the independent peer sends in one POST (its threshold is 52,428,800 bytes). */
const ONE_POST_MIB = 50;
/** A file it sends in ranged pieces: over its 50 MiB threshold, 7 pieces of 10 MiB, the last one short (1 MiB). */
const PIECES_MIB = 61;
/** Rate of host p's link in the cancel cases: slow enough that a 200 MB upload is still running when cancelled. */
const SLOW_LINK = '40mbit';

let lan: Lan | null = null;
const peers: PeerProcess[] = [];
const children: ChildProcess[] = [];
const dirs: string[] = [];

function dir(label: string): string {
  const d = tempHome(`netns-lsi-${label}`);
  dirs.push(d);
  return d;
}

const tree = (root: string): Promise<Record<string, string>> => hashTree(root);

const json = pigeonJson;
const until = untilDefined;

/** A run of the independent CLI on host l; `out` grows as it prints. */
interface Ls {
  proc: ChildProcess;
  out: () => string;
  exit: Promise<number>;
}

function localsend(args: string[], opts: { strictNow?: boolean } = {}): Ls {
  let out = '';
  const node = opts.strictNow ? [process.execPath, '--import', STRICT_NOW] : [process.execPath];
  const proc = spawn('ip', ['netns', 'exec', lan!.host('l').ns, ...node, LS_CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(proc);
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<number>((r) => proc.on('close', (code) => r(code ?? -1)));
  return { proc, out: () => out, exit };
}

/** Its receiver as "Lisa", saving into `saveDir`; resolves once its server listens. */
async function lisa(saveDir: string, extra: string[] = []): Promise<Ls> {
  const r = localsend(['receive', '--alias', 'Lisa', '--saveDir', saveDir, ...extra]);
  await until('Lisa listening', async () => (r.out().includes('Server started') ? true : undefined));
  return r;
}

/** Answers its "Accept transfer? (y/N)" prompt once it appears (n-th prompt of the run). */
async function answer(r: Ls, nth: number, yes: boolean): Promise<void> {
  await until(`prompt ${nth}`, async () => (r.out().split('Accept transfer?').length > nth ? true : undefined));
  r.proc.stdin!.write(yes ? 'y\n' : 'n\n');
}

async function startPigeon(extra: string[] = []): Promise<string> {
  const home = dir('p');
  const p = new PeerProcess({ home, name: 'Pia', args: ['--no-mdns', '--no-broadcast', '--localsend', '--downloads', join(home, 'dl'), ...extra], prefix: lan!.host('p').prefix });
  peers.push(p);
  await p.ready();
  return home;
}

function contact(home: string, name: string): Promise<PeerInfo> {
  return until(`${name} listed as LocalSend`, async () => (await json<PeerInfo[]>(['peers', '--home', home])).find((p) => p.name === name && p.protocol === 'localsend' && p.online));
}

function transfer(home: string, pred: (t: TransferInfo) => boolean, what: string, timeoutMs?: number): Promise<TransferInfo> {
  return until(what, async () => (await json<TransferInfo[]>(['transfers', '--home', home])).find(pred), timeoutMs);
}

const offered = (home: string, ids: Set<string>) => transfer(home, (t) => t.direction === 'in' && t.state === 'offered' && !ids.has(t.id), 'an offer');

/** Both hosts' links slowed (or restored), so that a cancel lands mid-upload. */
async function slowLink(on: boolean): Promise<void> {
  const args = on ? ['qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', SLOW_LINK, 'burst', '64kb', 'latency', '400ms'] : ['qdisc', 'del', 'dev', 'eth0', 'root'];
  for (const h of ['p', 'l']) {
    const r = await new Promise<number>((res) => spawn('ip', ['netns', 'exec', lan!.host(h).ns, 'tc', ...args], { stdio: 'ignore' }).on('close', (c) => res(c ?? -1)));
    if (on) expect(r, `tc qdisc on host ${h}`).toBe(0);
  }
}

describe.skipIf(skipReason !== null)('LocalSend against the independent implementation (npm localsend 0.1.2)', () => {
  beforeAll(async () => {
    lan = await createLan(['p', 'l']);
    await lan.setMulticastRoute(true);
    expect(existsSync(LS_CLI), LS_CLI).toBe(true);
    expect((await ip(['-n', lan.host('p').ns, 'link', 'show', 'eth0'])).code).toBe(0);
  });

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    for (const p of peers.splice(0)) await p.stop();
  });

  afterAll(async () => {
    await lan?.destroy();
    for (const d of dirs) removeHome(d);
  });

  it(
    'HTTPS Pigeon: discovery both ways; files both ways byte-exact, 61 MiB from it in ranged pieces; decline both ways',
    async () => {
      const hp = await startPigeon();
      const pAddr = lan!.host('p').address;

      // Its discover lists Pigeon (multicast, then Pigeon's register answer or its HTTP scan).
      const disc = localsend(['discover', '--json', '--timeout', '2']);
      expect(await disc.exit, disc.out()).toBe(0);
      const found = JSON.parse(disc.out().slice(disc.out().indexOf('\n[') + 1)) as { alias: string; ip: string; protocol: string }[];
      expect(found.find((d) => d.alias === 'Pia')).toMatchObject({ ip: pAddr });

      // Pigeon lists its receiver.
      const save = join(dir('l'), 'save');
      const r = await lisa(save);
      const c = await contact(hp, 'Lisa');
      expect(c.addresses[0]).toBe(lan!.host('l').address);

      // Pigeon to Lisa (HTTP: its receiver serves nothing else): a folder with unicode names and an empty file, and 200 MB.
      const src = join(hp, 'src');
      mkdirSync(join(src, 'Überweisung 2026', 'sub'), { recursive: true });
      writeFileSync(join(src, 'Überweisung 2026', 'leer.txt'), '');
      writeFileSync(join(src, 'Überweisung 2026', 'sub', '报告 ✓.md'), '# 报告\n'.repeat(1000));
      randomFile(join(src, 'big.bin'), BIG_MIB);
      const send = pigeon(['send-file', '--home', hp, '--wait', 'Lisa', join(src, 'Überweisung 2026'), join(src, 'big.bin')]);
      await answer(r, 1, true);
      const sent = await send;
      expect(sent.code, sent.stdout + sent.stderr).toBe(0);
      const want = await tree(src);
      await until('Lisa has every byte', async () => (JSON.stringify(await tree(save)) === JSON.stringify(want) ? true : undefined), 20_000);

      // Lisa declines.
      const small = join(hp, 'small.txt');
      writeFileSync(small, 'x');
      const refused = pigeon(['send-file', '--home', hp, '--wait', 'Lisa', small]);
      await answer(r, 2, false);
      const d = await refused;
      expect(d.code).not.toBe(0);
      expect(d.stdout + d.stderr).toMatch(/declined/);

      // Lisa to Pigeon over HTTPS, one file per send: empty, a unicode name, 50 MiB; each accepted.
      const ls = dir('lsrc');
      const files = [join(ls, 'empty.txt'), join(ls, 'Grüße 你好 🐦.txt'), join(ls, 'fifty.bin')];
      writeFileSync(files[0]!, '');
      writeFileSync(files[1]!, 'Grüße aus dem Büro\n');
      randomFile(files[2]!, ONE_POST_MIB);
      const seen = new Set<string>();
      for (const f of files) {
        const s = localsend(['send', '--alias', 'Lars', '--protocol', 'https', pAddr, f]);
        const o = await offered(hp, seen);
        seen.add(o.id);
        expect((await pigeon(['accept', '--home', hp, o.id])).code).toBe(0);
        expect(await s.exit, s.out()).toBe(0);
        expect(s.out()).toContain('File uploaded successfully');
      }
      const dl = join(hp, 'dl');
      const got = await tree(dl);
      for (const f of files) expect(got[relative(ls, f)], f).toBe(await sha256File(f));

      // Pigeon declines one of Lisa's.
      const s2 = localsend(['send', '--alias', 'Lars', '--protocol', 'https', pAddr, files[1]!]);
      const o2 = await offered(hp, seen);
      seen.add(o2.id);
      expect((await pigeon(['decline', '--home', hp, o2.id])).code).toBe(0);
      expect(await s2.exit).not.toBe(0);
      expect(s2.out()).toMatch(/Failed to prepare upload/);

      // 61 MiB from Lisa: its 10 MiB pieces (X-Content-Range, not in the document), taken in order, byte-exact.
      const big = join(ls, 'pieces.bin');
      randomFile(big, PIECES_MIB);
      const s3 = localsend(['send', '--alias', 'Lars', '--protocol', 'https', pAddr, big], { strictNow: true });
      const o3 = await offered(hp, seen);
      expect((await pigeon(['accept', '--home', hp, o3.id])).code).toBe(0);
      expect(await s3.exit, s3.out()).toBe(0);
      expect(s3.out()).toContain('uploading in chunks');
      expect(s3.out()).toContain('Uploading chunk: 60.00 - 61.00 MB');
      expect(s3.out()).toContain('File uploaded successfully');
      const done = await transfer(hp, (t) => t.id === o3.id && t.state !== 'accepted', 'the pieced transfer ended');
      expect(done).toMatchObject({ state: 'done', doneBytes: PIECES_MIB * 1024 * 1024 });
      expect(await sha256File(join(dl, 'pieces.bin'))).toBe(await sha256File(big));
      expect(readdirSync(dl).filter((n) => n.endsWith('.pigeon-part'))).toEqual([]);
    },
    TEST_MS,
  );

  it(
    'HTTP Pigeon with a PIN; a PIN on its receiver; cancel by Pigeon as sender and as receiver',
    async () => {
      const hp = await startPigeon(['--localsend-http', '--localsend-pin', '4711', '--accept-from', 'Lars']);
      const pAddr = lan!.host('p').address;
      const ls = dir('lsrc2');
      const f = join(ls, 'mit PIN.txt');
      writeFileSync(f, 'with a PIN');

      // Its send always gives a PIN (default 123456): refused; with the right one, taken over HTTP.
      const wrong = localsend(['send', '--alias', 'Lars', '--protocol', 'http', pAddr, f]);
      expect(await wrong.exit).not.toBe(0);
      expect(wrong.out()).toMatch(/Failed to prepare upload/);
      const right = localsend(['send', '--alias', 'Lars', '--protocol', 'http', '--pin', '4711', pAddr, f]);
      expect(await right.exit, right.out()).toBe(0);
      await until('the PIN file landed', async () => ((await tree(join(hp, 'dl')))['mit PIN.txt'] === (await sha256File(f)) ? true : undefined));

      // Its receiver with a PIN: Pigeon without it gets PIGEON_ERR_LOCALSEND_PIN, with it the file goes (no prompt).
      const save = join(dir('l2'), 'save');
      const r = await lisa(save, ['--pin', '2468']);
      await contact(hp, 'Lisa');
      const p = join(hp, 'p.txt');
      writeFileSync(p, 'to a PIN');
      const without = await pigeon(['send-file', '--home', hp, '--wait', 'Lisa', p]);
      expect(without.code).not.toBe(0);
      expect(without.stdout + without.stderr).toMatch(/PIGEON_ERR_LOCALSEND_PIN/);
      const withPin = await pigeon(['send-file', '--home', hp, '--wait', '--pin', '2468', 'Lisa', p]);
      expect(withPin.code, withPin.stdout + withPin.stderr).toBe(0);
      await until('p.txt at Lisa', async () => ((await tree(save))['p.txt'] === (await sha256File(p)) ? true : undefined));

      // Pigeon cancels its own upload mid-way: Lisa's copy stays short (it keeps partial files: observed).
      const big = join(hp, 'big.bin');
      randomFile(big, BIG_MIB);
      await slowLink(true);
      try {
        const send = pigeon(['send-file', '--home', hp, '--wait', '--pin', '2468', 'Lisa', big]);
        const t = await transfer(hp, (x) => x.direction === 'out' && x.doneBytes > 0 && x.state !== 'done', 'the upload under way');
        expect((await pigeon(['cancel', '--home', hp, t.id])).code).toBe(0);
        const s = await send;
        expect(s.code).not.toBe(0);
        expect((await transfer(hp, (x) => x.id === t.id && x.state !== 'accepted' && x.state !== 'offered', 'the send ended')).state).toBe('canceled');
        await new Promise((res) => setTimeout(res, 500));
        expect(statSync(join(save, 'big.bin')).size).toBeLessThan(BIG_MIB * 1024 * 1024);

        // Pigeon cancels a receive mid-way: its sender fails, Pigeon keeps no partial file.
        const fifty = join(ls, 'fifty.bin');
        randomFile(fifty, ONE_POST_MIB);
        const s2 = localsend(['send', '--alias', 'Lars', '--protocol', 'http', '--pin', '4711', pAddr, fifty]);
        const inT = await transfer(hp, (x) => x.direction === 'in' && x.doneBytes > 0 && x.state !== 'done', 'the receive under way');
        expect((await pigeon(['cancel', '--home', hp, inT.id])).code).toBe(0);
        expect(await s2.exit, s2.out()).not.toBe(0);
        expect(s2.out()).toMatch(/Failed to upload file/);
        expect((await transfer(hp, (x) => x.id === inT.id && x.state !== 'accepted', 'the receive ended')).state).toBe('canceled');
        expect(readdirSync(join(hp, 'dl')).filter((n) => n.startsWith('fifty'))).toEqual([]);

        // Pigeon cancels a receive in ranged pieces after the first piece: its sender fails, Pigeon keeps no partial file.
        const pieces = join(ls, 'pieces.bin');
        randomFile(pieces, PIECES_MIB);
        const s3 = localsend(['send', '--alias', 'Lars', '--protocol', 'http', '--pin', '4711', pAddr, pieces], { strictNow: true });
        const inP = await transfer(hp, (x) => x.direction === 'in' && x.doneBytes > 10 * 1024 * 1024 && x.state !== 'done', 'the second piece under way');
        expect((await pigeon(['cancel', '--home', hp, inP.id])).code).toBe(0);
        expect(await s3.exit, s3.out()).not.toBe(0);
        expect(s3.out()).toContain('Uploading chunk: 0.00 - 10.00 MB');
        expect(s3.out()).toMatch(/Failed to upload file/);
        expect((await transfer(hp, (x) => x.id === inP.id && x.state !== 'accepted', 'the pieced receive ended')).state).toBe('canceled');
        expect(readdirSync(join(hp, 'dl')).filter((n) => n.startsWith('pieces'))).toEqual([]);
      } finally {
        await slowLink(false);
      }
      r.proc.kill('SIGINT');
    },
    TEST_MS,
  );
});
