/**
 * Hostile: senders that lie about a file's size (issue 13, finding 7), against
 * a real `pigeon peer --accept-from all`. A native sender with its own key
 * offers 10 bytes and then announces and sends 30 MB, or sends 5; an IPMsg
 * sender does the same with GETFILEDATA, and with a folder stream larger or
 * smaller than the folder it announced. The receiver must take exactly the
 * declared bytes: never more on disk, never `done` with fewer.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { afterEach, describe, expect, it } from 'vitest';
import { formatDirHeader } from '../../core/ipmsg/attach-codec.js';
import { Cmd, FileType, MsgOpt, Opt } from '../../core/ipmsg/constants.js';
import type { SelfInfo, TransferInfo } from '../../shared/api/control-api.js';
import { encodeJsonFrame } from '../../shared/protocol/frame-codec.js';
import { freeUdpPort, PeerProcess, pigeon, tempHomes } from '../support/cli-peer.js';
import { HostileSender, writeZeros, type FetchAnswer } from '../support/hostile-sender.js';
import { FEIQ_VERSION, IpmsgClient } from '../support/ipmsg-client.js';

/** What a liar sends instead of the 10 bytes it offered. */
const LIE_BYTES = 30 * 1024 * 1024;
const PIGEON = '127.0.0.121';
const CLIENT = '127.0.0.122';

const running: PeerProcess[] = [];
const homes = tempHomes();
const home = homes.make;
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  homes.removeAll();
});

/** Every byte under `dir`, recursively (files only). */
function bytesOnDisk(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const st = statSync(join(dir, name));
    if (st.isFile()) n += st.size;
  }
  return n;
}

function finalState(alice: PeerProcess, id: string, timeoutMs = 30_000): Promise<TransferInfo> {
  return alice
    .waitFor((e) => e.type === 'transfer' && e.transfer.id === id && ['done', 'failed', 'canceled'].includes(e.transfer.state), timeoutMs)
    .then((e) => (e as Extract<typeof e, { type: 'transfer' }>).transfer);
}

describe('native sender lying about sizes', () => {
  async function run(label: string, answer: FetchAnswer): Promise<{ t: TransferInfo; onDisk: number; downloads: string; alice: PeerProcess }> {
    const ha = home('size-alice');
    const alice = new PeerProcess({ home: ha, name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns', '--accept-from', 'all'] });
    running.push(alice);
    await alice.ready();
    const self = JSON.parse((await pigeon(['whoami', '--home', ha, '--json'])).stdout) as SelfInfo;
    const liar = new HostileSender(home(`size-${label}`), 'Mallory', answer);
    await liar.start();
    cleanups.push(() => liar.stop());
    await liar.connect(self.port);
    const transfer = randomBytes(16).toString('hex');
    liar.offer(transfer, 'lie.bin', 10);
    const t = await finalState(alice, transfer);
    const downloads = join(ha, 'downloads');
    return { t, onDisk: bytesOnDisk(downloads), downloads, alice };
  }

  it('offers 10 bytes, announces and sends 30 MB: refused before a byte is written, failed with SIZE_MISMATCH', async () => {
    let pushed = 0;
    const { t, onDisk, alice } = await run('over', async (f, socket) => {
      socket.write(encodeJsonFrame({ type: 'data', index: f.index, offset: f.offset, length: LIE_BYTES }));
      pushed = await writeZeros(socket, LIE_BYTES);
      socket.write(encodeJsonFrame({ type: 'file-end', index: f.index, sha256: createHash('sha256').update(Buffer.alloc(LIE_BYTES)).digest('hex') }));
    });
    console.log(`size lie (native, more): offered 10 B, announced and pushed ${pushed} B -> state ${t.state}, ${onDisk} B on disk, error: ${t.error}`);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/PIGEON_ERR_SIZE_MISMATCH/);
    expect(onDisk).toBeLessThanOrEqual(10);
    expect(alice.events.some((e) => e.type === 'transfer' && e.transfer.state === 'done')).toBe(false);
  });

  it('offers 10 bytes, sends 5 with a matching SHA-256: not done, failed with SIZE_MISMATCH, nothing kept', async () => {
    const five = Buffer.from('12345');
    const { t, onDisk, downloads } = await run('under', async (f, socket) => {
      socket.write(encodeJsonFrame({ type: 'data', index: f.index, offset: f.offset, length: 5 }));
      socket.write(five);
      socket.write(encodeJsonFrame({ type: 'file-end', index: f.index, sha256: createHash('sha256').update(five).digest('hex') }));
    });
    console.log(`size lie (native, fewer): offered 10 B, sent 5 B + file-end -> state ${t.state}, ${onDisk} B on disk, error: ${t.error}`);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/PIGEON_ERR_SIZE_MISMATCH/);
    expect(existsSync(join(downloads, 'lie.bin'))).toBe(false);
    expect(onDisk).toBe(0);
  });

  it('offers and announces 10 bytes, then pushes 30 MB more on the connection: at most 10 bytes ever reach the disk', async () => {
    let pushed = 0;
    const ha = home('size-alice');
    const alice = new PeerProcess({ home: ha, name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns', '--accept-from', 'all'] });
    running.push(alice);
    await alice.ready();
    const self = JSON.parse((await pigeon(['whoami', '--home', ha, '--json'])).stdout) as SelfInfo;
    const liar = new HostileSender(home('size-raw'), 'Mallory', async (f, socket) => {
      socket.write(encodeJsonFrame({ type: 'data', index: f.index, offset: f.offset, length: 10 - f.offset }));
      if (f.offset < 10) socket.write(Buffer.alloc(10 - f.offset, 1));
      pushed += await writeZeros(socket, LIE_BYTES);
    });
    await liar.start();
    cleanups.push(() => liar.stop());
    await liar.connect(self.port);
    liar.offer(randomBytes(16).toString('hex'), 'lie.bin', 10);
    // The bytes after the announced 10 are not a frame: the connection is dropped as broken and the
    // receiver tries again later (5 s). Two fetches: the lie was seen, and the retry did not add bytes.
    const end = Date.now() + 30_000;
    while (liar.fetches.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const onDisk = bytesOnDisk(join(ha, 'downloads'));
    const states = alice.events.flatMap((e) => (e.type === 'transfer' ? [e.transfer.state] : []));
    console.log(`size lie (native, raw bytes past the announced 10): pushed ${pushed} B over ${liar.fetches.length} fetches (offsets ${liar.fetches.map((f) => f.offset).join(', ')}) -> states ${[...new Set(states)].join(', ')}, ${onDisk} B on disk`);
    expect(liar.fetches.length).toBeGreaterThanOrEqual(2);
    expect(onDisk).toBeLessThanOrEqual(10);
    expect(states).not.toContain('done');
  });
});

describe('IPMsg sender lying about sizes', () => {
  function packet(no: number, command: number, extra: Buffer): Buffer {
    return Buffer.concat([Buffer.from(`${FEIQ_VERSION}:${no}:bob:pc02:${command >>> 0}:`, 'latin1'), extra]);
  }

  /** Alice with --ipmsg --accept-from all, Bob a scripted IPMsg client whose TCP side answers every request with `answer(n)` (n: 1 for the first). */
  async function setup(answer: (n: number, socket: net.Socket) => Promise<void>): Promise<{ alice: PeerProcess; client: IpmsgClient; downloads: string; requests: () => number }> {
    const ha = home('size-ipmsg');
    const client = new IpmsgClient(CLIENT);
    await client.start();
    cleanups.push(() => client.stop());
    let n = 0;
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => void answer(++n, s).then(() => s.end(), () => s.destroy()));
    });
    await new Promise<void>((r) => server.listen(2425, CLIENT, () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const alice = new PeerProcess({ home: ha, name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns', '--ipmsg', '--ipmsg-bind', PIGEON, '--peer-address', CLIENT, '--accept-from', 'all'] });
    running.push(alice);
    await alice.ready();
    await client.send(PIGEON, packet(1, Cmd.ANSENTRY, Buffer.from('Bob\0\0', 'latin1')));
    await alice.sees('Bob');
    return { alice, client, downloads: join(ha, 'downloads'), requests: () => n };
  }

  function offer(client: IpmsgClient, no: number, list: string): Promise<void> {
    return client.send(PIGEON, packet(no, Cmd.SENDMSG | MsgOpt.SENDCHECK | Opt.FILEATTACH, Buffer.concat([Buffer.from([0]), iconv.encode(list, 'gbk'), Buffer.from([0])])));
  }

  async function incoming(alice: PeerProcess, timeoutMs = 30_000): Promise<TransferInfo> {
    const first = await alice.waitFor((e) => e.type === 'transfer' && e.transfer.direction === 'in');
    const id = (first as Extract<typeof first, { type: 'transfer' }>).transfer.id;
    return finalState(alice, id, timeoutMs);
  }

  const h = (name: string, size: number, attr: number): Buffer => formatDirHeader(name, size, attr, 0, 'gbk');

  it('a file offered as 10 bytes and served as 30 MB: failed with SIZE_MISMATCH, nothing kept', async () => {
    let pushed = 0;
    const { alice, client, downloads } = await setup(async (_n, s) => {
      pushed = LIE_BYTES;
      s.write(Buffer.alloc(LIE_BYTES, 2));
    });
    await offer(client, 10, '1:lie.bin:a:0:1:\x07');
    const t = await incoming(alice);
    const onDisk = bytesOnDisk(downloads);
    console.log(`size lie (IPMsg file, more): offered 10 B, served ${pushed} B -> state ${t.state}, ${onDisk} B on disk, error: ${t.error}`);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/PIGEON_ERR_SIZE_MISMATCH/);
    expect(onDisk).toBe(0);
  });

  it('a file offered as 10 bytes and served as 5, then nothing: never done', async () => {
    const { alice, client, downloads, requests } = await setup(async (n, s) => {
      if (n === 1) s.write(Buffer.from('12345'));
    });
    await offer(client, 11, '1:short.bin:a:0:1:\x07');
    const t = await incoming(alice, 40_000);
    const onDisk = bytesOnDisk(downloads);
    console.log(`size lie (IPMsg file, fewer): offered 10 B, served 5 B then nothing over ${requests()} requests -> state ${t.state}, ${onDisk} B on disk, error: ${t.error}`);
    expect(t.state).toBe('failed');
    expect(existsSync(join(downloads, 'short.bin'))).toBe(false);
  });

  it('a folder offered as 10 bytes whose stream holds a 30 MB file: refused before the file is opened, the folder removed', async () => {
    const { alice, client, downloads } = await setup(async (_n, s) => {
      s.write(Buffer.concat([h('box', 0, FileType.DIR), h('ok.txt', 4, FileType.REGULAR), Buffer.from('fine'), h('big.bin', LIE_BYTES, FileType.REGULAR)]));
      await writeZeros(s, LIE_BYTES);
      s.write(Buffer.concat([h('.', 0, FileType.RETPARENT)]));
    });
    await offer(client, 12, '2:box:a:0:2:\x07');
    const t = await incoming(alice);
    const onDisk = bytesOnDisk(downloads);
    console.log(`size lie (IPMsg folder, more): folder offered as 10 B, stream holds 4 B + ${LIE_BYTES} B -> state ${t.state}, ${onDisk} B on disk, error: ${t.error}`);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/PIGEON_ERR_SIZE_MISMATCH/);
    expect(onDisk).toBe(0);
    expect(existsSync(join(downloads, 'box'))).toBe(false);
  });

  it('a folder offered as 10 bytes whose stream holds 5: not done, the folder removed', async () => {
    const { alice, client, downloads } = await setup(async (_n, s) => {
      s.write(Buffer.concat([h('box', 0, FileType.DIR), h('five.txt', 5, FileType.REGULAR), Buffer.from('12345'), h('.', 0, FileType.RETPARENT)]));
    });
    await offer(client, 13, '3:box:a:0:2:\x07');
    const t = await incoming(alice);
    const onDisk = bytesOnDisk(downloads);
    console.log(`size lie (IPMsg folder, fewer): folder offered as 10 B, stream holds 5 B -> state ${t.state}, ${onDisk} B on disk, error: ${t.error}`);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/PIGEON_ERR_SIZE_MISMATCH/);
    expect(existsSync(join(downloads, 'box'))).toBe(false);
  });

  it('a folder announced as 0 bytes (size unknown) is not taken by --accept-from: it waits for the user', async () => {
    const { alice, client, requests } = await setup(async (_n, s) => {
      s.write(Buffer.concat([h('box', 0, FileType.DIR), h('big.bin', LIE_BYTES, FileType.REGULAR)]));
    });
    await offer(client, 14, '4:box:0:0:2:\x07');
    const first = await alice.waitFor((e) => e.type === 'transfer' && e.transfer.direction === 'in');
    const id = (first as Extract<typeof first, { type: 'transfer' }>).transfer.id;
    await new Promise((r) => setTimeout(r, 2000));
    const states = alice.events.flatMap((e) => (e.type === 'transfer' && e.transfer.id === id ? [e.transfer.state] : []));
    console.log(`undeclared folder size with --accept-from all: states ${states.join(', ')}, ${requests()} folder requests made`);
    expect(states).toEqual(['offered']);
    expect(requests()).toBe(0);
  });
});
