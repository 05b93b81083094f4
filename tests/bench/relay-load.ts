/**
 * Benchmark support: one message load, whatever carries it (the Pigeon relay
 * or an MQTT broker). Message i goes from sender i % senders to one of the
 * recipients; each sender keeps at most `window` messages unacknowledged and
 * is paced to `ratePerSender` messages per second (the relay closes a
 * connection that sends more than CLIENT_MESSAGE_RATE per second). The times of send, acknowledgement and delivery of every
 * message are kept, so the figures are throughput and latency percentiles.
 */

export interface LoadPlan {
  messages: number;
  senders: number;
  recipients: number;
  /** Messages in flight (sent, not acknowledged) per sender. */
  window: number;
  ratePerSender: number;
  /** Wait for every message to be delivered to a connected recipient, not only acknowledged. */
  live: boolean;
}

/** How a load reaches the system under test. */
export interface Carrier {
  /** Sends message `i` (id `id`) from sender `s` to recipient `r`; the carrier calls acked(i) / delivered(i) on the run. */
  send(s: number, r: number, id: string): void;
}

export interface LoadResult {
  messages: number;
  offeredPerSecond: number;
  seconds: number;
  /** Acknowledged (stored, for the relay) messages per second: first send to last acknowledgement. */
  ackedPerSecond: number;
  /** Delivered messages per second: first send to last delivery (live runs). */
  deliveredPerSecond: number | null;
  ackMs: { p50: number; p99: number };
  endToEndMs: { p50: number; p99: number } | null;
}

/** Scheduler period: pacing is checked this often (and at every acknowledgement). */
const TICK_MS = 2;
/** A run that makes no progress for this long has failed (a lost message, a closed connection). */
const STALL_MS = 30_000;

export function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

export class LoadRun {
  private readonly prefix = Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, '0');
  private readonly sendAt: Float64Array;
  private readonly ackAt: Float64Array;
  private readonly deliverAt: Float64Array;
  private readonly next: Int32Array;
  private readonly inflight: Int32Array;
  private ackedCount = 0;
  private deliveredCount = 0;
  private t0 = 0;
  private lastProgress = 0;
  private finish: ((err?: Error) => void) | null = null;
  private carrier: Carrier | null = null;

  constructor(readonly plan: LoadPlan) {
    this.sendAt = new Float64Array(plan.messages);
    this.ackAt = new Float64Array(plan.messages);
    this.deliverAt = new Float64Array(plan.messages);
    this.next = new Int32Array(plan.senders);
    this.inflight = new Int32Array(plan.senders);
  }

  /** The message id of message i: a run prefix and the index, 32 hex digits (a valid MessageId). */
  idOf(i: number): string {
    return this.prefix + i.toString(16).padStart(24, '0');
  }

  indexOf(id: string): number {
    return parseInt(id.slice(8), 16);
  }

  recipientOf(i: number): number {
    const s = i % this.plan.senders;
    return (s + Math.floor(i / this.plan.senders)) % this.plan.recipients;
  }

  acked(i: number): void {
    if (this.ackAt[i] !== 0) return;
    this.ackAt[i] = performance.now();
    this.ackedCount++;
    this.lastProgress = this.ackAt[i]!;
    const s = i % this.plan.senders;
    this.inflight[s]!--;
    this.pump(s, this.ackAt[i]!);
    this.check();
  }

  delivered(i: number): void {
    if (this.deliverAt[i] !== 0) return;
    this.deliverAt[i] = performance.now();
    this.deliveredCount++;
    this.lastProgress = this.deliverAt[i]!;
    this.check();
  }

  fail(reason: string): void {
    this.finish?.(new Error(reason));
  }

  get progress(): { acked: number; delivered: number } {
    return { acked: this.ackedCount, delivered: this.deliveredCount };
  }

  private check(): void {
    if (this.ackedCount === this.plan.messages && (!this.plan.live || this.deliveredCount === this.plan.messages)) this.finish?.();
  }

  /** Sends what sender s may send now: within its window and its pace. */
  private pump(s: number, now: number): void {
    const { senders, messages, window, ratePerSender } = this.plan;
    // Each sender starts at a different phase of its period, so they do not all send in the same tick.
    const allowed = Math.floor(((now - this.t0) / 1000) * ratePerSender + s / senders) + 1;
    while (this.inflight[s]! < window && this.next[s]! < allowed) {
      const i = s + this.next[s]! * senders;
      if (i >= messages) return;
      this.next[s]!++;
      this.inflight[s]!++;
      this.sendAt[i] = now;
      this.carrier!.send(s, this.recipientOf(i), this.idOf(i));
    }
  }

  async run(carrier: Carrier): Promise<LoadResult> {
    this.carrier = carrier;
    this.t0 = performance.now();
    this.lastProgress = this.t0;
    const done = new Promise<void>((resolve, reject) => (this.finish = (err) => (err ? reject(err) : resolve())));
    const tick = setInterval(() => {
      const now = performance.now();
      if (now - this.lastProgress > STALL_MS) this.fail(`no progress for ${STALL_MS} ms: ${this.ackedCount} acknowledged, ${this.deliveredCount} delivered of ${this.plan.messages}`);
      for (let s = 0; s < this.plan.senders; s++) this.pump(s, now);
    }, TICK_MS);
    for (let s = 0; s < this.plan.senders; s++) this.pump(s, this.t0);
    try {
      await done;
    } finally {
      clearInterval(tick);
      this.finish = null;
    }
    return this.result();
  }

  private result(): LoadResult {
    const { messages, senders, ratePerSender, live } = this.plan;
    let first = Infinity;
    let lastAck = 0;
    let lastDeliver = 0;
    const ack = new Float64Array(messages);
    const e2e = new Float64Array(live ? messages : 0);
    for (let i = 0; i < messages; i++) {
      first = Math.min(first, this.sendAt[i]!);
      lastAck = Math.max(lastAck, this.ackAt[i]!);
      ack[i] = this.ackAt[i]! - this.sendAt[i]!;
      if (live) {
        lastDeliver = Math.max(lastDeliver, this.deliverAt[i]!);
        e2e[i] = this.deliverAt[i]! - this.sendAt[i]!;
      }
    }
    ack.sort();
    e2e.sort();
    const seconds = (Math.max(lastAck, lastDeliver) - first) / 1000;
    return {
      messages,
      offeredPerSecond: senders * ratePerSender,
      seconds: round2(seconds),
      ackedPerSecond: Math.round(messages / ((lastAck - first) / 1000)),
      deliveredPerSecond: live ? Math.round(messages / ((lastDeliver - first) / 1000)) : null,
      ackMs: { p50: round2(percentile(ack, 50)), p99: round2(percentile(ack, 99)) },
      endToEndMs: live ? { p50: round2(percentile(e2e, 50)), p99: round2(percentile(e2e, 99)) } : null,
    };
  }
}
