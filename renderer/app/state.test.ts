import { describe, expect, it } from 'vitest';
import type { MessageInfo, SelfInfo } from '../../shared/api/control-api.js';
import { initialState, reducer, type UiState } from './state.js';

const self: SelfInfo = { id: 'lztydqepdh5qted2udna6vjs6y', name: 'Alice', group: 'Sales', host: 'pc', port: 2426, fingerprint: 'ab', status: 'online', away: '' };
const BOB = 'ko2vf2mmfcc47c45zfzzjkwi4u';
const msg = (id: string, over: Partial<MessageInfo> = {}): MessageInfo => ({ id, peer: BOB, direction: 'in', text: id, state: 'received', ts: 1, received: 1, order: 1, due: null, seq: 1, ...over });
const loaded: UiState = reducer(initialState, { type: 'loaded', self, peers: [], unread: [{ peer: BOB, count: 2 }], transfers: [], keyChanges: [], groups: [] });

describe('UI state', () => {
  it('counts unread incoming messages and clears them when read', () => {
    const s = reducer(loaded, { type: 'event', event: { type: 'message', message: msg('a') } });
    expect(s.unread[BOB]).toBe(3);
    expect(reducer(s, { type: 'read', peer: BOB }).unread[BOB]).toBeUndefined();
  });

  it('updates a loaded conversation in place by id and keeps the conversation order', () => {
    let s = reducer(loaded, { type: 'history', peer: BOB, messages: [msg('a', { ts: 1, order: 1 }), msg('b', { direction: 'out', state: 'sent', ts: 3, received: null, order: 3 })] });
    s = reducer(s, { type: 'event', event: { type: 'message-state', message: msg('b', { direction: 'out', state: 'delivered', ts: 3, received: null, order: 3 }) } });
    s = reducer(s, { type: 'event', event: { type: 'message', message: msg('c', { ts: 2, order: 2 }) } });
    expect(s.conversations[BOB]!.map((m) => `${m.id}:${m.state}`)).toEqual(['a:received', 'c:received', 'b:delivered']);
  });

  it('places a message that waited by its order (when it arrived), not by when it was written', () => {
    let s = reducer(loaded, { type: 'history', peer: BOB, messages: [msg('mine', { direction: 'out', state: 'delivered', ts: 50, received: null, order: 50 })] });
    // Written at 10 on the sender's clock, received at 90: it comes after mine, which was written before it arrived.
    s = reducer(s, { type: 'event', event: { type: 'message', message: msg('late', { ts: 10, received: 90, order: 90, seq: 1 }) } });
    // The same sender's seq decides between two messages with the same place (a late one clamped before the next).
    s = reducer(s, { type: 'event', event: { type: 'message', message: msg('first', { ts: 5, received: 95, order: 90, seq: 0 }) } });
    expect(s.conversations[BOB]!.map((m) => m.id)).toEqual(['mine', 'first', 'late']);
  });

  it('does not invent conversations that were not loaded', () => {
    const s = reducer(loaded, { type: 'event', event: { type: 'message-state', message: msg('x', { direction: 'out', state: 'read' }) } });
    expect(s.conversations[BOB]).toBeUndefined();
  });

  it('keeps one pending key change per peer until answered', () => {
    const change = { type: 'key-changed' as const, peerId: BOB, name: 'Bob', pinned: 'aa', presented: 'bb' };
    let s = reducer(loaded, { type: 'event', event: change });
    s = reducer(s, { type: 'event', event: { ...change, presented: 'cc' } });
    expect(s.keyChanges).toEqual([{ peerId: BOB, name: 'Bob', pinned: 'aa', presented: 'cc' }]);
    expect(reducer(s, { type: 'key-answered', peerId: BOB }).keyChanges).toEqual([]);
  });

  it('keeps groups from their events, and group messages under group:<id>', () => {
    const group = { id: 'g1', name: 'Lunch', owner: self.id, members: [], joined: true };
    let s = reducer(loaded, { type: 'event', event: { type: 'group', group } });
    s = reducer(s, { type: 'event', event: { type: 'group', group: { ...group, joined: false } } });
    expect(s.groups).toEqual({ g1: { ...group, joined: false } });
    s = reducer(s, { type: 'event', event: { type: 'message', message: msg('m', { peer: 'group:g1', group: 'g1', from: BOB }) } });
    expect(s.unread['group:g1']).toBe(1);
  });
});
