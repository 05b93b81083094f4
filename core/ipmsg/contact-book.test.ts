/**
 * Unit tests of the IPMsg contact book's bounds (hand-driven clock, real
 * Store): new contacts are capped and rate-limited per source address, live
 * in memory until a real exchange confirms them, and only confirmed contacts
 * are saved and come back after a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../store/store.js';
import { ManualClock } from '../util/manual-clock.js';
import { ContactBook, contactId, NEW_CONTACTS_PER_ADDRESS, type IpmsgContact } from './contact-book.js';

let dir: string;
let store: Store;
let clock: ManualClock;

function contact(i: number, address = '10.0.0.66'): IpmsgContact {
  const user = `user${i}`;
  const host = `pc${i}`;
  return { id: contactId(user, host), user, host, nickname: user, group: '', address, port: 2425, charset: 'gbk', utf8: false, version: '1', absent: false, files: false };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-book-'));
  store = new Store(join(dir, 'pigeon.db'));
  clock = new ManualClock();
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ContactBook bounds', () => {
  it(`takes ${NEW_CONTACTS_PER_ADDRESS.burst} new contacts from one address, then one per 5 s; updates of known ones always`, () => {
    const book = new ContactBook(store, clock);
    let added = 0;
    for (let i = 0; i < 1000; i++) if (book.put(contact(i))) added++;
    expect(added).toBe(NEW_CONTACTS_PER_ADDRESS.burst);
    expect(book.put({ ...contact(0), nickname: 'renamed' })).toBe(true);
    expect(book.put(contact(5000, '10.0.0.7'))).toBe(true);
    clock.advance(5000);
    expect(book.put(contact(5001))).toBe(true);
    expect(book.refused.rate).toBe(1000 - NEW_CONTACTS_PER_ADDRESS.burst);
  });

  it('saves only confirmed contacts: after a restart, unconfirmed ones are gone', () => {
    const book = new ContactBook(store, clock);
    book.put(contact(1));
    book.put(contact(2));
    expect(book.confirm(contact(1).id)).toBe(true);
    expect(book.confirm(contact(1).id)).toBe(false);
    book.save();
    const again = new ContactBook(store, clock);
    expect(again.all().map((c) => c.id)).toEqual([contact(1).id]);
    expect(again.size()).toEqual({ total: 1, unconfirmed: 0 });
  });

  it('forgets an unconfirmed contact that left, keeps a confirmed one', () => {
    const book = new ContactBook(store, clock);
    book.put(contact(1));
    book.put(contact(2));
    book.confirm(contact(2).id);
    book.forgetUnconfirmed(contact(1).id);
    book.forgetUnconfirmed(contact(2).id);
    expect(book.all().map((c) => c.id)).toEqual([contact(2).id]);
    expect(book.size()).toEqual({ total: 1, unconfirmed: 0 });
  });

  it('drops contacts an older version saved without a history (an entry flood stayed for good)', () => {
    store.setSetting('ipmsg.contacts', JSON.stringify([contact(1), contact(2)]));
    store.storeIncoming(contact(2).id, [{ id: 'a'.repeat(32), seq: 1, ts: 1, text: 'hi' }], 2);
    const book = new ContactBook(store, clock);
    expect(book.all().map((c) => c.id)).toEqual([contact(2).id]);
  });
});
