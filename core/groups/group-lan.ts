/**
 * Groups on a LAN with no relay (§12.10): the membership chain and the log go
 * member to member over the direct sessions, which TLS already encrypts and
 * authenticates per member, so no sender key is needed. Each entry is signed
 * by its author and numbered per author (aseq, no gap) and placed by a
 * Lamport position (lc), which is the seq it is stored and shown under: any
 * member can pass on any entry, and every member shows the same order.
 *
 * Anti-entropy: when a session to a member opens, both sides send a
 * group-have (chain revision, highest aseq per author); each answers with a
 * group-log of what the other lacks and may read (entries written while it
 * was a member). New entries and changes are pushed to the members online; a
 * receiver that sees a gap asks with a group-have. An entry is taken only if
 * it is its author's next, so a member that was away gets each entry once and
 * each author's in order, from whichever member it meets first.
 */
import { createHash, sign, verify } from 'node:crypto';
import type { GroupInfo, MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { groupConversation } from '../../shared/api/conversation-key.js';
import { ChainBreak } from '../../shared/protocol/group-chain-rules.js';
import { groupEntryMessage, MAX_LOG_CHANGES, MAX_LOG_ENTRIES, MAX_LOG_TEXT_CHARS, type GroupEntry, type GroupHolding } from '../../shared/protocol/group-lan-frames.js';
import type { GroupChange } from '../../shared/protocol/relay-frames.js';
import type { SessionFrame } from '../../shared/protocol/session-frames.js';
import { deviceIdFromSpki, type Identity } from '../identity/identity.js';
import type { Messenger } from '../messaging/messenger.js';
import { deviceKeyFromSpki, SIGNATURE_ENCODING } from '../relay-client/enc-key.js';
import type { Store } from '../store/store.js';
import type { Clock, Logger } from '../util/components.js';
import { verifyGroupChanges } from './group-chain.js';
import { chainStateOf, type GroupDb, type LocalGroup } from './group-db.js';
import { GroupLogDb } from './group-log-db.js';
import { settleFork, type ForkDeps } from './group-fork.js';

/** Most of our messages announced again when one member's receipts move: a screenful and more (older ones show theirs in history). */
const RECEIPT_EVENTS = 50;

type HaveFrame = Extract<SessionFrame, { type: 'group-have' }>;
type LogFrame = Extract<SessionFrame, { type: 'group-log' }>;

export interface GroupLanDeps {
  identity: Identity;
  store: Store;
  clock: Clock;
  logger: Logger;
  db: GroupDb;
  messenger: Messenger;
  /** The open session to a peer, if any, with what its hello said (`groups`: it takes group frames, §12.10). */
  session: (peerId: string) => { send(frame: SessionFrame): void; hello?: { groups?: 1 } } | undefined;
  /** Asks for a session to a peer (made when it is online). */
  ensure: (peerId: string) => void;
  emit: (event: PeerEvent) => void;
  info: (g: LocalGroup) => GroupInfo;
  /** A device's name as the directory knows it. */
  peerName: (id: string) => string;
  /**
   * The relay bridge, when a relay is set: then the relay carries every
   * group, and this exchange runs only over the sessions that are open
   * anyway (no session is asked for, nothing is owed), §12.10 "With a relay".
   */
  relay: () => unknown;
  /** A device's key as the relay lists it (members met only through the relay), or null. */
  relaySpki: (id: string) => Buffer | null;
  /** Signs one of our membership changes again on top of the chain (it lost to a concurrent one, group-fork.ts). */
  resign: ForkDeps['resign'];
  /** With a relay: a receipt through it is due (we took entries of an author no session reaches). */
  relayReceipt: (gid: string) => void;
}

/** SHA-256 (hex) of an entry's text: what its author signs, and what a stub carries instead of the text. */
export function entryTextHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Who is a member after each revision of a verified chain (index rev - 1), replayed from the kept changes. */
function membersByRev(changes: readonly GroupChange[]): Array<ReadonlySet<string>> {
  const out: Array<ReadonlySet<string>> = [];
  let members: string[] = [];
  for (const c of changes) {
    if (c.op === 'create') members = [...c.members];
    else if (c.op === 'add') members = [...members, ...c.members];
    else if (c.op === 'remove') members = members.filter((id) => id !== c.member);
    else members = members.filter((id) => id !== c.by);
    out.push(new Set(members));
  }
  return out;
}

export class GroupLan {
  readonly log: GroupLogDb;
  /** Members we owe a group-have exchange (after start, or after a push that found no session). */
  private readonly owed = new Set<string>();
  /** Per group, our author seq up to which `delivered` and `read` were settled (since start): each settles only what is new. */
  private readonly settled = new Map<string, { held: number; read: number }>();

  constructor(private readonly deps: GroupLanDeps) {
    this.log = new GroupLogDb(deps.store.db);
    for (const g of deps.db.list()) if (g.member) for (const m of g.members) if (m.id !== deps.identity.id) this.owed.add(m.id);
  }

  /** Whether a session to `peerId` is wanted for a group exchange. */
  hasWork(peerId: string): boolean {
    return !this.deps.relay() && this.owed.has(peerId);
  }

  /** A session opened: tell the peer what we hold of the groups we share with it. */
  onOpen(peerId: string): void {
    const groups = this.deps.db.list().filter((g) => g.member && this.everMember(g.gid, peerId));
    this.owed.delete(peerId);
    if (groups.length === 0) return;
    this.send(peerId, { type: 'group-have', groups: groups.map((g) => this.holdingOf(g.gid)) });
  }

  // ---- writing ------------------------------------------------------------------

  /**
   * Signs the queued messages of a group into its log and pushes them to the
   * members online. With no relay they are then `sent` (our log holds them
   * for every member); with one they stay queued until the relay stored them.
   */
  write(g: LocalGroup, queued: readonly MessageInfo[]): GroupEntry[] {
    const { identity, store } = this.deps;
    const conv = groupConversation(g.gid);
    const entries: GroupEntry[] = [];
    this.log.transaction(() => {
      let aseq = this.log.have(g.gid).get(identity.id) ?? 0;
      // After what the log holds, and after the relay's seqs of a group's older messages.
      let lc = Math.max(this.log.lastLc(g.gid), this.log.lastShown(conv));
      for (const m of queued) {
        const unsigned = { id: m.id, author: identity.id, aseq: ++aseq, lc: ++lc, rev: g.rev, ts: m.ts };
        const sig = sign('sha256', Buffer.from(groupEntryMessage(g.gid, unsigned, entryTextHash(m.text))), { key: identity.keyPem, dsaEncoding: SIGNATURE_ENCODING }).toString('base64');
        const e: GroupEntry = { ...unsigned, text: m.text, sig };
        this.log.put(g.gid, e);
        store.setOutgoingSeq(conv, m.id, e.lc);
        entries.push(e);
      }
    });
    if (!this.deps.relay()) this.deps.messenger.inGroupLog(conv, entries.map((e) => e.id));
    for (const m of g.members) if (m.id !== identity.id) this.push(m.id, { type: 'group-log', gid: g.gid, changes: [], entries, more: false });
    return entries;
  }

  /** A membership change of ours was verified and kept: every member before or after it hears of it. */
  changed(gid: string, before: readonly string[]): void {
    const g = this.deps.db.get(gid);
    if (!g) return;
    const change = this.log.chain(gid, g.rev - 1, 1);
    const to = new Set([...before, ...g.members.map((m) => m.id)]);
    to.delete(this.deps.identity.id);
    for (const id of to) this.push(id, { type: 'group-log', gid, changes: change, entries: [], more: false });
  }

  /** Sends now if a session is open, else (no relay) owes the peer an exchange and asks for a session. */
  private push(peerId: string, frame: SessionFrame): void {
    this.send(peerId, frame);
  }

  // ---- receipts ------------------------------------------------------------------------

  /** Our user read the group: everything held counts as read, and the members online hear it. */
  markRead(g: LocalGroup): void {
    const have = this.log.have(g.gid);
    this.log.saveSeen(g.gid, this.deps.identity.id, new Map(), have);
    for (const m of g.members) if (m.id !== this.deps.identity.id && this.reaches(m.id)) this.send(m.id, { type: 'group-have', groups: [this.holdingOf(g.gid)] });
  }

  /**
   * The session group frames may go over: any open one with no relay (the
   * group lives on the LAN only); with a relay, only one whose peer said in
   * its hello that it takes them, since a peer from before §12.10 closes a
   * session on them, and the relay carries the group to it anyway.
   */
  reaches(peerId: string): { send(frame: SessionFrame): void } | undefined {
    const s = this.deps.session(peerId);
    return s && (!this.deps.relay() || s.hello?.groups === 1) ? s : undefined;
  }

  /** Tells the members among `ids` that a session reaches what we hold; returns those it does not reach. */
  tellHolding(g: LocalGroup, ids: Iterable<string>): string[] {
    const unreached: string[] = [];
    for (const id of ids) {
      if (id === this.deps.identity.id) continue;
      if (this.reaches(id)) this.send(id, { type: 'group-have', groups: [this.holdingOf(g.gid)] });
      else unreached.push(id);
    }
    return unreached;
  }

  /**
   * Per other current member, whether it holds and has read each of our
   * entries (by the holdings members sent): `of` members, and who.
   */
  receipts(g: LocalGroup): { of: string[]; delivered: (aseq: number) => string[]; read: (aseq: number) => string[] } {
    const self = this.deps.identity.id;
    const seen = this.log.seen(g.gid);
    const of = g.members.map((m) => m.id).filter((id) => id !== self);
    const mine = (id: string): { have: number; read: number } => seen.get(id)?.get(self) ?? { have: 0, read: 0 };
    return {
      of,
      delivered: (aseq) => of.filter((id) => mine(id).have >= aseq),
      read: (aseq) => of.filter((id) => mine(id).read >= aseq),
    };
  }

  /**
   * Our messages whose per-member receipts changed (author seq in
   * (from, to]) go out again as message-state with `receipts`, so that "read
   * by 3 of 5" moves while a conversation is open; at most the latest
   * RECEIPT_EVENTS of them (older ones show theirs when the history is read).
   */
  private announceReceipts(g: LocalGroup, from: number, to: number): void {
    if (to <= from) return;
    const start = Math.max(from, to - RECEIPT_EVENTS);
    const r = this.receipts(g);
    const named = (ids: string[]): Array<{ id: string; name: string }> => ids.map((id) => ({ id, name: this.deps.peerName(id) }));
    for (const e of this.log.after(g.gid, this.deps.identity.id, start, to - start)) {
      const m = this.deps.store.getOutgoing(e.id);
      if (m) this.deps.emit({ type: 'message-state', message: { ...m, receipts: { of: r.of.length, delivered: named(r.delivered(e.aseq)), read: named(r.read(e.aseq)) } } });
    }
  }

  /** Our entries every current member holds become delivered, those every one read become read. */
  private settleReceipts(g: LocalGroup): void {
    const r = this.receipts(g);
    if (r.of.length === 0) return;
    const self = this.deps.identity.id;
    const seen = this.log.seen(g.gid);
    const min = (k: 'have' | 'read'): number => Math.min(...r.of.map((id) => seen.get(id)?.get(self)?.[k] ?? 0));
    const [held, read] = [min('have'), min('read')];
    const done = this.settled.get(g.gid) ?? { held: 0, read: 0 };
    if (held <= done.held && read <= done.read) return;
    const conv = groupConversation(g.gid);
    const from = Math.min(done.held, done.read);
    const entries = this.log.after(g.gid, self, from, Math.max(held, read) - from);
    this.deps.messenger.receipt(conv, entries.filter((e) => e.aseq > done.held && e.aseq <= held).map((e) => e.id), 'delivered');
    this.deps.messenger.receipt(conv, entries.filter((e) => e.aseq > done.read && e.aseq <= read).map((e) => e.id), 'read');
    this.settled.set(g.gid, { held: Math.max(held, done.held), read: Math.max(read, done.read) });
  }

  // ---- what members send --------------------------------------------------------------

  /**
   * A member's holding, as it told us (over a session, or in a receipt
   * through the relay): kept, and our messages' receipts move with it.
   */
  noteHolding(g: LocalGroup, peerId: string, h: Pick<GroupHolding, 'have' | 'read'>): void {
    if (!g.members.some((m) => m.id === peerId)) return;
    const self = this.deps.identity.id;
    const before = this.log.seen(g.gid).get(peerId)?.get(self) ?? { have: 0, read: 0 };
    this.log.saveSeen(g.gid, peerId, new Map(h.have.map((a) => [a.author, a.aseq])), new Map((h.read ?? []).map((a) => [a.author, a.aseq])));
    this.settleReceipts(g);
    const after = this.log.seen(g.gid).get(peerId)?.get(self) ?? before;
    this.announceReceipts(g, Math.min(before.have, before.read), Math.max(after.have, after.read));
  }

  /** A member says what it holds: hand it what it lacks, and ask back for what it holds and we lack. */
  onHave(peerId: string, frame: HaveFrame): void {
    const asked = new Map(frame.groups.map((h) => [h.gid, h]));
    // Groups we share with the peer that it did not name: it has not heard of them (added while away).
    for (const g of this.deps.db.list()) if (g.member && !asked.has(g.gid) && this.everMember(g.gid, peerId)) asked.set(g.gid, { gid: g.gid, rev: 0, have: [] });
    const askBack: GroupHolding[] = [];
    for (const h of asked.values()) {
      const g = this.deps.db.get(h.gid);
      // A group we have not heard of (made or joined while we were away): ask for it from the start.
      if (!g && h.rev > 0) askBack.push({ gid: h.gid, rev: 0, have: [] });
      if (!g || !this.everMember(g.gid, peerId)) continue;
      this.noteHolding(g, peerId, h);
      // The member holds another change at a revision we hold (a fork): it gets our whole chain, and settles (group-fork.ts).
      const forked = h.head !== undefined && h.rev > 0 && h.rev <= g.rev && this.deps.db.chainHash(g.gid, h.rev) !== h.head;
      this.serve(peerId, g, forked ? { ...h, rev: 0 } : h);
      const mine = this.log.have(g.gid);
      if (h.rev > g.rev || h.have.some((a) => a.aseq > (mine.get(a.author) ?? 0))) askBack.push(this.holdingOf(g.gid));
    }
    if (askBack.length > 0) this.send(peerId, { type: 'group-have', groups: askBack });
  }

  /** A group-log: the chain first (verified on top of ours), then the entries that are each author's next. */
  onLog(peerId: string, frame: LogFrame): void {
    const { gid } = frame;
    const self = this.deps.identity.id;
    let g = this.deps.db.get(gid);
    if (g?.tampered) return;
    let gap = false;
    let changed = false;
    // Two members changed the group at once (no relay orders their changes): settled the same way on every member.
    if (g && !this.deps.relay() && frame.changes.some((c) => c.rev <= g!.rev)) {
      const before = g.members.map((m) => m.id);
      const settled = settleFork({ self, db: this.deps.db, log: this.log, logger: this.deps.logger, spkiOf: (id) => this.spkiOf(id), resign: this.deps.resign }, g, frame.changes);
      if (settled.replaced) {
        g = settled.group;
        changed = true;
        if (!g.member && before.includes(self)) this.deps.db.leave(gid);
        this.deps.emit({ type: 'group', group: this.deps.info(this.deps.db.get(gid)!) });
      }
    }
    const fresh = frame.changes.filter((c) => c.rev > (g?.rev ?? 0));
    if (fresh.length > 0) {
      try {
        const before = g?.members.map((m) => m.id) ?? [];
        const next = verifyGroupChanges(g ? chainStateOf(g) : null, fresh, (id) => this.spkiOf(id));
        if (next.state && (g || next.state.members.includes(self))) {
          g = this.deps.db.saveVerified(next.state, next.links, self, new Map());
          changed = true;
          if (!g.member && before.includes(self)) this.deps.db.leave(gid);
          this.deps.emit({ type: 'group', group: this.deps.info(this.deps.db.get(gid)!) });
        }
      } catch (err) {
        if (!(err instanceof ChainBreak)) throw err;
        // A gap the sender fills once it knows our revision; anything else asking again would only bring the same again.
        if (err.kind === 'gap') gap = true;
        else this.deps.logger.log('warn', 'refused a group change from a member', { gid, from: peerId, kind: err.kind, why: err.message });
      }
    } else if (frame.changes.length > 0 && !g) {
      gap = true;
    }
    let took = 0;
    if (g?.member) {
      const r = this.take(g, frame.entries);
      // Entries we held already: the sender's account of us is behind (another member was quicker); our holding corrects it.
      took = r.took + r.known;
      gap ||= r.gap;
      // Handed on by another member: an author no session reaches hears of it through the relay.
      if (this.deps.relay() && r.authors.some((a) => a !== peerId && !this.reaches(a))) this.deps.relayReceipt(gid);
    }
    // Our holding goes back when something moved (it is the sender's delivery receipt) or to ask for a gap or the rest;
    // never when nothing could be taken (an author's key not known yet): that would bring the same entries again and again.
    if ((g?.member && (changed || took > 0 || gap || frame.more)) || (!g && gap)) this.send(peerId, { type: 'group-have', groups: [this.holdingOf(gid)] });
  }

  /**
   * Stores the entries that are each author's next. `gap`: some come after
   * one we lack, or after a revision we have not verified (the sender fills
   * both once it has our holding). An entry whose author's key is not known
   * yet waits for the next exchange after a session with that author.
   * `known`: entries we held already (the sender did not know we had them).
   */
  take(g: LocalGroup, entries: readonly GroupEntry[], fromRelay = false): { took: number; known: number; gap: boolean; authors: string[] } {
    const have = this.log.have(g.gid);
    const byRev = membersByRev(this.log.chain(g.gid));
    let missing = false;
    let known = 0;
    const fresh: GroupEntry[] = [];
    for (const e of [...entries].sort((a, b) => a.lc - b.lc || (a.author < b.author ? -1 : 1) || a.aseq - b.aseq)) {
      const held = have.get(e.author) ?? 0;
      if (e.aseq <= held) {
        known++;
        continue;
      }
      // The relay serves a member from the log seq it joined at and in each author's order, so an author's first entry
      // there may follow ones this device was never to read (§12.10 "With a relay"); over the LAN those come as stubs.
      if ((e.aseq !== held + 1 && !(fromRelay && e.aseq > held)) || e.rev > g.rev) {
        missing = true;
        continue;
      }
      const spki = this.spkiOf(e.author);
      if (!spki) continue;
      // A stub (no text) is for a device that was not a member when it was written; a member must get the text.
      const wasMember = byRev[e.rev - 1]?.has(this.deps.identity.id) ?? false;
      if (e.text === undefined && wasMember) {
        this.deps.logger.log('info', 'passed over a group entry stub: this device was a member when it was written', { gid: g.gid, author: e.author, aseq: e.aseq });
        continue;
      }
      const { sig, text, hash, ...unsigned } = e;
      let ok = false;
      try {
        ok = verify('sha256', Buffer.from(groupEntryMessage(g.gid, unsigned, text !== undefined ? entryTextHash(text) : hash!)), { key: deviceKeyFromSpki(spki), dsaEncoding: SIGNATURE_ENCODING }, Buffer.from(sig, 'base64'));
      } catch {
        ok = false;
      }
      if (!ok || !byRev[e.rev - 1]?.has(e.author)) {
        this.deps.logger.log('warn', 'dropped a group entry that does not verify', { gid: g.gid, author: e.author, aseq: e.aseq, why: ok ? 'not a member at its revision' : 'bad signature' });
        continue;
      }
      have.set(e.author, e.aseq);
      fresh.push(e);
    }
    if (fresh.length === 0) return { took: 0, known, gap: missing, authors: [] };
    const self = this.deps.identity.id;
    this.log.transaction(() => {
      for (const e of fresh) this.log.put(g.gid, e);
      const theirs = fresh.flatMap((e) => (e.author !== self && e.text !== undefined ? [{ id: e.id, seq: e.lc, ts: e.ts, text: e.text, sender: e.author }] : []));
      if (theirs.length > 0) this.deps.messenger.receiveRelayed(groupConversation(g.gid), theirs, this.deps.clock.now());
    });
    return { took: fresh.length, known, gap: missing, authors: [...new Set(fresh.map((e) => e.author))].filter((a) => a !== self) };
  }

  /** Sends `peerId` the chain after its revision and the entries it lacks and may read, in frames of bounded size. */
  private serve(peerId: string, g: LocalGroup, h: GroupHolding): void {
    const changes = h.rev < g.rev ? this.log.chain(g.gid, h.rev, MAX_LOG_CHANGES) : [];
    const byRev = membersByRev(this.log.chain(g.gid));
    const theirs = new Map(h.have.map((a) => [a.author, a.aseq]));
    const entries: GroupEntry[] = [];
    let chars = 0;
    let more = changes.length > 0 && changes[changes.length - 1]!.rev < g.rev;
    for (const [author, held] of this.log.have(g.gid)) {
      const from = theirs.get(author) ?? 0;
      if (held <= from) continue;
      let next = from + 1;
      for (const held of this.log.after(g.gid, author, from, MAX_LOG_ENTRIES)) {
        // An author's count taken up from the relay after a start we never held (§12.10): nothing to hand over below it.
        if (held.aseq !== next++) break;
        const reads = byRev[held.rev - 1]?.has(peerId) ?? false;
        // What it may not read goes as a stub; what it may read and we hold as a stub only, another member hands over.
        if (reads && held.text === undefined) break;
        const e: GroupEntry = reads ? held : { id: held.id, author: held.author, aseq: held.aseq, lc: held.lc, rev: held.rev, ts: held.ts, hash: held.hash ?? entryTextHash(held.text!), sig: held.sig };
        if (entries.length >= MAX_LOG_ENTRIES || chars + (e.text?.length ?? 0) > MAX_LOG_TEXT_CHARS) {
          more = true;
          break;
        }
        entries.push(e);
        chars += e.text?.length ?? 0;
      }
    }
    if (changes.length === 0 && entries.length === 0) return;
    this.send(peerId, { type: 'group-log', gid: g.gid, changes, entries, more });
  }

  // ---- helpers --------------------------------------------------------------------------

  /** What we hold of a group, and what our user has read (a group-have's entry, or a receipt through the relay). */
  holdingOf(gid: string): GroupHolding {
    const read = [...(this.log.seen(gid).get(this.deps.identity.id) ?? new Map<string, { read: number }>())].filter(([, v]) => v.read > 0).map(([author, v]) => ({ author, aseq: v.read }));
    const g = this.deps.db.get(gid);
    return { gid, rev: g?.rev ?? 0, ...(g && g.rev > 0 ? { head: g.head } : {}), have: [...this.log.have(gid)].map(([author, aseq]) => ({ author, aseq })), ...(read.length > 0 ? { read } : {}) };
  }

  /** Whether a device was a member at revision `rev` of the verified chain. */
  memberAt(gid: string, rev: number, id: string): boolean {
    return membersByRev(this.log.chain(gid))[rev - 1]?.has(id) ?? false;
  }

  /** Whether a peer was a member at any revision we verified (a member removed still hears of its removal). */
  private everMember(gid: string, peerId: string): boolean {
    return membersByRev(this.log.chain(gid)).some((s) => s.has(peerId));
  }

  private spkiOf(id: string): Buffer | null {
    if (id === this.deps.identity.id) return this.deps.identity.spki;
    const spki = this.deps.store.pinnedKey(id) ?? this.deps.relaySpki(id);
    return spki && deviceIdFromSpki(spki) === id ? spki : null;
  }

  /** Sends over the open session; with none, and no relay to carry the group, owes the peer an exchange and asks for a session. */
  private send(peerId: string, frame: SessionFrame): void {
    const session = this.reaches(peerId);
    if (!session) {
      if (this.deps.relay()) return;
      this.owed.add(peerId);
      this.deps.ensure(peerId);
      return;
    }
    session.send(frame);
  }
}
