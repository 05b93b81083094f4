import { describe, expect, it } from 'vitest';
import type { MessageInfo, TransferInfo } from '../../shared/api/control-api.js';
import { timeline } from './timeline.js';

const msg = (id: string, order: number): MessageInfo => ({ id, peer: 'p', direction: 'in', text: id, state: 'received', ts: order, received: order, order, due: null, seq: null });
const tr = (id: string, created: number): TransferInfo => ({ id, peer: 'p', direction: 'in', state: 'done', created, totalBytes: 1, fileCount: 1, doneBytes: 1, rate: 0, names: [id], error: null });

describe('timeline', () => {
  it('places each transfer between the messages around its creation time', () => {
    const items = timeline([msg('a', 10), msg('b', 30)], [tr('t2', 40), tr('t1', 20)]);
    expect(items.map((i) => (i.kind === 'message' ? i.message.id : i.transfer.id))).toEqual(['a', 't1', 'b', 't2']);
  });

  it('shows transfers alone when there are no messages', () => {
    expect(timeline([], [tr('t', 5)]).map((i) => i.kind)).toEqual(['transfer']);
  });
});
