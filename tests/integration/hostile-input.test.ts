/**
 * Bad input from the LAN: garbage, truncated, oversized and hostile UDP
 * datagrams and TCP/TLS frames are dropped or end the session with a logged
 * reason; the peer stays up and keeps working. Also: a known colleague who
 * turns up with a new key is refused until the user trusts the key.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerInfo, SelfInfo } from '../../shared/api/control-api.js';
import { DISCOVERY_MAGIC } from '../../shared/protocol/constants.js';
import { encodeJsonFrame } from '../../shared/protocol/frame-codec.js';
import { loadOrCreateIdentity } from '../../core/identity/identity.js';
import { tlsOptions } from '../../core/session/handshake.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

const running: PeerProcess[] = [];
const homes: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

async function pair(): Promise<{ alice: PeerProcess; bob: PeerProcess; ha: string; hb: string; port: number }> {
  const port = await freeUdpPort();
  const args = ['--discovery-port', String(port), '--broadcast', '127.255.255.255', '--no-mdns'];
  const [ha, hb] = [tempHome('a'), tempHome('b')];
  homes.push(ha, hb);
  const alice = new PeerProcess({ home: ha, name: 'Alice', args });
  const bob = new PeerProcess({ home: hb, name: 'Bob', args });
  running.push(alice, bob);
  await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
  return { alice, bob, ha, hb, port };
}

async function whoami(home: string): Promise<SelfInfo> {
  const r = await pigeon(['whoami', '--home', home, '--json']);
  return JSON.parse(r.stdout) as SelfInfo;
}

/** Resolves when the server closes the connection; rejects if it stays open. */
function closedWithin(socket: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('connection still open')), ms);
    socket.on('error', () => {});
    socket.resume(); // read (and discard) what the peer says, so its end/close is seen
    socket.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

describe('hostile input', () => {
  it('drops garbage, truncated, oversized and forged discovery datagrams and keeps working', async () => {
    const { alice, ha, port } = await pair();
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    const send = (b: Uint8Array): Promise<void> => new Promise((r) => udp.send(b, port, '127.0.0.1', () => r()));
    const magic = Buffer.from(DISCOVERY_MAGIC);
    const hostile: Buffer[] = [
      Buffer.alloc(0),
      magic,
      Buffer.concat([magic, Buffer.from('{"v":1,"t":"announce"')]), // truncated JSON
      Buffer.concat([magic, Buffer.from('{"v":1,"t":"announce","id":"../../etc","name":"x"}')]),
      Buffer.concat([magic, Buffer.from(JSON.stringify({ v: 1, t: 'announce', id: 'a'.repeat(26), name: 'x'.repeat(5000), group: '', host: '', port: 1, status: 'online', away: '' }))]),
      Buffer.concat([magic, Buffer.from(JSON.stringify({ v: 1, t: 'announce', id: 'a'.repeat(26), name: 'Mallory', group: '', host: 'h', port: 99999, status: 'online', away: '' }))]),
      Buffer.concat([magic, Buffer.from('{"__proto__":{"polluted":true},"v":1}')]),
      Buffer.alloc(60000, 0x41), // oversized
    ];
    for (let i = 0; i < 500; i++) hostile.push(randomBytes(1 + (i % 1400)));
    for (let i = 0; i < 200; i++) hostile.push(Buffer.concat([magic, randomBytes(i * 5)]));
    for (const b of hostile) await send(b);
    udp.close();

    const peers = JSON.parse((await pigeon(['peers', '--home', ha, '--json'])).stdout) as PeerInfo[];
    expect(peers.map((p) => p.name)).toEqual(['Bob']); // no phantom peer from a bad packet
    const r = await pigeon(['send', '--home', ha, 'Bob', 'still here', '--wait']);
    expect(r.code).toBe(0);
    expect(alice.events.some((e) => e.type === 'peer-online' && e.peer.name === 'Mallory')).toBe(false);
  });

  it('closes TCP and TLS connections that break the protocol, and stays up', async () => {
    const { ha, alice } = await pair();
    const self = await whoami(ha);

    // Not TLS at all.
    const raw = net.connect(self.port, '127.0.0.1');
    raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closedWithin(raw, 5000);
    // Bytes that look like the start of a TLS record and then stop: cut off by the handshake timeout.
    const stalled = net.connect(self.port, '127.0.0.1');
    stalled.write(Uint8Array.from([0x16, 0x03, 0x01, 0x40, 0x00, 1, 2, 3]));
    const stalledClosed = closedWithin(stalled, 30000); // handshake timeout 10 s, with room for a loaded machine

    // A real TLS 1.3 client with a device key, then hostile frames after a valid hello.
    const attackerHome = tempHome('mallory');
    homes.push(attackerHome);
    const id = await loadOrCreateIdentity(attackerHome);
    const hello = { type: 'hello', v: 1, id: id.id, name: 'Mallory', group: '', host: 'evil', port: 1, status: 'online', away: '' };
    const cases: Array<{ label: string; bytes: Uint8Array }> = [
      { label: 'length prefix of 4 GiB', bytes: Uint8Array.from([0xff, 0xff, 0xff, 0xf0, 1]) },
      { label: 'invalid JSON', bytes: Uint8Array.from([0, 0, 0, 4, 1, 0x7b, 0x7b, 0x7b]) },
      { label: 'unknown frame type', bytes: encodeJsonFrame({ type: 'launch-missiles' }) },
      { label: 'unknown frame kind', bytes: Uint8Array.from([0, 0, 0, 1, 9, 0]) },
      { label: 'second hello', bytes: encodeJsonFrame(hello) },
      { label: 'message with a bad id', bytes: encodeJsonFrame({ type: 'msg', id: 'not-hex', seq: 1, ts: 1, text: 'x' }) },
    ];
    for (const c of cases) {
      const socket = tls.connect({ ...tlsOptions(id), host: '127.0.0.1', port: self.port, checkServerIdentity: () => undefined });
      await new Promise((r) => socket.once('secureConnect', r));
      socket.write(encodeJsonFrame(hello));
      socket.write(c.bytes);
      await closedWithin(socket, 5000).catch((err: Error) => {
        throw new Error(`${c.label}: ${err.message}\n${alice.stderr.join('\n')}`);
      });
    }
    // A hello that lies about its id.
    const liar = tls.connect({ ...tlsOptions(id), host: '127.0.0.1', port: self.port, checkServerIdentity: () => undefined });
    await new Promise((r) => liar.once('secureConnect', r));
    liar.write(encodeJsonFrame({ ...hello, id: 'b'.repeat(26) }));
    await closedWithin(liar, 5000);

    await stalledClosed;
    const r = await pigeon(['send', '--home', ha, 'Bob', 'survived', '--wait']);
    expect(r.code).toBe(0);
  });
});

describe('changed keys', () => {
  it('refuses a known colleague presenting a new key until the user trusts it', async () => {
    const { alice, bob, ha, hb, port } = await pair();
    expect((await pigeon(['send', '--home', ha, 'Bob', 'first', '--wait'])).code).toBe(0);
    const oldId = bob.id;
    await bob.stop();
    // Bob's profile loses its key (a reinstall, or someone else calling themselves Bob on his host).
    rmSync(join(hb, 'device-key.pem'));
    rmSync(join(hb, 'device-cert.pem'));
    const newBob = new PeerProcess({ home: hb, name: 'Bob', args: ['--discovery-port', String(port), '--broadcast', '127.255.255.255', '--no-mdns'] });
    running.push(newBob);
    const newId = await newBob.ready();
    expect(newId).not.toBe(oldId);
    await alice.waitFor((e) => e.type === 'peer-online' && e.peer.id === newId);

    const refused = await pigeon(['send', '--home', ha, newId.slice(0, 10), 'second', '--wait', '--timeout', '3']);
    expect(refused.code).toBe(5);
    const warning = await alice.waitFor((e) => e.type === 'key-changed');
    expect(warning).toMatchObject({ type: 'key-changed', peerId: newId, name: 'Bob' });
    expect(newBob.events.some((e) => e.type === 'message')).toBe(false);

    const trust = await pigeon(['trust', '--home', ha, newId.slice(0, 10)]);
    expect(trust.code).toBe(0);
    await newBob.waitFor((e) => e.type === 'message' && e.message.text === 'second', 20000);
    const history = JSON.parse((await pigeon(['history', '--home', ha, newId.slice(0, 10), '--json'])).stdout) as MessageInfo[];
    // The same colleague on a new key: after trust the conversation continues (issue 1/6 item 4).
    expect(history.map((m) => [m.text, m.state])).toEqual([
      ['first', 'delivered'],
      ['second', 'delivered'],
    ]);
  });
});
