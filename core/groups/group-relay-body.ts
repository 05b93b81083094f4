/**
 * One group over the relay and the LAN at once (§12.10 "With a relay"): what
 * goes inside a relay group body, and the receipts that go through the relay.
 *
 * A message's relay body carries its LAN log entry (author seq, Lamport
 * position, chain revision, the author's signature), so that the copy the
 * relay delivers and the copy a member on the LAN hands over are the same
 * entry, taken once whichever comes first, and shown at the same place on
 * every device. A receipt is the member's holding (what it holds and has
 * read, per author), sealed with its sender key and appended to the group's
 * log once for all members; it is sent only when some author a receipt is
 * for has no direct session (those that have one get a group-have), and at
 * most once per RECEIPT_GATHER_MS per group, carrying the latest holding.
 */
import { GroupBody, type GroupEntry, type GroupHolding } from '../../shared/protocol/group-lan-frames.js';
import type { GroupDeliverFrame } from '../../shared/protocol/relay-frames.js';
import type { Clock, Logger, TimerHandle } from '../util/components.js';

/**
 * How long receipts through the relay are gathered before one goes: a
 * member reading a burst of 20 messages sends one receipt, not 20, and
 * "read by" still moves within a couple of seconds.
 */
export const RECEIPT_GATHER_MS = 1000;

/** The relay body of a message of ours: its text and its signed log entry's fields. */
export function messageBody(e: GroupEntry): Buffer {
  const body: GroupBody = { text: e.text ?? '', ts: e.ts, aseq: e.aseq, lc: e.lc, rev: e.rev, sig: e.sig };
  return Buffer.from(JSON.stringify(body));
}

/** The relay body of a receipt: our holding of the group. */
export function receiptBody(h: GroupHolding): Buffer {
  const body: GroupBody = { kind: 'have', rev: h.rev, have: h.have, ...(h.read ? { read: h.read } : {}) };
  return Buffer.from(JSON.stringify(body));
}

/** An opened body, checked against its schema; throws on anything else. */
export function parseBody(plain: Buffer): GroupBody {
  return GroupBody.parse(JSON.parse(plain.toString('utf8')));
}

type MessageBody = Extract<GroupBody, { text: string }>;

/** The log entry a relay message body carries (null for a body from a peer older than §12.10's mixed mode). */
export function entryOf(frame: GroupDeliverFrame, body: MessageBody): GroupEntry | null {
  if (body.aseq === undefined || body.lc === undefined || body.rev === undefined || body.sig === undefined) return null;
  return { id: frame.id, author: frame.from, aseq: body.aseq, lc: body.lc, rev: body.rev, ts: body.ts, text: body.text, sig: body.sig };
}

export type ReceiptBody = Extract<GroupBody, { kind: 'have' }>;
export const isReceipt = (b: GroupBody): b is ReceiptBody => 'kind' in b;

export interface RelayReceiptsDeps {
  clock: Clock;
  logger: Logger;
  /** Puts our holding of the group into its relay log; rejects if the relay cannot take it now. */
  put: (gid: string) => Promise<void>;
}

/** Receipts through the relay, gathered per group (one timer each), sent again after a failure when asked again. */
export class RelayReceipts {
  private readonly timers = new Map<string, TimerHandle>();

  constructor(private readonly deps: RelayReceiptsDeps) {}

  /** A receipt for the group is due: it goes within RECEIPT_GATHER_MS, with whatever is held then. */
  due(gid: string): void {
    if (this.timers.has(gid)) return;
    this.timers.set(
      gid,
      this.deps.clock.setTimeout(() => {
        this.timers.delete(gid);
        this.deps.put(gid).catch((err: Error) => this.deps.logger.log('info', 'could not send a group receipt through the relay; the next one carries it', { gid, error: err.message }));
      }, RECEIPT_GATHER_MS),
    );
  }

  stop(): void {
    for (const t of this.timers.values()) this.deps.clock.clear(t);
    this.timers.clear();
  }
}
