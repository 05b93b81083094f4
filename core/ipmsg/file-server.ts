/**
 * The sending side of IPMsg file transfer: a TCP listener on the IPMsg port
 * that answers GETFILEDATA (one attached file, raw bytes from an offset) and
 * GETDIRFILES (an attached folder as a stream of `header:data` entries,
 * protocol §3-5). The request is one IPMsg packet; what may be fetched is
 * decided by the caller (`resolve`), which checks the offer, the requesting
 * address and the transfer's state.
 */
import { createReadStream } from 'node:fs';
import net from 'node:net';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { ipv4 } from '../session/session.js';
import type { Logger } from '../util/components.js';
import { formatDirHeader, parseFileRequest, type FileRequest } from './attach-codec.js';
import type { Charset } from './charset.js';
import { Cmd, FileType } from './constants.js';
import { hasAllFields, parsePacket, type IpmsgPacket } from './packet-codec.js';

/** A request line longer than this is not an IPMsg request (the real ones are under 200 bytes). */
const MAX_REQUEST_BYTES = 2048;
/** A connection that sends no complete request within this time is closed. */
const REQUEST_TIMEOUT_MS = 10_000;

/** One file or folder of a served tree, in walk order (folders before their contents). */
export interface ServedEntry {
  /** Path relative to the attached item, '/'-separated; '' for the attached item itself. */
  rel: string;
  /** Its name as sent (the last segment of its path in the offer). */
  name: string;
  kind: 'file' | 'dir';
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  source: string;
}

export interface ServeTarget {
  /** For GETFILEDATA: the file; for GETDIRFILES: the folder and everything in it, in walk order. */
  entries: ServedEntry[];
  charset: Charset;
  onBytes: (n: number) => void;
  onDone: () => void;
}

export type Resolver = (req: FileRequest, kind: 'file' | 'dir', remoteAddress: string) => ServeTarget;

export class FileServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly logger: Logger,
    private readonly resolve: Resolver,
  ) {}

  async start(address: string | undefined, port: number): Promise<void> {
    const server = net.createServer((socket) => this.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: address, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.log('warn', 'IPMsg file server error', { error: err.message }));
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => {
      this.logger.log('info', 'IPMsg file request incomplete; connection closed', { from: socket.remoteAddress });
      socket.destroy();
    });
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      let packet: IpmsgPacket;
      try {
        if (buf.length > MAX_REQUEST_BYTES) throw new PigeonError(ErrorCodes.PROTOCOL, 'IPMsg file request too long');
        if (!hasAllFields(buf)) return; // not all of it yet
        packet = parsePacket(buf);
        // Fields: packet:file:offset for GETFILEDATA, packet:file for GETDIRFILES. Windows IPMsg ends them with ':',
        // iptux does not (observed); a request fits in one segment, so a complete field count means a complete request.
        const want = packet.command === Cmd.GETFILEDATA ? 3 : 2;
        if (packet.extra.toString('latin1').split('\0')[0]!.split(':').filter(Boolean).length < want) return; // not all of it yet
      } catch (err) {
        this.logger.log('info', 'bad IPMsg file request', { from: socket.remoteAddress, error: (err as Error).message });
        socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.setTimeout(0);
      void this.serve(socket, packet).catch((err: Error) => {
        this.logger.log('info', 'IPMsg file request refused or cut', { from: socket.remoteAddress, error: err.message });
        socket.destroy();
      });
    };
    socket.on('data', onData);
  }

  private async serve(socket: net.Socket, packet: IpmsgPacket): Promise<void> {
    if (packet.command !== Cmd.GETFILEDATA && packet.command !== Cmd.GETDIRFILES) throw new PigeonError(ErrorCodes.PROTOCOL, `not a file request (command ${packet.command})`);
    const kind = packet.command === Cmd.GETFILEDATA ? 'file' : 'dir';
    const req = parseFileRequest(packet.extra, kind === 'file');
    const remote = ipv4(socket.remoteAddress ?? '');
    const target = this.resolve(req, kind, remote);
    if (kind === 'file') {
      const e = target.entries[0]!;
      if (req.offset > e.size) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'offset beyond the end of the file');
      await this.pipeFile(socket, e.source, req.offset, e.size, target.onBytes);
    } else {
      await this.sendTree(socket, target);
    }
    await new Promise<void>((resolve) => socket.end(resolve));
    target.onDone();
  }

  private async sendTree(socket: net.Socket, target: ServeTarget): Promise<void> {
    const stack: string[] = [];
    const parentOf = (rel: string): string | null => (rel === '' ? null : rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    const ret = (): Promise<void> => this.write(socket, formatDirHeader('.', 0, FileType.RETPARENT, 0, target.charset));
    for (const e of target.entries) {
      const parent = parentOf(e.rel);
      while (parent !== null && stack.length > 0 && stack[stack.length - 1] !== parent) {
        stack.pop();
        await ret();
      }
      const name = e.name;
      if (e.kind === 'dir') {
        await this.write(socket, formatDirHeader(name, 0, FileType.DIR, e.mtime, target.charset));
        stack.push(e.rel);
      } else {
        await this.write(socket, formatDirHeader(name, e.size, FileType.REGULAR, e.mtime, target.charset));
        await this.pipeFile(socket, e.source, 0, e.size, target.onBytes);
      }
    }
    while (stack.length > 0) {
      stack.pop();
      await ret();
    }
  }

  private write(socket: net.Socket, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (socket.destroyed) return reject(new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the receiver closed the connection'));
      if (socket.write(data)) resolve();
      else socket.once('drain', resolve);
    });
  }

  /** Sends exactly `size - offset` bytes; a file that shrank or grew since the offer fails the transfer. */
  private pipeFile(socket: net.Socket, path: string, offset: number, size: number, onBytes: (n: number) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      if (size === offset) return resolve();
      const stream = createReadStream(path, { start: offset, end: size - 1 });
      let sent = 0;
      stream.on('data', (chunk) => {
        const b = chunk as Buffer;
        sent += b.length;
        onBytes(b.length);
        if (!socket.write(b)) {
          stream.pause();
          socket.once('drain', () => stream.resume());
        }
      });
      const onClose = (): void => {
        stream.destroy();
        reject(new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the receiver closed the connection'));
      };
      socket.once('close', onClose);
      stream.once('error', (err) => {
        socket.off('close', onClose);
        reject(new PigeonError(ErrorCodes.TRANSFER_FAILED, `cannot read ${path}: ${err.message}`));
      });
      stream.once('end', () => {
        socket.off('close', onClose);
        if (sent === size - offset) resolve();
        else reject(new PigeonError(ErrorCodes.TRANSFER_FAILED, `${path} changed since it was offered`));
      });
    });
  }
}
