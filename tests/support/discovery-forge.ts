/**
 * Test support: what a stranger on the LAN can put on the discovery port.
 * Makes device keys, signs discovery packets with them (valid packets of
 * devices the test invents), forges packets that claim another device's id,
 * listens to what real peers broadcast (to replay it), and sends raw
 * datagrams to the loopback broadcast address every peer on a port hears.
 */
import { generateKeyPairSync } from 'node:crypto';
import dgram from 'node:dgram';
import { deviceIdFromSpki } from '../../core/identity/identity.js';
import { createSigner } from '../../core/identity/signing.js';
import { freeUdpPort, PeerProcess, pigeon, tempHome } from './cli-peer.js';
import { attachSignature, decodeDiscoveryPacket, encodeUnsignedPacket, type DiscoveryPacket, type UnsignedDiscoveryPacket } from '../../shared/protocol/discovery-packet.js';

/** Where peers on loopback hear broadcasts (tests run them with --broadcast 127.255.255.255). */
export const LOOPBACK_BROADCAST = '127.255.255.255';

export interface ForgedDevice {
  id: string;
  spki: Buffer;
  k: string;
  sign: (data: Uint8Array) => string;
}

/** A fresh device key, as an attacker makes one in a millisecond. */
export function newDevice(): ForgedDevice {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return { id: deviceIdFromSpki(spki), spki, k: spki.toString('base64'), sign: createSigner({ keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }) };
}

type Fields = Partial<UnsignedDiscoveryPacket>;

function unsigned(device: ForgedDevice, fields: Fields): UnsignedDiscoveryPacket {
  return { v: 1, t: 'announce', id: device.id, name: 'Mallory', group: '', host: 'mallory-pc', port: 9, status: 'online', away: '', k: device.k, ts: Date.now(), ...fields };
}

/** A valid packet of `device`, signed with its key (fields override the defaults, including id and k to lie). */
export function signed(device: ForgedDevice, fields: Fields = {}): Buffer {
  const bytes = encodeUnsignedPacket(unsigned(device, fields));
  return Buffer.from(attachSignature(bytes, device.sign(bytes)));
}

/** A packet with the given fields and a signature that is not one (random bytes of the right length). */
export function badlySigned(device: ForgedDevice, fields: Fields = {}): Buffer {
  const bytes = encodeUnsignedPacket(unsigned(device, fields));
  return Buffer.from(attachSignature(bytes, Buffer.alloc(64, 7).toString('base64')));
}

/** A packet without any signature member at all (what v1 peers sent before signing). */
export function unsignedPacket(device: ForgedDevice, fields: Fields = {}): Buffer {
  return Buffer.concat([Buffer.from('PGN1'), Buffer.from(JSON.stringify(unsigned(device, fields)))]);
}

/** A UDP socket for sending forged datagrams and collecting what comes back. */
export class Forger {
  readonly socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  readonly heard: Array<{ packet: DiscoveryPacket; data: Buffer }> = [];
  /** Datagrams received on this socket (answers to what it sent). */
  received = 0;

  /** Binds; with `listenPort`, it also hears what the peers broadcast on that port (to capture and replay). */
  async start(listenPort = 0): Promise<void> {
    this.socket.on('message', (data) => {
      this.received++;
      try {
        this.heard.push({ packet: decodeDiscoveryPacket(data), data });
      } catch {
        // not a Pigeon packet
      }
    });
    await new Promise<void>((r) => this.socket.bind(listenPort, r));
    this.socket.setBroadcast(true);
  }

  send(data: Buffer, port: number, address = LOOPBACK_BROADCAST): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(data, port, address, (err) => (err ? reject(err) : resolve())));
  }

  stop(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

/** What a hostile discovery test tears down after each case. */
export interface HostileLan {
  running: PeerProcess[];
  homes: string[];
  forgers: Forger[];
}

/**
 * Alice and Bob on loopback with their own discovery port, Bob pinned by
 * Alice (a first message delivered), and a forger listening on that port
 * like any host on the LAN (it records what Bob broadcasts, to replay it).
 */
export async function pinnedPairWithForger(tag: string, lan: HostileLan): Promise<{ alice: PeerProcess; bob: PeerProcess; bobId: string; forger: Forger; port: number; args: string[]; ha: string; hb: string }> {
  const port = await freeUdpPort();
  const args = ['--discovery-port', String(port), '--broadcast', LOOPBACK_BROADCAST, '--no-mdns'];
  const [ha, hb] = [tempHome(`${tag}-a`), tempHome(`${tag}-b`)];
  lan.homes.push(ha, hb);
  const forger = new Forger();
  lan.forgers.push(forger);
  await forger.start(port);
  const alice = new PeerProcess({ home: ha, name: 'Alice', args });
  const bob = new PeerProcess({ home: hb, name: 'Bob', args });
  lan.running.push(alice, bob);
  const bobId = await bob.ready();
  await alice.sees('Bob');
  const pin = await pigeon(['send', '--home', ha, 'Bob', 'pin', '--wait']);
  if (pin.code !== 0) throw new Error(`the first message to Bob was not delivered: ${pin.stderr.trim()}`);
  return { alice, bob, bobId, forger, port, args, ha, hb };
}
