/**
 * Messages to several people at once (spec §7.12), as IP Messenger's
 * multi-send and broadcast: named colleagues, a whole workgroup, or everyone
 * online. Each recipient gets an ordinary copy of its own, with its own seq,
 * outbox entry and delivery state, so nothing about delivery changes; the
 * copies share a multi-send id, stored on each outgoing row, by which the
 * sender sees "delivered to 5 of 7" and the list. A list with a name that
 * matches nobody (or several) sends nothing.
 */
import type { MessageInfo, MessageState, MultiSendInfo, MultiSummary, PeerEvent, PeerInfo, Recipients } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { Store } from '../store/store.js';
import type { Random } from '../util/components.js';

/** States in which a copy counts as delivered ("delivered to N of M"). */
const DELIVERED: ReadonlySet<MessageState> = new Set(['delivered', 'read']);

export interface MultiSendDeps {
  store: Store;
  random: Random;
  /** The contacts, as the directory lists them (a reinstalled colleague's new device is listed under the colleague). */
  contacts(): PeerInfo[];
  /** One name or id prefix, as for a single send (throws PEER_NOT_FOUND or PEER_AMBIGUOUS). */
  resolve(query: string): PeerInfo;
  /** Puts one copy in the outbox (as a single send does: the contact is confirmed). */
  sendCopy(peer: PeerInfo, text: string, at: number | undefined, multi: string): Promise<MessageInfo>;
  waitDelivered(id: string, timeoutMs: number): Promise<MessageInfo>;
  emit(event: PeerEvent): void;
}

interface CopyRow {
  id: string;
  peer: string;
  state: MessageState;
  text: string;
  ts: number;
}

export class MultiSends {
  /** Multi-sends with a copy that changed state in this turn of the event loop: told once, after it. */
  private readonly changedIds = new Set<string>();
  /** Accounts computed for events in this turn (cleared after it): a floor's acks cost one query, not one each. */
  private readonly turnSummaries = new Map<string, MultiSummary>();

  constructor(private readonly deps: MultiSendDeps) {}

  /** The colleagues `to` means now; unknown or ambiguous names refuse the whole list, naming each. */
  recipients(to: Recipients): PeerInfo[] {
    // A namesake (a new device calling itself by a pinned colleague's name) is nobody's colleague until trusted.
    const contacts = this.deps.contacts().filter((p) => !p.namesakeOf);
    if ('workgroup' in to) {
      const wanted = to.workgroup.trim().toLowerCase();
      const found = contacts.filter((p) => p.group.trim().toLowerCase() === wanted);
      if (found.length === 0) throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, `nobody known is in the workgroup "${to.workgroup}"; nothing was sent`);
      return found;
    }
    if ('everyone' in to) {
      const found = contacts.filter((p) => p.online);
      if (found.length === 0) throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, 'nobody is online on the LAN; nothing was sent');
      return found;
    }
    const out = new Map<string, PeerInfo>();
    const unknown: string[] = [];
    for (const q of to.peers) {
      try {
        const p = this.deps.resolve(q);
        out.set(p.id, p);
      } catch (err) {
        if (!(err instanceof PigeonError) || (err.code !== ErrorCodes.PEER_NOT_FOUND && err.code !== ErrorCodes.PEER_AMBIGUOUS)) throw err;
        unknown.push(err.code === ErrorCodes.PEER_AMBIGUOUS ? `"${q}" (matches several: use a device-id prefix)` : `"${q}"`);
      }
    }
    if (unknown.length > 0) throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, `unknown recipient${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}; nothing was sent`);
    return [...out.values()];
  }

  /** Resolves every recipient first, then stores one copy each; the answer lists the copies. */
  async send(to: Recipients, text: string, at?: number): Promise<MultiSendInfo> {
    const peers = this.recipients(to);
    const id = this.deps.random.hex(16);
    // Stored in the same turn of the event loop: the messenger writes them in one transaction.
    await Promise.all(peers.map((p) => this.deps.sendCopy(p, text, at, id)));
    return this.get(id);
  }

  /** A multi-send by id or unique prefix. */
  get(query: string): MultiSendInfo {
    const id = this.find(query);
    const rows = this.copies(id);
    const names = new Map(this.deps.contacts().map((p) => [p.id, p.name]));
    const first = rows[0]!;
    return {
      id,
      text: first.text,
      ts: first.ts,
      total: rows.length,
      delivered: rows.filter((r) => DELIVERED.has(r.state)).length,
      read: rows.filter((r) => r.state === 'read').length,
      recipients: rows.map((r) => ({ peer: r.peer, name: names.get(r.peer) ?? r.peer.slice(0, 8), message: r.id, state: r.state })),
    };
  }

  /** Resolves once every copy is delivered, or after timeoutMs, with how far the multi-send got. */
  async wait(query: string, timeoutMs: number): Promise<MultiSendInfo> {
    const id = this.find(query);
    await Promise.allSettled(this.copies(id).map((r) => this.deps.waitDelivered(r.id, timeoutMs)));
    return this.get(id);
  }

  /** Fills in "delivered to N of M" on messages that are copies of a multi-send. */
  annotate(messages: MessageInfo[]): MessageInfo[] {
    const cache = new Map<string, MultiSummary>();
    return messages.map((m) => {
      if (!m.multi) return m;
      let s = cache.get(m.multi.id);
      if (!s) cache.set(m.multi.id, (s = this.summary(m.multi.id)));
      return { ...m, multi: s };
    });
  }

  /**
   * The account on a copy in a message event. Within one turn it may lag
   * the copies that change later in the same turn; the `multi-send` event
   * after the turn (changed()) carries the final one.
   */
  annotateEvent(m: MessageInfo): MessageInfo {
    if (!m.multi) return m;
    let s = this.turnSummaries.get(m.multi.id);
    if (!s) {
      if (this.turnSummaries.size === 0) setImmediate(() => this.turnSummaries.clear());
      this.turnSummaries.set(m.multi.id, (s = this.summary(m.multi.id)));
    }
    return { ...m, multi: s };
  }

  /**
   * A copy changed state: the multi-send's new account goes to the hosts,
   * once per turn of the event loop (acks of a whole office arrive together;
   * setImmediate is not a timer, it only waits for the turn to end).
   */
  changed(m: MessageInfo): void {
    if (!m.multi) return;
    if (this.changedIds.size === 0) setImmediate(() => this.flushChanged());
    this.changedIds.add(m.multi.id);
  }

  private flushChanged(): void {
    const ids = [...this.changedIds];
    this.changedIds.clear();
    for (const id of ids) {
      try {
        this.deps.emit({ type: 'multi-send', multi: this.get(id) });
      } catch {
        // Cancelled meanwhile (scheduled copies): nothing left to tell.
      }
    }
  }

  private summary(id: string): MultiSummary {
    const rows = this.copies(id);
    return { id, total: rows.length, delivered: rows.filter((r) => DELIVERED.has(r.state)).length };
  }

  private copies(id: string): CopyRow[] {
    return this.deps.store.db.prepare(`SELECT id, peer, state, text, ts FROM messages WHERE dir = 0 AND multi = ? ORDER BY rowid`).all(id) as CopyRow[];
  }

  private find(query: string): string {
    const q = query.toLowerCase();
    const rows = this.deps.store.db.prepare(`SELECT DISTINCT multi FROM messages WHERE multi IS NOT NULL AND substr(multi, 1, ?) = ? LIMIT 2`).all(q.length, q) as Array<{ multi: string }>;
    if (rows.length === 0) throw new PigeonError(ErrorCodes.BAD_REQUEST, `no message to several people has the id "${query}"`);
    if (rows.length > 1) throw new PigeonError(ErrorCodes.BAD_REQUEST, `"${query}" matches several messages to several people; give more of the id`);
    return rows[0]!.multi;
  }
}
