/**
 * `pigeon peer --ipmsg` from the command line, with a scripted IPMsg client
 * over real UDP on loopback (127.0.0.101 Pigeon, .102 the client): the
 * setting is saved in the profile, IPMsg contacts are marked in `pigeon
 * peers`, `send --wait` ends when the client confirms, the port of another
 * IPMsg program is reported instead of failing the peer, and the BR_EXIT on
 * stop.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cmd, Opt } from '../../core/ipmsg/constants.js';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { IpmsgClient } from '../support/ipmsg-client.js';

const PIGEON = '127.0.0.101';
const CLIENT = '127.0.0.102';

const running: PeerProcess[] = [];
const homes: string[] = [];
const clients: IpmsgClient[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(clients.splice(0).map((c) => c.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

async function start(home: string, extra: string[]): Promise<PeerProcess> {
  const p = new PeerProcess({ home, name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns', '--ipmsg-bind', PIGEON, '--peer-address', CLIENT, ...extra] });
  running.push(p);
  await p.ready();
  return p;
}

describe('pigeon peer --ipmsg', () => {
  it('lists IPMsg contacts as unencrypted, sends with their confirmation, keeps the setting, and says goodbye', async () => {
    const home = tempHome('ipmsg-cli');
    homes.push(home);
    const client = new IpmsgClient(CLIENT);
    clients.push(client);
    await client.start();
    let peer = await start(home, ['--ipmsg']);
    await client.next((p) => p.command === Cmd.BR_ENTRY);
    await client.send(PIGEON, Buffer.from('1:7:bob:pc02:3:Bob\0Dev\0', 'latin1'));
    await peer.sees('Bob');

    const table = await pigeon(['peers', '--home', home]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/Bob\s+Dev\s+online\s+pc02\s+127\.0\.0\.102\s+IPMsg \(unencrypted\)/);

    const sending = pigeon(['send', '--home', home, 'Bob', 'hello bob', '--wait']);
    const msg = await client.next((p) => p.command === Cmd.SENDMSG);
    await client.send(PIGEON, Buffer.from(`1:8:bob:pc02:${Cmd.RECVMSG}:${msg.packetNo}`, 'latin1'));
    const sent = await sending;
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/delivered/);

    // A file offered by the contact: listed by `pigeon transfers`, fetched on `pigeon accept`.
    await client.send(PIGEON, Buffer.concat([Buffer.from(`1:9:bob:pc02:${Cmd.SENDMSG | Opt.FILEATTACH}:`, 'latin1'), Buffer.from('\x0012:notes.txt:5:0:1:\x07\x00', 'latin1')]));
    const offered = (await peer.waitFor((e: PeerEvent) => e.type === 'transfer' && e.transfer.state === 'offered')) as Extract<PeerEvent, { type: 'transfer' }>;
    const listed = await pigeon(['transfers', '--home', home]);
    expect(listed.stdout).toContain(`pigeon accept ${offered.transfer.id.slice(0, 8)}`);
    const server = net.createServer((s) => s.once('data', () => s.end('hello')));
    await new Promise<void>((r) => server.listen(2425, CLIENT, () => r()));
    try {
      const accepted = await pigeon(['accept', '--home', home, offered.transfer.id.slice(0, 8)]);
      expect(accepted.code).toBe(0);
      await peer.waitFor((e: PeerEvent) => e.type === 'transfer' && e.transfer.id === offered.transfer.id && e.transfer.state === 'done');
      expect(readFileSync(join(home, 'downloads', 'notes.txt'), 'utf8')).toBe('hello');
    } finally {
      server.close();
    }

    // Stop: BR_EXIT. Start again without --ipmsg: the saved setting keeps the bridge on.
    const before = client.received.length;
    await peer.stop();
    await client.next((p) => p.command === Cmd.BR_EXIT, 5000, before);
    running.splice(0);
    const from = client.received.length;
    peer = await start(home, []);
    await client.next((p) => p.command === Cmd.BR_ENTRY && (p.options & Opt.CAPUTF8) !== 0, 5000, from);
  });

  it('runs without IPMsg, with a warning, when another program holds the port', async () => {
    const home = tempHome('ipmsg-busy');
    homes.push(home);
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((r) => squatter.bind(2425, PIGEON, () => r()));
    try {
      const peer = await start(home, ['--ipmsg']);
      const w = (await peer.waitFor((e: PeerEvent) => e.type === 'warning' && e.code === 'PIGEON_ERR_IPMSG_UNAVAILABLE')) as Extract<PeerEvent, { type: 'warning' }>;
      expect(w.message).toMatch(/in use/);
      expect((await pigeon(['whoami', '--home', home])).code).toBe(0);
    } finally {
      squatter.close();
    }
  });
});
