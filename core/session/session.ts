/**
 * One authenticated peer session over TLS: framing, schema validation of every
 * frame, heartbeats, back-pressure, and an orderly close with a reason. A
 * malformed frame, or a peer that makes us queue more than OUTPUT_BUDGET_BYTES
 * (it does not read what we send), closes the session with a logged reason;
 * nothing throws out of here. Frames other than the session's own (ping, pong,
 * bye) go to one handler: SessionManager points it at the FrameRouter.
 */
import type { TLSSocket } from 'node:tls';
import { DEAD_SESSION_MS, HEARTBEAT_MS } from '../../shared/protocol/constants.js';
import { FrameDecoder, FrameKind, encodeJsonFrame } from '../../shared/protocol/frame-codec.js';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { parseSessionFrame, type HelloFrame, type SessionFrame } from '../../shared/protocol/session-frames.js';
import type { Clock, Logger, TimerHandle } from '../util/components.js';
import { STALL_THRESHOLD_MS, StallWatch } from '../util/stall-watch.js';

/** How often the heartbeat check runs. */
const TICK_MS = 1000;

/**
 * Most bytes a session may have queued for a peer that is not reading (issue
 * 13: a peer that sends pings and never reads the pongs grew a peer by 1 GB).
 * The messenger and transfers stop at the socket's high-water mark (16 KiB)
 * and wait for 'drain', so a reading peer stays far below this; 4 MiB leaves
 * room for a few MAX_FRAME_BYTES (1 MiB) frames written past the mark.
 */
export const OUTPUT_BUDGET_BYTES = 4 * 1024 * 1024;

/**
 * Most frames a session may queue past the socket's high-water mark before
 * the peer reads (the byte budget alone let ~200,000 tiny pongs pile up, each
 * a buffered write of a few hundred bytes of bookkeeping: 80 MB). The
 * messenger and transfers stop writing at the mark, and acks and receipts
 * come one frame per batch, so a reading peer never gets near 4096.
 */
export const OUTPUT_BUDGET_FRAMES = 4096;

/**
 * How long a probe (a ping sent because the peer was seen at another address,
 * e.g. after a DHCP change) waits for any frame before the session is taken
 * for dead. A LAN round trip is milliseconds; 3 s leaves room for a busy peer
 * (a GC pause, a large store transaction) and, with the next sighting's dial,
 * keeps delivery after a move within the 5 s of issue 12.
 */
export const PROBE_MS = 3000;

/** A peer that does not answer our bye is cut off after this long. */
const CLOSE_GRACE_MS = 2000;

export interface SessionInit {
  socket: TLSSocket;
  decoder: FrameDecoder;
  peerId: string;
  hello: HelloFrame;
  /** True when we dialed. */
  dialer: boolean;
  /** The peer's address as sightings record it: '' for a session through a relay pipe (the socket's address is the relay's). Default: the socket's. */
  remoteAddress?: string;
}

/** The server listens dual-stack: IPv4 peers show up as ::ffff:a.b.c.d; keep the IPv4 form discovery uses. */
export function ipv4(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export class Session {
  readonly peerId: string;
  readonly dialer: boolean;
  readonly remoteAddress: string;
  hello: HelloFrame;
  private readonly socket: TLSSocket;
  private readonly decoder: FrameDecoder;
  private lastReceived: number;
  /** How long this process was stalled since the last frame arrived: not the peer's silence (spec §8). */
  private stalledSinceReceived = 0;
  private readonly stalls: StallWatch;
  private lastSent: number;
  private pingCounter = 0;
  private timer: TimerHandle;
  private closed = false;
  private frameHandler: (frame: SessionFrame) => void = () => {};
  private readonly closeHandlers: Array<(reason: string) => void> = [];
  private aliveHandler: () => void = () => {};
  private lastReported = 0;
  /** Bytes received so far (a probe looks for any). */
  private bytesIn = 0;
  private probeTimer: TimerHandle | null = null;
  /** Frames written since the socket last passed its high-water mark (reset on 'drain'). */
  private framesPastMark = 0;

  constructor(
    private readonly components: { clock: Clock; logger: Logger },
    init: SessionInit,
  ) {
    this.socket = init.socket;
    this.decoder = init.decoder;
    this.peerId = init.peerId;
    this.hello = init.hello;
    this.dialer = init.dialer;
    this.remoteAddress = init.remoteAddress ?? ipv4(init.socket.remoteAddress ?? '');
    this.lastReceived = this.lastSent = components.clock.now();
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('close', () => this.finish('connection closed'));
    this.socket.on('error', (err) => this.finish(`socket error: ${err.message}`));
    this.socket.on('drain', () => (this.framesPastMark = 0));
    this.stalls = new StallWatch(components.clock, TICK_MS);
    this.timer = components.clock.setInterval(() => this.tick(), TICK_MS);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** True while the socket's buffer is full; wait for onDrain before sending more bulk frames. */
  get congested(): boolean {
    return this.socket.writableNeedDrain;
  }

  onDrain(fn: () => void): void {
    this.socket.once('drain', fn);
  }

  /** Sets the frame handler and delivers frames that arrived before it was set. */
  onFrame(fn: (frame: SessionFrame) => void): void {
    this.frameHandler = fn;
    // Frames that arrived right behind the hello wait in the decoder until now.
    this.onData(new Uint8Array(0));
  }

  /** Called at most once per heartbeat tick while frames keep arriving: the peer is alive. */
  onAlive(fn: () => void): void {
    this.aliveHandler = fn;
  }

  onClose(fn: (reason: string) => void): void {
    this.closeHandlers.push(fn);
  }

  /**
   * Queues a frame. Past the socket's high-water mark `congested` is true and
   * callers with more to send wait for onDrain; a peer that lets the queue
   * pass OUTPUT_BUDGET_BYTES (it does not read) is cut off and its buffers freed.
   */
  send(frame: SessionFrame): void {
    if (this.closed) return;
    this.lastSent = this.components.clock.now();
    if (!this.socket.write(encodeJsonFrame(frame))) this.framesPastMark++;
    if (this.socket.writableLength > OUTPUT_BUDGET_BYTES || this.framesPastMark > OUTPUT_BUDGET_FRAMES) {
      this.abort('output budget exceeded', { code: ErrorCodes.SESSION_BUDGET, queuedBytes: this.socket.writableLength, queuedFrames: this.framesPastMark, budgetBytes: OUTPUT_BUDGET_BYTES, budgetFrames: OUTPUT_BUDGET_FRAMES });
    }
  }

  /**
   * The peer was seen elsewhere: ask it for a sign of life. If nothing at all
   * arrives within PROBE_MS the session is dead (its address is gone) and is
   * closed, so the redial goes to where the peer is now. One probe at a time.
   */
  probe(why: string): void {
    if (this.closed || this.probeTimer) return;
    const mark = this.bytesIn;
    this.send({ type: 'ping', n: ++this.pingCounter });
    this.waitForProbe(mark, why, true);
  }

  /** Closes the session if nothing arrives within PROBE_MS; once more if we ourselves stalled meanwhile (spec §8). */
  private waitForProbe(mark: number, why: string, mayWaitAgain: boolean): void {
    const due = this.components.clock.now() + PROBE_MS;
    this.probeTimer = this.components.clock.setTimeout(() => {
      this.probeTimer = null;
      if (this.closed || this.bytesIn !== mark) return;
      // Fired late: we did not run, and the answer may be waiting in the socket.
      if (mayWaitAgain && this.components.clock.now() - due >= STALL_THRESHOLD_MS) {
        this.waitForProbe(mark, why, false);
        return;
      }
      this.components.logger.log('info', 'session silent after probe; closing', { peer: this.peerId, why });
      this.socket.destroy();
      this.finish(`no answer to a probe (${why})`);
    }, PROBE_MS);
  }

  /** Says bye with a reason and closes. */
  close(reason: string): void {
    if (this.closed) return;
    this.send({ type: 'bye', reason: reason.slice(0, 200) });
    this.socket.end();
    this.finish(reason);
  }

  /** Cuts the session off at once (no bye: it would only queue behind what the peer does not read) and frees its buffers. */
  private abort(reason: string, fields: Record<string, unknown>): void {
    if (this.closed) return;
    this.components.logger.log('warn', `closing session: ${reason}`, { peer: this.peerId, ...fields });
    this.socket.destroy();
    this.finish(reason);
  }

  private onData(chunk: Uint8Array): void {
    if (this.closed) return;
    if (chunk.length > 0) {
      this.lastReceived = this.components.clock.now();
      this.stalledSinceReceived = 0;
      this.bytesIn += chunk.length;
    }
    try {
      for (const f of this.decoder.push(chunk)) {
        if (f.kind !== FrameKind.JSON) throw new Error(`unknown frame kind ${f.kind}`);
        this.dispatch(parseSessionFrame(f.payload));
        if (this.closed) return;
      }
    } catch (err) {
      this.components.logger.log('warn', 'closing session: bad frame', { peer: this.peerId, reason: (err as Error).message });
      this.close(`protocol error: ${(err as Error).message}`);
    }
  }

  private dispatch(frame: SessionFrame): void {
    switch (frame.type) {
      case 'ping':
        this.send({ type: 'pong', n: frame.n });
        return;
      case 'pong':
        return;
      case 'hello':
        throw new Error('second hello');
      case 'bye':
        this.components.logger.log('debug', 'peer closed session', { peer: this.peerId, reason: frame.reason });
        this.socket.end();
        this.finish(`peer said bye: ${frame.reason}`);
        return;
      default:
        this.frameHandler(frame);
    }
  }

  private tick(): void {
    const now = this.components.clock.now();
    // A tick that fires late means we did not run: frames that came meanwhile
    // wait in the socket, read after this timer. That time is not counted.
    this.stalledSinceReceived += this.stalls.late();
    if (now - this.lastReceived - this.stalledSinceReceived > DEAD_SESSION_MS) {
      this.components.logger.log('info', 'session dead: no heartbeat', { peer: this.peerId });
      this.socket.destroy();
      this.finish('heartbeat timeout');
      return;
    }
    if (now - this.lastSent >= HEARTBEAT_MS) this.send({ type: 'ping', n: ++this.pingCounter });
    if (this.lastReceived > this.lastReported) {
      this.lastReported = this.lastReceived;
      this.aliveHandler();
    }
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.components.clock.clear(this.timer);
    this.components.clock.clear(this.probeTimer);
    // A peer that never answers the close is cut off.
    if (!this.socket.destroyed) this.components.clock.setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    for (const fn of this.closeHandlers) fn(reason);
    this.frameHandler = () => {};
    this.aliveHandler = () => {};
  }
}
