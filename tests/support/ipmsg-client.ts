/**
 * A scripted IPMsg client for tests: one real UDP socket on a loopback
 * address and port 2425, sending packets as Feiq or IPMsg for Windows would
 * (bytes given by the test) and collecting what it receives, parsed by the
 * bridge's own codec.
 */
import dgram from 'node:dgram';
import { parsePacket, type IpmsgPacket } from '../../core/ipmsg/packet-codec.js';

/** Feiq's version field (core/ipmsg/fixtures/packets.ts: '#'-separated client data after "1_lbt"). */
export const FEIQ_VERSION = '1_lbt6_0#128#000C29D7D8D4#0#0#0#4001#9';

/** Polls `get` until it gives a value; fails after `timeoutMs` naming `what`. */
export async function until<T>(get: () => T | undefined, what: string, timeoutMs = 8000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class IpmsgClient {
  private readonly socket = dgram.createSocket('udp4');
  readonly received: IpmsgPacket[] = [];
  private waiters: Array<() => void> = [];

  constructor(readonly address: string, readonly port = 2425) {}

  async start(): Promise<void> {
    this.socket.on('message', (data) => {
      try {
        this.received.push(parsePacket(data));
      } catch {
        return;
      }
      for (const w of this.waiters.splice(0)) w();
    });
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(this.port, this.address, () => resolve());
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  send(to: string, data: Buffer | string, port = 2425): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, port, to, (err) => (err ? reject(err) : resolve())));
  }

  /** The first received packet (from now on, or already received if `seen` is false) matching. */
  async next(match: (p: IpmsgPacket) => boolean, timeoutMs = 8000, from = 0): Promise<IpmsgPacket> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.slice(from).find(match);
      if (hit) return hit;
      const left = until - Date.now();
      if (left <= 0) throw new Error('no matching IPMsg packet arrived');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  count(match: (p: IpmsgPacket) => boolean): number {
    return this.received.filter(match).length;
  }
}
