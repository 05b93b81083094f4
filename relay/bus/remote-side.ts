/**
 * The other instance's end of a bridged pipe, shaped like the `ws` WebSocket
 * that createWebSocketStream and PipeBroker use (send with a callback,
 * pause/resume, close, terminate, 'message' and 'close'), so the splice,
 * rate limits, idle timeout, counters and logs of ../pipes/pipe-broker.ts
 * apply unchanged. Its messages travel over NATS in the format of
 * pipe-wire.ts. Flow control: it sends while it has credit; the receiving
 * instance returns credit for what it handed on, and stops doing so while
 * its reader is paused.
 */
import { EventEmitter } from 'node:events';
import { CloseCodes } from '../close-codes.js';
import type { RelayLogger } from '../log.js';
import type { BusRefusals } from './bus-refusals.js';
import { controlBytes, dataBytes, decodeSideMessage, PIPE_OVERFLOW, PIPE_WINDOW } from './pipe-wire.js';

/** What a RemoteSide needs of the bus. */
export interface SideNet {
  publish(subject: string, data: Uint8Array): void;
  refusals: BusRefusals;
}

export class RemoteSide extends EventEmitter {
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readyState = 1;
  isPaused = false;
  readonly bufferedAmount = 0;
  private credit = PIPE_WINDOW;
  private unconfirmed = 0;
  private queue: { data: Buffer; cb?: (err?: Error) => void }[] = [];

  constructor(
    private readonly net: SideNet,
    /** The other side's subject. */
    private readonly out: string,
    readonly peerInst: string,
    private readonly logger: RelayLogger,
  ) {
    super();
  }

  send(data: Buffer, a?: unknown, b?: unknown): void {
    const cb = (typeof a === 'function' ? a : b) as ((err?: Error) => void) | undefined;
    if (this.readyState !== this.OPEN) {
      if (cb) process.nextTick(cb, new Error('pipe closed'));
      return;
    }
    this.queue.push({ data, ...(cb ? { cb } : {}) });
    this.pump();
  }

  private pump(): void {
    while (this.queue.length > 0 && this.credit > 0) {
      const { data, cb } = this.queue.shift()!;
      this.publishData(data);
      if (cb) process.nextTick(cb);
    }
  }

  private publishData(data: Buffer): void {
    this.net.publish(this.out, dataBytes(data));
    this.credit -= data.length;
  }

  /** A message on this side's subject from the other instance. */
  receive(d: Uint8Array): void {
    const m = decodeSideMessage(d);
    if (m.t === 'data') {
      if (this.readyState !== this.OPEN) return;
      const chunk = Buffer.from(m.bytes); // a copy: the client may reuse its read buffer
      this.unconfirmed += chunk.length;
      if (this.unconfirmed > PIPE_OVERFLOW) {
        this.logger.log('warn', 'pipe closed: the other relay instance overran the window', { instance: this.peerInst, bytes: this.unconfirmed, window: PIPE_WINDOW });
        this.close(CloseCodes.INTERNAL, 'pipe overflow');
        return;
      }
      this.emit('message', chunk, true);
      if (!this.isPaused && this.unconfirmed >= PIPE_WINDOW / 4) this.confirm();
      return;
    }
    if (m.t === 'refused') {
      // A lost data or credit message would corrupt or stall the stream: the pipe cannot go on.
      this.net.refusals.refuse('pipe side', { ...m.refusal, instance: this.peerInst });
      this.close(CloseCodes.INTERNAL, 'bad message from the other relay instance');
      return;
    }
    const c = m.c;
    if (c.t === 'credit') {
      this.credit += c.n;
      this.pump();
    } else if (c.t === 'end') this.finish(c.code, c.reason);
  }

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    this.isPaused = false;
    if (this.unconfirmed > 0) this.confirm();
  }

  private confirm(): void {
    this.net.publish(this.out, controlBytes({ t: 'credit', n: this.unconfirmed }));
    this.unconfirmed = 0;
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState !== this.OPEN) return;
    // What the pipe accepted goes first (at most one message waits for credit), then the end.
    for (const { data, cb } of this.queue.splice(0)) {
      this.publishData(data);
      if (cb) process.nextTick(cb);
    }
    this.net.publish(this.out, controlBytes({ t: 'end', code, reason }));
    this.finish(code, reason);
  }

  terminate(): void {
    if (this.readyState === this.CLOSED) return;
    this.net.publish(this.out, controlBytes({ t: 'end', code: 1006, reason: '' }));
    this.finish(1006, '');
  }

  /** The other instance is gone: nothing will come from it any more. */
  lost(reason: string): void {
    this.finish(1006, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CLOSED;
    for (const { cb } of this.queue.splice(0)) if (cb) process.nextTick(cb, new Error('pipe closed'));
    process.nextTick(() => this.emit('close', code, Buffer.from(reason)));
  }
}
