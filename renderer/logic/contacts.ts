/**
 * The contact list's logic: search by name, workgroup or host (any word of
 * the query, case- and accent-insensitive), grouping by workgroup, and the
 * order people expect: online before away/busy before offline, then by name.
 * Pure functions, tested in contacts.test.ts.
 */
import type { PeerInfo } from '../../shared/api/control-api.js';

export interface ContactGroup {
  /** The workgroup as announced; '' for people without one. */
  name: string;
  contacts: PeerInfo[];
  online: number;
}

/** Lower case without accents: "José" matches "jose". CJK text is unchanged by it. */
export function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/** Does the peer match every word of the query (in its name, group or host)? */
export function matchesQuery(peer: PeerInfo, query: string): boolean {
  const words = fold(query).split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = fold(`${peer.name}\n${peer.group}\n${peer.host}`);
  return words.every((w) => haystack.includes(w));
}

/** 0 online, 1 away, 2 busy, 3 offline. */
function presenceRank(p: PeerInfo): number {
  if (!p.online) return 3;
  return p.status === 'online' ? 0 : p.status === 'away' ? 1 : 2;
}

const collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });

export function compareContacts(a: PeerInfo, b: PeerInfo): number {
  return presenceRank(a) - presenceRank(b) || collator.compare(a.name, b.name) || a.id.localeCompare(b.id);
}

/**
 * The peers matching the query, grouped by workgroup. Groups are sorted by
 * name with the group-less last; inside a group, compareContacts.
 */
export function groupContacts(peers: readonly PeerInfo[], query: string): ContactGroup[] {
  const byGroup = new Map<string, PeerInfo[]>();
  for (const p of peers) {
    if (!matchesQuery(p, query)) continue;
    const key = p.group.trim();
    let list = byGroup.get(key);
    if (!list) byGroup.set(key, (list = []));
    list.push(p);
  }
  return [...byGroup]
    .map(([name, contacts]) => ({ name, contacts: contacts.sort(compareContacts), online: contacts.filter((c) => c.online).length }))
    .sort((a, b) => (a.name === '' ? 1 : 0) - (b.name === '' ? 1 : 0) || collator.compare(a.name, b.name));
}

/** Total unread over all conversations (the badge). */
export function totalUnread(unread: Readonly<Record<string, number>>): number {
  return Object.values(unread).reduce((a, b) => a + b, 0);
}
