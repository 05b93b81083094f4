/**
 * Test support for the relay: device keys made the way a peer makes them
 * (P-256 device key, X25519 encryption key signed by it), and a raw `ws`
 * client of the control path that parses every frame with the shared schema
 * and queues frames per type.
 */
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { WebSocket } from 'ws';
import {
  authMessage,
  envelopeMessage,
  parseRelayServerFrame,
  RELAY_SUBPROTOCOL,
  type Envelope,
  type RelayProfile,
  type RelayServerFrame,
  type RemotePeer,
  type VersionedPeer,
} from '../../shared/protocol/relay-frames.js';
import { signText, type Device } from './relay-device.js';
import type { RelayClientHooks } from '../../core/relay-client/relay-client.js';

export { makeDevice, signText, type Device } from './relay-device.js';

export type Frame<T extends RelayServerFrame['type']> = Extract<RelayServerFrame, { type: T }>;

/** How long a test waits for one frame or event: generous, the machines are shared. */
export const WAIT_MS = 10_000;

export function profile(name: string): RelayProfile {
  return { name, group: 'Ops', host: `${name.toLowerCase()}-pc`, status: 'online', away: '' };
}

/**
 * A mailbox body carrying `text` as its "ciphertext" (the relay cannot tell),
 * signed by `from` for (to, id) as a real sender signs it (§12.4: the relay
 * refuses anything else); without `from`, a random signature.
 */
export function envelope(text: string, signer?: { from: Device; to: string; id: string }): Envelope {
  const body = { eph: randomBytes(32).toString('base64'), nonce: randomBytes(12).toString('base64'), ct: Buffer.from(text).toString('base64') };
  const sig = signer ? signText(signer.from.key, envelopeMessage(signer.from.id, signer.to, signer.id, body)) : randomBytes(64).toString('base64');
  return { ...body, sig };
}

export const msgId = (): string => randomBytes(16).toString('hex');

/** Every client made, so that a test's afterEach can terminate them all. */
export const clients: Client[] = [];

/** A raw WebSocket client of the control path: a queue of parsed frames per type, and the close code. */
export class Client {
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  private readonly inbox: RelayServerFrame[] = [];
  /** The device this client authenticated as (to sign its puts). */
  device: Device | null = null;
  private waiters: (() => void)[] = [];

  constructor(url: string, protocols: string[] = [RELAY_SUBPROTOCOL], options: { autoPong?: boolean; localAddress?: string } = {}) {
    this.ws = new WebSocket(url, protocols, { rejectUnauthorized: false, ...options });
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false);
      this.inbox.push(parseRelayServerFrame((data as Buffer).toString('utf8')));
      for (const w of this.waiters.splice(0)) w();
    });
    clients.push(this);
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Takes the first frame of that type (waiting for it); fails after WAIT_MS. */
  async take<T extends RelayServerFrame['type']>(type: T | T[], ms = WAIT_MS): Promise<Frame<T>> {
    const types: RelayServerFrame['type'][] = Array.isArray(type) ? type : [type];
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex((f) => types.includes(f.type));
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Frame<T>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${types.join('/')} frame within ${ms} ms (have: ${this.inbox.map((f) => f.type).join(',')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Frames of that type received so far and not taken. */
  pending(type: RelayServerFrame['type']): RelayServerFrame[] {
    return this.inbox.filter((f) => f.type === type);
  }

  /**
   * The next news about device `id`: a `presence` frame, or a `dir-push`
   * batch of directory changes that lists it (removals skipped).
   */
  async presenceOf(id: string, ms = WAIT_MS): Promise<RemotePeer & { v?: number }> {
    for (;;) {
      const f = await this.take(['presence', 'dir-push'], ms);
      const news = f.type === 'presence' ? [f.peer] : f.changes.filter((c): c is VersionedPeer => !('gone' in c));
      // The latest: a batch may hold several changes of one device, in version order.
      const hit = [...news].reverse().find((p) => p.id === id);
      if (hit) return hit;
    }
  }

  /** Answers the challenge; resolves with the welcome, or throws with the relay's error frame. */
  async auth(d: Device, o: { name?: string; token?: string; forge?: 'sig' | 'id'; as?: Device; dir?: number } = {}): Promise<Frame<'welcome'>> {
    const challenge = await this.take('challenge');
    const id = o.forge === 'id' ? o.as!.id : d.id;
    const nonce = o.forge === 'sig' ? randomBytes(32).toString('base64') : challenge.nonce;
    this.send({ type: 'auth', v: 1, id, spki: d.spki, sig: signText(d.key, authMessage(nonce, id)), ...(o.token !== undefined ? { token: o.token } : {}), profile: profile(o.name ?? 'Dev'), enc: d.enc, ...(o.dir !== undefined ? { dir: o.dir } : {}) });
    const first = await this.take(['welcome', 'error']);
    if (first.type === 'error') throw Object.assign(new Error(first.message), { frame: first });
    this.device = d;
    return first;
  }

  /** The whole directory, paged through with dir-page (§12.2.1), after the dir-state that follows welcome; without this device. */
  async directory(): Promise<VersionedPeer[]> {
    await this.take('dir-state');
    return this.pages();
  }

  /** Pages through the directory from the start. */
  async pages(): Promise<VersionedPeer[]> {
    const peers: VersionedPeer[] = [];
    let after = '';
    for (let n = 0; ; n++) {
      this.send({ type: 'dir-page', ref: `p${n}`, after });
      const page = await this.take('dir-peers');
      expect(page.ref).toBe(`p${n}`);
      peers.push(...page.peers.filter((p) => p.id !== this.device?.id));
      if (page.next === null) return peers;
      after = page.next;
    }
  }

  /** The directory's changes after `after` (one dir-sync). */
  async changes(after: number): Promise<Frame<'dir-changes'>> {
    const ref = `s${after}-${Math.floor(Math.random() * 1e9)}`;
    this.send({ type: 'dir-sync', ref, after });
    const f = await this.take('dir-changes');
    expect(f.ref).toBe(ref);
    return f;
  }

  /** A round trip: everything sent before it has been handled. */
  async roundTrip(n = Math.floor(Math.random() * 1e9)): Promise<void> {
    this.send({ type: 'ping', n });
    expect((await this.take('pong')).n).toBe(n);
  }
}

/** Resolves with everything a pipe socket receives once `size` bytes have come. */
export function received(ws: WebSocket, size: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let n = 0;
    ws.removeAllListeners('message');
    ws.on('message', (data: Buffer) => {
      parts.push(data);
      n += data.length;
      if (n >= size) resolve(Buffer.concat(parts));
    });
  });
}

/** Sends `size` random bytes each way through two pipe sockets and checks they arrive intact. */
export async function pipeBothWays(pa: Client, pb: Client, size: number): Promise<void> {
  await Promise.all([pa.opened, pb.opened]);
  const [toB, toA] = [randomBytes(size), randomBytes(size)];
  const gotB = received(pb.ws, size);
  const gotA = received(pa.ws, size);
  for (let i = 0; i < size; i += 64 * 1024) {
    pa.ws.send(toB.subarray(i, i + 64 * 1024));
    pb.ws.send(toA.subarray(i, i + 64 * 1024));
  }
  const [b, a] = await Promise.all([gotB, gotA]);
  const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');
  expect(sha(b)).toBe(sha(toB));
  expect(sha(a)).toBe(sha(toA));
}

/**
 * Hooks for a real RelayClient in a directory test: it names itself and reads
 * the directory through `onPeers` (and `onGone`); mail, pipes and groups are
 * ignored and no cursor is kept.
 */
export function directoryHooks(name: string, hooks: Pick<RelayClientHooks, 'onPeers'> & Partial<RelayClientHooks>): RelayClientHooks {
  return {
    profile: () => profile(name),
    onDeliver: async () => {},
    onPipe: () => {},
    onConnected: () => {},
    onGroup: () => {},
    onGroupLeft: () => {},
    onGroupDeliver: async () => {},
    onGroupSynced: () => {},
    cursor: { load: () => null, save: () => {} },
    ...hooks,
  };
}
