/**
 * Test support: the ledger of a churn run. Every message a sender tries is
 * numbered per (sender, receiver) and carries both names and its number in
 * its text, so the receivers' histories can be checked exactly: delivered
 * once, in order per sender, nothing stuck, nothing that was never sent.
 */

/**
 * What became of a send request: confirmed (the peer answered with the
 * stored message), unconfirmed (the peer was killed while the request was in
 * flight: it may or may not have been stored), refused (the peer answered
 * with an error).
 */
export type AttemptState = 'pending' | 'confirmed' | 'unconfirmed' | 'refused';

export interface Attempt {
  from: string;
  to: string;
  n: number;
  text: string;
  state: AttemptState;
  /** The error code of a refusal. */
  code?: string;
}

export interface ChurnCounts {
  /** Confirmed sends: the peer stored them and owes their delivery. */
  sent: number;
  /** Confirmed sends found in the receiver's history. */
  delivered: number;
  /** Extra copies beyond the first, over all messages. */
  duplicated: number;
  /** Messages listed after a higher number from the same sender. */
  outOfOrder: number;
  /** Confirmed sends not in the receiver's history. */
  stuck: number;
  /** Incoming texts that are no message of this run, or in the wrong conversation. */
  misrouted: number;
  unconfirmed: number;
  unconfirmedDelivered: number;
  refused: number;
  refusedCodes: Record<string, number>;
  /** A few stuck messages, for the log. */
  stuckExamples: string[];
}

/** The incoming texts of one conversation, in the order the receiver's history lists them. */
export type Inboxes = Map<string, Map<string, string[]>>;

const TEXT = /^churn (\S+)>(\S+) #(\d+)$/;

export class ChurnLedger {
  readonly attempts: Attempt[] = [];
  private readonly counters = new Map<string, number>();
  private readonly byText = new Map<string, Attempt>();

  static text(from: string, to: string, n: number): string {
    return `churn ${from}>${to} #${n}`;
  }

  /** A new numbered attempt from `from` to `to`, pending until its send request is answered. */
  next(from: string, to: string): Attempt {
    const key = `${from}>${to}`;
    const n = (this.counters.get(key) ?? 0) + 1;
    this.counters.set(key, n);
    const a: Attempt = { from, to, n, text: ChurnLedger.text(from, to, n), state: 'pending' };
    this.attempts.push(a);
    this.byText.set(a.text, a);
    return a;
  }

  /** Checks the receivers' histories (receiver → sender → incoming texts in listed order). */
  check(inboxes: Inboxes): ChurnCounts {
    const seen = new Map<string, number>();
    let outOfOrder = 0;
    let misrouted = 0;
    for (const [receiver, bySender] of inboxes) {
      for (const [sender, texts] of bySender) {
        let highest = 0;
        for (const text of texts) {
          const m = TEXT.exec(text);
          if (!m || m[1] !== sender || m[2] !== receiver || !this.byText.has(text)) {
            misrouted++;
            continue;
          }
          seen.set(text, (seen.get(text) ?? 0) + 1);
          const n = Number(m[3]);
          if (n < highest) outOfOrder++;
          else highest = n;
        }
      }
    }
    const counts: ChurnCounts = {
      sent: 0,
      delivered: 0,
      duplicated: 0,
      outOfOrder,
      stuck: 0,
      misrouted,
      unconfirmed: 0,
      unconfirmedDelivered: 0,
      refused: 0,
      refusedCodes: {},
      stuckExamples: [],
    };
    for (const copies of seen.values()) counts.duplicated += copies - 1;
    for (const a of this.attempts) {
      const found = (seen.get(a.text) ?? 0) > 0;
      if (a.state === 'confirmed') {
        counts.sent++;
        if (found) counts.delivered++;
        else {
          counts.stuck++;
          if (counts.stuckExamples.length < 5) counts.stuckExamples.push(a.text);
        }
      } else if (a.state === 'unconfirmed' || a.state === 'pending') {
        counts.unconfirmed++;
        if (found) counts.unconfirmedDelivered++;
      } else {
        counts.refused++;
        counts.refusedCodes[a.code ?? '?'] = (counts.refusedCodes[a.code ?? '?'] ?? 0) + 1;
      }
    }
    return counts;
  }
}
