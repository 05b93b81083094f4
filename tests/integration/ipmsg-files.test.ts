/**
 * IPMsg file transfer through the bridge against a scripted client over real
 * UDP and TCP on loopback (127.0.0.81 Pigeon, .82 the client): files and a
 * folder from Pigeon fetched with GETFILEDATA / GETDIRFILES as IP Messenger
 * asks for them (hex ids), a file and a folder offered by the client landing
 * in the download folder, and a hostile folder stream that writes nothing
 * outside it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPeer, silentLogger, systemClock, systemRandom, type Peer } from '../../core/index.js';
import { formatDirHeader, parseAttachments, parseDirHeader } from '../../core/ipmsg/attach-codec.js';
import { Cmd, FileType, MsgOpt, Opt } from '../../core/ipmsg/constants.js';
import { messageAttachments } from '../../core/ipmsg/entry-codec.js';
import { parsePacket } from '../../core/ipmsg/packet-codec.js';
import type { PeerInfo, TransferInfo } from '../../shared/api/control-api.js';
import { freeUdpPort } from '../support/cli-peer.js';
import { FEIQ_VERSION, IpmsgClient, until } from '../support/ipmsg-client.js';

const PIGEON = '127.0.0.81';
const CLIENT = '127.0.0.82';

function packet(no: number, command: number, extra: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from(`${FEIQ_VERSION}:${no}:bob:pc02:${command >>> 0}:`, 'latin1'), typeof extra === 'string' ? Buffer.from(extra, 'latin1') : extra]);
}

/** Sends one request line to Pigeon's IPMsg TCP port and returns every byte it answers with. */
function fetchRaw(request: Buffer, from = CLIENT): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: PIGEON, port: 2425, localAddress: from }, () => s.write(request));
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

/** A one-shot TCP server on the client's IPMsg port answering with `answer(request)`. */
function serveOnce(answer: (request: Buffer) => Buffer): Promise<{ request: Promise<Buffer>; close: () => Promise<void> }> {
  let got: (b: Buffer) => void;
  const request = new Promise<Buffer>((r) => (got = r));
  const server = net.createServer((s) => {
    s.once('data', (d) => {
      got(d);
      s.end(answer(d));
    });
    s.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(2425, CLIENT, () => resolve({ request, close: () => new Promise<void>((r) => server.close(() => r())) })));
}

describe('IPMsg files through the bridge', () => {
  let peer: Peer;
  let home: string;
  let downloads: string;
  let src: string;
  let client: IpmsgClient;
  let bob: PeerInfo;

  beforeEach(async () => {
    client = new IpmsgClient(CLIENT);
    await client.start();
    home = mkdtempSync(join(tmpdir(), 'pigeon-ipmsg-files-'));
    downloads = join(home, 'dl');
    src = join(home, 'src');
    mkdirSync(join(src, '相册', 'sub'), { recursive: true });
    writeFileSync(join(src, '报告.txt'), 'quarterly report\n'.repeat(1000));
    writeFileSync(join(src, '相册', 'a.jpg'), Buffer.alloc(70_000, 7));
    writeFileSync(join(src, '相册', 'sub', 'b.txt'), 'b');
    peer = createPeer(
      { clock: systemClock, random: systemRandom, logger: silentLogger },
      { home, name: 'Alice', port: 0, discoveryPort: await freeUdpPort(), broadcast: [], mdns: false, ipmsg: true, ipmsgBind: PIGEON, extraAddresses: [CLIENT], downloads },
    );
    await peer.start();
    await client.send(PIGEON, packet(1, Cmd.ANSENTRY | Opt.FILEATTACH, Buffer.concat([iconv.encode('鲍勃', 'gbk'), Buffer.from([0, 0])])));
    bob = await until(() => peer.peers().find((p) => p.name === '鲍勃' && p.online), 'the contact');
  });

  afterEach(async () => {
    await peer.stop();
    await client.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('offers a file and a folder that the contact fetches with GETFILEDATA and GETDIRFILES', async () => {
    const entry = await client.next((p) => p.command === Cmd.BR_ENTRY || p.command === Cmd.ANSENTRY);
    expect(entry.options & Opt.FILEATTACH).toBeTruthy();
    const t = await peer.sendFiles(bob.id, [join(src, '报告.txt'), join(src, '相册')]);
    expect(t).toMatchObject({ direction: 'out', state: 'offered', fileCount: 3 });
    const offer = await client.next((p) => p.command === Cmd.SENDMSG && (p.options & Opt.FILEATTACH) !== 0);
    expect(offer.options & MsgOpt.SENDCHECK).toBeTruthy();
    const list = parseAttachments(messageAttachments(offer.extra)!, false);
    expect(list.map((a) => [a.name, a.size, a.attr])).toEqual([
      ['报告.txt', 17000, FileType.REGULAR],
      ['相册', 70001, FileType.DIR],
    ]);
    await client.send(PIGEON, packet(2, Cmd.RECVMSG, String(offer.packetNo)));

    // As IP Messenger for Windows asks: packet number and file id in hex, offset 0.
    const file = await fetchRaw(packet(3, Cmd.GETFILEDATA, `${offer.packetNo.toString(16)}:${Number(list[0]!.id).toString(16)}:0:`));
    expect(file.equals(readFileSync(join(src, '报告.txt')))).toBe(true);
    // From an offset (resume), and refused to another address.
    const tail = await fetchRaw(packet(4, Cmd.GETFILEDATA, `${offer.packetNo.toString(16)}:${list[0]!.id}:3e8:`));
    expect(tail.length).toBe(17000 - 1000);
    expect((await fetchRaw(packet(5, Cmd.GETFILEDATA, `${offer.packetNo.toString(16)}:1:0:`), '127.0.0.83')).length).toBe(0);

    const stream = await fetchRaw(packet(6, Cmd.GETDIRFILES, `${offer.packetNo.toString(16)}:${list[1]!.id}:`));
    const seen: Array<[string, number, number]> = [];
    let rest = stream;
    const data = new Map<string, Buffer>();
    while (rest.length > 0) {
      const h = parseDirHeader(rest, false)!;
      rest = rest.subarray(h.headerBytes);
      seen.push([h.name, h.size, h.attr & 0xff]);
      if ((h.attr & 0xff) === FileType.REGULAR) {
        data.set(h.name, rest.subarray(0, h.size));
        rest = rest.subarray(h.size);
      }
    }
    expect(seen).toEqual([
      ['相册', 0, FileType.DIR],
      ['a.jpg', 70000, FileType.REGULAR],
      ['sub', 0, FileType.DIR],
      ['b.txt', 1, FileType.REGULAR],
      ['.', 0, FileType.RETPARENT],
      ['.', 0, FileType.RETPARENT],
    ]);
    expect(createHash('sha256').update(data.get('a.jpg')!).digest('hex')).toBe(createHash('sha256').update(Buffer.alloc(70_000, 7)).digest('hex'));
    const done = await peer.waitTransfer(t.id, 5000);
    expect(done.state).toBe('done');
  });

  it('receives a file and a folder offered by the contact into the download folder', async () => {
    const list = iconv.encode('10:会议纪要.txt:5:65a1b2c3:1:\x0711:照片:0:65a1b2c3:2:\x07', 'gbk');
    await client.send(PIGEON, packet(100, Cmd.SENDMSG | MsgOpt.SENDCHECK | Opt.FILEATTACH, Buffer.concat([iconv.encode('给你', 'gbk'), Buffer.from([0]), list, Buffer.from([0])])));
    await client.next((p) => p.command === Cmd.RECVMSG && p.extra.toString() === '100');
    const offer = await until(() => peer.transfers().find((x) => x.direction === 'in' && x.state === 'offered'), 'the offer');
    expect(offer).toMatchObject({ peer: bob.id, fileCount: 1, totalBytes: 5, names: ['会议纪要.txt', '照片'] });
    expect(peer.history(bob.id).map((m) => m.text)).toContain('给你');

    const fileServer = await serveOnce(() => Buffer.from('hello'));
    await peer.accept(offer.id, [0]);
    const req = parsePacket(await fileServer.request);
    expect(req.command).toBe(Cmd.GETFILEDATA);
    expect(req.extra.toString()).toBe(`${(100).toString(16)}:${(10).toString(16)}:0:`);
    await fileServer.close();
    const done = await peer.waitTransfer(offer.id, 5000);
    expect(done.state).toBe('done');
    expect(readFileSync(join(downloads, '会议纪要.txt'), 'utf8')).toBe('hello');

    // The folder, in a second offer.
    await client.send(PIGEON, packet(101, Cmd.SENDMSG | MsgOpt.SENDCHECK | Opt.FILEATTACH, Buffer.concat([Buffer.from([0]), iconv.encode('12:照片:0:65a1b2c3:2:\x07', 'gbk'), Buffer.from([0])])));
    const offer2 = await until(() => peer.transfers().find((x) => x.direction === 'in' && x.state === 'offered'), 'the folder offer');
    const h = (name: string, size: number, attr: number): Buffer => formatDirHeader(name, size, attr, 0, 'gbk');
    const dirServer = await serveOnce(() => Buffer.concat([h('照片', 0, FileType.DIR), h('一.jpg', 3, FileType.REGULAR), Buffer.from('abc'), h('子', 0, FileType.DIR), h('二.txt', 0, FileType.REGULAR), h('.', 0, FileType.RETPARENT), h('.', 0, FileType.RETPARENT)]));
    await peer.accept(offer2.id);
    expect(parsePacket(await dirServer.request).command).toBe(Cmd.GETDIRFILES);
    await dirServer.close();
    expect((await peer.waitTransfer(offer2.id, 5000)).state).toBe('done');
    expect(readFileSync(join(downloads, '照片', '一.jpg'), 'utf8')).toBe('abc');
    expect(existsSync(join(downloads, '照片', '子', '二.txt'))).toBe(true);
  });

  it('resumes a file download cut off by the sender from the bytes already received', async () => {
    await client.send(PIGEON, packet(300, Cmd.SENDMSG | Opt.FILEATTACH, Buffer.concat([Buffer.from([0]), Buffer.from('5:resume.txt:5:0:1:\x07'), Buffer.from([0])])));
    const offer = await until(() => peer.transfers().find((x) => x.direction === 'in' && x.state === 'offered'), 'the offer');
    const requests: string[] = [];
    const server = net.createServer((s) => {
      s.once('data', (d) => {
        const req = parsePacket(d).extra.toString();
        requests.push(req);
        // First try: two bytes, then the connection drops. Second: the rest, from the offset asked for.
        if (requests.length === 1) s.end('he');
        else s.end('hello'.slice(parseInt(req.split(':')[2]!, 16)));
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(2425, CLIENT, () => r()));
    try {
      await peer.accept(offer.id);
      expect((await peer.waitTransfer(offer.id, 10_000)).state).toBe('done');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(requests).toEqual([`${(300).toString(16)}:5:0:`, `${(300).toString(16)}:5:2:`]);
    expect(readFileSync(join(downloads, 'resume.txt'), 'utf8')).toBe('hello');
    expect(existsSync(join(downloads, 'resume.txt.pigeon-part'))).toBe(false);
  });

  it('refuses a folder stream with a name that climbs out, writing nothing outside the download folder', async () => {
    await client.send(PIGEON, packet(200, Cmd.SENDMSG | Opt.FILEATTACH, Buffer.concat([Buffer.from([0]), Buffer.from('1:box:0:0:2:\x07'), Buffer.from([0])])));
    const offer = await until(() => peer.transfers().find((x) => x.direction === 'in' && x.state === 'offered'), 'the offer');
    const h = (name: string, size: number, attr: number): Buffer => formatDirHeader(name, size, attr, 0, 'utf-8');
    const evil = await serveOnce(() => Buffer.concat([h('box', 0, FileType.DIR), h('..', 0, FileType.DIR), h('escaped.txt', 4, FileType.REGULAR), Buffer.from('evil')]));
    await peer.accept(offer.id);
    await evil.request;
    await evil.close();
    const t: TransferInfo = await peer.waitTransfer(offer.id, 5000);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/unsafe name/);
    expect(existsSync(join(downloads, 'escaped.txt'))).toBe(false);
    expect(existsSync(join(home, 'escaped.txt'))).toBe(false);
    expect(readdirSync(downloads)).toEqual(['box']);
  });
});
