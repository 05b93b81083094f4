/**
 * Group membership as the verified chain says it is (§12.7.1): our changes
 * are signed and chained on top of the state we verified (signed again if
 * another member's change came first); whenever the relay says a group
 * moved, its chain is fetched and replayed, and its member list compared
 * with the result. What does not verify is refused: the group keeps its
 * verified members, is marked tampered, and the user is warned. A sender key
 * is taken only for a revision we verified with the same hash.
 */
import type { GroupInfo, PeerEvent } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { ChainBreak, type ChainState } from '../../shared/protocol/group-chain-rules.js';
import { GROUP_CHAIN_START, type GroupChange, type GroupState, type SealedContent, type UnsignedGroupChange } from '../../shared/protocol/relay-frames.js';
import type { Identity } from '../identity/identity.js';
import type { RelayBridge } from '../relay-client/relay-bridge.js';
import type { Store } from '../store/store.js';
import type { Clock, Logger } from '../util/components.js';
import { signGroupChange, verifyGroupChanges } from './group-chain.js';
import { chainStateOf, type GroupDb, type LocalGroup } from './group-db.js';

/** Tries of a membership change that another member's change overtook (each refetches the chain and signs again). */
const CHANGE_TRIES = 3;
/** Characters of a group id shown in messages (as the CLI shows it). */
const SHORT_ID = 8;

/** A change we want, before it is placed on the chain and signed. */
export type ChangeWish = { op: 'add'; members: string[] } | { op: 'remove'; member: string } | { op: 'leave' };

type SenderKeyContent = Extract<SealedContent, { kind: 'group-key' }>;

export interface GroupMembershipDeps {
  identity: Identity;
  store: Store;
  clock: Clock;
  logger: Logger;
  db: GroupDb;
  relay: () => RelayBridge | null;
  peerName: (id: string) => string;
  emit: (event: PeerEvent) => void;
  /** How a group is shown to the host. */
  info: (g: LocalGroup) => GroupInfo;
  /** With no relay: a change of ours was kept (members before it given); it goes to the members over the LAN (group-lan.ts). */
  lanChanged: (gid: string, before: readonly string[]) => void;
  /** Whether a device was a member at a revision of the verified chain. */
  memberAt: (gid: string, rev: number, id: string) => boolean;
}

export class GroupMembership {
  private readonly db: GroupDb;
  /** The chain check under way per group: checks of one group run one after the other. */
  private readonly checking = new Map<string, Promise<void>>();

  constructor(private readonly deps: GroupMembershipDeps) {
    this.db = deps.db;
  }

  /** Creates group `gid` with us as owner and first member; resolves once the relay's answer is verified. */
  async create(gid: string, name: string, members: readonly string[]): Promise<void> {
    const self = this.deps.identity.id;
    const first = [self, ...new Set(members.filter((id) => id !== self))];
    const change = signGroupChange(this.deps.identity, { gid, rev: 1, prev: GROUP_CHAIN_START, by: self, ts: this.deps.clock.now(), op: 'create', name, members: first });
    if (!this.deps.relay()) return this.commitLan(change);
    const state = await this.client().groupChange(change);
    await this.check(gid, state, true);
    if ((this.db.get(gid)?.rev ?? 0) === 0) throw new PigeonError(ErrorCodes.GROUP_TAMPERED, `the relay's answer for group ${gid.slice(0, SHORT_ID)} does not verify`);
  }

  /**
   * Signs the change `make` gives for the verified state and hands it to the
   * relay; when another member's change came first (GROUP_STALE), fetches
   * and verifies the chain and signs again. `make` returning null: nothing to do.
   */
  async change(gid: string, make: (s: ChainState) => ChangeWish | null): Promise<void> {
    const self = this.deps.identity.id;
    for (let attempt = 1; ; attempt++) {
      const g = this.db.get(gid);
      const s = g && chainStateOf(g);
      if (!g?.member || !s) throw new PigeonError(ErrorCodes.GROUP_NOT_FOUND, `the membership of group ${gid.slice(0, SHORT_ID)} is not verified yet; try again once the relay is connected`);
      if (g.tampered) throw new PigeonError(ErrorCodes.GROUP_TAMPERED, `group ${g.name} is marked tampered (${g.tampered}): its membership is not changed through this relay`);
      const what = make(s);
      if (!what) return;
      const change = signGroupChange(this.deps.identity, { gid, rev: s.rev + 1, prev: s.head, by: self, ts: this.deps.clock.now(), ...what } as UnsignedGroupChange);
      if (!this.deps.relay()) return this.commitLan(change);
      try {
        const state = await this.client().groupChange(change);
        if (state) await this.check(gid, state, true);
        return;
      } catch (err) {
        if (!(err instanceof PigeonError) || err.code !== ErrorCodes.GROUP_STALE || attempt >= CHANGE_TRIES) throw err;
        await this.check(gid, null, true);
      }
    }
  }

  /**
   * With no relay, our own change is the next link: verified like any other
   * (so the same rules hold), kept, and handed to the members over the LAN.
   */
  private commitLan(change: GroupChange): void {
    const self = this.deps.identity.id;
    const g = this.db.get(change.gid);
    const before = g?.members.map((m) => m.id) ?? [];
    let next;
    try {
      next = verifyGroupChanges(g ? chainStateOf(g) : null, [change], (id) => (id === self ? this.deps.identity.spki : null));
    } catch (err) {
      if (err instanceof ChainBreak) throw new PigeonError(ErrorCodes.NOT_ALLOWED, `the group does not allow this change: ${err.message}`);
      throw err;
    }
    this.db.saveVerified(next.state!, next.links, self, new Map());
    this.deps.lanChanged(change.gid, before);
    this.deps.emit({ type: 'group', group: this.deps.info(this.db.get(change.gid)!) });
  }

  /**
   * Brings the verified state of a group up to the relay's (`state`, or
   * whatever the relay holds when null): fetches the changes after our
   * revision, verifies them, and compares the result with the relay's member
   * list. Anything that does not verify marks the group tampered and warns;
   * the verified state stays what it was. Checks of one group run in turn.
   * A failure to check (relay gone) is logged, or thrown with `rethrow`.
   */
  check(gid: string, state: GroupState | null, rethrow = false): Promise<void> {
    const attempt = (this.checking.get(gid) ?? Promise.resolve()).then(() => this.checkNow(gid, state));
    const run = attempt.catch((err: Error) => this.deps.logger.log('info', 'could not check a group chain; will check again on the next change', { gid, error: err.message }));
    this.checking.set(gid, run);
    void run.then(() => {
      if (this.checking.get(gid) === run) this.checking.delete(gid);
    });
    return rethrow ? attempt : run;
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
    this.deps.emit({ type: 'group', group: this.deps.info(this.db.get(gid)!) });
  }

  /** The relay's account of a group does not verify: keep the verified state, mark the group, warn the user. */
  private tampered(gid: string, kind: ChainBreak['kind'], why: string): void {
    const g = this.db.get(gid);
    this.db.markTampered(gid, why);
    const name = g ? `${g.name} (${gid.slice(0, SHORT_ID)})` : gid.slice(0, SHORT_ID);
    this.deps.logger.log('warn', 'refused a group membership that does not verify', { gid, kind, why });
    this.deps.emit({
      type: 'warning',
      code: ErrorCodes.GROUP_TAMPERED,
      message: `group ${name}: the relay's member list does not verify (${why}); refused: your messages and sender key go only to the members of the signed chain`,
    });
  }

  /**
   * Whether a member's sender key may be kept: only if the chain revision it
   * was made for is one we verified (fetched first if newer) with the same
   * hash, and its sender is a member in our verified state. A different hash
   * at a revision we know marks the group tampered (a fork).
   */
  async acceptsKey(from: string, content: SenderKeyContent): Promise<boolean> {
    let g = this.db.get(content.gid);
    if (!g?.member) return false;
    if (content.rev > g.rev) {
      await this.check(content.gid, null);
      g = this.db.get(content.gid);
      if (!g?.member) return false;
    }
    const refuse = (why: string): false => {
      this.deps.logger.log('warn', 'refused a group sender key', { gid: content.gid, from, rev: content.rev, why });
      return false;
    };
    if (content.rev > g.rev) return refuse(`made for revision ${content.rev}, which the relay does not hand over`);
    if (this.db.chainHash(content.gid, content.rev) !== content.head) {
      this.tampered(content.gid, 'fork', `${this.deps.peerName(from)} sees another chain at revision ${content.rev}: the relay shows members different histories`);
      return refuse('a different chain');
    }
    // A member at the key's revision: one removed since still wrote what it wrote before (a member away meanwhile reads it).
    if (!this.deps.memberAt(content.gid, content.rev, from)) return refuse('the sender is not a member at that revision of the signed chain');
    return true;
  }

  private client(): RelayBridge['client'] {
    const relay = this.deps.relay();
    if (!relay) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'groups are carried by a relay: start the peer with --relay wss://host:port');
    return relay.client;
  }
}
