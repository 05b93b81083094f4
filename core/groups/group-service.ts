/**
 * Group conversations (§12.7), carried by the relay: membership changes are
 * signed by the member that makes them and chained (§12.7.1); the relay
 * stores and orders the chain and tells every member that it moved, and each
 * member fetches and verifies it before believing a member list, handing out
 * its sender key or accepting one. What does not verify is refused, the
 * group is marked tampered and the user is warned. A message is sealed once with our
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
import { z } from 'zod/v3';
import type { GroupInfo, MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { MAX_TEXT_CHARS } from '../../shared/protocol/constants.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { ChainBreak, type ChainState } from '../../shared/protocol/group-chain-rules.js';
import { GROUP_CHAIN_START, type GroupDeliverFrame, type GroupState, type SealedContent, type UnsignedGroupChange } from '../../shared/protocol/relay-frames.js';
import type { Identity } from '../identity/identity.js';
import type { Messenger } from '../messaging/messenger.js';
import { seal } from '../relay-client/envelope.js';
import type { RelayBridge } from '../relay-client/relay-bridge.js';
import { groupConversation } from '../../shared/api/conversation-key.js';
import type { Store } from '../store/store.js';
import { CarryLoops } from '../util/carry-loops.js';
import type { Clock, Logger, Random } from '../util/components.js';
import { signGroupChange, verifyGroupChanges } from './group-chain.js';
import { chainStateOf, GroupDb, type LocalGroup, type OwnKey } from './group-db.js';
import { openGroup, sealGroup, SENDER_KEY_BYTES } from './sender-key.js';

/** Queued group messages sealed and put per round (puts are pipelined; the relay commits them in order). */
const CARRY_BATCH = 256;
/** After a failed round (relay gone, a member's key unknown yet), the next try waits this long unless something else triggers it. */
const CARRY_RETRY_MS = 5000;
/** Shortest id prefix that names a group (8 hex digits: 4 billion to one against a clash in one person's groups). */
const MIN_ID_PREFIX = 8;
/** Bytes of a sender key id (16 hex digits). */
const KEY_ID_BYTES = 8;
/** Tries of a membership change that another member's change overtook (each refetches the chain and signs again). */
const CHANGE_TRIES = 3;

/** What a group message body holds once opened. */
const GroupContent = z.object({ text: z.string().max(MAX_TEXT_CHARS), ts: z.number().int().nonnegative() });

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
}

type SenderKeyContent = Extract<SealedContent, { kind: 'group-key' }>;

export class GroupService {
  private readonly db: GroupDb;
  private readonly loops: CarryLoops;
  /** Groups with a sync under way, and the highest live seq seen meanwhile. */
  private readonly syncing = new Map<string, number>();
  /** The chain check under way per group: checks of one group run one after the other. */
  private readonly checking = new Map<string, Promise<void>>();

  constructor(private readonly deps: GroupServiceDeps) {
    this.db = new GroupDb(deps.store.db);
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
  }

  // ---- what the host asks -----------------------------------------------------

  list(): GroupInfo[] {
    return this.db.list().map((g) => this.info(g));
  }

  /** The group a query names (its exact name, else an id prefix), or null; throws if it names several. */
  find(query: string): LocalGroup | null {
    const all = this.db.list();
    const byName = all.filter((g) => g.name === query);
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
    const self = this.deps.identity.id;
    const gid = this.deps.random.hex(16);
    const first = [self, ...new Set(members.filter((id) => id !== self))];
    const state = await this.client().groupChange(signGroupChange(this.deps.identity, { gid, rev: 1, prev: GROUP_CHAIN_START, by: self, ts: this.deps.clock.now(), op: 'create', name, members: first }));
    await this.check(gid, state);
    return this.verified(gid);
  }

  async add(query: string, members: readonly string[]): Promise<GroupInfo> {
    return this.change(this.member(query).gid, (s) => {
      const fresh = [...new Set(members)].filter((id) => !s.members.includes(id));
      return fresh.length === 0 ? null : { op: 'add', members: fresh };
    });
  }

  async remove(query: string, member: string): Promise<GroupInfo> {
    const g = this.member(query);
    if (member === this.deps.identity.id) return this.leave(query);
    return this.change(g.gid, (s) => {
      if (s.owner !== this.deps.identity.id) throw new PigeonError(ErrorCodes.NOT_ALLOWED, 'only the group owner removes other members; anyone may leave');
      if (!s.members.includes(member)) throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, `${member} is not a member of the group`);
      return { op: 'remove', member };
    });
  }

  async leave(query: string): Promise<GroupInfo> {
    const g = this.member(query);
    await this.change(g.gid, () => ({ op: 'leave' }));
    this.db.leave(g.gid);
    return this.info(this.db.get(g.gid)!);
  }

  /**
   * Signs the change `make` gives for the verified state and hands it to the
   * relay; when another member's change came first (GROUP_STALE), fetches
   * and verifies the chain and signs again. `make` returning null: nothing to do.
   */
  private async change(gid: string, make: (s: ChainState) => { op: 'add'; members: string[] } | { op: 'remove'; member: string } | { op: 'leave' } | null): Promise<GroupInfo> {
    const self = this.deps.identity.id;
    for (let attempt = 1; ; attempt++) {
      const g = this.db.get(gid);
      const s = g && chainStateOf(g);
      if (!g?.member || !s) throw new PigeonError(ErrorCodes.GROUP_NOT_FOUND, `the membership of group ${gid.slice(0, MIN_ID_PREFIX)} is not verified yet; try again once the relay is connected`);
      if (g.tampered) throw new PigeonError(ErrorCodes.GROUP_TAMPERED, `group ${g.name} is marked tampered (${g.tampered}): its membership is not changed through this relay`);
      const what = make(s);
      if (!what) return this.info(g);
      const change = signGroupChange(this.deps.identity, { gid, rev: s.rev + 1, prev: s.head, by: self, ts: this.deps.clock.now(), ...what } as UnsignedGroupChange);
      try {
        const state = await this.client().groupChange(change);
        if (state) await this.check(gid, state);
        return this.info(this.db.get(gid)!);
      } catch (err) {
        if (!(err instanceof PigeonError) || err.code !== ErrorCodes.GROUP_STALE || attempt >= CHANGE_TRIES) throw err;
        await this.check(gid, null);
      }
    }
  }

  /** The group after a change we made: verified, else the reason it is not. */
  private verified(gid: string): GroupInfo {
    const g = this.db.get(gid);
    if (!g || g.rev === 0) throw new PigeonError(ErrorCodes.GROUP_TAMPERED, `the relay's answer for group ${gid.slice(0, MIN_ID_PREFIX)} does not verify`);
    return this.info(g);
  }

  /** Puts a message to the group in the outbox; it goes to the relay at once if connected. */
  send(query: string, text: string, at?: number): Promise<MessageInfo> {
    return this.deps.messenger.send(groupConversation(this.member(query).gid), text, at);
  }

  history(query: string, limit: number, before?: number): MessageInfo[] {
    const g = this.find(query);
    if (!g) throw new PigeonError(ErrorCodes.GROUP_NOT_FOUND, `no group named "${query}"`);
    const conv = groupConversation(g.gid);
    return before === undefined ? this.deps.store.history(conv, limit) : this.deps.store.historyBefore(conv, before, limit);
  }

  /** Marks a group conversation read (groups have no read receipts). */
  markRead(query: string): number {
    const g = this.find(query);
    if (!g) throw new PigeonError(ErrorCodes.GROUP_NOT_FOUND, `no group named "${query}"`);
    const conv = groupConversation(g.gid);
    const ids = this.deps.store.markRead(conv);
    this.deps.store.receiptsDelivered(conv, ids);
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

  private client(): RelayBridge['client'] {
    const relay = this.deps.relay();
    if (!relay) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'groups are carried by a relay: start the peer with --relay wss://host:port');
    return relay.client;
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
      if (!relay?.client.connected || !g?.member || g.rev === 0) return;
      const batch = store.pending(conv, 0, CARRY_BATCH).filter((m) => m.state === 'queued');
      if (batch.length === 0) return;
      const key = await this.senderKey(g, relay);
      await Promise.all(
        batch.map(async (m) => {
          const plain = Buffer.from(JSON.stringify({ text: m.text, ts: m.ts }));
          const seq = await relay.client.groupPut(gid, m.id, sealGroup(identity, gid, m.id, key.kid, key.key, plain));
          store.setOutgoingSeq(conv, m.id, seq);
          messenger.relayed(conv, [m.id]);
        }),
      );
    }
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
    void this.check(state.gid, state).then(() => {
      const g = this.db.get(state.gid);
      if (!g?.member || g.rev === 0) return;
      if (state.last > g.cursor && !this.syncing.has(g.gid)) this.startSync(g.gid, g.cursor, 0);
      this.carry(g.gid);
    });
  }

  /**
   * Brings the verified state of a group up to the relay's (`state`, or
   * whatever the relay holds when null): fetches the changes after our
   * revision, verifies them, and compares the result with the relay's member
   * list. Anything that does not verify marks the group tampered and warns;
   * the verified state stays what it was. Checks of one group run in turn.
   */
  private check(gid: string, state: GroupState | null): Promise<void> {
    const run = (this.checking.get(gid) ?? Promise.resolve())
      .then(() => this.checkNow(gid, state))
      .catch((err: Error) => this.deps.logger.log('info', 'could not check a group chain; will check again on the next change', { gid, error: err.message }));
    this.checking.set(gid, run);
    void run.then(() => {
      if (this.checking.get(gid) === run) this.checking.delete(gid);
    });
    return run;
  }

  private async checkNow(gid: string, told: GroupState | null): Promise<void> {
    const self = this.deps.identity.id;
    const local = this.db.get(gid);
    let verified = local ? chainStateOf(local) : null;
    const seen = verified?.rev ?? 0;
    // A `group` older than what we verified may be a push overtaken by a later one: ask the relay itself.
    const relayState = told && told.rev >= seen ? told : null;
    let head = relayState?.rev ?? 0;
    if (!relayState || relayState.rev > seen) {
      const relay = this.deps.relay();
      if (!relay) return;
      const spkiOf = (id: string): Buffer | null => (id === self ? this.deps.identity.spki : (relay.spki(id) ?? this.deps.store.pinnedKey(id)));
      for (;;) {
        const page = await relay.client.groupChain(gid, verified?.rev ?? 0);
        if (page.rev < seen) return this.tampered(gid, 'rollback', `the relay is at revision ${page.rev}, but this device verified revision ${seen}`);
        head = Math.max(head, page.rev);
        let next;
        try {
          next = verifyGroupChanges(verified, page.changes, spkiOf);
        } catch (err) {
          if (err instanceof ChainBreak) return this.tampered(gid, err.kind, err.message);
          throw err;
        }
        if (next.state && next.links.length > 0) {
          if (!next.state.members.includes(self) && !local) return this.tampered(gid, 'not-member', 'the relay lists this device in a group whose signed chain does not have it');
          const joined = new Map((relayState?.members ?? []).map((m) => [m.id, m.joined]));
          this.db.saveVerified(next.state, next.links, self, joined);
          verified = next.state;
        }
        if (page.complete || page.changes.length === 0) break;
      }
    }
    if (!verified) return this.tampered(gid, 'gap', 'the relay hands over no signed chain for this group');
    if (head > verified.rev) return this.tampered(gid, 'gap', `the relay says revision ${head}, but hands over changes up to ${verified.rev} only`);
    if (relayState && relayState.rev === verified.rev) {
      const listed = relayState.members.map((m) => m.id);
      const extra = listed.filter((id) => !verified.members.includes(id));
      const missing = verified.members.filter((id) => !listed.includes(id));
      if (extra.length > 0 || missing.length > 0) {
        const what = [extra.length > 0 ? `lists ${extra.map((id) => this.deps.peerName(id)).join(', ')}, whom no signed change added` : '', missing.length > 0 ? `leaves out ${missing.map((id) => this.deps.peerName(id)).join(', ')}` : '']
          .filter(Boolean)
          .join(' and ');
        return this.tampered(gid, 'not-member', `the relay ${what}`);
      }
    }
    this.deps.emit({ type: 'group', group: this.info(this.db.get(gid)!) });
  }

  /** The relay's account of a group does not verify: keep the verified state, mark the group, warn the user. */
  private tampered(gid: string, kind: ChainBreak['kind'], why: string): void {
    const g = this.db.get(gid);
    this.db.markTampered(gid, why);
    const name = g ? `${g.name} (${gid.slice(0, MIN_ID_PREFIX)})` : gid.slice(0, MIN_ID_PREFIX);
    this.deps.logger.log('warn', 'refused a group membership that does not verify', { gid, kind, why });
    this.deps.emit({
      type: 'warning',
      code: ErrorCodes.GROUP_TAMPERED,
      message: `group ${name}: the relay's member list does not verify (${why}); refused: your messages and sender key go only to the members of the signed chain`,
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

  /**
   * A member's sender key came through our mailbox: kept only if the chain
   * revision it was made for is one we verified (fetched first if newer)
   * with the same hash, and its sender is a member in our verified state;
   * then what waited for it is opened.
   */
  async onSenderKey(from: string, content: SenderKeyContent): Promise<void> {
    let g = this.db.get(content.gid);
    if (!g?.member) return;
    if (content.rev > g.rev) {
      await this.check(content.gid, null);
      g = this.db.get(content.gid);
      if (!g?.member) return;
    }
    const refuse = (why: string): void => this.deps.logger.log('warn', 'refused a group sender key', { gid: content.gid, from, rev: content.rev, why });
    if (content.rev > g.rev) return refuse(`made for revision ${content.rev}, which the relay does not hand over`);
    if (this.db.chainHash(content.gid, content.rev) !== content.head) {
      this.tampered(content.gid, 'fork', `${this.deps.peerName(from)} sees another chain at revision ${content.rev}: the relay shows members different histories`);
      return refuse('a different chain');
    }
    if (!g.members.some((m) => m.id === from)) return refuse('the sender is not a member in the signed chain');
    this.db.saveSenderKey(content.gid, from, content.kid, Buffer.from(content.key, 'base64'));
    for (const frame of this.db.held(content.gid, from, content.kid)) {
      this.tryOpen(frame);
      this.db.release(frame.gid, frame.seq);
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
    let content: z.infer<typeof GroupContent>;
    try {
      content = GroupContent.parse(JSON.parse(plain.toString('utf8')));
    } catch {
      throw new PigeonError(ErrorCodes.PROTOCOL, `group message ${frame.id} does not match the schema inside`);
    }
    this.deps.messenger.receiveRelayed(groupConversation(frame.gid), [{ id: frame.id, seq: frame.seq, ts: frame.ts, text: content.text, sender: frame.from }], frame.ts);
  }
}
