/**
 * The relay's raw TCP pipe port (§12.3.1). A pipe side connects plain TCP
 * and sends one fixed-size header (magic, version, its one-time token); the
 * relay answers one status byte and, on OK, hands the socket to the pipe
 * broker, which splices it with the other side. No TLS here: what the
 * sockets carry is the peers' own end-to-end TLS session, so a second
 * layer at the relay would only cost CPU (docs/decisions.md, "Raw TCP
 * pipes").
 *
 * Strangers cost little: a socket counts against its address's budget in
 * the ConnectionGuard shared with the HTTPS port (connections, and those not
 * yet authenticated: a socket is authenticated once its token is taken),
 * must send its header within the first-request time, and a malformed or
 * unknown header gets its status byte and is closed.
 */
import net, { type Socket } from 'node:net';
import { parseRawPipeHeader, RAW_PIPE_HEADER_BYTES, RawPipeStatus } from '../../shared/protocol/raw-pipe.js';
import { clientAddress, type ConnectionGuard } from './connection-guard.js';
import type { RelayLogger } from '../log.js';
import type { RawTokenEntry } from '../pipes/raw-pipe-tokens.js';

/**
 * Bytes a pipe socket buffers before reading from the other side pauses:
 * like SINK_BUFFER of the WebSocket splice (pipes.ts), so that several
 * 64 KiB reads are in flight per direction instead of one (Node's 16 KiB
 * default made the WebSocket splice stop-and-wait).
 */
const SOCKET_BUFFER = 1024 * 1024;
/** A refused socket that does not close after its status byte is cut off after this long. */
const REFUSE_GRACE_MS = 1000;

export interface RawPipeServerOptions {
  guard: ConnectionGuard;
  logger: RelayLogger;
  /** Time for the whole header from the TCP accept (the relay's first-request time). */
  headerTimeoutMs: number;
  /** Most sockets open on the port at once. */
  maxConnections: number;
  /** The entry of a token, taken once (RawPipeTokens.take); null if unknown or expired. */
  take(token: string): RawTokenEntry | null;
  /** Hands the socket to the pipe of `key` (PipeBroker.joinSocket); false if that pipe is no longer waiting. */
  join(socket: Socket, key: string, remote: string, accepted: () => void): boolean;
}

export class RawPipeServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<Socket>();
  private refusedTotal = 0;

  constructor(private readonly o: RawPipeServerOptions) {
    // Half-open: one direction of a pipe may end while the other still carries.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true, highWaterMark: SOCKET_BUFFER }, (s) => this.accept(s));
    this.server.maxConnections = o.maxConnections;
    this.server.on('error', (err) => o.logger.log('error', 'raw pipe port error', { reason: err.message }));
  }

  /** Listens; resolves with the port (0 picks a free one). */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  /** Sockets open on the port (waiting for a header, waiting for the other side, or spliced). */
  get connections(): number {
    return this.sockets.size;
  }

  /** Headers refused since start (malformed, unknown version, unknown or used token). */
  get refused(): number {
    return this.refusedTotal;
  }

  /** Stops listening and cuts every socket off (the pipe broker has closed the pipes already). */
  async close(): Promise<void> {
    const closed = new Promise<void>((r) => (this.server.listening ? this.server.close(() => r()) : r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private accept(socket: Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('error', (err: Error & { code?: string }) => this.o.logger.log('info', 'raw pipe connection error', { remote, code: err.code, reason: err.message }));
    if (!this.o.guard.admit(socket)) return;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const timer = setTimeout(() => {
      socket.off('readable', onReadable);
      this.o.logger.log('warn', 'raw pipe: no header in time', { remote: clientAddress(socket.remoteAddress), ms: this.o.headerTimeoutMs });
      socket.destroy();
    }, this.o.headerTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
    const onReadable = (): void => {
      const header = socket.read(RAW_PIPE_HEADER_BYTES) as Buffer | null;
      if (header === null) return; // not all there yet (or the socket ended: 'close' clears up)
      socket.off('readable', onReadable);
      clearTimeout(timer);
      this.onHeader(socket, header, remote);
    };
    socket.on('readable', onReadable);
  }

  private onHeader(socket: Socket, header: Buffer, remote: string): void {
    const parsed = parseRawPipeHeader(header);
    if ('refuse' in parsed) return this.refuse(socket, remote, parsed.refuse, parsed.refuse === RawPipeStatus.BAD_VERSION ? 'unknown header version' : 'not a raw pipe header');
    const entry = this.o.take(parsed.token);
    if (!entry) return this.refuse(socket, remote, RawPipeStatus.REFUSED, 'unknown, expired or already used token');
    // A 256-bit one-time token is as good as a signature (like a pipe key on the HTTPS port).
    this.o.guard.authenticated(socket);
    const ok = this.o.join(socket, entry.key, remote, () => {
      socket.write(Uint8Array.of(RawPipeStatus.OK));
      this.o.logger.log('info', 'raw pipe joined', { device: entry.device, peer: entry.peer, remote: clientAddress(socket.remoteAddress) });
    });
    if (!ok) this.refuse(socket, remote, RawPipeStatus.REFUSED, 'the pipe expired or was already joined by two sides');
  }

  private refuse(socket: Socket, remote: string, status: RawPipeStatus, reason: string): void {
    this.refusedTotal++;
    this.o.logger.log('warn', 'raw pipe refused', { remote, reason });
    socket.end(Uint8Array.of(status));
    setTimeout(() => socket.destroy(), REFUSE_GRACE_MS).unref();
  }
}
