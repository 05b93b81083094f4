/**
 * Benchmark support: the cheapest client of a relay connect the generator
 * can run, so that one generator core offers the relay more connects per
 * second than the relay's core can take (issue 17 item 2). It speaks the
 * same bytes as a peer (TLS 1.3, an HTTP/1.1 upgrade to WebSocket with the
 * relay subprotocol, `auth` answering the challenge with a P-256 signature,
 * the directory version held) but straight on the TLS socket: no `ws`
 * object, no HTTP client, no per-frame events. Frames from the relay are
 * only cut out of the stream; the challenge is the one frame parsed.
 *
 * Not for anything but load: the 101's Sec-WebSocket-Accept is not checked,
 * and client frames use an all-zero mask (valid per RFC 6455 §5.3, and it
 * spares masking the payload).
 */
import tls, { type TLSSocket } from 'node:tls';
import { authMessage, RELAY_SUBPROTOCOL } from '../../shared/protocol/relay-frames.js';
import { signText, type Device } from '../support/relay-device.js';

/** WebSocket opcodes (RFC 6455 §5.2). */
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
/** A fixed Sec-WebSocket-Key: the relay only checks its form (16 bytes, base64); the answer is not verified here. */
const WS_KEY = 'cGlnZW9uLWJlbmNoLWtleQ==';
/** The close frame sent on close(): code 1000, masked with a zero key. */
const CLOSE_FRAME = Buffer.from([0x80 | OP_CLOSE, 0x80 | 2, 0, 0, 0, 0, 0x03, 0xe8]);

/** One client frame (FIN, masked with a zero key, so the payload goes as it is). */
function frame(op: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | op, 0x80 | n, 0, 0, 0, 0]) : n < 65536 ? Buffer.from([0x80 | op, 0x80 | 126, n >> 8, n & 255, 0, 0, 0, 0]) : null;
  if (!head) throw new Error('frame too large for the bench client');
  return Buffer.concat([head, payload]);
}

/**
 * The loopback source address of the i-th device among `addresses`
 * addresses: 127.1.x.y, y in 1..250 (no .0 or .255 that could read as a
 * network or broadcast address), at most 62,500. Devices take them in turn
 * (i modulo addresses), so devices connecting one after the other come
 * from different addresses, as colleagues of many offices would.
 */
export function sourceAddress(i: number, addresses: number): string {
  const a = i % Math.min(addresses, 62_500);
  return `127.1.${Math.floor(a / 250)}.${(a % 250) + 1}`;
}

export interface RawConnectOptions {
  /** The TLS ticket of an earlier connection (spec §12.1.1). */
  session?: Buffer;
  /** Gets each ticket the relay issues. */
  onSession?: (ticket: Buffer) => void;
  /** The directory version the device holds (a reconnect: the relay answers "unchanged"). */
  dir?: number;
  /** The source address (a loopback address of 127.0.0.0/8: many clients' addresses on one machine). */
  localAddress?: string;
}

/** An authenticated control connection kept open and idle (pings answered). */
export class RawRelayClient {
  readonly closed: Promise<void>;

  private constructor(private readonly socket: TLSSocket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Sends one text frame. */
  send(text: string): void {
    this.socket.write(frame(OP_TEXT, Buffer.from(text)));
  }

  /** Sends a close frame and waits until the relay has closed the socket. */
  async close(): Promise<void> {
    if (!this.socket.destroyed) this.socket.end(CLOSE_FRAME);
    await this.closed;
  }

  /**
   * Connects, upgrades and authenticates; resolves after the welcome (rejects
   * with the relay's close or error otherwise). `resumed`: the relay took the
   * offered ticket.
   */
  static connect(host: string, port: number, device: Device, o: RawConnectOptions = {}): Promise<{ client: RawRelayClient; resumed: boolean }> {
    const socket = tls.connect({ host, port, servername: '', rejectUnauthorized: false, minVersion: 'TLSv1.3', ...(o.session ? { session: o.session } : {}), ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
    if (o.onSession) socket.on('session', o.onSession);
    const client = new RawRelayClient(socket);
    socket.write(`GET /pigeon/1 HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${RELAY_SUBPROTOCOL}\r\n\r\n`);
    return new Promise((resolve, reject) => {
      let state: 'http' | 'challenge' | 'welcome' | 'ready' = 'http';
      let buf: Buffer = Buffer.alloc(0);
      const fail = (why: string): void => {
        if (state === 'ready') return;
        state = 'ready';
        socket.destroy();
        reject(new Error(why));
      };
      socket.on('error', (err) => fail(err.message));
      socket.on('close', () => fail('closed before welcome'));
      const onFrame = (op: number, payload: Buffer): void => {
        if (op === OP_PING) return void socket.write(frame(OP_PONG, payload));
        if (op === OP_CLOSE) {
          const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          fail(`closed ${code} ${payload.toString('utf8', 2)}`);
          socket.end();
          return;
        }
        if (state === 'ready' || op !== OP_TEXT) return;
        if (state === 'challenge') {
          const f = JSON.parse(payload.toString('utf8')) as { type: string; nonce?: string };
          if (f.type !== 'challenge') return fail(`unexpected ${f.type}`);
          state = 'welcome';
          const profile = { name: 'Bench', group: 'Bench', host: 'bench', status: 'online', away: '' };
          client.send(JSON.stringify({ type: 'auth', v: 1, id: device.id, spki: device.spki, sig: signText(device.key, authMessage(f.nonce!, device.id)), profile, enc: device.enc, ...(o.dir ? { dir: o.dir } : {}) }));
        } else if (payload.toString('latin1', 9, 16) === 'welcome') {
          state = 'ready';
          resolve({ client, resumed: socket.isSessionReused() });
        } else if (payload.toString('latin1', 9, 14) === 'error') fail(payload.toString('utf8'));
      };
      socket.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        if (state === 'http') {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          if (buf.toString('latin1', 9, 12) !== '101') return fail(`HTTP ${buf.toString('latin1', 9, 12)}`);
          state = 'challenge';
          buf = buf.subarray(end + 4);
        }
        // Server frames are unmasked: 2 bytes, then 2 or 8 bytes of length when the 7-bit length says 126 or 127.
        while (buf.length >= 2) {
          const len7 = buf[1]! & 0x7f;
          const hl = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
          if (buf.length < hl) break;
          const len = len7 === 126 ? buf.readUInt16BE(2) : len7 === 127 ? Number(buf.readBigUInt64BE(2)) : len7;
          if (buf.length < hl + len) break;
          const op = buf[0]! & 0x0f;
          const payload = buf.subarray(hl, hl + len);
          buf = buf.subarray(hl + len);
          onFrame(op, payload);
        }
      });
    });
  }
}
