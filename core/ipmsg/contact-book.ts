/**
 * The IPMsg users this peer knows. An IPMsg user has no key, so its contact id
 * is derived from what identifies it in the IPMsg world, its user and host
 * names (docs/decisions.md, "IPMsg contacts"): the same person keeps one
 * contact across DHCP address changes and on hosts with two network cards.
 * The id has the form of a device id so that the rest of the engine handles it
 * like any other peer. The book is saved in the profile's settings so that
 * after a restart the engine still knows which contacts speak IPMsg.
 *
 * Bounded like native discovery (issue 2/6 item 8): a contact seen but not
 * confirmed lives in memory only, under a cap and a rate of new contacts per
 * source address. Confirmed means a real exchange: the contact wrote to us,
 * or acknowledged (RECVMSG) a message we sent. Only confirmed contacts are saved.
 */
import { createHash } from 'node:crypto';
import { MAX_LABEL_CHARS } from '../../shared/protocol/constants.js';
import { deviceIdFromDigest } from '../../shared/util/device-id.js';
import type { Sighting } from '../discovery/discovery-source.js';
import type { Store } from '../store/store.js';
import type { Clock, TimerHandle } from '../util/components.js';
import { KeyedBuckets } from '../util/rate-limits.js';
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
  /** A real exchange took place (a message from it, or its RECVMSG for ours): saved in the profile. */
  confirmed?: boolean;
}

/** Settings key of the saved book. */
const SETTING = 'ipmsg.contacts';
/** Most contacts kept: a large office, with room; the oldest beyond it are forgotten (they come back on their next entry). */
const MAX_CONTACTS = 5000;
/** Most unconfirmed contacts in memory: an office of 150 six times over; an entry flood adds no more (the same cap as native discovery). */
export const MAX_UNCONFIRMED_CONTACTS = 1000;
/** New contacts per source address: one IPMsg user per host, a few on a shared one; a flooding host adds 16, then one every 5 s. */
export const NEW_CONTACTS_PER_ADDRESS = { burst: 16, perSecond: 0.2 };
/** Addresses tracked for that rate. */
const MAX_RATE_ADDRESSES = 4096;
/** Entries arrive in bursts when an office answers a BR_ENTRY: one write per burst. */
const SAVE_DELAY_MS = 500;

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
  private saveTimer: TimerHandle | null = null;
  private unconfirmed = 0;
  private readonly newIds: KeyedBuckets;
  /** New contacts refused by the cap or the rate (for logs and tests). */
  readonly refused = { cap: 0, rate: 0 };

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {
    this.newIds = new KeyedBuckets(NEW_CONTACTS_PER_ADDRESS, () => clock.now(), MAX_RATE_ADDRESSES);
    try {
      const raw = store.getSetting(SETTING);
      const list = raw ? (JSON.parse(raw) as IpmsgContact[]) : [];
      for (const c of list) {
        if (!c || typeof c.id !== 'string' || typeof c.user !== 'string' || typeof c.host !== 'string') continue;
        // Older versions saved every contact heard (an entry flood stayed for good): of those, only contacts with a history are kept.
        if (c.confirmed !== true && store.history(c.id, 1).length === 0) continue;
        this.contacts.set(c.id, { ...c, absent: false, confirmed: true });
      }
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

  /**
   * Adds or updates a contact. A new one is refused (false) beyond the cap of
   * unconfirmed contacts or the rate of new contacts from its address.
   */
  put(c: IpmsgContact): boolean {
    const prev = this.contacts.get(c.id);
    if (!prev) {
      if (this.unconfirmed >= MAX_UNCONFIRMED_CONTACTS) {
        this.refused.cap++;
        return false;
      }
      if (!this.newIds.take(c.address)) {
        this.refused.rate++;
        return false;
      }
      this.unconfirmed++;
      c = { ...c, confirmed: false };
    } else {
      c = { ...c, confirmed: prev.confirmed ?? false };
      this.contacts.delete(c.id);
    }
    this.contacts.set(c.id, c);
    while (this.contacts.size > MAX_CONTACTS) this.forget(this.contacts.keys().next().value!);
    if (c.confirmed) this.scheduleSave();
    return true;
  }

  /** A real exchange with the contact: saved from now on. Returns whether it was new news. */
  confirm(id: string): boolean {
    const c = this.contacts.get(id);
    if (!c || c.confirmed) return false;
    c.confirmed = true;
    this.unconfirmed--;
    this.scheduleSave();
    return true;
  }

  /** The contact left without a confirmed exchange: nothing of it is kept. */
  forgetUnconfirmed(id: string): void {
    const c = this.contacts.get(id);
    if (c && !c.confirmed) this.forget(id);
  }

  private forget(id: string): void {
    const c = this.contacts.get(id);
    if (!c) return;
    this.contacts.delete(id);
    if (!c.confirmed) this.unconfirmed--;
  }

  /** How many contacts are held, and how many of them are unconfirmed. */
  size(): { total: number; unconfirmed: number } {
    return { total: this.contacts.size, unconfirmed: this.unconfirmed };
  }

  /** Writes the confirmed contacts now (also called on stop). */
  save(): void {
    this.clock.clear(this.saveTimer);
    this.saveTimer = null;
    this.store.setSetting(SETTING, JSON.stringify(this.all().filter((c) => c.confirmed)));
  }

  private scheduleSave(): void {
    if (this.saveTimer) return;
    this.saveTimer = this.clock.setTimeout(() => {
      this.saveTimer = null;
      try {
        this.save();
      } catch {
        // The store is closing; the next put saves again.
      }
    }, SAVE_DELAY_MS);
  }

  stop(): void {
    if (this.saveTimer) this.save();
  }
}
