/**
 * Who a recipient list means and how far a multi-send got (multi-send.ts,
 * spec §7.12), on a real profile database with a hand-made contact list:
 * unknown or ambiguous names refuse the whole list and name each one, a
 * workgroup is compared without case and includes offline colleagues,
 * everyone is who is online, a namesake device is never a recipient, and
 * the copies' states add up to "delivered to N of M".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { resolvePeer } from '../discovery/name-resolution.js';
import { Store } from '../store/store.js';
import { ManualClock } from '../util/manual-clock.js';
import { MultiSends } from './multi-send.js';

const peer = (id: string, name: string, group: string, online: boolean, over: Partial<PeerInfo> = {}): PeerInfo => ({
  id: id.repeat(26),
  name,
  group,
  host: `${name.toLowerCase()}-pc`,
  port: 2426,
  status: 'online',
  away: '',
  addresses: [],
  online,
  sources: [],
  remote: false,
  lastSeen: 0,
  fingerprint: '',
  pinned: true,
  ...over,
});
const CONTACTS = [peer('a', 'Bob', 'Sales', true), peer('b', 'Carol', 'sales', false), peer('c', 'Dave', 'Support', true), peer('d', 'Bob', 'Sales', true, { pinned: false, namesakeOf: 'a'.repeat(26) }), peer('e', 'Erin', 'Ops', true), peer('f', 'Erin', 'Ops', false)];

let dir: string;
let store: Store;
let multi: MultiSends;
let n = 0;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-multi-'));
  store = new Store(join(dir, 'pigeon.db'), new ManualClock(0));
  multi = new MultiSends({
    store,
    random: { hex: () => (++n).toString(16).padStart(32, '0'), bytes: () => Buffer.alloc(0) } as never,
    contacts: () => CONTACTS,
    resolve: (q) => resolvePeer(q, CONTACTS),
    sendCopy: async (p, text, _at, id) => store.enqueue([{ id: `c${(++n).toString(16).padStart(31, '0')}`, peer: p.id, text, ts: 1000, multi: id }])[0]!,
    waitDelivered: async (id) => store.getOutgoing(id)!,
    emit: () => {},
  });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const names = (list: PeerInfo[]): string[] => list.map((p) => p.name);

describe('MultiSends', () => {
  it('resolves named colleagues (without duplicates), a workgroup without case, and everyone online; never a namesake', () => {
    expect(names(multi.recipients({ peers: ['Bob', 'Dave', 'bbbb', 'Bob'] }))).toEqual(['Bob', 'Dave', 'Carol']);
    expect(names(multi.recipients({ workgroup: ' SALES ' }))).toEqual(['Bob', 'Carol']);
    expect(names(multi.recipients({ everyone: true }))).toEqual(['Bob', 'Dave', 'Erin']);
  });

  it('refuses the whole list, naming every unknown or ambiguous name', () => {
    const err = (() => {
      try {
        multi.recipients({ peers: ['Bob', 'Zed', 'Erin'] });
      } catch (e) {
        return e as PigeonError;
      }
      return null;
    })();
    expect(err?.code).toBe(ErrorCodes.PEER_NOT_FOUND);
    expect(err?.message).toBe('unknown recipients: "Zed", "Erin" (matches several: use a device-id prefix); nothing was sent');
    expect(() => multi.recipients({ workgroup: 'Legal' })).toThrow(/nobody known is in the workgroup "Legal"/);
  });

  it('stores a copy per recipient and counts how far they got', async () => {
    const sent = await multi.send({ peers: ['Bob', 'Carol', 'Dave'] }, 'meeting at 3');
    expect(sent).toMatchObject({ total: 3, delivered: 0, read: 0, text: 'meeting at 3' });
    const [bob, carol] = sent.recipients;
    store.advance(bob!.peer, [bob!.message], 'delivered');
    store.advance(carol!.peer, [carol!.message], 'read');
    expect(multi.get(sent.id.slice(0, 6))).toMatchObject({ total: 3, delivered: 2, read: 1 });
    const history: MessageInfo[] = store.history(bob!.peer, 10);
    expect(multi.annotate(history)[0]!.multi).toEqual({ id: sent.id, total: 3, delivered: 2 });
    expect(() => multi.get('ffff')).toThrow(/no message to several people has the id "ffff"/);
  });
});
