/**
 * LocalSend discovery over real multicast: Pigeon on every interface (as in
 * an office), a scripted device joined to the group on this host's LAN
 * interface. Pigeon's start-up announcement reaches the device by multicast,
 * and the device's multicast announcement is answered with POST /register to
 * its HTTP port. A test group inside 224.0.0.0/24 and a free port keep real
 * LocalSend devices on the network out of it. Skips, saying why, on a host
 * without a LAN interface (multicast does not flow on loopback).
 */
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPeer, silentLogger, systemClock, systemRandom, type Peer } from '../../core/index.js';
import { lanInterfaces } from '../../core/discovery/interfaces.js';
import { freeUdpPort } from '../support/cli-peer.js';
import { until } from '../support/ipmsg-client.js';

/** Not LocalSend's 224.0.0.167: devices of the real network must not answer the test. */
const TEST_GROUP = '224.0.0.213';
const lan = lanInterfaces()[0];

/**
 * A port free for TCP and UDP on every address: LocalSend's server and its
 * multicast socket share it, and Pigeon binds 0.0.0.0 here. A port only
 * UDP-free was taken for TCP by another program in about one run of two on a
 * busy host (LocalSend then stays off and no announcement comes).
 */
async function freeLocalSendPort(): Promise<number> {
  for (let i = 0; ; i++) {
    const tcp = net.createServer();
    await new Promise<void>((r) => tcp.listen(0, '0.0.0.0', r));
    const port = (tcp.address() as net.AddressInfo).port;
    const udp = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '0.0.0.0', () => r(true));
    });
    await new Promise<void>((r) => udp.close(() => r()));
    await new Promise<void>((r) => tcp.close(() => r()));
    if (ok || i >= 20) return port;
  }
}

const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

describe.skipIf(!lan)(`LocalSend over multicast (${lan ? lan.address : 'skipped: no LAN interface, multicast does not flow on loopback'})`, () => {
  it('announces by multicast and answers a multicast announcement with register', async () => {
    const port = await freeLocalSendPort();
    const device = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const heard: Array<Record<string, unknown>> = [];
    device.on('message', (m) => {
      try {
        heard.push(JSON.parse(m.toString('utf8')) as Record<string, unknown>);
      } catch {
        // not JSON: ignored, as a device would
      }
    });
    await new Promise<void>((r) => device.bind(port, r));
    device.addMembership(TEST_GROUP, lan!.address);
    cleanup.push(() => new Promise<void>((r) => device.close(() => r())));

    const registered: string[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        registered.push(`${req.url} ${Buffer.concat(chunks).toString('utf8')}`);
        res.end(JSON.stringify({ alias: 'Phone', version: '2.1', deviceModel: 'Pixel', deviceType: 'mobile', fingerprint: 'phone-fp', download: false }));
      });
    });
    await new Promise<void>((r) => server.listen(0, r));
    const httpPort = (server.address() as { port: number }).port;
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));

    const home = mkdtempSync(join(tmpdir(), 'pigeon-ls-mc-'));
    const peer: Peer = createPeer(
      { clock: systemClock, random: systemRandom, logger: silentLogger },
      { home, name: 'Office PC', port: 0, discoveryPort: await freeUdpPort(), broadcast: [], mdns: false, localsend: true, localsendPort: port, localsendGroup: TEST_GROUP },
    );
    await peer.start();
    cleanup.push(async () => {
      await peer.stop();
      rmSync(home, { recursive: true, force: true });
    });

    const announcement = await until(() => heard.find((h) => h.alias === 'Office PC'), "Pigeon's multicast announcement");
    expect(announcement).toMatchObject({ announce: true, port, protocol: 'https', deviceType: 'headless' });

    device.setMulticastInterface(lan!.address);
    device.send(JSON.stringify({ alias: 'Phone', version: '2.1', deviceModel: 'Pixel', deviceType: 'mobile', fingerprint: 'phone-fp', port: httpPort, protocol: 'http', download: false, announce: true }), port, TEST_GROUP);
    const reg = await until(() => registered.find((r) => r.startsWith('/api/localsend/v2/register ')), 'register from Pigeon');
    expect(JSON.parse(reg.slice(reg.indexOf(' ') + 1))).toMatchObject({ alias: 'Office PC', port });
    const phone = await until(() => peer.peers().find((p) => p.name === 'Phone'), 'Phone listed');
    expect(phone).toMatchObject({ protocol: 'localsend', host: 'Pixel, mobile', fingerprint: 'phone-fp', online: true });
    expect(phone.addresses[0]).toBe(lan!.address);
  });
});
