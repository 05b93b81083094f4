/**
 * Benchmark support: a light client of the relay's control path. It makes a
 * device the way a peer does (P-256 device key, X25519 encryption key signed
 * by it), answers the challenge, and then hands every later frame to the
 * caller as text: the load generator shares the machine with the relay, so
 * frames it does not need (directory pages, presence) are never parsed.
 * The test client (tests/support/relay-ws-client.ts) checks every frame
 * with the schema instead, and imports vitest.
 */
import { randomBytes } from 'node:crypto';
import tls, { type ConnectionOptions, type TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { authMessage, RELAY_SUBPROTOCOL, type Envelope } from '../../shared/protocol/relay-frames.js';

import { makeDevice, signText, type Device as BenchDevice } from '../support/relay-device.js';

export { makeDevice, type BenchDevice };

/**
 * An envelope of the real shape (§12: X25519 ephemeral key, 12-byte nonce,
 * ciphertext, P-256 signature) around `ctBytes` random bytes. 225 bytes make
 * 300 base64 characters: a sealed chat line of ~200 characters.
 */
export function envelopeOf(ctBytes = 225): Envelope {
  return { eph: randomBytes(32).toString('base64'), nonce: randomBytes(12).toString('base64'), ct: randomBytes(ctBytes).toString('base64'), sig: randomBytes(64).toString('base64') };
}

/** The frame type of a relay message, read from its first bytes without parsing it (frames start with {"type":"). */
export function frameType(data: Buffer): string {
  const end = data.indexOf(34, 9); // the closing quote of the type
  return end > 9 ? data.toString('latin1', 9, end) : '';
}

export interface Welcome {
  last: number;
}

/** An authenticated control connection; `onFrame` gets every frame after the welcome. */
export class BenchClient {
  onFrame: (type: string, data: Buffer) => void = () => {};
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    readonly ws: WebSocket,
    readonly device: BenchDevice,
  ) {
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /**
   * Opens, authenticates and resolves after the welcome; rejects with the
   * relay's reason otherwise. With `tls`, offers `tls.session` (a ticket of an
   * earlier connection, as a peer's relay client does on a reconnect) and
   * hands every new ticket to `tls.onSession`; `resumed` says whether the
   * relay took the offered one.
   */
  static connect(url: string, device: BenchDevice, name = 'Bench', dir?: number, tlsOpts?: { session?: Buffer; onSession: (ticket: Buffer) => void }): Promise<{ client: BenchClient; welcome: Welcome; resumed: boolean }> {
    let socket: TLSSocket | null = null;
    const createConnection = tlsOpts
      ? ((o: ConnectionOptions) => {
          socket = tls.connect({ ...o, path: undefined, servername: '', ...(tlsOpts.session ? { session: tlsOpts.session } : {}) } as ConnectionOptions);
          socket.on('session', tlsOpts.onSession);
          return socket;
        }) as unknown as WebSocket.ClientOptions['createConnection']
      : undefined;
    const ws = new WebSocket(url, [RELAY_SUBPROTOCOL], { rejectUnauthorized: false, perMessageDeflate: false, ...(createConnection ? { createConnection } : {}) });
    const client = new BenchClient(ws, device);
    return new Promise((resolve, reject) => {
      let state: 'challenge' | 'welcome' | 'ready' = 'challenge';
      const fail = (why: string): void => {
        if (state === 'ready') return;
        state = 'ready';
        ws.terminate();
        reject(new Error(why));
      };
      ws.on('error', (err) => fail(err.message));
      ws.once('unexpected-response', (_req, res) => fail(`HTTP ${res.statusCode}`));
      ws.once('close', (code, reason) => fail(`closed ${code} ${reason.toString()}`));
      ws.on('message', (data: Buffer) => {
        if (state === 'ready') return client.onFrame(frameType(data), data);
        const frame = JSON.parse(data.toString('utf8')) as { type: string; nonce?: string; last?: number; message?: string };
        if (state === 'challenge' && frame.type === 'challenge') {
          state = 'welcome';
          const profile = { name, group: 'Bench', host: 'bench', status: 'online', away: '' };
          ws.send(JSON.stringify({ type: 'auth', v: 1, id: device.id, spki: device.spki, sig: signText(device.key, authMessage(frame.nonce!, device.id)), profile, enc: device.enc, ...(dir ? { dir } : {}) }));
        } else if (state === 'welcome' && frame.type === 'welcome') {
          state = 'ready';
          resolve({ client, welcome: { last: frame.last ?? 0 }, resumed: (socket as TLSSocket | null)?.isSessionReused() ?? false });
        } else fail(`unexpected ${frame.type}: ${frame.message ?? ''}`);
      });
    });
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** Closes and waits for the close handshake. */
  async close(): Promise<void> {
    this.ws.close();
    await this.closed;
  }
}
