import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { MessageInfo, MultiSendInfo } from '../../shared/api/control-api.js';
import { reducer, initialState } from '../app/state.js';
import { MessageList } from './message-list.js';
import { MultiRecipients } from './multi-status.js';

const NOW = Date.UTC(2026, 11, 5, 12, 0);
const BOB = 'ko2vf2mmfcc47c45zfzzjkwi4u';
const CAROL = 'lmyeeccowhk3eot3enhbklr3hq';
const MULTI = '5d1c2b3a49f8e7d6c5b4a39281706f5e';
const copy = (over: Partial<MessageInfo> = {}): MessageInfo => ({
  id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
  peer: BOB,
  direction: 'out',
  text: 'meeting moved to 3',
  state: 'delivered',
  ts: NOW - 60_000,
  received: null,
  order: NOW - 60_000,
  due: null,
  seq: 7,
  multi: { id: MULTI, total: 3, delivered: 2 },
  ...over,
});
const info: MultiSendInfo = {
  id: MULTI,
  text: 'meeting moved to 3',
  ts: NOW - 60_000,
  total: 3,
  delivered: 3,
  read: 1,
  recipients: [
    { peer: BOB, name: 'Bob', message: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', state: 'read' },
    { peer: CAROL, name: 'Carol', message: '0f1e2d3c4b5a69788796a5b4c3d2e1f0', state: 'delivered' },
    { peer: 'lztydqepdh5qted2udna6vjs6y', name: 'Dave', message: '11111111111111111111111111111111', state: 'queued' },
  ],
};

describe('a message sent to several people', () => {
  it('shows "Delivered to N of M" on my copy only, and marks automatic replies', () => {
    const html = renderToStaticMarkup(<MessageList now={NOW} messages={[copy(), copy({ id: 'b'.repeat(32), multi: undefined }), copy({ id: 'c'.repeat(32), direction: 'in', state: 'received', multi: undefined, auto: true, text: 'at lunch' })]} />);
    expect(html.match(/Delivered to 2 of 3/g)).toHaveLength(1);
    expect(html).toContain('aria-expanded="false"');
    expect(html.match(/Automatic reply/g)).toHaveLength(1);
  });

  it('lists each recipient with the state of their copy', () => {
    const html = renderToStaticMarkup(<MultiRecipients multi={info} />);
    expect(html).toMatch(/<li data-state="read"><span class="multi-name">Bob<\/span> <span class="muted">Read<\/span><\/li>/);
    expect(html).toContain('<span class="multi-name">Carol</span> <span class="muted">Delivered</span>');
    expect(html).toContain('<span class="multi-name">Dave</span> <span class="muted">Waiting</span>');
  });

  it('a multi-send event updates "delivered to N of M" on every loaded copy', () => {
    const loaded = reducer(initialState, { type: 'history', peer: BOB, messages: [copy(), copy({ id: 'd'.repeat(32), multi: undefined })] });
    const next = reducer(loaded, { type: 'event', event: { type: 'multi-send', multi: info } });
    expect(next.conversations[BOB]![0]!.multi).toEqual({ id: MULTI, total: 3, delivered: 3 });
    expect(next.conversations[BOB]![1]!.multi).toBeUndefined();
  });
});
