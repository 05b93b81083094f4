/**
 * Unit tests of the CLI's history lines: the time a message was written, and
 * the time it was received when it came later (a message that waited in an
 * outbox).
 */
import { describe, expect, it } from 'vitest';
import type { MessageInfo } from '../shared/api/control-api.js';
import { formatMessage } from './format.js';

const local = (y: number, mo: number, d: number, h: number, mi: number, s: number): number => new Date(y, mo - 1, d, h, mi, s).getTime();
const WRITTEN = local(2026, 12, 5, 7, 40, 40);

function msg(over: Partial<MessageInfo>): MessageInfo {
  return { id: 'a'.repeat(32), peer: 'ko2vf2mmfcc47c45zfzzjkwi4u', direction: 'in', text: 'hello', state: 'received', ts: WRITTEN, received: WRITTEN + 200, order: WRITTEN + 200, due: null, seq: 1, ...over };
}

describe('formatMessage', () => {
  it('stamps a message with when it was written, and says when it was received if that was later', () => {
    const line = formatMessage(msg({ received: local(2026, 12, 5, 7, 42, 8) }), 'Alice');
    expect(line).toBe('[2026-12-05 07:40:40] Alice: hello  (unread, received 07:42:08)');
  });

  it('gives the full received time when it was another day', () => {
    expect(formatMessage(msg({ received: local(2026, 12, 6, 9, 0, 1) }), 'Alice')).toContain('(unread, received 2026-12-06 09:00:01)');
  });

  it('says nothing more for a message received within a second, or for my own', () => {
    expect(formatMessage(msg({}), 'Alice')).toBe('[2026-12-05 07:40:40] Alice: hello  (unread)');
    expect(formatMessage(msg({ direction: 'out', state: 'delivered', received: null }), 'Alice')).toBe('[2026-12-05 07:40:40] me: hello  (delivered)');
  });
});
