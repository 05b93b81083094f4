/**
 * A LocalSend contact as a message channel for the messenger: LocalSend has
 * no chat, but its apps send a text as a single text file with a preview
 * (ls-receiver.ts turns one into a message here) and show such a file as a
 * message. So a message to a LocalSend contact goes as that text file, and is
 * delivered when the device took it; receipts have no LocalSend form.
 */
import type { SessionFrame } from '../../shared/protocol/session-frames.js';
import type { MessageChannel } from '../messaging/message-channel.js';

export class LocalSendChannel implements MessageChannel {
  private frameHandler: (frame: SessionFrame) => void = () => {};
  private readonly closeHandlers: Array<(reason: string) => void> = [];
  private open = true;
  /** Messages go one at a time, in order: a device answers one prepare-upload at a time (409 otherwise). */
  private queue: Promise<void> = Promise.resolve();
  private lastSeq = 0;

  constructor(
    readonly peerId: string,
    private readonly link: { sendText: (text: string) => Promise<void>; newId: () => string; now: () => number; failed: (reason: string) => void },
  ) {}

  get isOpen(): boolean {
    return this.open;
  }

  get congested(): boolean {
    return false;
  }

  onDrain(): void {}

  onFrame(fn: (frame: SessionFrame) => void): void {
    this.frameHandler = fn;
  }

  onClose(fn: (reason: string) => void): void {
    this.closeHandlers.push(fn);
  }

  send(frame: SessionFrame): void {
    if (frame.type !== 'msg' || !this.open) return;
    this.queue = this.queue.then(async () => {
      if (!this.open) return;
      try {
        await this.link.sendText(frame.text);
        this.frameHandler({ type: 'ack', ids: [frame.id] });
      } catch (err) {
        // Not taken: the message stays in the outbox and goes when the device is seen again.
        this.link.failed((err as Error).message);
        this.close((err as Error).message);
      }
    });
  }

  /** A text from the device (a text file with a preview). */
  received(text: string): void {
    const now = this.link.now();
    this.lastSeq = Math.max(this.lastSeq + 1, now);
    this.frameHandler({ type: 'msg', id: this.link.newId(), seq: this.lastSeq, ts: now, text });
  }

  close(reason: string): void {
    if (!this.open) return;
    this.open = false;
    for (const fn of this.closeHandlers) fn(reason);
  }
}
