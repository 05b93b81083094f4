/**
 * The LocalSend devices this peer knows, one per fingerprint (a device found
 * by multicast and by register is one contact). The contact id has the form
 * of a device id, derived from the fingerprint, so the rest of the engine
 * handles a LocalSend device like any other peer. Bounded like native
 * discovery: unconfirmed devices live in memory under a cap and a rate of new
 * ones per address; a device we exchanged files with is confirmed and saved
 * in the profile, so its transfers and name survive a restart.
 */
import { createHash } from 'node:crypto';
import { MAX_LABEL_CHARS } from '../../shared/protocol/constants.js';
import { deviceIdFromDigest } from '../../shared/util/device-id.js';
import type { Sighting } from '../discovery/discovery-source.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../util/components.js';
import { KeyedBuckets } from '../util/rate-limits.js';
import { deviceTypeOf, type DeviceInfo, type DeviceType } from './ls-wire.js';

export interface LocalSendContact {
  id: string;
  fingerprint: string;
  alias: string;
  deviceModel: string;
  deviceType: DeviceType;
  address: string;
  port: number;
  protocol: 'http' | 'https';
  confirmed?: boolean;
}

/** Settings key of the saved contacts. */
const SETTING = 'localsend.contacts';
/** Unconfirmed devices held: an office of 150 six times over (native discovery's cap). */
export const MAX_UNCONFIRMED = 1000;
/** Saved devices kept: a large office with its phones; the oldest beyond it are forgotten (they come back when next seen). */
const MAX_SAVED = 2000;
/** New devices per source address: one LocalSend app per host, a few on a shared one; a flood gets 16, then one every 5 s. */
const NEW_PER_ADDRESS = { burst: 16, perSecond: 0.2 };
/** Addresses tracked for that rate. */
const MAX_RATE_ADDRESSES = 4096;

export function localSendContactId(fingerprint: string): string {
  return deviceIdFromDigest(createHash('sha256').update(`localsend\0${fingerprint}`).digest());
}

/** What `pigeon peers` shows as the host: the model and the device type ("Samsung, mobile"). */
export function hostLabel(c: Pick<LocalSendContact, 'deviceModel' | 'deviceType'>): string {
  return (c.deviceModel ? `${c.deviceModel}, ${c.deviceType}` : c.deviceType).slice(0, MAX_LABEL_CHARS);
}

/** The contact as the peer directory sees it: group "LocalSend", the fingerprint it announced. */
export function sightingOf(c: LocalSendContact, ttlMs: number): Sighting {
  return {
    id: c.id,
    name: c.alias.slice(0, MAX_LABEL_CHARS),
    group: 'LocalSend',
    host: hostLabel(c),
    port: c.port,
    status: 'online',
    away: '',
    address: c.address,
    source: 'localsend',
    ttlMs,
    protocol: 'localsend',
    fingerprint: c.fingerprint,
  };
}

export function contactFrom(info: DeviceInfo, address: string, fingerprint = info.fingerprint, port = info.port): Omit<LocalSendContact, 'id'> & { id: string } {
  return {
    id: localSendContactId(fingerprint),
    fingerprint,
    alias: info.alias,
    deviceModel: info.deviceModel ?? '',
    deviceType: deviceTypeOf(info.deviceType),
    address,
    port: port ?? 53317,
    protocol: info.protocol ?? 'https',
  };
}

export class LocalSendContacts {
  private readonly contacts = new Map<string, LocalSendContact>();
  private readonly newIds: KeyedBuckets;
  private unconfirmed = 0;
  readonly refused = { cap: 0, rate: 0 };

  constructor(
    private readonly store: Store,
    clock: Clock,
  ) {
    this.newIds = new KeyedBuckets(NEW_PER_ADDRESS, () => clock.now(), MAX_RATE_ADDRESSES);
    try {
      const raw = store.getSetting(SETTING);
      for (const c of raw ? (JSON.parse(raw) as LocalSendContact[]) : []) {
        if (c && typeof c.id === 'string' && typeof c.fingerprint === 'string' && typeof c.alias === 'string') this.contacts.set(c.id, { ...c, confirmed: true });
      }
    } catch {
      // A damaged entry only costs offline contacts their LocalSend mark; they come back when next seen.
    }
  }

  get(id: string): LocalSendContact | undefined {
    return this.contacts.get(id);
  }

  has(id: string): boolean {
    return this.contacts.has(id);
  }

  all(): LocalSendContact[] {
    return [...this.contacts.values()];
  }

  /** Adds or updates a device; a new one beyond the cap or the rate of its address is refused (null). */
  put(c: LocalSendContact): LocalSendContact | null {
    const prev = this.contacts.get(c.id);
    if (!prev) {
      if (this.unconfirmed >= MAX_UNCONFIRMED) {
        this.refused.cap++;
        return null;
      }
      if (!this.newIds.take(c.address)) {
        this.refused.rate++;
        return null;
      }
      this.unconfirmed++;
      c = { ...c, confirmed: false };
    } else {
      c = { ...c, confirmed: prev.confirmed ?? false };
    }
    this.contacts.set(c.id, c);
    if (c.confirmed && (prev?.address !== c.address || prev?.port !== c.port || prev?.alias !== c.alias || prev?.protocol !== c.protocol)) this.save();
    return c;
  }

  /** Files went to or came from the device: kept from now on. */
  confirm(id: string): void {
    const c = this.contacts.get(id);
    if (!c || c.confirmed) return;
    c.confirmed = true;
    this.unconfirmed--;
    this.save();
  }

  private save(): void {
    const saved = this.all().filter((c) => c.confirmed).slice(-MAX_SAVED);
    this.store.setSetting(SETTING, JSON.stringify(saved));
  }
}
