import { describe, expect, it } from 'vitest';
import type { PeerInfo } from '../../shared/api/control-api.js';
import { compareContacts, fold, groupContacts, matchesQuery, totalUnread } from './contacts.js';

function peer(name: string, over: Partial<PeerInfo> = {}): PeerInfo {
  return {
    id: `${name.toLowerCase()}xxxxxxxxxxxxxxxxxxxxxxxxxx`.slice(0, 26),
    name,
    group: '',
    host: `${name.toLowerCase()}-pc`,
    port: 2426,
    status: 'online',
    away: '',
    addresses: ['192.168.1.2'],
    online: true,
    sources: ['broadcast'],
    remote: false,
    lastSeen: 0,
    fingerprint: '',
    ...over,
  };
}

describe('contact search', () => {
  it('finds by name, group or host, every word, ignoring case and accents', () => {
    const jose = peer('José Álvarez', { group: 'Ventas', host: 'LAPTOP-7' });
    expect(matchesQuery(jose, 'jose')).toBe(true);
    expect(matchesQuery(jose, 'VENT')).toBe(true);
    expect(matchesQuery(jose, 'laptop-7')).toBe(true);
    expect(matchesQuery(jose, 'jose ventas')).toBe(true);
    expect(matchesQuery(jose, 'jose support')).toBe(false);
    expect(matchesQuery(jose, '   ')).toBe(true);
  });

  it('finds Chinese names and groups', () => {
    const wang = peer('王小明', { group: '财务部' });
    expect(matchesQuery(wang, '小明')).toBe(true);
    expect(matchesQuery(wang, '财务')).toBe(true);
    expect(matchesQuery(wang, '销售')).toBe(false);
    expect(fold('ÉCOLE')).toBe('ecole');
  });
});

describe('contact grouping', () => {
  const people = [
    peer('Zoe', { group: 'Sales', status: 'away' }),
    peer('adam', { group: 'Sales' }),
    peer('Bob', { group: 'Sales', online: false }),
    peer('Carol', { group: 'Support', status: 'busy' }),
    peer('Dave'),
    peer('Eve', { group: 'Accounting' }),
  ];

  it('groups by workgroup, sorted by name, the group-less last', () => {
    const groups = groupContacts(people, '');
    expect(groups.map((g) => g.name)).toEqual(['Accounting', 'Sales', 'Support', '']);
    expect(groups.map((g) => g.contacts.length)).toEqual([1, 3, 1, 1]);
  });

  it('orders online, away, busy, offline, then by name without case', () => {
    const sales = groupContacts(people, '').find((g) => g.name === 'Sales')!;
    expect(sales.contacts.map((c) => c.name)).toEqual(['adam', 'Zoe', 'Bob']);
    expect(sales.online).toBe(2);
    expect([peer('b', { status: 'busy' }), peer('a', { status: 'away' })].sort(compareContacts).map((p) => p.name)).toEqual(['a', 'b']);
  });

  it('keeps only the groups with a match', () => {
    expect(groupContacts(people, 'sup').map((g) => g.name)).toEqual(['Support']);
    expect(groupContacts(people, 'nobody')).toEqual([]);
  });

  it('sums unread counts for the badge', () => {
    expect(totalUnread({ a: 2, b: 5 })).toBe(7);
    expect(totalUnread({})).toBe(0);
  });
});
