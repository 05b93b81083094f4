/**
 * The away reply's rules (away-reply.ts, spec §7.11) on a real profile
 * database: once per colleague per absence, the absence kept across a
 * change of text or between away and busy, a new one after "online", never
 * an automatic message or a group message, nothing without a text, and who
 * was answered surviving a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageInfo } from '../../shared/api/control-api.js';
import type { PresenceStatus } from '../../shared/protocol/schemas-common.js';
import { Store } from '../store/store.js';
import { silentLogger } from '../util/components.js';
import { ManualClock } from '../util/manual-clock.js';
import { AwayReply } from './away-reply.js';

const BOB = 'ko2vf2mmfcc47c45zfzzjkwi4u';
const CAROL = 'lmyeeccowhk3eot3enhbklr3hq';

let dir: string;
let store: Store;
let me: { status: PresenceStatus; away: string };
let replies: Array<[string, string]>;

const incoming = (peer: string, over: Partial<MessageInfo> = {}): MessageInfo => ({ id: 'a'.repeat(32), peer, direction: 'in', text: 'hi', state: 'received', ts: 0, received: 0, order: 0, due: null, seq: 1, ...over });

function responder(): AwayReply {
  return new AwayReply({ store, logger: silentLogger, self: () => me, broadcast: (m) => m.text === 'to everyone', reply: async (peer, text) => void replies.push([peer, text]) });
}

/** Sets the status as peer.ts does: the responder hears of the change first. */
function setStatus(r: AwayReply, status: PresenceStatus, away = ''): void {
  r.statusChanged(me.status, status);
  me = { status, away };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-away-'));
  store = new Store(join(dir, 'pigeon.db'), new ManualClock(0));
  me = { status: 'online', away: '' };
  replies = [];
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('AwayReply', () => {
  it('answers each colleague once per absence; away to busy or a new text is the same absence; online ends it', () => {
    const r = responder();
    r.received(incoming(BOB));
    expect(replies).toEqual([]);
    setStatus(r, 'away', 'at lunch');
    r.received(incoming(BOB));
    r.received(incoming(BOB));
    r.received(incoming(CAROL));
    expect(replies).toEqual([[BOB, 'at lunch'], [CAROL, 'at lunch']]);
    setStatus(r, 'busy', 'in a meeting');
    r.received(incoming(BOB));
    expect(replies).toHaveLength(2);
    setStatus(r, 'online');
    setStatus(r, 'away', 'gone home');
    r.received(incoming(BOB));
    expect(replies.at(-1)).toEqual([BOB, 'gone home']);
  });

  it('never answers an automatic message, a group message, a broadcast, its own messages, or without a text', () => {
    const r = responder();
    setStatus(r, 'busy', '');
    r.received(incoming(BOB));
    setStatus(r, 'online');
    setStatus(r, 'away', 'out');
    r.received(incoming(BOB, { auto: true }));
    r.received(incoming(`group:${'b'.repeat(32)}`, { group: 'b'.repeat(32), from: BOB }));
    r.received(incoming(BOB, { direction: 'out', state: 'queued' }));
    r.received(incoming(BOB, { text: 'to everyone' }));
    expect(replies).toEqual([]);
    // The automatic message did not use up Bob's answer.
    r.received(incoming(BOB));
    expect(replies).toEqual([[BOB, 'out']]);
  });

  it('remembers who was answered across a restart', () => {
    setStatus(responder(), 'away', 'on holiday');
    const before = responder();
    before.received(incoming(BOB));
    const after = responder();
    after.received(incoming(BOB));
    after.received(incoming(CAROL));
    expect(replies).toEqual([[BOB, 'on holiday'], [CAROL, 'on holiday']]);
  });
});
