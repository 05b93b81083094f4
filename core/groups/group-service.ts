/**
 * Group conversations (§12.7), carried by the relay: membership changes are
 * signed by the member that makes them and chained (§12.7.1), and nothing
 * here believes a member list the chain does not verify (group-membership.ts):
 * sender keys go to, and come from, verified members only. A message is sealed once with our
 * sender key and appended to the group's log (stored once, whatever the
 * number of members); what others wrote is pulled from our cursor in pages
 * and pushed live, and opened with their sender keys, which come sealed
 * through our mailbox. Messages live in the ordinary messages table under
 * the conversation `group:<gid>`, so outbox, history and unread counts work
 * as for a colleague.
 *
 * Order: a live entry is taken only if it is the next seq; anything else
 * starts a sync from the cursor, and pushes seen during a sync are read by a
 * further sync. An entry whose sender key has not arrived yet is kept in
 * group_pending and opened when the key comes.
 */
import type { GroupInfo, MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { GroupEntry } from '../../shared/protocol/group-lan-frames.js';
import type { GroupDeliverFrame, GroupState, SealedContent } from '../../shared/protocol/relay-frames.js';
import type { Identity } from '../identity/identity.js';
import type { Messenger } from '../messaging/messenger.js';
import { seal } from '../relay-client/envelope.js';
import type { RelayBridge } from '../relay-client/relay-bridge.js';
import { groupConversation } from '../../shared/api/conversation-key.js';
import type { Store } from '../store/store.js';
import { CarryLoops } from '../util/carry-loops.js';
import type { Clock, Logger, Random } from '../util/components.js';
import { GroupDb, type LocalGroup, type OwnKey } from './group-db.js';
import { GroupLan, type GroupLanDeps } from './group-lan.js';
import { GroupMembership } from './group-membership.js';
import { entryOf, isReceipt, messageBody, parseBody, receiptBody, RelayReceipts } from './group-relay-body.js';
import { openGroup, sealGroup, SENDER_KEY_BYTES } from './sender-key.js';

/** Queued group messages sealed and put per round (puts are pipelined; the relay commits them in order). */
const CARRY_BATCH = 256;
/** After a failed round (relay gone, a member's key unknown yet), the next try waits this long unless something else triggers it. */
const CARRY_RETRY_MS = 5000;
/** Shortest id prefix that names a group (8 hex digits: 4 billion to one against a clash in one person's groups). */
const MIN_ID_PREFIX = 8;
/** Bytes of a sender key id (16 hex digits). */
const KEY_ID_BYTES = 8;

export interface GroupServiceDeps {
  identity: Identity;
  store: Store;
  clock: Clock;
  random: Random;
  logger: Logger;
  messenger: Messenger;
  /** The relay bridge, when a relay is set. */
  relay: () => RelayBridge | null;
  /** A device's name as the directory knows it. */
  peerName: (id: string) => string;
  emit: (event: PeerEvent) => void;
  /** The open session to a peer, if any (LAN groups, group-lan.ts). */
  session: GroupLanDeps['session'];
  /** Asks for a session to a peer. */
  ensure: (peerId: string) => void;
}

type SenderKeyContent = Extract<SealedContent, { kind: 'group-key' }>;

export class GroupService {
  private readonly db: GroupDb;
  private readonly loops: CarryLoops;
  /** Groups with a sync under way, and the highest live seq seen meanwhile. */
  private readonly syncing = new Map<string, number>();
  private readonly membership: GroupMembership;
  /** Groups carried member to member: alone with no relay, beside the relay over the sessions open with one (§12.10). */
  readonly lan: GroupLan;
  private readonly receipts: RelayReceipts;
  /** Relay entries (gid:seq) held for a revision not verified yet whose chain check was asked (once each). */
  private readonly revWait = new Set<string>();

  constructor(private readonly deps: GroupServiceDeps) {
    this.db = new GroupDb(deps.store.db);
    this.lan = new GroupLan({
      ...deps, db: this.db, info: (g) => this.info(g), relaySpki: (id) => deps.relay()?.spki(id) ?? null,
      // After the frame that settled the fork is handled, so that the change goes on top of the chain it left.
      resign: (gid, wish) => deps.clock.setTimeout(() => {
        this.membership.change(gid, (s) => wish(s.members, s.owner)).catch((err: Error) => deps.logger.log('warn', 'could not sign a lost group change again', { gid, error: err.message }));
      }, 0),
      relayReceipt: (gid) => this.receipts.due(gid),
    });
    this.receipts = new RelayReceipts({ clock: deps.clock, logger: deps.logger, put: (gid) => this.putReceipt(gid) });
    this.membership = new GroupMembership({ ...deps, db: this.db, info: (g) => this.info(g), lanChanged: (gid, before) => this.lan.changed(gid, before), memberAt: (gid, rev, id) => this.lan.memberAt(gid, rev, id) });
    this.loops = new CarryLoops({
      run: (gid) => this.carryLoop(gid),
      keys: () => this.db.list().flatMap((g) => (g.member ? [g.gid] : [])),
      retryMs: CARRY_RETRY_MS,
      clock: deps.clock,
      onError: (gid, err) => deps.logger.log('info', 'could not send group messages through the relay; will retry', { gid, error: err.message }),
    });
  }

  stop(): void {
    this.loops.stop();
    this.receipts.stop();
  }

  // ---- what the host asks -----------------------------------------------------

  list(): GroupInfo[] {
    return this.db.list().map((g) => this.info(g));
  }

  /** The group a query names (its exact name, else its name in any case, else an id prefix), or null; throws if it names several. */
  find(query: string): LocalGroup | null {
    const all = this.db.list();
    // The exact name first, else the name in any case ("sales" finds Sales).
    const exact = all.filter((g) => g.name === query);
    const byName = exact.length > 0 ? exact : all.filter((g) => g.name.toLowerCase() === query.toLowerCase());
    const current = byName.filter((g) => g.member);
    if (current.length === 1) return current[0]!;
    if (byName.length === 1) return byName[0]!;
    const q = query.toLowerCase();
    const byId = q.length >= MIN_ID_PREFIX ? all.filter((g) => g.gid.startsWith(q)) : [];
    if (byName.length === 0 && byId.length === 1) return byId[0]!;
    const candidates = byName.length > 1 ? byName : byId;
    if (candidates.length > 1) {
      throw new PigeonError(ErrorCodes.PEER_AMBIGUOUS, `"${query}" matches several groups: ${candidates.map((g) => `${g.name} (${g.gid.slice(0, MIN_ID_PREFIX)})`).join(', ')}; use the id`);
    }
    return null;
  }

  /** Like find, but the group must exist and we must be in it. */
  member(query: string): LocalGroup {
    const g = this.find(query);
    if (!g) throw new PigeonError(ErrorCodes.GROUP_NOT_FOUND, `no group named "${query}" (pigeon group list shows yours)`);
    if (!g.member) throw new PigeonError(ErrorCodes.GROUP_NOT_FOUND, `you are no longer a member of ${g.name}`);
    return g;
  }

  async create(name: string, members: readonly string[]): Promise<GroupInfo> {
    const gid = this.deps.random.hex(16);
    await this.membership.create(gid, name, members);
    return this.info(this.db.get(gid)!);
  }

  async add(query: string, members: readonly string[]): Promise<GroupInfo> {
    const gid = this.member(query).gid;
    await this.membership.change(gid, (s) => {
      const fresh = [...new Set(members)].filter((id) => !s.members.includes(id));
      return fresh.length === 0 ? null : { op: 'add', members: fresh };
    });
    return this.info(this.db.get(gid)!);
  }

  async remove(query: string, member: string): Promise<GroupInfo> {
    const gid = this.member(query).gid;
    if (member === this.deps.identity.id) return this.leave(query);
    await this.membership.change(gid, (s) => {
      if (s.owner !== this.deps.identity.id) throw new PigeonError(ErrorCodes.NOT_ALLOWED, 'only the group owner removes other members; anyone may leave');
      if (!s.members.includes(member)) throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, `${member} is not a member of the group`);
      return { op: 'remove', member };
    });
    return this.info(this.db.get(gid)!);
  }

  async leave(query: string): Promise<GroupInfo> {
    const g = this.member(query);
    await this.membership.change(g.gid, () => ({ op: 'leave' }));
    this.db.leave(g.gid);
    return this.info(this.db.get(g.gid)!);
  }

  /** Puts a message to the group in the outbox; it goes to the relay at once if connected. */
  send(query: string, text: string, at?: number): Promise<MessageInfo> {
    return this.deps.messenger.send(groupConversation(this.member(query).gid), text, at);
  }

  history(query: string, limit: number, before?: number): MessageInfo[] {
    const g = this.find(query);
    if (!g) throw new PigeonError(ErrorCodes.GROUP_NOT_FOUND, `no group named "${query}"`);
    const conv = groupConversation(g.gid);
    const page = before === undefined ? this.deps.store.history(conv, limit) : this.deps.store.historyBefore(conv, before, limit);
    return this.withReceipts(g, page);
  }

  /** Our messages in a group, with who of the other members holds and has read each (§12.10). */
  private withReceipts(g: LocalGroup, page: MessageInfo[]): MessageInfo[] {
    const r = this.lan.receipts(g);
    const aseqs = new Map(this.lan.log.after(g.gid, this.deps.identity.id, 0, Number.MAX_SAFE_INTEGER).map((e) => [e.id, e.aseq]));
    const named = (ids: string[]): Array<{ id: string; name: string }> => ids.map((id) => ({ id, name: this.deps.peerName(id) }));
    return page.map((m) => {
      const aseq = m.direction === 'out' ? aseqs.get(m.id) : undefined;
      return aseq === undefined ? m : { ...m, receipts: { of: r.of.length, delivered: named(r.delivered(aseq)), read: named(r.read(aseq)) } };
    });
  }

  /** Marks a group conversation read (read receipts go to the members over the sessions open, else through the relay, §12.10). */
  markRead(query: string): number {
    const g = this.find(query);
    if (!g) throw new PigeonError(ErrorCodes.GROUP_NOT_FOUND, `no group named "${query}"`);
    const conv = groupConversation(g.gid);
    const ids = this.deps.store.markRead(conv);
    this.deps.store.receiptsDelivered(conv, ids);
    if (g.member && ids.length > 0) {
      this.lan.markRead(g);
      const self = this.deps.identity.id;
      if (this.deps.relay() && g.members.some((m) => m.id !== self && !this.lan.reaches(m.id))) this.receipts.due(g.gid);
    }
    return ids.length;
  }

  private info(g: LocalGroup): GroupInfo {
    const self = this.deps.identity.id;
    return {
      id: g.gid,
      name: g.name,
      owner: g.owner,
      members: g.members.map((m) => ({ id: m.id, name: m.id === self ? 'you' : this.deps.peerName(m.id) })),
      joined: g.member,
      ...(g.tampered ? { tampered: g.tampered } : {}),
    };
  }

  // ---- sending ------------------------------------------------------------------

  /** Every group we are in (those with nothing queued return at once). */
  carryAll(): void {
    this.loops.carryAll();
  }

  /** Seals and appends the queued messages of a group to its log. */
  carry(gid: string): void {
    this.loops.carry(gid);
  }

  private async carryLoop(gid: string): Promise<void> {
    const { store, identity, messenger } = this.deps;
    const conv = groupConversation(gid);
    for (;;) {
      const relay = this.deps.relay();
      const g = this.db.get(gid);
      if (!relay && g?.member && g.rev > 0) {
        const queued = store.pending(conv, 0, CARRY_BATCH).filter((m) => m.state === 'queued');
        if (queued.length === 0) return;
        this.lan.write(g, queued);
        continue;
      }
      if (!relay || !g?.member || g.rev === 0) return;
      const batch = store.pending(conv, 0, CARRY_BATCH).filter((m) => m.state === 'queued');
      // Signed into our log first (once: its seq is then its Lamport position) and handed to the members a session reaches.
      const own = (m: MessageInfo): GroupEntry | null => {
        const e = m.seq ? this.lan.log.atLc(gid, identity.id, m.seq) : null;
        return e?.id === m.id ? e : null;
      };
      const unsigned = batch.filter((m) => !own(m));
      if (unsigned.length > 0) this.lan.write(g, unsigned);
      if (!relay.client.connected || batch.length === 0) return;
      const key = await this.senderKey(g, relay);
      await Promise.all(
        batch.map(async (m) => {
          const now = store.getOutgoing(m.id);
          const entry = now && own(now);
          if (!entry) throw new PigeonError(ErrorCodes.INTERNAL, `group message ${m.id} has no entry in the group log`);
          await relay.client.groupPut(gid, m.id, sealGroup(identity, gid, m.id, key.kid, key.key, messageBody(entry)));
          messenger.relayed(conv, [m.id]);
        }),
      );
    }
  }

  /** Our holding of a group, sealed with our sender key into its relay log: the receipt of the members no session reaches. */
  private async putReceipt(gid: string): Promise<void> {
    const relay = this.deps.relay();
    const g = this.db.get(gid);
    if (!relay?.client.connected || !g?.member || g.rev === 0) return;
    const key = await this.senderKey(g, relay);
    const id = this.deps.random.hex(16);
    await relay.client.groupPut(gid, id, sealGroup(this.deps.identity, gid, id, key.kid, key.key, receiptBody(this.lan.holdingOf(gid))));
  }

  /**
   * Our sender key for the group's current members as the verified chain
   * says (never as the relay lists them): the one we have if they all got
   * it, else a new one (members changed) handed to each of them sealed
   * through their mailboxes before any message uses it, naming the chain
   * revision and hash it was made for.
   */
  private async senderKey(g: LocalGroup, relay: RelayBridge): Promise<OwnKey> {
    const { identity, random } = this.deps;
    const others = g.members.map((m) => m.id).filter((id) => id !== identity.id).sort();
    const forMembers = others.join(',');
    let own = this.db.ownKey(g.gid);
    if (own?.ready && own.members === forMembers) return own;
    if (!own || own.members !== forMembers) {
      own = { kid: random.hex(KEY_ID_BYTES), key: Buffer.from(random.hex(SENDER_KEY_BYTES), 'hex'), members: forMembers, ready: false };
      this.db.saveOwnKey(g.gid, own);
    }
    const content: SenderKeyContent = { kind: 'group-key', gid: g.gid, kid: own.kid, key: own.key.toString('base64'), rev: g.rev, head: g.head };
    const plain = Buffer.from(JSON.stringify(content));
    await Promise.all(
      others.map((id) => {
        const enc = relay.encKey(id);
        if (!enc) throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, `the relay has not listed member ${id} yet`);
        const putId = random.hex(16);
        return relay.client.put(id, putId, seal(identity, id, enc, putId, plain));
      }),
    );
    own = { ...own, ready: true };
    this.db.saveOwnKey(g.gid, own);
    return own;
  }

  // ---- what the relay tells ---------------------------------------------------------

  onConnected(connected: boolean): void {
    if (!connected) this.syncing.clear();
    else this.carryAll();
  }

  /** The relay says a group we are in is now `state`: believed only once its chain verifies. */
  onGroup(state: GroupState): void {
    void this.membership.check(state.gid, state).then(() => {
      const g = this.db.get(state.gid);
      if (!g?.member || g.rev === 0) return;
      if (state.last > g.cursor && !this.syncing.has(g.gid)) this.startSync(g.gid, g.cursor, 0);
      this.carry(g.gid);
    });
  }

  onGroupLeft(gid: string): void {
    if (!this.db.get(gid)) return;
    this.db.leave(gid);
    this.deps.emit({ type: 'group', group: this.info(this.db.get(gid)!) });
  }

  async onGroupDeliver(frame: GroupDeliverFrame): Promise<void> {
    const g = this.db.position(frame.gid);
    if (!g?.member || frame.seq <= g.cursor) return;
    if (!frame.page) {
      const seen = this.syncing.get(frame.gid);
      if (seen !== undefined) {
        this.syncing.set(frame.gid, Math.max(seen, frame.seq));
        return;
      }
      if (frame.seq !== g.cursor + 1) {
        this.startSync(frame.gid, g.cursor, frame.seq);
        return;
      }
    }
    if (frame.from !== this.deps.identity.id) this.tryOpen(frame);
    this.db.advance(frame.gid, frame.seq);
  }

  onGroupSynced(gid: string, last: number, complete: boolean): void {
    const seen = this.syncing.get(gid);
    if (seen === undefined) return;
    this.syncing.delete(gid);
    const cursor = Math.max(last, this.db.position(gid)?.cursor ?? 0);
    if (!complete || seen > cursor) this.startSync(gid, cursor, seen);
  }

  /** A member's sender key came through our mailbox: kept if the membership check accepts it, then what waited for it is opened. */
  async onSenderKey(from: string, content: SenderKeyContent): Promise<void> {
    if (!(await this.membership.acceptsKey(from, content))) return;
    this.db.saveSenderKey(content.gid, from, content.kid, Buffer.from(content.key, 'base64'));
    for (const frame of this.db.held(content.gid, from, content.kid)) {
      // Released first: one that must wait again (a newer revision) is held anew.
      this.db.release(frame.gid, frame.seq);
      this.tryOpen(frame);
    }
  }

  private startSync(gid: string, after: number, seen: number): void {
    const relay = this.deps.relay();
    if (!relay?.client.connected) return;
    this.syncing.set(gid, seen);
    relay.client.groupSync(gid, after);
  }

  /** openOrHold, with a bad entry logged and passed over (it must not stop the log behind it). */
  private tryOpen(frame: GroupDeliverFrame): void {
    try {
      this.openOrHold(frame);
    } catch (err) {
      this.deps.logger.log('warn', 'dropped a group message', { gid: frame.gid, seq: frame.seq, from: frame.from, error: (err as Error).message });
    }
  }

  /** Opens and stores an entry, or keeps it until its sender key arrives. Bad entries are logged and dropped. */
  private openOrHold(frame: GroupDeliverFrame): void {
    const key = this.db.senderKey(frame.gid, frame.from, frame.body.kid);
    if (!key) {
      this.db.hold(frame);
      return;
    }
    const spki = this.deps.relay()?.spki(frame.from) ?? this.deps.store.pinnedKey(frame.from);
    if (!spki) throw new PigeonError(ErrorCodes.PROTOCOL, `group message from an unknown device ${frame.from}`);
    const plain = openGroup(frame.body, frame.gid, frame.from, frame.id, spki, key);
    let body;
    try {
      body = parseBody(plain);
    } catch {
      throw new PigeonError(ErrorCodes.PROTOCOL, `group message ${frame.id} does not match the schema inside`);
    }
    const g = this.db.get(frame.gid);
    if (!g?.member) return;
    if (isReceipt(body)) {
      this.lan.noteHolding(g, frame.from, body);
      return;
    }
    const entry = entryOf(frame, body);
    if (!entry) {
      // From a peer older than the mixed mode: shown at the relay's seq, as before.
      this.deps.messenger.receiveRelayed(groupConversation(frame.gid), [{ id: frame.id, seq: frame.seq, ts: frame.ts, text: body.text, sender: frame.from }], frame.ts);
      return;
    }
    if (entry.rev > g.rev) {
      // Written under a revision we have not verified yet: kept until the chain is checked, then taken.
      this.db.hold(frame);
      const key = `${frame.gid}:${frame.seq}`;
      if (this.revWait.has(key)) return;
      this.revWait.add(key);
      void this.membership.check(frame.gid, null).then(() => this.retryHeld(frame));
      return;
    }
    if (this.lan.take(g, [entry], true).took > 0) this.receiptFor(g, [entry.author]);
  }

  /** An entry held for a newer revision: taken once the chain reached it (else it waits for the next check or key). */
  private retryHeld(frame: GroupDeliverFrame): void {
    if ((this.db.get(frame.gid)?.rev ?? 0) < 1) return;
    for (const f of this.db.held(frame.gid, frame.from, frame.body.kid)) {
      if (f.seq !== frame.seq) continue;
      this.db.release(f.gid, f.seq);
      this.tryOpen(f);
    }
  }

  /** We took entries of these authors: each hears our holding over its session, or (none) through the relay. */
  private receiptFor(g: LocalGroup, authors: Iterable<string>): void {
    const unreached = this.lan.tellHolding(g, new Set(authors));
    if (unreached.length > 0 && this.deps.relay()) this.receipts.due(g.gid);
  }
}
