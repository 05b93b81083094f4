/**
 * The IPMsg bridge against scripted IPMsg clients on loopback (real UDP on
 * port 2425 of addresses no other test uses): a Feiq-like client writing GBK,
 * an IPMsg-for-Windows-like client with the UTF-8 option. Covers what iptux
 * cannot show: absence mode both ways, sealed messages and the read notice,
 * dropping resent messages, retries and offline, exit, hostile datagrams.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPeer, silentLogger, systemClock, systemRandom, type Peer } from '../../core/index.js';
import { Cmd, MsgOpt, Opt } from '../../core/ipmsg/constants.js';
import type { PeerInfo } from '../../shared/api/control-api.js';
import { freeUdpPort } from '../support/cli-peer.js';
import { FEIQ_VERSION, IpmsgClient, until } from '../support/ipmsg-client.js';

const PIGEON = '127.0.0.71';
const FEIQ = '127.0.0.72';
const WIN = '127.0.0.73';
const gbk = (s: string): Buffer => iconv.encode(s, 'gbk');

function packet(version: string, no: number, user: string, host: string, command: number, extra: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from(`${version}:${no}:${user}:${host}:${command >>> 0}:`, 'latin1'), typeof extra === 'string' ? Buffer.from(extra, 'utf8') : extra]);
}

describe('IPMsg bridge with scripted clients', () => {
  let peer: Peer;
  let home: string;
  let feiq: IpmsgClient;
  let win: IpmsgClient;

  beforeEach(async () => {
    feiq = new IpmsgClient(FEIQ);
    win = new IpmsgClient(WIN);
    await Promise.all([feiq.start(), win.start()]);
    home = mkdtempSync(join(tmpdir(), 'pigeon-ipmsg-'));
    peer = createPeer(
      { clock: systemClock, random: systemRandom, logger: silentLogger },
      { home, name: '爱丽丝', group: '研发', port: 0, discoveryPort: await freeUdpPort(), broadcast: [], mdns: false, ipmsg: true, ipmsgBind: PIGEON, extraAddresses: [FEIQ, WIN] },
    );
    await peer.start();
  });

  afterEach(async () => {
    await peer.stop();
    await Promise.all([feiq.stop(), win.stop()]);
    rmSync(home, { recursive: true, force: true });
  });

  const contact = (name: string): PeerInfo | undefined => peer.peers().find((p) => p.name === name && p.online);

  it('announces itself in GBK to Feiq and lists Feiq users from their GBK entry', async () => {
    const entry = await feiq.next((p) => p.command === Cmd.BR_ENTRY);
    expect(entry.version).toBe('1_pigeon');
    expect(entry.options & Opt.UTF8).toBe(0);
    expect(iconv.decode(entry.extra.subarray(0, entry.extra.indexOf(0)), 'gbk')).toBe('爱丽丝');
    await feiq.send(PIGEON, packet(FEIQ_VERSION, 1, 'Administrator', 'PC-1', Cmd.ANSENTRY | Opt.FILEATTACH, Buffer.concat([gbk('飞秋'), Buffer.from([0]), gbk('工作组'), Buffer.from([0])])));
    const c = await until(() => contact('飞秋'), 'the Feiq contact');
    expect(c).toMatchObject({ group: '工作组', host: 'PC-1', protocol: 'ipmsg', addresses: [FEIQ] });
  });

  it('answers BR_ENTRY with ANSENTRY and goes offline on BR_EXIT', async () => {
    const from = win.received.length;
    await win.send(PIGEON, packet('1', 10, 'bob', 'pc02', Cmd.BR_ENTRY | Opt.CAPUTF8, 'Bob\0Dev\0'));
    await win.next((p) => p.command === Cmd.ANSENTRY, 3000, from);
    const c = await until(() => contact('Bob'), 'Bob');
    await win.send(PIGEON, packet('1', 11, 'bob', 'pc02', Cmd.BR_EXIT, 'Bob\0Dev\0'));
    await until(() => (peer.peers().find((p) => p.id === c.id)?.online === false ? true : undefined), 'Bob offline');
  });

  it('delivers a message with UTF8OPT to a CAPUTF8 client, marks it read on READMSG, and answers ANSREADMSG', async () => {
    await win.send(PIGEON, packet('1', 20, 'bob', 'pc02', Cmd.ANSENTRY | Opt.CAPUTF8, 'Bob\0Dev\0'));
    const bob = await until(() => contact('Bob'), 'Bob');
    const m = await peer.send(bob.id, 'héllo 你好');
    const msg = await win.next((p) => p.command === Cmd.SENDMSG);
    expect(msg.options & (Opt.UTF8 | MsgOpt.SENDCHECK | MsgOpt.SECRET | MsgOpt.READCHECK)).toBe(Opt.UTF8 | MsgOpt.SENDCHECK | MsgOpt.SECRET | MsgOpt.READCHECK);
    expect(msg.extra.toString('utf8')).toBe('héllo 你好');
    await win.send(PIGEON, packet('1', 21, 'bob', 'pc02', Cmd.RECVMSG, String(msg.packetNo)));
    expect((await peer.waitDelivered(m.id, 3000)).state).toBe('delivered');
    await win.send(PIGEON, packet('1', 22, 'bob', 'pc02', Cmd.READMSG | MsgOpt.READCHECK, String(msg.packetNo)));
    await win.next((p) => p.command === Cmd.ANSREADMSG && p.extra.toString() === String(msg.packetNo));
    await until(() => (peer.history(bob.id).find((x) => x.id === m.id)?.state === 'read' ? true : undefined), 'read state');
  });

  it("sends a long text in parts that fit iptux's 8 KiB datagrams, delivered when every part is confirmed", async () => {
    await win.send(PIGEON, packet('1', 50, 'erin', 'pc05', Cmd.ANSENTRY | Opt.CAPUTF8, 'Erin\0\0'));
    const erin = await until(() => contact('Erin'), 'Erin');
    const text = '长'.repeat(6000) + 'end';
    const m = await peer.send(erin.id, text);
    const parts = await until(() => {
      const got = win.received.filter((p) => p.command === Cmd.SENDMSG && p.user === '爱丽丝');
      return got.length >= 3 ? got.slice(0, 3) : undefined;
    }, 'three parts');
    for (const p of parts) expect(Buffer.byteLength(`1:${p.packetNo}:x:x:0:`) + p.extra.length).toBeLessThan(8192);
    expect(parts.map((p) => p.extra.toString('utf8')).join('')).toBe(text);
    for (const p of parts.slice(0, 2)) await win.send(PIGEON, packet('1', 51, 'erin', 'pc05', Cmd.RECVMSG, String(p.packetNo)));
    await new Promise((r) => setTimeout(r, 200));
    expect(peer.history(erin.id).find((x) => x.id === m.id)?.state).not.toBe('delivered');
    await win.send(PIGEON, packet('1', 52, 'erin', 'pc05', Cmd.RECVMSG, String(parts[2]!.packetNo)));
    expect((await peer.waitDelivered(m.id, 3000)).state).toBe('delivered');
  });

  it('stores a GBK message once although it is resent, confirms each copy, and sends the open notice when read', async () => {
    await feiq.send(PIGEON, packet(FEIQ_VERSION, 1, 'Administrator', 'PC-1', Cmd.ANSENTRY, Buffer.concat([gbk('飞秋'), Buffer.from([0, 0])])));
    const c = await until(() => contact('飞秋'), 'Feiq');
    const sealed = Cmd.SENDMSG | MsgOpt.SENDCHECK | MsgOpt.SECRET;
    await feiq.send(PIGEON, packet(FEIQ_VERSION, 500, 'Administrator', 'PC-1', sealed, Buffer.concat([gbk('今天开会'), Buffer.from([0])])));
    await feiq.send(PIGEON, packet(FEIQ_VERSION, 500, 'Administrator', 'PC-1', sealed | MsgOpt.RETRY, Buffer.concat([gbk('今天开会'), Buffer.from([0])])));
    await until(() => (feiq.count((p) => p.command === Cmd.RECVMSG && p.extra.toString() === '500') >= 2 ? true : undefined), 'two RECVMSG');
    const history = peer.history(c.id);
    expect(history.filter((m) => m.direction === 'in').map((m) => m.text)).toEqual(['今天开会']);
    expect(peer.markRead(c.id)).toBe(1);
    await feiq.next((p) => p.command === Cmd.READMSG && p.extra.toString() === '500');
  });

  it('answers automatically while away, never to an automatic answer, and shows an absent contact as away', async () => {
    peer.setStatus('away', '在开会');
    const absence = await feiq.next((p) => p.command === Cmd.BR_ABSENCE);
    expect(absence.options & Opt.ABSENCE).toBeTruthy();
    await feiq.send(PIGEON, packet(FEIQ_VERSION, 1, 'Administrator', 'PC-1', Cmd.BR_ENTRY | Opt.ABSENCE, Buffer.concat([gbk('飞秋'), Buffer.from([0, 0])])));
    const c = await until(() => contact('飞秋'), 'Feiq');
    expect(c.status).toBe('away');
    await feiq.send(PIGEON, packet(FEIQ_VERSION, 600, 'Administrator', 'PC-1', Cmd.SENDMSG | MsgOpt.SENDCHECK, Buffer.concat([gbk('在吗'), Buffer.from([0])])));
    const auto = await feiq.next((p) => p.command === Cmd.SENDMSG && (p.options & MsgOpt.AUTORET) !== 0);
    expect(iconv.decode(auto.extra, 'gbk')).toBe('在开会');
    await feiq.send(PIGEON, packet(FEIQ_VERSION, 601, 'Administrator', 'PC-1', Cmd.SENDMSG | MsgOpt.AUTORET, Buffer.concat([gbk('我也不在'), Buffer.from([0])])));
    await until(() => (peer.history(c.id).some((m) => m.text === '我也不在') ? true : undefined), 'the auto answer stored');
    await new Promise((r) => setTimeout(r, 300));
    expect(feiq.count((p) => p.command === Cmd.SENDMSG && (p.options & MsgOpt.AUTORET) !== 0)).toBe(1);
    // The absence text on request (GETABSENCEINFO), and back online: BR_ABSENCE without ABSENCEOPT.
    await feiq.send(PIGEON, packet(FEIQ_VERSION, 602, 'Administrator', 'PC-1', Cmd.GETABSENCEINFO, ''));
    const info = await feiq.next((p) => p.command === Cmd.SENDABSENCEINFO);
    expect(iconv.decode(info.extra, 'gbk')).toBe('在开会');
    const from = feiq.received.length;
    peer.setStatus('online');
    const back = await feiq.next((p) => p.command === Cmd.BR_ABSENCE, 3000, from);
    expect(back.options & Opt.ABSENCE).toBe(0);
  });

  it('resends an unconfirmed message, then shows the contact offline and keeps the message queued until it returns', async () => {
    await win.send(PIGEON, packet('1', 30, 'carol', 'pc03', Cmd.ANSENTRY, 'Carol\0\0'));
    const carol = await until(() => contact('Carol'), 'Carol');
    const m = await peer.send(carol.id, 'are you there?');
    await until(() => (win.count((p) => p.command === Cmd.SENDMSG) >= 4 ? true : undefined), 'four attempts', 10_000);
    const copies = win.received.filter((p) => p.command === Cmd.SENDMSG);
    expect(new Set(copies.map((p) => p.packetNo)).size).toBe(1);
    expect(copies.slice(1).every((p) => (p.options & MsgOpt.RETRY) !== 0)).toBe(true);
    await until(() => (peer.peers().find((p) => p.id === carol.id)?.online === false ? true : undefined), 'Carol offline', 5000);
    expect(peer.history(carol.id).find((x) => x.id === m.id)?.state).toBe('queued');
    const before = win.received.length;
    await win.send(PIGEON, packet('1', 31, 'carol', 'pc03', Cmd.BR_ENTRY, 'Carol\0\0'));
    const again = await win.next((p) => p.command === Cmd.SENDMSG && p.extra.toString() === 'are you there?', 5000, before);
    await win.send(PIGEON, packet('1', 32, 'carol', 'pc03', Cmd.RECVMSG, String(again.packetNo)));
    expect((await peer.waitDelivered(m.id, 3000)).state).toBe('delivered');
  });

  it('survives hostile datagrams and keeps working', async () => {
    const junk = [
      Buffer.alloc(0),
      Buffer.from('1:1:u:h:32'),
      Buffer.from('1:1:u:h:33:notanumber'),
      Buffer.from('1:99999999999999999999:u:h:32:x'),
      Buffer.from('1:1:u:h:48:\0\0\0'),
      Buffer.alloc(33000, 0x3a),
      Buffer.concat([Buffer.from('1:5:x:y:2097184:t\0'), Buffer.from('1:../../etc/passwd:zz:1:1:\x07')]),
      Buffer.from([0x31, 0x3a, 0xff, 0xfe, 0x3a, 0x80, 0x3a, 0x81, 0x3a, 0x31, 0x3a]),
    ];
    for (const j of junk) await feiq.send(PIGEON, j);
    await win.send(PIGEON, packet('1', 40, 'dave', 'pc04', Cmd.ANSENTRY, 'Dave\0\0'));
    await until(() => contact('Dave'), 'Dave after the junk');
  });
});

describe('IPMsg presence refresh', () => {
  it('re-announces on a timer, keeps a contact that answers, and drops one that falls silent', async () => {
    const [PIG, ANS, MUTE] = ['127.0.0.74', '127.0.0.75', '127.0.0.76'];
    const answering = new IpmsgClient(ANS);
    const mute = new IpmsgClient(MUTE);
    await Promise.all([answering.start(), mute.start()]);
    const home = mkdtempSync(join(tmpdir(), 'pigeon-ipmsg-refresh-'));
    // 600 ms instead of 3 minutes: the TTL follows (1.3 s).
    const peer = createPeer(
      { clock: systemClock, random: systemRandom, logger: silentLogger },
      { home, name: 'Alice', port: 0, discoveryPort: await freeUdpPort(), broadcast: [], mdns: false, ipmsg: true, ipmsgBind: PIG, ipmsgRefreshMs: 600, extraAddresses: [ANS, MUTE] },
    );
    await peer.start();
    try {
      let n = 0;
      const answer = async (): Promise<void> => {
        await answering.send(PIG, packet('1', ++n, 'ann', 'pc-a', Cmd.ANSENTRY, 'Ann\0\0'));
      };
      await answer();
      await mute.send(PIG, packet('1', 1, 'max', 'pc-m', Cmd.ANSENTRY, 'Max\0\0'));
      await until(() => (peer.peers().filter((p) => p.online).length === 2 ? true : undefined), 'both contacts');
      // The answering client answers every BR_ENTRY of the refresh, as real clients do.
      const timer = setInterval(() => void answer(), 300);
      try {
        await until(() => (answering.count((p) => p.command === Cmd.BR_ENTRY) >= 3 ? true : undefined), 'three BR_ENTRY', 5000);
        await until(() => (peer.peers().find((p) => p.name === 'Max')?.online === false ? true : undefined), 'Max offline', 5000);
        expect(peer.peers().find((p) => p.name === 'Ann')?.online).toBe(true);
      } finally {
        clearInterval(timer);
      }
    } finally {
      await peer.stop();
      await Promise.all([answering.stop(), mute.stop()]);
      rmSync(home, { recursive: true, force: true });
    }
  });
});
