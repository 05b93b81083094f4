/**
 * The transfer ledger on a hand-driven clock and a real SQLite profile
 * database: which state may follow which, waiters, meters, retry or final by
 * error code (never by text), and what survives a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PeerEvent, TransferInfo, TransferState } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { Store } from '../store/store.js';
import type { Logger } from '../util/components.js';
import { ManualClock } from '../util/manual-clock.js';
import { FINAL_CODES, TransferLedger, TRANSITIONS } from './ledger.js';

const T0 = 1_800_000_000_000;
const PEER = 'p'.repeat(26);
const ALL_STATES: TransferState[] = ['queued', 'offered', 'accepted', 'relayed', 'done', 'declined', 'canceled', 'failed'];
const FINAL_STATES: TransferState[] = ['done', 'declined', 'canceled', 'failed'];

let dir: string;
let clock: ManualClock;
let store: Store;
let events: PeerEvent[];
let logs: string[];
let ledger: TransferLedger;

const logger: Logger = { log: (level, message) => logs.push(`${level} ${message}`) };

function open(): void {
  store = new Store(join(dir, 'pigeon.db'), clock);
  ledger = new TransferLedger({ store, clock, logger }, (e) => events.push(e));
}

/** A transfer of two files (10 and 20 bytes) in a folder, in `state`. */
function make(id: string, state: TransferState = 'offered', direction: 'in' | 'out' = 'in'): string {
  ledger.create({ id, peer: PEER, direction, state, created: clock.now(), totalBytes: 30, fileCount: 2 }, [
    { path: 'Docs', kind: 'dir', size: 0, mtime: 0 },
    { path: 'Docs/a.txt', kind: 'file', size: 10, mtime: 0 },
    { path: 'Docs/b.txt', kind: 'file', size: 20, mtime: 0 },
  ]);
  return id;
}

function transferEvents(type: 'transfer' | 'transfer-progress', id?: string): TransferInfo[] {
  return events.flatMap((e) => (e.type === type && (!id || e.transfer.id === id) ? [e.transfer] : []));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-ledger-'));
  clock = new ManualClock(T0);
  events = [];
  logs = [];
  open();
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('transitions', () => {
  it('creates and announces a transfer; the row reads back as written', () => {
    make('a1');
    expect(transferEvents('transfer').map((t) => [t.id, t.state, t.doneBytes, t.names])).toEqual([['a1', 'offered', 0, ['Docs']]]);
    expect(ledger.get('a1')).toMatchObject({ id: 'a1', peer: PEER, direction: 'in', state: 'offered', totalBytes: 30, fileCount: 2, error: null, notify: false });
    expect(ledger.entries('a1').map((e) => [e.idx, e.path, e.kind, e.done])).toEqual([
      [0, 'Docs', 'dir', false],
      [1, 'Docs/a.txt', 'file', false],
      [2, 'Docs/b.txt', 'file', false],
    ]);
  });

  it('moves forward only, and never out of done', () => {
    make('t');
    expect(ledger.move('t', 'accepted')).toBe(true);
    expect(ledger.move('t', 'offered')).toBe(false);
    expect(ledger.move('t', 'queued')).toBe(false);
    expect(ledger.move('t', 'done')).toBe(true);
    for (const s of ALL_STATES) expect(ledger.move('t', s)).toBe(false);
    expect(ledger.get('t')!.state).toBe('done');
    // One event per move made, none for a refused one.
    expect(transferEvents('transfer', 't').map((t) => t.state)).toEqual(['offered', 'accepted', 'done']);
  });

  it('leaves a final state only for a final state the other side settles', () => {
    for (const from of FINAL_STATES) {
      for (const to of ALL_STATES) {
        const id = `${from}-${to}`;
        make(id, from);
        const moved = ledger.move(id, to);
        // Never back to an open state, never to itself, never out of done.
        if (!FINAL_STATES.includes(to) || to === from || from === 'done') expect(moved, id).toBe(false);
        expect(ledger.get(id)!.state).toBe(moved ? to : from);
      }
    }
    // The receiver's done wins over anything but itself; a failure here gives way to the peer's decline or cancel.
    expect(TRANSITIONS.failed).toEqual(expect.arrayContaining(['done', 'declined', 'canceled']));
    expect(TRANSITIONS.canceled).not.toContain('failed');
  });

  it('every open state can end in each final state', () => {
    for (const from of ['queued', 'offered', 'accepted', 'relayed'] as const) {
      for (const to of FINAL_STATES) {
        const id = `${from}>${to}`;
        make(id, from);
        expect(ledger.move(id, to), id).toBe(true);
      }
    }
  });

  it('writes the error text and the notify flag with a move; a queued offer may wait again with a reason', () => {
    make('q', 'queued', 'out');
    expect(ledger.move('q', 'queued', { error: 'the relay is full' })).toBe(true);
    expect(ledger.get('q')).toMatchObject({ state: 'queued', error: 'the relay is full', notify: false });
    expect(ledger.move('q', 'canceled', { error: 'canceled', notify: true })).toBe(true);
    expect(ledger.get('q')).toMatchObject({ state: 'canceled', error: 'canceled', notify: true });
    expect(ledger.peersWithWork()).toEqual([PEER]);
    ledger.notified('q');
    expect(ledger.get('q')!.notify).toBe(false);
    expect(ledger.peersWithWork()).toEqual([]);
  });

  it('a quiet move is announced by report(), after the adapter cleaned up', () => {
    make('c', 'accepted');
    expect(ledger.move('c', 'canceled', { error: 'canceled', quiet: true })).toBe(true);
    expect(transferEvents('transfer', 'c').map((t) => t.state)).toEqual(['accepted']);
    ledger.report('c');
    expect(transferEvents('transfer', 'c').map((t) => t.state)).toEqual(['accepted', 'canceled']);
  });

  it('finds by id or unique prefix, refuses an ambiguous or unknown one', () => {
    make('abc1');
    make('abc2');
    expect(ledger.find('ABC1').id).toBe('abc1');
    expect(() => ledger.find('abc')).toThrow(expect.objectContaining({ code: ErrorCodes.BAD_REQUEST }) as Error);
    expect(() => ledger.find('zzz')).toThrow(expect.objectContaining({ code: ErrorCodes.TRANSFER_NOT_FOUND }) as Error);
    expect(ledger.move('zzz', 'done')).toBe(false);
  });
});

describe('waiters', () => {
  it('settle on the final state, with its info', async () => {
    make('w', 'accepted');
    const timers = clock.pending; // the store's checkpoint timer
    const a = ledger.waitFinished('w', 60_000);
    const b = ledger.waitFinished('w', 60_000);
    expect(ledger.waiting).toBe(2);
    ledger.move('w', 'failed', { error: 'disk' });
    await expect(a).resolves.toMatchObject({ id: 'w', state: 'failed', error: 'disk' });
    await expect(b).resolves.toMatchObject({ state: 'failed' });
    expect(ledger.waiting).toBe(0);
    // Their timers are gone: nothing fires later.
    expect(clock.pending).toBe(timers);
  });

  it('answer at once for a transfer already ended', async () => {
    make('d', 'done');
    const timers = clock.pending;
    await expect(ledger.waitFinished('d', 1000)).resolves.toMatchObject({ state: 'done', doneBytes: 30 });
    expect(clock.pending).toBe(timers);
  });

  it('give up with NOT_DELIVERED when the clock passes the timeout, and the transfer goes on', async () => {
    make('slow', 'accepted');
    const w = ledger.waitFinished('slow', 5000);
    clock.advance(4999);
    expect(ledger.waiting).toBe(1);
    clock.advance(1);
    await expect(w).rejects.toMatchObject({ code: ErrorCodes.NOT_DELIVERED });
    expect(ledger.waiting).toBe(0);
    expect(ledger.get('slow')!.state).toBe('accepted');
    // A state change that is not final does not settle a waiter.
    const w2 = ledger.waitFinished('slow', 5000);
    ledger.report('slow');
    expect(ledger.waiting).toBe(1);
    ledger.move('slow', 'done');
    await expect(w2).resolves.toMatchObject({ state: 'done' });
  });
});

describe('meters', () => {
  it('rate over the last 3 s, progress events at most every 250 ms', () => {
    make('m', 'accepted');
    clock.advance(1000);
    ledger.progress('m', 1000); // first report: event
    clock.advance(100);
    ledger.progress('m', 1000); // 100 ms later: no event
    clock.advance(150);
    ledger.progress('m', 1000); // 250 ms after the first: event
    const progress = transferEvents('transfer-progress', 'm');
    expect(progress.map((t) => t.doneBytes)).toEqual([1000, 3000]);
    // 3,000 bytes over 250 ms, shown as per second over at least one second.
    expect(ledger.infoOf('m').rate).toBe(3000);
    clock.advance(3001);
    expect(ledger.infoOf('m').rate).toBe(0);
  });

  it('done bytes are the finished files plus the file in progress; resume starts from the partial bytes', () => {
    make('p', 'accepted');
    ledger.plan('p', [
      { idx: 0, localPath: '/dl/Docs', wanted: true },
      { idx: 1, localPath: '/dl/Docs/a.txt', wanted: true },
      { idx: 2, localPath: '/dl/Docs/b.txt', wanted: true },
    ]);
    ledger.entryDone('p', 1);
    expect(ledger.infoOf('p').doneBytes).toBe(10);
    ledger.partial('p', 7);
    expect(ledger.infoOf('p').doneBytes).toBe(17);
    ledger.progress('p', 3);
    expect(ledger.infoOf('p').doneBytes).toBe(20);
    ledger.entryDone('p', 2);
    ledger.partial('p', 0);
    expect(ledger.infoOf('p').doneBytes).toBe(30);
    // An unwanted entry does not count.
    ledger.want('p', [1]);
    expect(ledger.infoOf('p').doneBytes).toBe(10);
  });

  it('an offer recorded with its landing (accepted without asking) reads back planned; done bytes follow a batch of entries done', () => {
    ledger.create({ id: 'q', peer: PEER, direction: 'in', state: 'offered', created: clock.now(), totalBytes: 30, fileCount: 2 }, [
      { path: 'Docs', kind: 'dir', size: 0, mtime: 0, localPath: '/dl/Docs', wanted: true },
      { path: 'Docs/a.txt', kind: 'file', size: 10, mtime: 0, localPath: '/dl/Docs/a.txt', wanted: true },
      { path: 'Docs/b.txt', kind: 'file', size: 20, mtime: 0, localPath: null, wanted: false },
    ]);
    expect(ledger.entries('q').map((e) => [e.localPath, e.wanted, e.done])).toEqual([
      ['/dl/Docs', true, false],
      ['/dl/Docs/a.txt', true, false],
      [null, false, false],
    ]);
    expect(ledger.infoOf('q')).toMatchObject({ doneBytes: 0, acceptedFiles: 1, acceptedBytes: 10 });
    ledger.entriesDone('q', [0, 1]);
    expect(ledger.infoOf('q').doneBytes).toBe(10);
  });

  it('a final state drops the meter: done shows the total, no rate', () => {
    make('f', 'accepted');
    ledger.progress('f', 5);
    ledger.move('f', 'done');
    expect(ledger.infoOf('f')).toMatchObject({ doneBytes: 30, rate: 0 });
  });
});

describe('retry or final, by code', () => {
  it('final codes fail the transfer with the error text', () => {
    for (const code of FINAL_CODES) {
      make(code, 'accepted');
      expect(ledger.failed(code, new PigeonError(code, `why ${code}`))).toBe('final');
      expect(ledger.get(code)).toMatchObject({ state: 'failed', error: `why ${code}` });
    }
    expect([...FINAL_CODES].sort()).toEqual([ErrorCodes.DISK_FULL, ErrorCodes.SIZE_MISMATCH, ErrorCodes.TRANSFER_INTEGRITY, ErrorCodes.TRANSFER_REFUSED].sort());
    expect(logs.filter((l) => l === 'warn transfer failed')).toHaveLength(FINAL_CODES.size);
  });

  it('a passing code, or none, is retried whatever the text says', () => {
    make('r', 'accepted');
    expect(ledger.failed('r', new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the data connection closed'))).toBe('retry');
    // The words of a final error do not make it final: only the code does.
    expect(ledger.failed('r', new PigeonError(ErrorCodes.TRANSFER_FAILED, 'SHA-256 mismatch; the sender could not send it; damaged; no longer on the relay'))).toBe('retry');
    expect(ledger.failed('r', new PigeonError(ErrorCodes.PROTOCOL, 'asked from byte 5, answered from 0'))).toBe('retry');
    expect(ledger.failed('r', new Error('ECONNRESET'))).toBe('retry');
    expect(ledger.get('r')).toMatchObject({ state: 'accepted', error: null });
    expect(transferEvents('transfer', 'r').map((t) => t.state)).toEqual(['accepted']);
  });

  it("the adapter's last try is final for any code", () => {
    make('l', 'accepted');
    expect(ledger.failed('l', new PigeonError(ErrorCodes.TRANSFER_FAILED, 'cannot reach the IPMsg sender'), { lastTry: true })).toBe('final');
    expect(ledger.get('l')).toMatchObject({ state: 'failed', error: 'cannot reach the IPMsg sender' });
  });

  it('a failure after the transfer ended changes nothing', async () => {
    make('x', 'accepted');
    const w = ledger.waitFinished('x', 1000);
    ledger.move('x', 'canceled', { error: 'canceled' });
    expect(ledger.failed('x', new PigeonError(ErrorCodes.DISK_FULL, 'full'))).toBe('final');
    expect(ledger.get('x')).toMatchObject({ state: 'canceled', error: 'canceled' });
    await expect(w).resolves.toMatchObject({ state: 'canceled' });
  });
});

describe('restart', () => {
  it('rows, entries, plan and pending notifications survive a restart (real SQLite file)', () => {
    make('in1', 'accepted');
    ledger.plan('in1', [
      { idx: 0, localPath: '/dl/Docs', wanted: true },
      { idx: 1, localPath: '/dl/Docs/a.txt', wanted: true },
      { idx: 2, localPath: null, wanted: false },
    ]);
    ledger.entryDone('in1', 1);
    make('out1', 'queued', 'out');
    make('gone', 'offered');
    ledger.move('gone', 'declined', { notify: true });
    ledger.progress('in1', 4); // live bytes are not stored
    store.close();

    events = [];
    open();
    expect(ledger.get('in1')).toMatchObject({ state: 'accepted', direction: 'in' });
    expect(ledger.entries('in1').map((e) => [e.localPath, e.wanted, e.done])).toEqual([
      ['/dl/Docs', true, false],
      ['/dl/Docs/a.txt', true, true],
      [null, false, false],
    ]);
    expect(ledger.infoOf('in1').doneBytes).toBe(10);
    expect(ledger.get('gone')).toMatchObject({ state: 'declined', notify: true });
    expect(ledger.toNotify(PEER).map((t) => t.id)).toEqual(['gone']);
    expect(ledger.withState(PEER, 'queued').map((t) => t.id)).toEqual(['out1']);
    expect(ledger.peersWithWork()).toEqual([PEER]);
    expect(events).toEqual([]);
  });

  it('failOpen ends the open transfers of a protocol whose offers die with the program, and only those', async () => {
    make('ip1', 'offered');
    make('ip2', 'accepted');
    make('ip3', 'done');
    make('native', 'accepted');
    store.close();
    events = [];
    open();
    const w = ledger.waitFinished('ip2', 60_000);
    const n = ledger.failOpen((t) => t.id.startsWith('ip'), 'Pigeon was restarted');
    expect(n).toBe(2);
    expect(['ip1', 'ip2', 'ip3', 'native'].map((id) => ledger.get(id)!.state)).toEqual(['failed', 'failed', 'done', 'accepted']);
    expect(ledger.get('ip1')!.error).toBe('Pigeon was restarted');
    expect(transferEvents('transfer').map((t) => `${t.id}:${t.state}`).sort()).toEqual(['ip1:failed', 'ip2:failed']);
    await expect(w).resolves.toMatchObject({ state: 'failed' });
  });
});
