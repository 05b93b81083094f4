/**
 * createPeer(): the engine as one object. Wires identity, store, the
 * discovery sources, the peer directory, sessions and the messenger, and
 * exposes one typed event stream plus the operations the hosts (CLI, control
 * API, desktop app) need. start() and stop() are idempotent. Which engine
 * serves a contact (native sessions with their relay fallback, or the IPMsg
 * bridge) is the `engines` table, looked up in engineOf() only; session
 * frames reach their service through the FrameRouter each service claims
 * types in.
 */
import { hostname, userInfo } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import type { GroupInfo, KeyChangeInfo, MessageInfo, MultiSendInfo, PeerEvent, PeerInfo, Recipients, SelfInfo, SettingsInfo, TransferEntryInfo, TransferFilesInfo, TransferInfo, UnreadInfo } from '../shared/api/control-api.js';
import { DEFAULT_PORT, EXPIRY_MS, MAX_AWAY_CHARS, MAX_LABEL_CHARS } from '../shared/protocol/constants.js';
import { ErrorCodes, PigeonError } from '../shared/protocol/errors.js';
import type { PresenceStatus } from '../shared/protocol/schemas-common.js';
import type { HelloFrame } from '../shared/protocol/session-frames.js';
import type { DiscoverySource, SelfPresence } from './discovery/discovery-source.js';
import { MdnsSource } from './discovery/mdns-source.js';
import { PeerDirectory } from './discovery/peer-directory.js';
import { UdpPresence } from './discovery/udp-presence.js';
import { loadOrCreateIdentity, type Identity } from './identity/identity.js';
import { createSigner } from './identity/signing.js';
import { resolveTarget } from './groups/conversation-target.js';
import { GroupService } from './groups/group-service.js';
import { MESSENGER_FRAMES, Messenger } from './messaging/messenger.js';
import { MultiSends } from './messaging/multi-send.js';
import { AwayReply } from './messaging/away-reply.js';
import { ScheduledStore } from './store/scheduled-store.js';
import { FrameRouter } from './session/frame-router.js';
import type { Session } from './session/session.js';
import { SessionManager } from './session/session-manager.js';
import { groupOf } from '../shared/api/conversation-key.js';
import { Store } from './store/store.js';
import { ownerOnlyFile, secureProfileFolder } from './store/profile-folder.js';
import { TransferService } from './transfer/transfer-service.js';
import { transferFiles } from './transfer/transfer-files.js';
import { storePicture } from './transfer/pictures.js';
import { loadOrCreateEncKey } from './relay-client/enc-key.js';
import { RelayBridge } from './relay-client/relay-bridge.js';
import { queuedReason } from './messaging/queued-reason.js';
import type { IpmsgBridge } from './ipmsg/ipmsg-bridge.js';
import { startIpmsg } from './ipmsg/start-ipmsg.js';
import type { IpmsgFiles } from './ipmsg/ipmsg-files.js';
import type { LocalSendBridge } from './localsend/localsend-bridge.js';
import { startLocalSend } from './localsend/start-localsend.js';
import type { DeviceType } from './localsend/ls-wire.js';
import { RelayFiles } from './relay-client/relay-files.js';
import type { RelaySettings } from './relay-client/relay-client.js';
import { resolveRelayToken } from './relay-client/relay-token.js';
import { silentLogger, systemClock, systemRandom, type Clock, type Logger, type Random } from './util/components.js';

export interface PeerComponents {
  clock: Clock;
  random: Random;
  logger: Logger;
}

export interface PeerOptions {
  /** Profile folder: keys, database, control socket. */
  home: string;
  /** Display name; default: the saved one, else the OS user name. Saved in the profile. */
  name?: string;
  /** Workgroup / department; default: the saved one, else empty. Saved in the profile. */
  group?: string;
  /** TCP session port; default DEFAULT_PORT, falling back to any free port if taken. */
  port?: number;
  /** UDP discovery port (the same on every peer of a LAN); default DEFAULT_PORT. */
  discoveryPort?: number;
  /** Broadcast addresses: 'auto' (every interface + 255.255.255.255), a list, or [] for none. */
  broadcast?: 'auto' | string[];
  /** Extra unicast discovery targets, host[:port], e.g. peers in another subnet. */
  extraAddresses?: string[];
  /** Discover by mDNS / DNS-SD too (default true). */
  mdns?: boolean;
  /** Interface addresses for mDNS; default every non-loopback IPv4 interface. */
  mdnsInterfaces?: string[];
  /** Where received files land; default <home>/downloads. */
  downloads?: string;
  /** Accept file offers from these peers without asking: names, id prefixes, or 'all'. */
  acceptFrom?: string[];
  /** Relay to use (saved in the profile); null forgets the saved one; absent = the saved one, if any. Its `token` is for this run only, never saved. */
  relay?: RelaySettings | null;
  /** The relay's invite token for this run only, never saved (the CLI reads PIGEON_RELAY_TOKEN). */
  relayToken?: string;
  /** A file holding the relay's invite token: the path is saved and the file read at every start; null forgets it. */
  relayTokenFile?: string | null;
  /** Also speak IPMsg (IP Messenger, Feiq, iptux) on UDP 2425 (saved in the profile; absent = the saved choice, default off). */
  ipmsg?: boolean;
  /** The IPMsg choice when neither `ipmsg` nor the profile says (the desktop app: on, as the issue asks; the CLI: off). */
  ipmsgDefault?: boolean;
  /** Address the IPMsg bridge binds (default every interface); for tests and multi-homed hosts. */
  ipmsgBind?: string;
  /** IPMsg port (default 2425, what every IPMsg client uses); for tests. */
  ipmsgPort?: number;
  /** IPMsg presence refresh period (default 3 min); for tests. */
  ipmsgRefreshMs?: number;
  /** Also be a LocalSend device (phones and laptops with the LocalSend app) on UDP+TCP 53317 (saved in the profile; absent = the saved choice). */
  localsend?: boolean;
  /** The LocalSend choice when neither `localsend` nor the profile says (the desktop app: on; the CLI: off). */
  localsendDefault?: boolean;
  /** LocalSend port (default 53317, what every LocalSend app uses). */
  localsendPort?: number;
  /** Address the LocalSend bridge binds (default every interface); for tests and multi-homed hosts. */
  localsendBind?: string;
  /** A PIN LocalSend senders must give (their app asks its user for it); none by default. */
  localsendPin?: string;
  /** Serve LocalSend over plain HTTP (LocalSend's "encryption off"); default HTTPS. */
  localsendHttp?: boolean;
  /** What LocalSend devices show us as (default 'headless'; the desktop app says 'desktop'). */
  localsendDeviceType?: DeviceType;
  /** LocalSend multicast group (default 224.0.0.167); for tests. */
  localsendGroup?: string;
  /** Unicast targets for LocalSend announcements (devices in another subnet); default none. */
  localsendAddresses?: string[];
  /** Tests only: list other Pigeons' LocalSend faces as contacts (off: they are native peers already). */
  localsendAcceptPigeons?: boolean;
}

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

/** Default number of history lines returned. */
const DEFAULT_HISTORY = 100;
/** Default number of search hits: a screenful or two; the UI asks for more if it wants. */
const DEFAULT_SEARCH_HITS = 200;

/** The session frames the transfer service owns (§13). */
const TRANSFER_FRAMES = ['offer', 'offer-ack', 'accept', 'decline', 'cancel', 'done', 'transfer-ack'] as const;

/**
 * What the engine does for a contact, per engine. Which engine serves a
 * contact is decided in one place (engineOf in createPeer); the relay is not
 * an engine of its own but the native engine's fallback route (pipes,
 * mailbox), chosen inside the session manager and the relay bridge.
 */
interface ContactEngine {
  /** Work waits for the contact: open the way to it. */
  ensure(peerId: string): void;
  /** A fresh sighting of the contact (every accepted announcement). */
  sighted(peerId: string): void;
  /** The contact came online. */
  online(peerId: string): void;
  /** Can native (encrypted, §13) transfers reach the contact now? */
  transfersReach(peerId: string): boolean;
}

export const defaultComponents: PeerComponents = { clock: systemClock, random: systemRandom, logger: silentLogger };

export function createPeer(components: PeerComponents, options: PeerOptions): Peer {
  const { clock, random, logger } = components;
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

  let identity: Identity | null = null;
  let store: Store | null = null;
  let directory: PeerDirectory | null = null;
  let sessions: SessionManager | null = null;
  let messenger: Messenger | null = null;
  let transfers: TransferService | null = null;
  let sources: DiscoverySource[] = [];
  let udp: UdpPresence | null = null;
  let relay: RelayBridge | null = null;
  let groups: GroupService | null = null;
  let ipmsg: IpmsgBridge | null = null;
  let localsend: LocalSendBridge | null = null;
  let relayFiles: RelayFiles | null = null;
  let multi: MultiSends | null = null;
  let awayReply: AwayReply | null = null;
  let scheduledStore: ScheduledStore | null = null;
  /** Services with work that needs a session to a peer (messenger, transfers); filled as they are built. */
  const workers: Array<{ hasWork(peerId: string): boolean }> = [];
  const hasWork = (peerId: string): boolean => workers.some((w) => w.hasWork(peerId));
  /** The routing table: sessions (and their relay fallback) for native peers, the IPMsg bridge for its contacts. */
  const engines: Record<'native' | 'ipmsg' | 'localsend', ContactEngine> = {
    native: {
      ensure: (peerId) => sessions?.ensure(peerId),
      sighted: (peerId) => sessions?.sighted(peerId),
      online: (peerId) => transfers?.peerOnline(peerId),
      transfersReach: (peerId) => directory?.isOnline(peerId) ?? false,
    },
    ipmsg: {
      ensure: (peerId) => ipmsg?.ensure(peerId),
      sighted: () => {},
      // IPMsg transfers are not resumed by the native service (ipmsg-transfers.ts runs them).
      online: () => {},
      transfersReach: () => false,
    },
    localsend: {
      ensure: (peerId) => localsend?.ensure(peerId),
      sighted: () => {},
      // LocalSend transfers run in the bridge (ls-sender.ts, ls-receiver.ts); none is resumed.
      online: () => {},
      transfersReach: () => false,
    },
  };
  const engineOf = (peerId: string): ContactEngine => engines[ipmsg?.owns(peerId) ? 'ipmsg' : localsend?.owns(peerId) ? 'localsend' : 'native'];
  const ensure = (peerId: string): void => engineOf(peerId).ensure(peerId);
  let state: 'stopped' | 'starting' | 'running' | 'stopping' = 'stopped';
  let starting: Promise<SelfInfo> | null = null;
  let stopping: Promise<void> | null = null;
  const me = { name: '', group: '', host: hostname().slice(0, MAX_LABEL_CHARS), status: 'online' as PresenceStatus, away: '' };

  const presence = (): SelfPresence => ({ id: identity!.id, name: me.name, group: me.group, host: me.host, port: sessions?.port ?? 0, status: me.status, away: me.away });
  const hello = (): HelloFrame => ({ type: 'hello', v: 1, ...presence(), groups: 1 });

  function running(): { store: Store; directory: PeerDirectory; sessions: SessionManager; messenger: Messenger; transfers: TransferService } {
    if (state !== 'running' || !store || !directory || !sessions || !messenger || !transfers) {
      throw new PigeonError(ErrorCodes.NOT_RUNNING, 'the peer is not running');
    }
    return { store, directory, sessions, messenger, transfers };
  }

  async function doStart(): Promise<SelfInfo> {
    secureProfileFolder(options.home, logger);
    identity = await loadOrCreateIdentity(options.home);
    store = new Store(ownerOnlyFile(join(options.home, 'pigeon.db')));
    const st = store;
    me.name = (options.name ?? st.getSetting('name') ?? userInfo().username ?? 'pigeon').slice(0, MAX_LABEL_CHARS);
    me.group = (options.group ?? st.getSetting('group') ?? '').slice(0, MAX_LABEL_CHARS);
    st.setSetting('name', me.name);
    st.setSetting('group', me.group);
    const savedStatus = st.getSetting('status');
    if (savedStatus === 'away' || savedStatus === 'busy') me.status = savedStatus;
    me.away = st.getSetting('away') ?? '';

    const relaySettings = resolveRelaySettings(st, options, logger);
    const dir = new PeerDirectory({ clock, store: st, logger, onSighting: (peerId) => engineOf(peerId).sighted(peerId) }, (event) => {
      emit(event);
      if (event.type === 'peer-offline') relay?.carry(event.peer.id);
      if (event.type === 'peer-online') {
        if (hasWork(event.peer.id)) ensure(event.peer.id);
        engineOf(event.peer.id).online(event.peer.id);
      }
    }, (address, port) => udp?.learn(address, port));
    directory = dir;
    messenger = new Messenger(
      { store: st, clock, random, logger },
      (raw) => {
        // A copy of a multi-send says how far the whole multi-send got (§7.12).
        const event = (raw.type === 'message' || raw.type === 'message-state') && raw.message.multi && multi ? { ...raw, message: multi.annotateEvent(raw.message) } : raw;
        emit(event);
        if (event.type === 'message-state') multi?.changed(event.message);
        if (event.type === 'message') awayReply?.received(event.message);
        // A message queued for a peer that is offline everywhere goes to its relay mailbox; a group's to the group log.
        if (event.type === 'message-state' && event.message.state === 'queued') {
          if (event.message.group) groups?.carry(event.message.group);
          else relay?.carry(event.message.peer);
        }
      },
      (conversation) => {
        const gid = groupOf(conversation);
        if (gid) groups?.carry(gid);
        else ensure(conversation);
      },
    );
    const msgr = messenger;
    workers.push(msgr);
    multi = new MultiSends({
      store: st,
      random,
      contacts: () => dir.list(),
      resolve: (q) => dir.resolve(q),
      sendCopy: (peer, text, at, id) => {
        if ((peer.protocol ?? 'pigeon') === 'pigeon') dir.confirm(peer.id);
        return msgr.send(peer.id, text, at, { multi: id });
      },
      waitDelivered: (id, timeoutMs) => msgr.waitDelivered(id, timeoutMs),
      emit,
    });
    awayReply = new AwayReply({ store: st, logger, self: () => ({ status: me.status, away: me.away }), broadcast: (m) => ipmsg?.broadcastMessage(m.peer, m.id) ?? false, reply: (peer, text) => msgr.send(peer, text, undefined, { auto: true }) });
    scheduledStore = new ScheduledStore(st);
    // Every session's frames go to the service that claimed their type.
    const router = new FrameRouter<Session>(logger);
    router.register(MESSENGER_FRAMES, (session, frame) => msgr.receive(session, frame));
    router.register(['status'], (session, frame) => {
      session.hello = { ...session.hello, status: frame.status, away: frame.away };
      dir.seen({ ...session.hello, address: session.remoteAddress, source: 'session', ttlMs: EXPIRY_MS });
    });
    /** Services to tell when a session opens (the transfer service joins once built). */
    const onOpen: Array<(session: Session) => void> = [(session) => msgr.attach(session)];
    sessions = new SessionManager(
      { identity, store: st, directory: dir, clock, logger },
      {
        port: options.port ?? DEFAULT_PORT,
        portFallback: options.port === undefined,
        selfHello: hello,
        wantsSession: hasWork,
        router,
        onOpen: (session) => {
          for (const fn of onOpen) fn(session);
        },
        onKeyChanged: (peerId, pinned, presented) =>
          emit({ type: 'key-changed', peerId, name: dir.get(peerId)?.name ?? '', pinned, presented }),
        pipe: (peerId) => relay?.pipe(peerId) ?? null,
      },
    );
    const sm = sessions;
    const gs = new GroupService({
      identity, store: st, clock, random, logger, messenger: msgr, relay: () => relay, peerName: (id) => dir.get(id)?.name ?? id.slice(0, 8), emit,
      session: (peerId) => sm.get(peerId), ensure,
    });
    groups = gs;
    // With no relay, groups go member to member over the sessions (§12.10).
    workers.push(gs.lan);
    router.register(['group-have'], (session, frame) => gs.lan.onHave(session.peerId, frame));
    router.register(['group-log'], (session, frame) => gs.lan.onLog(session.peerId, frame));
    onOpen.push((session) => gs.lan.onOpen(session.peerId));
    if (relaySettings) {
      relay = new RelayBridge(
        {
          identity,
          enc: loadOrCreateEncKey(options.home, identity),
          store: st,
          clock,
          random,
          logger,
          directory: dir,
          messenger: msgr,
          profile: () => ({ name: me.name, group: me.group, host: me.host, status: me.status, away: me.away }),
          acceptStream: (stream) => sm.acceptStream(stream),
          onConnected: (connected) => {
            emit({ type: 'relay', relay: selfInfo().relay! });
            if (connected) relayFiles?.carryAll();
          },
          groups: gs,
          files: { onSealed: async (from, content) => relayFiles?.onSealed(from, content), carry: (peer) => relayFiles?.carry(peer) },
        },
        relaySettings,
      );
    }
    transfers = new TransferService({ store: st, clock, random, logger }, {
      downloads: options.downloads ?? join(options.home, 'downloads'),
      acceptFrom: options.acceptFrom ?? [],
      session: (peerId) => sm.get(peerId),
      ensureSession: ensure,
      dialData: (peerId) => sm.dialData(peerId),
      peerName: (peerId) => dir.get(peerId)?.name ?? peerId.slice(0, 8),
      isOnline: (peerId) => engineOf(peerId).transfersReach(peerId),
      relayFiles: { fetcher: (id) => relayFiles?.fetcher(id) ?? null, uploading: (id) => relayFiles?.uploading(id) ?? false },
    }, (e) => {
      emit(e);
      relayFiles?.onTransferEvent(e);
    });
    const tr = transfers;
    workers.push(tr);
    router.register(TRANSFER_FRAMES, (session, frame) => tr.onFrame(session, frame));
    sm.onDataConnection((socket, peerId, decoder) => tr.onDataConnection(socket, peerId, decoder));
    onOpen.push((session) => tr.flush(session.peerId));
    if (relay) relayFiles = new RelayFiles({ identity, store: st, clock, random, logger, directory: dir, bridge: relay, transfers, emit });
    await sessions.start();
    messenger.start();
    dir.start();
    const discoveryPort = options.discoveryPort ?? DEFAULT_PORT;
    udp = new UdpPresence(
      { logger, random, clock },
      { discoveryPort, broadcast: options.broadcast ?? 'auto', extraAddresses: options.extraAddresses ?? [], self: presence, sink: dir, knownPeers: () => dir.onlineCount(), spki: identity.spki, sign: createSigner(identity) },
    );
    sources = [udp];
    if (options.mdns !== false) {
      sources.push(new MdnsSource({ logger, clock }, { discoveryPort, self: presence, sink: dir, ...(options.mdnsInterfaces ? { interfaces: options.mdnsInterfaces } : {}) }));
    }
    for (const s of sources) await s.start();
    if (resolveFlag(st, 'ipmsg', options.ipmsg, options.ipmsgDefault ?? false)) {
      ipmsg = await startIpmsg(
        { store: st, clock, random, logger, directory: dir, messenger: msgr, transfers: transfers!, self: () => ({ ...me }), emit },
        { ...(options.ipmsgBind !== undefined ? { bind: options.ipmsgBind } : {}), ...(options.ipmsgPort !== undefined ? { port: options.ipmsgPort } : {}), ...(options.ipmsgRefreshMs !== undefined ? { refreshMs: options.ipmsgRefreshMs } : {}), broadcast: options.broadcast ?? 'auto', extraAddresses: options.extraAddresses ?? [], downloads: options.downloads ?? join(options.home, 'downloads') },
      );
      if (ipmsg) sources.push(ipmsg);
    }
    if (resolveFlag(st, 'localsend', options.localsend, options.localsendDefault ?? false)) {
      localsend = await startLocalSend(
        { home: options.home, store: st, clock, random, logger, directory: dir, messenger: msgr, transfers: transfers!, alias: () => me.name, emit },
        {
          ...(options.localsendBind !== undefined ? { bind: options.localsendBind } : {}),
          ...(options.localsendPort !== undefined ? { port: options.localsendPort } : {}),
          ...(options.localsendHttp ? { http: true } : {}),
          ...(options.localsendGroup ? { group: options.localsendGroup } : {}),
          pin: options.localsendPin ?? null,
          downloads: options.downloads ?? join(options.home, 'downloads'),
          deviceType: options.localsendDeviceType ?? 'headless',
          extraAddresses: options.localsendAddresses ?? [],
          acceptFrom: options.acceptFrom ?? [],
          ...(options.localsendAcceptPigeons ? { acceptPigeons: true } : {}),
        },
      );
      if (localsend) sources.push(localsend);
    }
    relay?.start();
    state = 'running';
    transfers.resumeAll();
    const self = selfInfo();
    emit({ type: 'listening', self });
    return self;
  }

  /** The IPMsg or LocalSend side of a transfer with such a contact, else null (native). */
  function ipmsgFiles(transfer: string): Pick<IpmsgFiles, 'accept' | 'decline' | 'cancel'> | null {
    const { transfers: tr } = running();
    const id = tr.find(transfer).id;
    if (localsend?.ownsTransfer(id)) return localsend;
    const files = ipmsg?.files;
    return files && files.owns(id) ? files : null;
  }

  function selfInfo(): SelfInfo {
    if (!identity) throw new PigeonError(ErrorCodes.NOT_RUNNING, 'the peer is not running');
    const r = relay ? { url: relay.settings.url, connected: relay.client.connected, ...(relay.client.error && !relay.client.connected ? { error: relay.client.error.message, code: relay.client.error.code } : {}) } : null;
    return { ...presence(), fingerprint: identity.fingerprint, ...(r ? { relay: r } : {}) };
  }

  async function doStop(): Promise<void> {
    for (const s of sources) {
      try {
        await s.stop();
      } catch (err) {
        logger.log('warn', 'discovery source did not stop cleanly', { source: s.name, error: (err as Error).message });
      }
    }
    sources = [];
    udp = null;
    ipmsg = null;
    localsend = null;
    relayFiles?.stop();
    relayFiles = null;
    relay?.stop();
    relay = null;
    groups?.stop();
    groups = null;
    multi = awayReply = scheduledStore = null;
    messenger?.stop();
    transfers?.stop();
    await sessions?.stop();
    directory?.stop();
    store?.close();
    messenger = null;
    transfers = null;
    sessions = null;
    directory = null;
    store = null;
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
      starting = doStart().catch(async (err: unknown) => {
        await doStop();
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
    async send(peerQuery, text, at) {
      const { directory: dir, messenger: msgr } = running();
      const target = resolveTarget(peerQuery, dir, groups);
      if (at !== undefined && !Number.isFinite(at)) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'invalid time for a scheduled message');
      if (target.kind === 'group') return groups!.send(target.group.gid, text, at);
      // Written to by the user: kept (with its outbox) even if it was only seen so far.
      // An IPMsg contact is kept by its bridge once a real exchange confirms it (contact-book.ts).
      if ((target.peer.protocol ?? 'pigeon') === 'pigeon') dir.confirm(target.peer.id);
      const info = await msgr.send(target.peer.id, text, at);
      const warning = sendWarning(target.peer);
      if (warning) return { ...info, warning };
      const reason = info.state === 'queued' ? whyQueued(target.peer) : null;
      return reason ? { ...info, queuedReason: reason } : info;
    },
    waitDelivered: (id, timeoutMs, opts) => running().messenger.waitDelivered(id, timeoutMs, opts),
    history(peerQuery, limit = DEFAULT_HISTORY, before) {
      const { directory: dir, store: st, messenger: msgr } = running();
      const target = resolveTarget(peerQuery, dir, groups);
      if (target.kind === 'group') return groups!.history(target.group.gid, limit, before);
      if (before !== undefined) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'paging back by sequence is for group conversations');
      const messages = multi!.annotate(msgr.overlay(st.history(target.peer.id, limit)));
      // What waits for a colleague whose key changed is blocked until `trust`: say so on each message.
      const blocked = target.peer.keyChanged ? sendWarning(target.peer) : null;
      if (blocked) return messages.map((m) => (m.direction === 'out' && (m.state === 'queued' || m.state === 'scheduled') ? { ...m, warning: blocked } : m));
      const reason = messages.some((m) => m.direction === 'out' && m.state === 'queued') ? whyQueued(target.peer) : null;
      return reason ? messages.map((m) => (m.direction === 'out' && m.state === 'queued' ? { ...m, queuedReason: reason } : m)) : messages;
    },
    markRead(peerQuery) {
      const { directory: dir, messenger: msgr } = running();
      const target = resolveTarget(peerQuery, dir, groups);
      if (target.kind === 'group') return groups!.markRead(target.group.gid);
      const peer = target.peer.id;
      const n = msgr.markRead(peer);
      relay?.carry(peer);
      return n;
    },
    setStatus(status, away = '') {
      const { store: st, sessions: sm } = running();
      awayReply?.statusChanged(me.status, status);
      me.status = status;
      me.away = away.slice(0, MAX_AWAY_CHARS);
      st.setSetting('status', status);
      st.setSetting('away', me.away);
      for (const s of sources) s.update();
      relay?.client.updateProfile();
      sm.sendAll({ type: 'status', status: me.status, away: me.away });
      return selfInfo();
    },
    trust(peerQuery) {
      const { directory: dir, sessions: sm, store: st } = running();
      const peer = dir.resolve(peerQuery);
      // A pinned colleague whose device changed: trust means its new device.
      const device = peer.keyChanged ? dir.get(peer.keyChanged.id) : peer;
      const key = device && device.protocol !== 'ipmsg' && !device.pinned ? (sm.refusedKey(device.id) ?? dir.announcedKey(device.id)) : null;
      if (!device || !key) throw new PigeonError(ErrorCodes.BAD_REQUEST, `${peer.name} has not presented a changed key`);
      // The same colleague (same name and host) on a new key: one contact, its history and outbox move along.
      const predecessor = peer.keyChanged ? peer.id : (device.successorOf ?? null);
      st.tx(() => {
        dir.confirm(device.id, key);
        if (predecessor) st.migratePeer(predecessor, device.id);
      });
      if (predecessor) dir.replaced(predecessor, device.id);
      sm.trust(device.id);
      if (messenger?.hasWork(device.id) || transfers?.hasWork(device.id)) ensure(device.id);
      return dir.get(device.id)!;
    },
    async sendFiles(peerQuery, paths, pin) {
      const { directory: dir, transfers: tr } = running();
      const peer = dir.resolve(peerQuery);
      if (localsend && engineOf(peer.id) === engines.localsend) return localsend.offer(peer.id, paths, pin);
      if (ipmsg && engineOf(peer.id) === engines.ipmsg) {
        if (!ipmsg.files) throw new PigeonError(ErrorCodes.IPMSG_UNAVAILABLE, `${peer.name} uses IPMsg, and the IPMsg TCP port could not be opened: files with IPMsg contacts are off`);
        return ipmsg.files.offer(peer.id, paths);
      }
      const info = await tr.offer(peer.id, paths);
      // Offline everywhere, known to the relay: the files are left there.
      relayFiles?.carry(info.peer);
      return info;
    },
    async sendPicture(peerQuery, path) {
      const { directory: dir, transfers: tr } = running();
      const peer = dir.resolve(peerQuery);
      const stored = await storePicture(options.home, path);
      if (ipmsg && engineOf(peer.id) === engines.ipmsg) return this.sendFiles(peer.id, [stored]);
      const info = await tr.offer(peer.id, [stored], { picture: true });
      relayFiles?.carry(info.peer);
      return info;
    },
    transfers: () => running().transfers.list(),
    accept: (transfer, files) => (ipmsgFiles(transfer) ?? running().transfers).accept(transfer, files),
    decline: (transfer) => (ipmsgFiles(transfer) ?? running().transfers).decline(transfer),
    cancel: (transfer) => (ipmsgFiles(transfer) ?? running().transfers).cancel(transfer),
    waitTransfer: (transfer, timeoutMs) => running().transfers.waitFinished(transfer, timeoutMs),
    transferEntries: (transfer) => running().transfers.entries(transfer),
    transferFiles(transfer) {
      const { transfers: tr } = running();
      const row = tr.find(transfer);
      return transferFiles(tr.ledger, row, resolvePath(options.downloads ?? join(options.home, 'downloads')));
    },
    unread: () => running().store.unreadCounts(),
    searchHistory: (query, limit = DEFAULT_SEARCH_HITS) => running().store.search(query, limit),
    keyChanges() {
      const { sessions: sm, directory: dir } = running();
      const out = sm.refused().map((k) => ({ ...k, name: dir.get(k.peerId)?.name ?? '' }));
      // A new key seen only in signed announcements (no session tried yet) waits as well.
      for (const p of dir.list()) {
        if (p.keyChanged && !out.some((k) => k.peerId === p.keyChanged!.id)) out.push({ peerId: p.keyChanged.id, name: p.name, pinned: p.fingerprint, presented: p.keyChanged.fingerprint });
      }
      return out;
    },
    settings() {
      const { store: st } = running();
      const url = st.getSetting('relay.url');
      return {
        name: me.name,
        group: me.group,
        downloads: resolvePath(options.downloads ?? join(options.home, 'downloads')),
        acceptFrom: options.acceptFrom ?? [],
        relay: url ? { url, fingerprint: st.getSetting('relay.fingerprint') ?? '' } : null,
      };
    },
    setProfile(name, group) {
      const { store: st } = running();
      me.name = name.trim().slice(0, MAX_LABEL_CHARS) || me.name;
      me.group = group.trim().slice(0, MAX_LABEL_CHARS);
      st.setSetting('name', me.name);
      st.setSetting('group', me.group);
      for (const s of sources) s.update();
      relay?.client.updateProfile();
      return selfInfo();
    },
    groups: () => groupService().list(),
    groupCreate: async (name, members) => groupService().create(name, memberIds(members)),
    groupAdd: async (group, members) => groupService().add(group, memberIds(members)),
    groupRemove: async (group, member) => groupService().remove(group, memberIds([member])[0]!),
    groupLeave: async (group) => groupService().leave(group),
    async sendMulti(to, text, at) {
      running();
      if (at !== undefined && !Number.isFinite(at)) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'invalid time for a scheduled message');
      return multi!.send(to, text, at);
    },
    recipients: (to) => (running(), multi!.recipients(to)),
    multiSend: (id) => (running(), multi!.get(id)),
    waitMulti: (id, timeoutMs) => (running(), multi!.wait(id, timeoutMs)),
    scheduled: () => (running(), multi!.annotate(scheduledStore!.list())),
    scheduledCancel(id) {
      const { messenger: msgr } = running();
      const cancelled = scheduledStore!.cancel(id);
      msgr.rescheduled();
      return cancelled;
    },
    scheduledEdit(id, at, text) {
      const { messenger: msgr } = running();
      if (at === undefined && text === undefined) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'say what to change: a new time (--at) and/or a new text (--text)');
      const edited = scheduledStore!.edit(id, { ...(at !== undefined ? { due: at } : {}), ...(text !== undefined ? { text } : {}) });
      msgr.rescheduled();
      return multi!.annotate(edited);
    },
  };

  /** Why a message to this peer cannot go anywhere yet (queued-reason.ts), or null. */
  function whyQueued(peer: PeerInfo): string | null {
    const { directory: dir } = running();
    const viaRelay = relay && (peer.protocol ?? 'pigeon') === 'pigeon' ? { connected: relay.client.connected, knows: relay.knows(peer.id) } : null;
    return queuedReason(peer, { online: dir.isOnline(peer.id), relay: viaRelay });
  }

  /** What the user must be told when writing to this peer: plain text on the LAN, or a key change that blocks the outbox. */
  function sendWarning(peer: PeerInfo): MessageInfo['warning'] | null {
    if (peer.capabilities && !peer.capabilities.encrypted) {
      const how = peer.protocol === 'localsend' ? 'LocalSend: the message goes as a text file, to a device whose key is not checked' : 'IPMsg: the message travels unencrypted on the LAN';
      return { code: ErrorCodes.UNENCRYPTED, message: `${peer.name} uses ${how}` };
    }
    if (peer.keyChanged) {
      const { id, fingerprint } = peer.keyChanged;
      return {
        code: ErrorCodes.KEY_CHANGED,
        message: `${peer.name}'s key changed (new device ${id.slice(0, 8)}, fingerprint ${fingerprint}); the message waits in the outbox. Compare fingerprints with ${peer.name}, then run: pigeon trust ${peer.name}`,
      };
    }
    return null;
  }

  function groupService(): GroupService {
    running();
    return groups!;
  }

  /** Members named as on the command line (names or id prefixes), as device ids. */
  function memberIds(names: readonly string[]): string[] {
    const { directory: dir } = running();
    return names.map((n) => dir.resolve(n).id);
  }
}

/** An on/off profile setting: the option when given (and saved), else the saved value, else off. */
function resolveFlag(store: Store, key: string, given: boolean | undefined, fallback: boolean): boolean {
  if (given !== undefined) store.setSetting(key, given ? '1' : '0');
  const saved = store.getSetting(key);
  return given ?? (saved === null || saved === '' ? fallback : saved === '1');
}

/**
 * Relay settings from the options (saved in the profile) or, when absent, from the profile.
 * The invite token is never saved (relay-client/relay-token.ts says where it comes from).
 */
function resolveRelaySettings(store: Store, options: PeerOptions, logger: Logger): RelaySettings | null {
  const given = options.relay;
  const token = resolveRelayToken(store, { relayToken: given?.token ?? options.relayToken, ...(options.relayTokenFile !== undefined ? { relayTokenFile: options.relayTokenFile } : {}) }, given === null ? null : given !== undefined, logger);
  if (given === null) {
    for (const k of ['relay.url', 'relay.fingerprint'] as const) store.setSetting(k, '');
    return null;
  }
  if (given) {
    store.setSetting('relay.url', given.url);
    store.setSetting('relay.fingerprint', given.fingerprint ?? '');
  }
  const url = store.getSetting('relay.url');
  if (!url) {
    if (token) logger.log('warn', 'a relay token was given but no relay is configured (--relay wss://host:port); it is not used', {});
    return null;
  }
  const fingerprint = store.getSetting('relay.fingerprint');
  return { url, ...(fingerprint ? { fingerprint } : {}), ...(token ? { token } : {}) };
}
