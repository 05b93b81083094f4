/**
 * The per-member receipts of my messages in a LAN group (spec §12.10): the
 * "Read by N of M" / "Delivered to N of M" line and the list of names it opens.
 */
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { MessageInfo } from '../../shared/api/control-api.js';
import { GroupReceiptList } from './group-receipts.js';
import { MessageList } from './message-list.js';

const NOW = Date.UTC(2026, 11, 5, 12, 0);
const GID = '3f2a9c01d4e5b6a7980c1d2e3f4a5b6c';
const BOB = { id: 'ko2vf2mmfcc47c45zfzzjkwi4u', name: 'Bob' };
const CAROL = { id: 'lmyeeccowhk3eot3enhbklr3hq', name: 'Carol' };
const DAVE = { id: 'f73wd6oghcwe6a7mebww75utmu', name: 'Dave' };
const mine = (receipts: MessageInfo['receipts']): MessageInfo => ({
  id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
  peer: `group:${GID}`,
  group: GID,
  direction: 'out',
  text: 'stand-up moved',
  state: 'sent',
  ts: NOW - 60_000,
  received: null,
  order: NOW - 60_000,
  due: null,
  seq: 4,
  ...(receipts ? { receipts } : {}),
});

describe('group receipts (LAN groups)', () => {
  it('shows "Read by 1 of 3" once someone read it, else "Delivered to 2 of 3"; nothing without receipts', () => {
    const read = renderToStaticMarkup(<MessageList messages={[mine({ of: 3, delivered: [BOB, CAROL], read: [BOB] })]} now={NOW} />);
    expect(read).toContain('Read by 1 of 3');
    const delivered = renderToStaticMarkup(<MessageList messages={[mine({ of: 3, delivered: [BOB, CAROL], read: [] })]} now={NOW} />);
    expect(delivered).toContain('Delivered to 2 of 3');
    expect(renderToStaticMarkup(<MessageList messages={[mine(undefined)]} now={NOW} />)).not.toContain(' of ');
  });

  it('lists each member with its state, and how many have not got it yet', () => {
    const html = renderToStaticMarkup(<GroupReceiptList receipts={{ of: 3, delivered: [BOB, CAROL], read: [BOB] }} />);
    expect(html).toMatch(/data-state="read"><span class="multi-name">Bob<\/span> <span class="muted">Read<\/span>/);
    expect(html).toMatch(/data-state="delivered"><span class="multi-name">Carol<\/span>/);
    expect(html).toContain('1 has not got it yet');
    expect(html).not.toContain(DAVE.name);
  });
});
