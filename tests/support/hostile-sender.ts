/**
 * Test support: a hand-made native sender that lies. It has its own device
 * key, opens a real TLS 1.3 chat session to a peer (pinned on first use like
 * any new colleague), offers files with the sizes the test chooses, and
 * answers the receiver's data connections with whatever bytes the test
 * scripts, so a receiver's checks can be tried against a sender that does
 * not follow the protocol.
 */
import tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { loadOrCreateIdentity, type Identity } from '../../core/identity/identity.js';
import { tlsOptions } from '../../core/session/handshake.js';
import { FrameDecoder, decodeJsonPayload, encodeJsonFrame } from '../../shared/protocol/frame-codec.js';

export interface FetchRequest {
  transfer: string;
  index: number;
  offset: number;
  /** The check the receiver asked for (`crc32`, `xxh3`), if any. */
  check?: string;
}

/** Answers one fetch on a data connection; resolves when done writing. */
export type FetchAnswer = (fetch: FetchRequest, socket: tls.TLSSocket) => Promise<void>;

/** A fetch-files the receiver made (§13.3). */
export interface FetchFilesRequest {
  transfer: string;
  indexes: number[];
  check: string;
}
/** Answers one fetch-files; resolves when done writing. */
export type FetchFilesAnswer = (fetch: FetchFilesRequest, socket: tls.TLSSocket) => Promise<void>;

/** Writes `bytes` of zeros in 1 MiB writes with back-pressure; resolves with how many the socket took before it closed. */
export async function writeZeros(socket: Socket, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(1024 * 1024);
  let sent = 0;
  while (sent < bytes && !socket.destroyed) {
    const n = Math.min(chunk.length, bytes - sent);
    const more = socket.write(chunk.subarray(0, n));
    sent += n;
    if (!more) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.once('drain', done);
        socket.once('close', done);
      });
    }
  }
  return sent;
}

export class HostileSender {
  private identity!: Identity;
  private server: tls.Server | null = null;
  private session: tls.TLSSocket | null = null;
  private readonly sockets = new Set<tls.TLSSocket>();
  /** Fetches the receiver made, in order. */
  readonly fetches: FetchRequest[] = [];
  /** fetch-files the receiver made, in order (only to a sender constructed with `answerFiles`). */
  readonly fetchFiles: FetchFilesRequest[] = [];

  constructor(
    private readonly home: string,
    private readonly name: string,
    private readonly answer: FetchAnswer,
    /** The `checks` its hellos list (what a newer sender can give beyond CRC-32); none, as an older sender. */
    private readonly checks?: string[],
    /** Given: its hellos say `fetchFiles: 1` and fetch-files are answered with this. */
    private readonly answerFiles?: FetchFilesAnswer,
  ) {}

  get id(): string {
    return this.identity.id;
  }

  private hello(port: number, purpose?: 'data'): Record<string, unknown> {
    return { type: 'hello', v: 1, id: this.identity.id, name: this.name, group: '', host: 'hostile', port, status: 'online', away: '', ...(purpose ? { purpose } : {}), ...(this.checks ? { checks: this.checks } : {}), ...(this.answerFiles ? { fetchFiles: 1 } : {}) };
  }

  /** Listens for the receiver's connections (its data connections) on loopback. */
  async start(): Promise<void> {
    this.identity = await loadOrCreateIdentity(this.home);
    this.server = tls.createServer({ ...tlsOptions(this.identity), requestCert: true }, (socket) => this.onConnection(socket));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  private onConnection(socket: tls.TLSSocket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    socket.write(encodeJsonFrame(this.hello(this.port)));
    const decoder = new FrameDecoder();
    let busy = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      decoder.append(chunk);
      for (let f = decoder.next(); f; f = decoder.next()) {
        const frame = decodeJsonPayload(f.payload) as { type: string } & FetchRequest & FetchFilesRequest;
        if (frame.type === 'fetch-files' && this.answerFiles) {
          const many = { transfer: frame.transfer, indexes: frame.indexes, check: frame.check };
          this.fetchFiles.push(many);
          const answer = this.answerFiles;
          busy = busy.then(() => answer(many, socket)).catch(() => {});
          continue;
        }
        if (frame.type !== 'fetch') continue;
        const fetch = { transfer: frame.transfer, index: frame.index, offset: frame.offset, ...(frame.check !== undefined ? { check: frame.check } : {}) };
        this.fetches.push(fetch);
        busy = busy.then(() => this.answer(fetch, socket)).catch(() => {});
      }
    });
  }

  /** Opens a chat session to the peer listening on `port` and waits for its hello. */
  async connect(port: number): Promise<void> {
    const socket = tls.connect({ ...tlsOptions(this.identity), host: '127.0.0.1', port, checkServerIdentity: () => undefined });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write(encodeJsonFrame(this.hello(this.port)));
    const decoder = new FrameDecoder();
    await new Promise<void>((resolve) => {
      const onData = (chunk: Buffer): void => {
        decoder.append(chunk);
        if (decoder.next()) {
          socket.off('data', onData);
          // Whatever else the peer says on the session (acks, accept) is read and ignored.
          socket.resume();
          resolve();
        }
      };
      socket.on('data', onData);
    });
    this.session = socket;
  }

  /** Writes these session frames in one write (so that the peer reads them in one go). */
  sendFrames(frames: Array<Record<string, unknown>>): void {
    this.session!.write(Buffer.concat(frames.map((f) => encodeJsonFrame(f))));
  }

  /** Offers one file of `size` bytes named `path` in transfer `transfer` (32 hex digits). */
  offer(transfer: string, path: string, size: number): void {
    this.session!.write(encodeJsonFrame({ type: 'offer', transfer, part: 0, parts: 1, entries: [{ path, kind: 'file', size, mtime: 0 }] }));
  }

  async stop(): Promise<void> {
    this.session?.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
