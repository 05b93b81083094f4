/**
 * Joins the relay client to the engine: remote peers listed by the relay go
 * into the directory (source 'relay', marked remote); a session to a peer
 * with no LAN address runs through a relay pipe; messages for a peer that is
 * offline everywhere are sealed and left in its relay mailbox, and what
 * arrives in ours is opened, stored and answered with a sealed receipt.
 * Direct delivery stays first: the mailbox is used only when the peer is not
 * reachable at all.
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { MAX_IDS_PER_FRAME } from '../../shared/protocol/constants.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { MAX_WATCHED, SealedContent, type DeliverFrame, type GroupDeliverFrame, type GroupState, type RelayProfile, type RemotePeer } from '../../shared/protocol/relay-frames.js';
import { deviceIdFromDigest } from '../../shared/util/device-id.js';
import type { PeerDirectory } from '../discovery/peer-directory.js';
import type { Identity } from '../identity/identity.js';
import type { Messenger } from '../messaging/messenger.js';
import type { Store } from '../store/store.js';
import type { Clock, Logger, Random } from '../util/components.js';
import { encKeyValid, type EncKeyPair } from './enc-key.js';
import { open, seal } from './envelope.js';
import { RelayClient, type RelaySettings } from './relay-client.js';
import { CarryLoops } from '../util/carry-loops.js';

/** A relay listing stays until the relay says otherwise (or the connection drops): no expiry of its own. */
const RELAY_SIGHTING_TTL_MS = 10 * 365 * 24 * 3600 * 1000;
/** Outbox messages sealed and put per round; puts are pipelined, the relay commits them in order. */
const CARRY_BATCH = 256;
/** After a failed put (relay gone, quota), the next try waits this long unless something else triggers it. */
const CARRY_RETRY_MS = 5000;
/** Receipts for messages that came through the mailbox are gathered this long, then sealed in one body per sender. */
const RECEIPT_DELAY_MS = 50;

const SETTING_CURSOR = 'relay.cursor';

interface Remote {
  peer: RemotePeer;
  spki: Buffer;
}

/** What the bridge hands to the group service (core/groups/). */
export interface GroupHooks {
  onConnected(connected: boolean): void;
  onGroup(state: GroupState): void;
  onGroupLeft(gid: string): void;
  onGroupDeliver(frame: GroupDeliverFrame): Promise<void>;
  onGroupSynced(gid: string, last: number, complete: boolean): void;
  onSenderKey(from: string, content: Extract<SealedContent, { kind: 'group-key' }>): Promise<void>;
}

export interface RelayBridgeDeps {
  identity: Identity;
  enc: EncKeyPair;
  store: Store;
  clock: Clock;
  random: Random;
  logger: Logger;
  directory: PeerDirectory;
  messenger: Messenger;
  profile: () => RelayProfile;
  /** A pipe from another peer: hand it to the session listener. */
  acceptStream: (stream: Duplex) => void;
  /** The relay connection came or went (status displays). */
  onConnected: (connected: boolean) => void;
  groups: GroupHooks;
  /** Files left on the relay (relay-files.ts): sealed offers and answers go there. */
  files?: FileHooks;
}

/** What the bridge hands to the relay file service (relay-files.ts). */
export interface FileHooks {
  /** Resolves once the content is stored (the mailbox entry may then be acknowledged). */
  onSealed(from: string, content: Extract<SealedContent, { kind: 'file-offer' | 'file-answer' }>): Promise<void>;
  /** The peer is offline everywhere and the relay lists it: queued transfers may be left there. */
  carry(peer: string): void;
}

export class RelayBridge {
  readonly client: RelayClient;
  private readonly remotes = new Map<string, Remote>();
  private readonly loops: CarryLoops;
  private readonly receipts = new Map<string, Set<string>>();
  private receiptTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: RelayBridgeDeps,
    readonly settings: RelaySettings,
  ) {
    const { identity, enc, logger, clock, store } = deps;
    this.loops = new CarryLoops({
      run: (peer) => this.carryLoop(peer),
      keys: () => deps.messenger.peersWithWork(),
      retryMs: CARRY_RETRY_MS,
      onError: (peer, err) => logger.log('info', 'could not leave messages on the relay; will retry', { peer, error: err.message }),
    });
    this.client = new RelayClient({ identity, enc, logger, clock }, settings, {
      profile: deps.profile,
      onPeers: (peers) => this.onPeers(peers),
      onGone: (ids) => {
        // Pruned at the relay (away too long): no mailbox there any more.
        for (const id of ids) {
          this.remotes.delete(id);
          deps.directory.gone(id, 'relay');
        }
      },
      onDeliver: (frame) => this.onDeliver(frame),
      // A large relay pushes presence only for the devices watched (§12.2.1): those we have a conversation with.
      watch: () => store.conversationPeers(MAX_WATCHED),
      onPipe: (stream) => deps.acceptStream(stream),
      onConnected: (connected) => {
        if (connected) this.carryAll();
        else for (const id of this.remotes.keys()) deps.directory.gone(id, 'relay');
        deps.groups.onConnected(connected);
        deps.onConnected(connected);
      },
      onGroup: (state) => deps.groups.onGroup(state),
      onGroupLeft: (gid) => deps.groups.onGroupLeft(gid),
      onGroupDeliver: (frame) => deps.groups.onGroupDeliver(frame),
      onGroupSynced: (gid, last, complete) => deps.groups.onGroupSynced(gid, last, complete),
      cursor: {
        load: () => {
          const raw = store.getSetting(SETTING_CURSOR);
          if (!raw) return null;
          const [epoch, seq] = raw.split(' ');
          return epoch && Number.isSafeInteger(Number(seq)) ? { epoch, seq: Number(seq) } : null;
        },
        save: (epoch, seq) => store.setSetting(SETTING_CURSOR, `${epoch} ${seq}`),
      },
    });
  }

  start(): void {
    this.client.start();
  }

  stop(): void {
    if (this.receiptTimer) clearTimeout(this.receiptTimer);
    this.loops.stop();
    this.receiptTimer = null;
    this.client.stop();
  }

  /** A pipe to this peer, if the relay lists it online; else null. */
  pipe(peerId: string): Promise<Duplex> | null {
    const r = this.remotes.get(peerId);
    if (!this.client.connected || !r?.peer.online) return null;
    return this.client.openPipe(peerId);
  }

  /** A device's encryption key as the relay listed it (checked against its id), or null. */
  encKey(peerId: string): string | null {
    return this.remotes.get(peerId)?.peer.enc.key ?? null;
  }

  /** A device's key (DER SPKI) as the relay listed it, or null. */
  spki(peerId: string): Buffer | null {
    return this.remotes.get(peerId)?.spki ?? null;
  }

  /** The relay knows this device (a mailbox can take messages for it). */
  knows(peerId: string): boolean {
    return this.remotes.has(peerId);
  }

  // ---- directory ----------------------------------------------------------------

  private onPeers(peers: RemotePeer[]): void {
    const { directory, identity, logger } = this.deps;
    for (const p of peers) {
      if (p.id === identity.id) continue;
      const known = this.remotes.get(p.id);
      const same = known && known.peer.spki === p.spki && known.peer.enc.key === p.enc.key && known.peer.enc.sig === p.enc.sig;
      const spki = same ? known.spki : Buffer.from(p.spki, 'base64');
      // The id is the hash of the key, and the encryption key is signed by it:
      // a relay cannot slip in a key of its own for someone else's id. (Keys already checked are not checked again.)
      if (!same && (deviceIdFromDigest(createHash('sha256').update(spki).digest()) !== p.id || !encKeyValid(p.id, p.spki, p.enc))) {
        logger.log('warn', 'ignored a relay listing with keys that do not match its id', { peer: p.id });
        continue;
      }
      this.remotes.set(p.id, { peer: p, spki });
      if (p.online) {
        directory.seen({ id: p.id, name: p.name, group: p.group, host: p.host, status: p.status, away: p.away, port: 0, address: '', source: 'relay', ttlMs: RELAY_SIGHTING_TTL_MS });
      } else {
        directory.gone(p.id, 'relay');
        directory.remember({ id: p.id, name: p.name, group: p.group, host: p.host, status: p.status, away: p.away, port: 0 });
        this.carry(p.id);
      }
    }
  }

  // ---- outgoing: the mailbox as the fallback ----------------------------------

  /** Every peer with queued messages that is offline everywhere. */
  carryAll(): void {
    this.loops.carryAll();
  }

  /** Seals the queued messages and read receipts for a peer that is offline everywhere into its relay mailbox. */
  carry(peer: string): void {
    this.deps.files?.carry(peer);
    this.loops.carry(peer);
  }

  private async carryLoop(peer: string): Promise<void> {
    const { store, directory, identity, messenger, random } = this.deps;
    for (;;) {
      const remote = this.remotes.get(peer);
      if (!remote || !this.client.connected || directory.isOnline(peer)) return;
      // Read receipts of this peer's messages, which the session would otherwise carry.
      const read = store.pendingReceipts(peer, MAX_IDS_PER_FRAME);
      if (read.length > 0) {
        const id = random.hex(16);
        const content: SealedContent = { kind: 'read', ids: read };
        await this.client.put(peer, id, seal(identity, peer, remote.peer.enc.key, id, Buffer.from(JSON.stringify(content))));
        store.receiptsDelivered(peer, read);
      }
      const batch = store.pending(peer, 0, CARRY_BATCH).filter((m) => m.state === 'queued');
      if (batch.length === 0 && read.length < MAX_IDS_PER_FRAME) return;
      await Promise.all(
        batch.map(async (m) => {
          const content: SealedContent = { kind: 'msg', seq: m.seq!, ts: m.ts, text: m.text, ...(m.auto ? { auto: true as const } : {}) };
          await this.client.put(peer, m.id, seal(identity, peer, remote.peer.enc.key, m.id, Buffer.from(JSON.stringify(content))));
          messenger.relayed(peer, [m.id]);
        }),
      );
    }
  }

  // ---- incoming -------------------------------------------------------------------

  private async onDeliver(frame: DeliverFrame): Promise<void> {
    const { identity, enc, store, messenger } = this.deps;
    const spki = this.remotes.get(frame.from)?.spki ?? store.pinnedKey(frame.from);
    if (!spki) throw new PigeonError(ErrorCodes.PROTOCOL, `relay message from an unknown device ${frame.from}`);
    const plain = open(frame.body, frame.from, spki, { id: identity.id, encKey: enc.privateKey, encRaw: enc.published.key }, frame.id);
    let json: unknown;
    try {
      json = JSON.parse(plain.toString('utf8'));
    } catch {
      throw new PigeonError(ErrorCodes.PROTOCOL, 'relay message is not JSON inside');
    }
    const content = SealedContent.safeParse(json);
    if (!content.success) throw new PigeonError(ErrorCodes.PROTOCOL, 'relay message content does not match the schema');
    const c = content.data;
    if (c.kind === 'msg') {
      messenger.receiveRelayed(frame.from, [{ id: frame.id, seq: c.seq, ts: c.ts, text: c.text, ...(c.auto ? { auto: true } : {}) }]);
      // Stored (or already there): the sender hears "delivered" through its own mailbox.
      this.queueReceipt(frame.from, frame.id);
    } else if (c.kind === 'group-key') {
      void this.deps.groups.onSenderKey(frame.from, c);
    } else if (c.kind === 'file-offer' || c.kind === 'file-answer') {
      // Files left on the relay (relay-files.ts); without it the body is dropped like any other unknown one.
      if (!this.deps.files) throw new PigeonError(ErrorCodes.PROTOCOL, 'files on the relay are not handled by this peer');
      await this.deps.files.onSealed(frame.from, c);
    } else {
      messenger.receipt(frame.from, c.ids, c.kind);
    }
  }

  private queueReceipt(peer: string, id: string): void {
    let set = this.receipts.get(peer);
    if (!set) this.receipts.set(peer, (set = new Set()));
    set.add(id);
    if (!this.receiptTimer) {
      this.receiptTimer = setTimeout(() => this.flushReceipts(), RECEIPT_DELAY_MS);
      this.receiptTimer.unref();
    }
  }

  private flushReceipts(): void {
    this.receiptTimer = null;
    const { identity, random, logger } = this.deps;
    for (const [peer, set] of this.receipts) {
      this.receipts.delete(peer);
      const remote = this.remotes.get(peer);
      if (!remote) continue;
      const ids = [...set];
      for (let i = 0; i < ids.length; i += MAX_IDS_PER_FRAME) {
        const content: SealedContent = { kind: 'delivered', ids: ids.slice(i, i + MAX_IDS_PER_FRAME) };
        const id = random.hex(16);
        this.client.put(peer, id, seal(identity, peer, remote.peer.enc.key, id, Buffer.from(JSON.stringify(content)))).catch((err: Error) => {
          // A lost receipt leaves the sender at "relayed"; the message itself is safe here.
          logger.log('info', 'could not send a delivery receipt through the relay', { peer, error: err.message });
        });
      }
    }
  }
}
