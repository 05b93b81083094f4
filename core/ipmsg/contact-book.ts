/**
 * The IPMsg users this peer knows. An IPMsg user has no key, so its contact id
 * is derived from what identifies it in the IPMsg world, its user and host
 * names (docs/decisions.md, "IPMsg contacts"): the same person keeps one
 * contact across DHCP address changes and on hosts with two network cards.
 * The id has the form of a device id so that the rest of the engine handles it
 * like any other peer. The book is saved in the profile's settings so that
 * after a restart the engine still knows which contacts speak IPMsg.
 */
import { createHash } from 'node:crypto';
import { MAX_LABEL_CHARS } from '../../shared/protocol/constants.js';
import { deviceIdFromDigest } from '../../shared/util/device-id.js';
import type { Sighting } from '../discovery/discovery-source.js';
import type { Store } from '../store/store.js';
import type { Charset } from './charset.js';

export interface IpmsgContact {
  id: string;
  user: string;
  host: string;
  nickname: string;
  group: string;
  address: string;
  port: number;
  /** Charset to write to this contact in (without the UTF-8 option), and to read it in. */
  charset: Charset;
  /** The charset was seen in its packets (or it is iptux), not assumed: text from it is decoded in it. */
  charsetSeen?: boolean;
  /** The contact advertised CAPUTF8OPT: we send with UTF8OPT. */
  utf8: boolean;
  /** Its version field ("1", "1_iptux 0.8.3", "1_lbt6_0#…"). */
  version: string;
  absent: boolean;
  /** The contact advertised FILEATTACHOPT. */
  files: boolean;
}

/** Settings key of the saved book. */
const SETTING = 'ipmsg.contacts';
/** Most contacts kept: a large office, with room; the oldest beyond it are forgotten (they come back on their next entry). */
const MAX_CONTACTS = 5000;

export function contactId(user: string, host: string): string {
  return deviceIdFromDigest(createHash('sha256').update(`ipmsg\0${user}\0${host}`).digest());
}

/** Is this an iptux peer? Its version field says so (observed: "1_iptux 0.8.3"). */
export function isIptux(version: string): boolean {
  return /iptux/i.test(version);
}

/** The contact as the peer directory sees it: online (away when absent) for ttlMs, labels cut as native ones are. */
export function sightingOf(c: IpmsgContact, ttlMs: number): Sighting {
  return {
    id: c.id,
    name: c.nickname.slice(0, MAX_LABEL_CHARS),
    group: c.group.slice(0, MAX_LABEL_CHARS),
    host: c.host.slice(0, MAX_LABEL_CHARS),
    port: c.port,
    status: c.absent ? 'away' : 'online',
    away: '',
    address: c.address,
    source: 'ipmsg',
    ttlMs,
    protocol: 'ipmsg',
  };
}

/** The charset to read a contact's text in, or null to judge by the bytes. */
export function readCharset(c: IpmsgContact): Charset | null {
  return c.charsetSeen ? c.charset : null;
}

export class ContactBook {
  private readonly contacts = new Map<string, IpmsgContact>();
  private saveTimer: NodeJS.Timeout | null = null;

  constructor(private readonly store: Store) {
    try {
      const raw = store.getSetting(SETTING);
      const list = raw ? (JSON.parse(raw) as IpmsgContact[]) : [];
      for (const c of list) if (c && typeof c.id === 'string' && typeof c.user === 'string' && typeof c.host === 'string') this.contacts.set(c.id, { ...c, absent: false });
    } catch {
      // A damaged entry only costs the protocol marks of offline contacts; they come back on their next entry.
    }
  }

  get(id: string): IpmsgContact | undefined {
    return this.contacts.get(id);
  }

  has(id: string): boolean {
    return this.contacts.has(id);
  }

  all(): IpmsgContact[] {
    return [...this.contacts.values()];
  }

  byAddress(address: string): IpmsgContact | undefined {
    for (const c of this.contacts.values()) if (c.address === address) return c;
    return undefined;
  }

  put(c: IpmsgContact): void {
    this.contacts.delete(c.id);
    this.contacts.set(c.id, c);
    while (this.contacts.size > MAX_CONTACTS) this.contacts.delete(this.contacts.keys().next().value!);
    this.scheduleSave();
  }

  /** Writes the book now (also called on stop). */
  save(): void {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    this.store.setSetting(SETTING, JSON.stringify(this.all()));
  }

  private scheduleSave(): void {
    if (this.saveTimer) return;
    // Entries arrive in bursts when an office answers a BR_ENTRY: one write per burst.
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      try {
        this.save();
      } catch {
        // The store is closing; the next put saves again.
      }
    }, 500);
    this.saveTimer.unref();
  }

  stop(): void {
    if (this.saveTimer) this.save();
  }
}
