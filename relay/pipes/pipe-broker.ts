/**
 * Relayed pipes: two peers that cannot reach each other directly each open
 * a WebSocket to RELAY_PIPE_PATH?key=<key> with the single-use key the relay
 * gave them; the relay pairs the two sockets and copies binary messages both
 * ways with back-pressure (stream.pipeline from a ws stream into a sink that
 * sends on the other socket and waits for each send), charging every
 * chunk to the pipe's and the relay-wide token buckets. The bytes are the
 * peers' own end-to-end TLS session: the relay cannot read them.
 *
 * A key is good for one pair of sockets within PIPE_PENDING_MS; a pipe that
 * carries nothing for PIPE_IDLE_MS is closed; when either side closes, the
 * other is closed too (after what was already sent is flushed).
 *
 * A side may also be a plain TCP socket from the raw pipe port
 * (raw-pipe-server.ts, §12.3.1), either with a WebSocket side or with
 * another socket. Two sockets are spliced chunk by chunk with the sockets'
 * own back-pressure and half-close (spliceSockets), with the same meters,
 * limits and idle timeout.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { pipeline, Transform, Writable, type Readable } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';
import { CloseCodes } from '../close-codes.js';
import { bucketOrNull, reserveAll, type TokenBucket } from '../limits.js';
import type { RelayLogger } from '../log.js';

/** A key waits this long for both sockets (Syncthing's relay uses 1 min; a peer on the LAN answers in well under a second). */
export const PIPE_PENDING_MS = 30_000;
/** A pipe without a byte for this long is closed: a TLS session that is alive sends at least its keep-alives. */
export const PIPE_IDLE_MS = 60_000;
/** Keys one device may have waiting at once: enough for a burst of reconnects, bounds the memory a client can pin. */
export const MAX_PENDING_PIPES_PER_DEVICE = 64;
/** Bytes of randomness in a pipe key (as Syncthing's relay): not guessable within its life. */
const PIPE_KEY_BYTES = 32;

export interface PipeOptions {
  /** Bytes per second per pipe (both directions together); 0 = unlimited. */
  pipeRate: number;
  /** Bytes per second over all pipes; 0 = unlimited. */
  totalRate: number;
  pendingMs?: number;
  idleMs?: number;
}

interface Side {
  /** What this side sends (createWebSocketStream: reading pauses when the stream is full; a raw socket itself). */
  source: Readable;
  /** What is written to this side. */
  sink(): Writable;
  /** Closes this side: normally (1000) after a flush, otherwise at once. */
  close(code: number, reason: string): void;
  /** Cuts this side off. */
  terminate(): void;
  onClose(f: () => void): void;
  /** A raw TCP socket (else a WebSocket). */
  socket?: Socket;
  remote: string;
}

function wsSide(ws: WebSocket, remote: string): Side {
  // The stream is made at once so that bytes sent before the other side
  // arrives wait in it (reading pauses when it is full) instead of being lost.
  const source = createWebSocketStream(ws);
  source.on('error', () => {}); // reported through the pipeline
  return { source, sink: () => sink(ws), close: (code, reason) => ws.close(code, reason), terminate: () => ws.terminate(), onClose: (f) => ws.once('close', f), remote };
}

function socketSide(socket: Socket, remote: string): Side {
  return {
    source: socket,
    sink: () => socket,
    close: (code) => (code === 1000 ? socket.end() : socket.destroy()),
    terminate: () => socket.destroy(),
    onClose: (f) => socket.once('close', f),
    socket,
    remote,
  };
}

/**
 * Bytes a splice may have on its way into one socket. Node's default (16 KiB)
 * is below one 64 KiB pipe message, which made the splice stop-and-wait: one
 * message in flight per direction, the relay idle 57% of an uncontended copy
 * (profiled). 1 MiB: 137 → 155 MB/s in paired runs, and less relay CPU per GB.
 */
const SINK_BUFFER = 1024 * 1024;

/** Writes into a socket; a chunk counts as written once ws has handed it to the kernel. Ending closes the socket normally. */
function sink(ws: WebSocket): Writable {
  return new Writable({
    highWaterMark: SINK_BUFFER,
    write(chunk: Buffer, _enc, callback) {
      ws.send(chunk, { binary: true }, callback);
    },
    final(callback) {
      ws.close(1000, 'the other side closed');
      callback();
    },
  });
}

interface Pending {
  opener: string;
  target: string;
  timer: NodeJS.Timeout;
  first?: Side;
}

interface ActivePipe {
  a: Side;
  b: Side;
  bytes: number;
  lastByteAt: number;
  started: number;
  idleTimer: NodeJS.Timeout;
  ended: boolean;
}

export class PipeBroker {
  private readonly pending = new Map<string, Pending>();
  private readonly active = new Set<ActivePipe>();
  private readonly total: TokenBucket | null;
  private readonly pendingMs: number;
  private readonly idleMs: number;
  private bytesPiped = 0;
  private rawSides = 0;

  constructor(
    private readonly opts: PipeOptions,
    private readonly logger: RelayLogger,
  ) {
    this.total = bucketOrNull(opts.totalRate);
    this.pendingMs = opts.pendingMs ?? PIPE_PENDING_MS;
    this.idleMs = opts.idleMs ?? PIPE_IDLE_MS;
  }

  /** A new single-use key for a pipe from `opener` to `target`, or null if the opener has too many waiting. */
  create(opener: string, target: string): string | null {
    let waiting = 0;
    for (const p of this.pending.values()) if (p.opener === opener) waiting++;
    if (waiting >= MAX_PENDING_PIPES_PER_DEVICE) return null;
    const key = randomBytes(PIPE_KEY_BYTES).toString('hex');
    const timer = setTimeout(() => this.expire(key), this.pendingMs);
    this.pending.set(key, { opener, target, timer });
    return key;
  }

  /** Forgets a key nobody will use (the invitation could not be delivered). */
  cancel(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(key);
  }

  private expire(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    this.logger.log('info', 'pipe key expired', { opener: p.opener, target: p.target, waiting: p.first ? 1 : 0 });
    p.first?.close(CloseCodes.PIPE_REFUSED, 'pipe key expired');
  }

  /** A pipe socket arrived with `key` (null if the URL had none). */
  join(ws: WebSocket, key: string | null, remote: string): void {
    const p = key !== null ? this.pending.get(key) : undefined;
    if (!p || key === null) {
      this.logger.log('warn', 'pipe refused', { remote, reason: key === null ? 'no key' : 'unknown, expired or already used key' });
      ws.close(CloseCodes.PIPE_REFUSED, 'unknown pipe key');
      return;
    }
    this.seat(key, p, wsSide(ws, remote));
  }

  /**
   * A raw TCP socket whose token named pipe `key`: false (and nothing done)
   * if the key is no longer waiting; else `accepted` runs before anything of
   * the other side is written to the socket, and the socket joins the pipe.
   */
  joinSocket(socket: Socket, key: string, remote: string, accepted: () => void): boolean {
    const p = this.pending.get(key);
    if (!p) return false;
    accepted();
    this.rawSides++;
    this.seat(key, p, socketSide(socket, remote));
    return true;
  }

  private seat(key: string, p: Pending, side: Side): void {
    if (!p.first) {
      p.first = side;
      side.onClose(() => {
        if (this.pending.get(key)?.first !== side) return;
        this.cancel(key);
        this.logger.log('info', 'pipe abandoned before the other side came', { opener: p.opener, target: p.target });
      });
      return;
    }
    this.cancel(key);
    this.splice(p.first, side, p);
  }

  private splice(a: Side, b: Side, p: Pending): void {
    const now = performance.now();
    const pipe: ActivePipe = { a, b, bytes: 0, lastByteAt: now, started: now, idleTimer: setInterval(() => this.checkIdle(pipe), Math.max(10, this.idleMs / 4)), ended: false };
    this.active.add(pipe);
    const transport = [a, b].map((s) => (s.socket ? 'tcp' : 'ws')).join('+');
    this.logger.log('info', 'pipe open', { opener: p.opener, target: p.target, transport });
    const perPipe = bucketOrNull(this.opts.pipeRate);
    // Two sockets half-close: one direction may end while the other still
    // carries (a TLS close_notify answered after the FIN). With a WebSocket
    // side, which has no half-close, the first end closes the pipe as before.
    const both = a.socket !== undefined && b.socket !== undefined;
    let finished = 0;
    const done = (err?: Error | null): void => {
      finished++;
      if (err && !pipe.ended) this.end(pipe, err.message);
      else if (finished === (both ? 2 : 1)) this.end(pipe, both ? 'both sides closed' : 'one side closed');
    };
    if (both) {
      spliceSockets(a.socket!, b.socket!, (n) => this.charge(pipe, perPipe, n), done);
      spliceSockets(b.socket!, a.socket!, (n) => this.charge(pipe, perPipe, n), done);
      return;
    }
    // A raw socket with a WebSocket side is the source of one pipeline and the sink of the other:
    // each adds its close listeners, more than the default warning limit of 10 (not a leak).
    for (const s of [a, b]) s.socket?.setMaxListeners(20);
    pipeline(a.source, this.meter(pipe, perPipe), b.sink(), done);
    pipeline(b.source, this.meter(pipe, perPipe), a.sink(), done);
  }

  /** Counts `n` bytes of `pipe`; returns the ms to hold them for the rate limits (0: send now). */
  private charge(pipe: ActivePipe, perPipe: TokenBucket | null, n: number): number {
    pipe.bytes += n;
    pipe.lastByteAt = performance.now();
    this.bytesPiped += n;
    return reserveAll([perPipe, this.total], n);
  }

  /** Counts the bytes of one direction and holds each chunk until the buckets allow it. */
  private meter(pipe: ActivePipe, perPipe: TokenBucket | null): Transform {
    let timer: NodeJS.Timeout | undefined;
    return new Transform({
      transform: (chunk: Buffer, _enc, callback) => {
        const wait = this.charge(pipe, perPipe, chunk.length);
        if (wait <= 0) return callback(null, chunk);
        timer = setTimeout(() => callback(null, chunk), wait);
      },
      destroy: (err, callback) => {
        clearTimeout(timer);
        callback(err);
      },
    });
  }

  private checkIdle(pipe: ActivePipe): void {
    if (performance.now() - pipe.lastByteAt < this.idleMs) return;
    this.end(pipe, 'idle', CloseCodes.PIPE_IDLE, 'pipe idle');
  }

  /** Ends a pipe: closes both sockets with `code` and `closeReason`, logs `reason`. */
  private end(pipe: ActivePipe, reason: string, code = 1000, closeReason = 'the other side closed'): void {
    if (pipe.ended) return;
    pipe.ended = true;
    clearInterval(pipe.idleTimer);
    this.active.delete(pipe);
    for (const s of [pipe.a, pipe.b]) s.close(code, closeReason);
    // A side that does not finish the closing handshake is cut off.
    setTimeout(() => {
      for (const s of [pipe.a, pipe.b]) s.terminate();
    }, 2000).unref();
    this.logger.log('info', 'pipe closed', { reason, bytes: pipe.bytes, ms: Math.round(performance.now() - pipe.started), remotes: [pipe.a.remote, pipe.b.remote] });
  }

  stats(): { pipes: number; pending: number; bytesPiped: number } {
    return { pipes: this.active.size, pending: this.pending.size, bytesPiped: this.bytesPiped };
  }

  /** Pipe sides that came over the raw TCP port since start (the rest came as WebSockets). */
  get rawJoins(): number {
    return this.rawSides;
  }

  /** Closes every pipe and forgets every key (relay shutdown). */
  closeAll(): void {
    for (const [key, p] of [...this.pending]) {
      this.cancel(key);
      p.first?.close(CloseCodes.GOING_AWAY, 'relay stopping');
    }
    for (const pipe of [...this.active]) this.end(pipe, 'relay stopping', CloseCodes.GOING_AWAY, 'relay stopping');
  }
}

/**
 * Copies what `from` sends into `to`, chunk by chunk: `charge` counts each
 * chunk and says how long to hold it (rate limits); reading pauses while
 * `to` is over its buffer or a chunk is held. The end of `from` ends `to`
 * (half-close); `done` is called once, with the error if either failed.
 */
function spliceSockets(from: Socket, to: Socket, charge: (n: number) => number, done: (err?: Error | null) => void): void {
  let over = false;
  const finish = (err?: Error | null): void => {
    if (over) return;
    over = true;
    from.off('data', onData);
    done(err);
  };
  const resumeWhenDrained = (): void => {
    if (over) return;
    if (to.writableNeedDrain) to.once('drain', () => from.resume());
    else from.resume();
  };
  const onData = (chunk: Buffer): void => {
    const wait = charge(chunk.length);
    to.write(chunk);
    if (wait <= 0 && !to.writableNeedDrain) return;
    from.pause();
    if (wait > 0) setTimeout(resumeWhenDrained, wait);
    else resumeWhenDrained();
  };
  from.on('data', onData);
  from.once('end', () => to.end());
  to.once('finish', () => finish());
  from.once('error', finish);
  to.once('error', finish);
  // Closed without an end (reset, destroyed): the other side goes too.
  from.once('close', () => {
    if (!from.readableEnded) finish(new Error('the other side was cut off'));
  });
  to.once('close', () => finish(to.writableFinished ? null : new Error('the other side was cut off')));
  from.resume();
}
