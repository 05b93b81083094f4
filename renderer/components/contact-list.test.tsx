import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { PeerInfo } from '../../shared/api/control-api.js';
import { groupContacts } from '../logic/contacts.js';
import { ContactList } from './contact-list.js';

const bob: PeerInfo = {
  id: 'ko2vf2mmfcc47c45zfzzjkwi4u',
  name: 'Bob',
  group: 'Sales',
  host: 'bob-laptop',
  port: 2426,
  status: 'away',
  away: 'at lunch',
  addresses: ['192.168.1.23'],
  online: true,
  sources: ['broadcast'],
  remote: false,
  lastSeen: 0,
  fingerprint: '',
};
const noop = (): void => {};
const render = (peers: PeerInfo[], query: string, unread: Record<string, number> = {}, reachable = true): string =>
  renderToStaticMarkup(
    <ContactList groups={groupContacts(peers, query)} anyone={peers.length > 0} query={query} activeId={null} unread={unread} reachable={reachable} onQuery={noop} onSelect={noop} onDropFiles={noop} />,
  );

describe('ContactList', () => {
  it('explains the empty list', () => {
    expect(render([], '')).toContain('No colleagues found yet');
  });

  it('tells when nobody matches the search', () => {
    expect(render([bob], 'zed')).toContain('Nobody matches “zed”.');
  });

  it('shows group, presence, away message and the unread count', () => {
    const html = render([bob], '', { [bob.id]: 3 });
    expect(html).toContain('Sales');
    expect(html).toContain('presence-away');
    expect(html).toContain('at lunch');
    expect(html).toContain('aria-label="3 unread"');
  });

  it('marks colleagues reached through the relay', () => {
    expect(render([{ ...bob, remote: true }], '')).toContain('via relay');
  });

  it('marks IP Messenger contacts as not encrypted', () => {
    const ipmsg: PeerInfo = { ...bob, protocol: 'ipmsg', capabilities: { encrypted: false, readReceipts: true, relay: false, files: true } };
    const html = render([ipmsg], '');
    expect(html).toContain('IPMsg');
    expect(html).toContain('not encrypted');
    expect(render([bob], '')).not.toContain('not encrypted');
  });

  it('shows presence as unknown, not the last one seen, while Pigeon cannot be reached', () => {
    const html = render([bob], '', {}, false);
    console.log(`contacts while unreachable: ${html.match(/presence-\w+/g)?.join(', ')}, count ${html.match(/class="count">([^<]*)/)?.[1]}`);
    expect(html).toContain('presence-unknown');
    expect(html).not.toContain('presence-away');
    expect(html).not.toContain('presence-online');
    expect(html).not.toContain('at lunch');
    expect(html).toContain('?/1');
  });
});
