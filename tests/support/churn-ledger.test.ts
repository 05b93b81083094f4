/**
 * The churn ledger must be able to fail: a clean delivery counts clean, and
 * each defect the churn test hunts (a duplicate, a swap, a lost message, a
 * stray text) is counted where it belongs.
 */
import { describe, expect, it } from 'vitest';
import { ChurnLedger, type Inboxes } from './churn-ledger.js';

function ledgerOf(sends: Array<[string, string, 'confirmed' | 'unconfirmed' | 'refused']>): ChurnLedger {
  const l = new ChurnLedger();
  for (const [from, to, state] of sends) {
    const a = l.next(from, to);
    a.state = state;
    if (state === 'refused') a.code = 'PIGEON_ERR_PEER_NOT_FOUND';
  }
  return l;
}

const inbox = (receiver: string, sender: string, texts: string[]): Inboxes => new Map([[receiver, new Map([[sender, texts]])]]);
const t = ChurnLedger.text;

describe('churn ledger', () => {
  it('counts a clean run as clean', () => {
    const l = ledgerOf([['a', 'b', 'confirmed'], ['a', 'b', 'confirmed'], ['a', 'b', 'unconfirmed']]);
    const c = l.check(inbox('b', 'a', [t('a', 'b', 1), t('a', 'b', 2)]));
    console.log(`clean: ${JSON.stringify(c)}`);
    expect(c).toMatchObject({ sent: 2, delivered: 2, duplicated: 0, outOfOrder: 0, stuck: 0, misrouted: 0, unconfirmed: 1, unconfirmedDelivered: 0 });
  });

  it('counts duplicates, swaps, lost and stray messages', () => {
    const l = ledgerOf([['a', 'b', 'confirmed'], ['a', 'b', 'confirmed'], ['a', 'b', 'confirmed'], ['a', 'b', 'refused']]);
    // #2 before #1 (one out of order), #2 twice, #3 lost, a text from nobody and one from the wrong conversation.
    const c = l.check(inbox('b', 'a', [t('a', 'b', 2), t('a', 'b', 1), t('a', 'b', 2), 'hello', t('c', 'b', 1)]));
    console.log(`defects: ${JSON.stringify(c)}`);
    expect(c).toMatchObject({ sent: 3, delivered: 2, duplicated: 1, outOfOrder: 1, stuck: 1, misrouted: 2, refused: 1 });
    expect(c.stuckExamples).toEqual([t('a', 'b', 3)]);
    expect(c.refusedCodes).toEqual({ PIGEON_ERR_PEER_NOT_FOUND: 1 });
  });
});
