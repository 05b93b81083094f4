/**
 * An in-memory pair of MessageChannels for the messenger's in-process tests
 * (messenger.test.ts): what one end sends, the other receives on a later
 * microtask, in order, as a TLS session would. A test can cut the link, lose
 * what one end sends (a stuck link), or push frames in as if they came from
 * the other side.
 */
import type { SessionFrame } from '../../shared/protocol/session-frames.js';
import type { MessageChannel } from './message-channel.js';

export class FakeChannel implements MessageChannel {
  isOpen = true;
  congested = false;
  /** Frames this end sent, in order (lost ones included). */
  readonly sent: SessionFrame[] = [];
  /** While true, what this end sends is lost on the way. */
  losing = false;
  closeReason: string | null = null;
  private other: FakeChannel | null = null;
  private readonly frameFns: Array<(frame: SessionFrame) => void> = [];
  private readonly closeFns: Array<(reason: string) => void> = [];
  private readonly drainFns: Array<() => void> = [];

  /** `peerId` is the device at the other end. */
  constructor(readonly peerId: string) {}

  /** Two connected ends: the first is held by `a` (it talks to `b`), the second by `b`. */
  static pair(a: string, b: string): [FakeChannel, FakeChannel] {
    const atA = new FakeChannel(b);
    const atB = new FakeChannel(a);
    atA.other = atB;
    atB.other = atA;
    return [atA, atB];
  }

  onDrain(fn: () => void): void {
    this.drainFns.push(fn);
  }

  onFrame(fn: (frame: SessionFrame) => void): void {
    this.frameFns.push(fn);
  }

  onClose(fn: (reason: string) => void): void {
    this.closeFns.push(fn);
  }

  send(frame: SessionFrame): void {
    if (!this.isOpen) return;
    this.sent.push(frame);
    if (this.losing) return;
    const to = this.other!;
    queueMicrotask(() => to.receive(frame));
  }

  /** A frame arrives at this end as if the other side had sent it. */
  receive(frame: SessionFrame): void {
    if (!this.isOpen) return;
    for (const fn of this.frameFns) fn(frame);
  }

  /** Closes both ends (a session ends for both sides at once). */
  close(reason: string): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.closeReason = reason;
    for (const fn of this.closeFns) fn(reason);
    this.other?.close(reason);
  }

  /** Frames of one type this end sent. */
  sentOf<T extends SessionFrame['type']>(type: T): Array<Extract<SessionFrame, { type: T }>> {
    return this.sent.filter((f): f is Extract<SessionFrame, { type: T }> => f.type === type);
  }
}
