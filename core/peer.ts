/**
 * createPeer(): the engine as one object, for the hosts (CLI, control API,
 * desktop app). Wiring only: start() opens the profile and assembles the
 * parts (core/engine/engine-lifecycle.ts, assemble-engine.ts), and the façade
 * holds the running engine in one place, `engine`. Each operation takes the
 * running engine and delegates to the module of its concern (core/engine:
 * message-ops, file-ops, contact-ops, self-ops); a call while the peer is not
 * running throws PIGEON_ERR_NOT_RUNNING. start() and stop() are idempotent.
 */
import type { GroupInfo, KeyChangeInfo, MessageInfo, MultiSendInfo, PeerEvent, PeerInfo, Recipients, SelfInfo, SettingsInfo, TransferEntryInfo, TransferFilesInfo, TransferInfo, UnreadInfo } from '../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../shared/protocol/errors.js';
import type { PresenceStatus } from '../shared/protocol/schemas-common.js';
import { keyChanges, memberIds, trust } from './engine/contact-ops.js';
import { selfInfoOf, type Engine } from './engine/engine.js';
import { closeEngine, openEngine } from './engine/engine-lifecycle.js';
import { answersFor, sendFiles, sendPicture, transferFiles } from './engine/file-ops.js';
import { history, markRead, scheduled, scheduledCancel, scheduledEdit, sendMessage, sendMulti } from './engine/message-ops.js';
import type { PeerComponents, PeerOptions } from './engine/peer-options.js';
import { blankProfile } from './engine/profile-settings.js';
import { setProfile, setStatus, settings } from './engine/self-ops.js';
import type { Identity } from './identity/identity.js';

export { defaultComponents, type PeerComponents, type PeerOptions } from './engine/peer-options.js';

export type PeerListener = (event: PeerEvent) => void;

export interface Peer {
  start(): Promise<SelfInfo>;
  stop(): Promise<void>;
  on(listener: PeerListener): () => void;
  self(): SelfInfo;
  peers(): PeerInfo[];
  /** Finds a peer by exact name or unique device-id prefix. */
  resolve(query: string): PeerInfo;
  send(peerQuery: string, text: string, at?: number): Promise<MessageInfo>;
  /** `stored`: a message stored on the relay for a peer offline everywhere counts as done. */
  waitDelivered(id: string, timeoutMs: number, opts?: { stored?: boolean }): Promise<MessageInfo>;
  /** `before`: for a group, the page before this group seq. */
  history(peerQuery: string, limit?: number, before?: number): MessageInfo[];
  markRead(peerQuery: string): number;
  setStatus(status: PresenceStatus, away?: string): SelfInfo;
  /** Accepts the changed key a peer presented. */
  trust(peerQuery: string): PeerInfo;
  /** `pin`: the PIN a LocalSend receiver asks for. */
  sendFiles(peerQuery: string, paths: string[], pin?: string): Promise<TransferInfo>;
  /** Sends one picture (stored once in the profile, shown inline); to an IPMsg contact, an ordinary file. */
  sendPicture(peerQuery: string, path: string): Promise<TransferInfo>;
  transfers(): TransferInfo[];
  accept(transfer: string, files?: number[]): Promise<TransferInfo>;
  decline(transfer: string): TransferInfo;
  cancel(transfer: string): Promise<TransferInfo>;
  waitTransfer(transfer: string, timeoutMs: number): Promise<TransferInfo>;
  transferEntries(transfer: string): TransferEntryInfo[];
  /** The files a transfer actually carried and where they are. */
  transferFiles(transfer: string): TransferFilesInfo;
  /** Unread incoming messages per conversation. */
  unread(): UnreadInfo[];
  /** Messages of all conversations containing the text, newest first. */
  searchHistory(query: string, limit?: number): MessageInfo[];
  /** Changed keys refused until the user trusts them. */
  keyChanges(): KeyChangeInfo[];
  settings(): SettingsInfo;
  /** Changes the display name and workgroup (saved in the profile, announced at once). */
  setProfile(name: string, group: string): SelfInfo;
  readonly identity: Identity | null;
  groups(): GroupInfo[];
  /** Creates a group on the relay with these members (names or id prefixes). */
  groupCreate(name: string, members: string[]): Promise<GroupInfo>;
  groupAdd(group: string, members: string[]): Promise<GroupInfo>;
  groupRemove(group: string, member: string): Promise<GroupInfo>;
  groupLeave(group: string): Promise<GroupInfo>;
  /** One message to several people, a copy each (§7.12). */
  sendMulti(to: Recipients, text: string, at?: number): Promise<MultiSendInfo>;
  /** The colleagues a recipient list means now. */
  recipients(to: Recipients): PeerInfo[];
  multiSend(id: string): MultiSendInfo;
  waitMulti(id: string, timeoutMs: number): Promise<MultiSendInfo>;
  /** Scheduled messages not yet sent, soonest first (§7.9). */
  scheduled(): MessageInfo[];
  scheduledCancel(id: string): MessageInfo[];
  scheduledEdit(id: string, at?: number, text?: string): MessageInfo[];
}

/** Default number of search hits: a screenful or two; the UI asks for more if it wants. */
const DEFAULT_SEARCH_HITS = 200;

export function createPeer(components: PeerComponents, options: PeerOptions): Peer {
  const { logger } = components;
  const listeners = new Set<PeerListener>();
  const emit = (event: PeerEvent): void => {
    for (const l of listeners) {
      try {
        l(event);
      } catch (err) {
        logger.log('error', 'event listener failed', { error: (err as Error).message });
      }
    }
  };

  /** The engine, from assembly until stopped: the one place its parts are held. */
  let engine: Engine | null = null;
  /** The device's identity, kept after stop (self() still answers who we are). */
  let identity: Identity | null = null;
  /** Who we are: kept across restarts, refreshed from the profile at each start. */
  const me = blankProfile();
  let state: 'stopped' | 'starting' | 'running' | 'stopping' = 'stopped';
  let starting: Promise<SelfInfo> | null = null;
  let stopping: Promise<void> | null = null;

  /** The running engine, or NOT_RUNNING (before start, while starting or stopping, after stop). */
  function running(): Engine {
    if (state !== 'running' || !engine) throw new PigeonError(ErrorCodes.NOT_RUNNING, 'the peer is not running');
    return engine;
  }

  function selfInfo(): SelfInfo {
    if (!identity) throw new PigeonError(ErrorCodes.NOT_RUNNING, 'the peer is not running');
    return selfInfoOf(identity, me, engine);
  }

  async function doStart(): Promise<SelfInfo> {
    const started = await openEngine(components, options, me, emit, {
      identity: (id) => (identity = id),
      assembled: (e) => (engine = e),
    });
    state = 'running';
    try {
      started.transfers.resumeAll();
      const self = selfInfo();
      emit({ type: 'listening', self });
      return self;
    } catch (err) {
      await doStop();
      throw err;
    }
  }

  async function doStop(): Promise<void> {
    const e = engine;
    engine = null;
    if (e) await closeEngine(e);
    state = 'stopped';
  }

  return {
    get identity() {
      return identity;
    },
    start() {
      if (state === 'running') return Promise.resolve(selfInfo());
      if (starting) return starting;
      state = 'starting';
      starting = doStart().catch((err: unknown) => {
        // openEngine closed what it had opened.
        engine = null;
        state = 'stopped';
        throw err;
      });
      void starting.finally(() => (starting = null)).catch(() => {});
      return starting;
    },
    async stop() {
      if (starting) await starting.catch(() => {});
      if (state === 'stopped') return;
      if (!stopping) {
        state = 'stopping';
        stopping = doStop().finally(() => (stopping = null));
      }
      return stopping;
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    self: selfInfo,
    peers: () => running().directory.list(),
    resolve: (query) => running().directory.resolve(query),
    send: async (peerQuery, text, at) => sendMessage(running(), peerQuery, text, at),
    waitDelivered: (id, timeoutMs, opts) => running().messenger.waitDelivered(id, timeoutMs, opts),
    history: (peerQuery, limit, before) => history(running(), peerQuery, limit, before),
    markRead: (peerQuery) => markRead(running(), peerQuery),
    setStatus: (status, away) => setStatus(running(), status, away),
    trust: (peerQuery) => trust(running(), peerQuery),
    sendFiles: async (peerQuery, paths, pin) => sendFiles(running(), peerQuery, paths, pin),
    sendPicture: async (peerQuery, path) => sendPicture(running(), peerQuery, path),
    transfers: () => running().transfers.list(),
    accept: (transfer, files) => answersFor(running(), transfer).accept(transfer, files),
    decline: (transfer) => answersFor(running(), transfer).decline(transfer),
    cancel: (transfer) => answersFor(running(), transfer).cancel(transfer),
    waitTransfer: (transfer, timeoutMs) => running().transfers.waitFinished(transfer, timeoutMs),
    transferEntries: (transfer) => running().transfers.entries(transfer),
    transferFiles: (transfer) => transferFiles(running(), transfer),
    unread: () => running().store.unreadCounts(),
    searchHistory: (query, limit = DEFAULT_SEARCH_HITS) => running().store.search(query, limit),
    keyChanges: () => keyChanges(running()),
    settings: () => settings(running()),
    setProfile: (name, group) => setProfile(running(), name, group),
    groups: () => running().groups.list(),
    groupCreate: async (name, members) => {
      const e = running();
      return e.groups.create(name, memberIds(e, members));
    },
    groupAdd: async (group, members) => {
      const e = running();
      return e.groups.add(group, memberIds(e, members));
    },
    groupRemove: async (group, member) => {
      const e = running();
      return e.groups.remove(group, memberIds(e, [member])[0]!);
    },
    groupLeave: async (group) => running().groups.leave(group),
    sendMulti: async (to, text, at) => sendMulti(running(), to, text, at),
    recipients: (to) => running().multi.recipients(to),
    multiSend: (id) => running().multi.get(id),
    waitMulti: (id, timeoutMs) => running().multi.wait(id, timeoutMs),
    scheduled: () => scheduled(running()),
    scheduledCancel: (id) => scheduledCancel(running(), id),
    scheduledEdit: (id, at, text) => scheduledEdit(running(), id, at, text),
  };
}
