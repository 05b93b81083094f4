/**
 * A fixed set of reusable buffers for the sender's file reads. Reading into
 * fresh 1 MiB buffers made V8 run a full garbage collection every ~64 MB of
 * external memory: about 0.6 CPU-seconds per GB on each side of a transfer
 * (measured per thread, issue 2/5). Buffers come back when the socket has
 * taken their bytes (the write callback), so the pool also bounds what is
 * queued on the socket.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: Array<(b: Buffer) => void> = [];
  private made = 0;

  constructor(
    private readonly size: number,
    private readonly max: number,
  ) {}

  /** A free buffer; waits while all `max` are on the socket. */
  take(): Promise<Buffer> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.made < this.max) {
      this.made++;
      return Promise.resolve(Buffer.allocUnsafe(this.size));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(b: Buffer): void {
    const w = this.waiting.shift();
    if (w) w(b);
    else this.free.push(b);
  }
}
