/**
 * A conversation as shown: its messages and its file transfers (cards) in
 * one list, in time order. A message's place is its `order` (this device's
 * clock, spec §7.5) and a transfer's is when it was created here, so both
 * sit on the same clock. Pure; tested in timeline.test.ts.
 */
import type { MessageInfo, TransferInfo } from '../../shared/api/control-api.js';

export type TimelineItem = { kind: 'message'; message: MessageInfo } | { kind: 'transfer'; transfer: TransferInfo };

/** Merges messages (already in conversation order) with the conversation's transfers. */
export function timeline(messages: readonly MessageInfo[], transfers: readonly TransferInfo[]): TimelineItem[] {
  const cards = [...transfers].sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  const out: TimelineItem[] = [];
  let c = 0;
  for (const m of messages) {
    while (c < cards.length && cards[c]!.created < m.order) out.push({ kind: 'transfer', transfer: cards[c++]! });
    out.push({ kind: 'message', message: m });
  }
  while (c < cards.length) out.push({ kind: 'transfer', transfer: cards[c++]! });
  return out;
}
