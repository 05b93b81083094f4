/**
 * Builds the engine's parts in dependency order, once the identity and the
 * store are open: directory, messenger (with multi-send, away reply and the
 * scheduled list), sessions and their frame router, groups, relay, transfers,
 * relay files, then the discovery sources. Nothing here opens a socket or
 * starts a timer: engine-lifecycle.ts starts the parts, so every callback one
 * part holds into a part built after it (the directory telling the relay a
 * peer went offline, the relay handing a pipe to the sessions) can only run
 * once every part exists. A callback run earlier would be a bug, and it fails
 * loudly (a `const` read before its line) instead of doing nothing quietly.
 */
import type { PeerEvent } from '../../shared/api/control-api.js';
import { groupOf } from '../../shared/api/conversation-key.js';
import { DEFAULT_PORT, EXPIRY_MS } from '../../shared/protocol/constants.js';
import type { HelloFrame } from '../../shared/protocol/session-frames.js';
import type { DiscoverySource } from '../discovery/discovery-source.js';
import { MdnsSource } from '../discovery/mdns-source.js';
import { PeerDirectory } from '../discovery/peer-directory.js';
import { UdpPresence } from '../discovery/udp-presence.js';
import { GroupService } from '../groups/group-service.js';
import type { Identity } from '../identity/identity.js';
import { createSigner } from '../identity/signing.js';
import type { IpmsgBridge } from '../ipmsg/ipmsg-bridge.js';
import type { LocalSendBridge } from '../localsend/localsend-bridge.js';
import { AwayReply } from '../messaging/away-reply.js';
import { MESSENGER_FRAMES, Messenger } from '../messaging/messenger.js';
import { MultiSends } from '../messaging/multi-send.js';
import { loadOrCreateEncKey } from '../relay-client/enc-key.js';
import { RelayBridge } from '../relay-client/relay-bridge.js';
import { RelayFiles } from '../relay-client/relay-files.js';
import { FrameRouter } from '../session/frame-router.js';
import type { Session } from '../session/session.js';
import { SessionManager } from '../session/session-manager.js';
import { ScheduledStore } from '../store/scheduled-store.js';
import type { Store } from '../store/store.js';
import { TransferService } from '../transfer/transfer-service.js';
import { ContactRoutes } from './contact-routes.js';
import { presenceOf, selfInfoOf, type Engine } from './engine.js';
import { downloadsOf, type PeerComponents, type PeerOptions } from './peer-options.js';
import { resolveRelaySettings, type SelfProfile } from './profile-settings.js';
import { hasXxh3 } from '../transfer/xxh3.js';

/** The session frames the transfer service owns (§13). */
const TRANSFER_FRAMES = ['offer', 'offer-ack', 'accept', 'decline', 'cancel', 'done', 'transfer-ack'] as const;

export interface EngineBase {
  identity: Identity;
  store: Store;
  me: SelfProfile;
}

export function assembleEngine(components: PeerComponents, options: PeerOptions, base: EngineBase, emit: (event: PeerEvent) => void): Engine {
  const { clock, random, logger } = components;
  const { identity, store, me } = base;
  const relaySettings = resolveRelaySettings(store, options, logger);
  const presence = () => presenceOf(identity, me, sessions.port);
  // `checks`: the file checks this peer can give beyond CRC-32 (§13.3); the addon is loaded on the first hello, not at start.
  const hello = (): HelloFrame => ({ type: 'hello', v: 1, ...presence(), groups: 1, fetchFiles: 1, ...(hasXxh3() ? { checks: ['xxh3'] } : {}) });
  /** Services with work that needs a session to a peer. */
  const hasWork = (peerId: string): boolean => messenger.hasWork(peerId) || groups.lan.hasWork(peerId) || transfers.hasWork(peerId);

  const directory = new PeerDirectory(
    { clock, store, logger, onSighting: (peerId) => routes.of(peerId).sighted(peerId) },
    (event) => {
      emit(event);
      if (event.type === 'peer-offline') relay?.carry(event.peer.id);
      if (event.type === 'peer-online') {
        if (hasWork(event.peer.id)) routes.ensure(event.peer.id);
        routes.of(event.peer.id).online(event.peer.id);
      }
    },
    (address, port) => udp.learn(address, port),
  );

  const messenger = new Messenger(
    { store, clock, random, logger },
    (raw) => {
      // A copy of a multi-send says how far the whole multi-send got (§7.12).
      const event = (raw.type === 'message' || raw.type === 'message-state') && raw.message.multi ? { ...raw, message: multi.annotateEvent(raw.message) } : raw;
      emit(event);
      if (event.type === 'message-state') multi.changed(event.message);
      if (event.type === 'message') awayReply.received(event.message);
      // A message queued for a peer that is offline everywhere goes to its relay mailbox; a group's to the group log.
      if (event.type === 'message-state' && event.message.state === 'queued') {
        if (event.message.group) groups.carry(event.message.group);
        else relay?.carry(event.message.peer);
      }
    },
    (conversation) => {
      const gid = groupOf(conversation);
      if (gid) groups.carry(gid);
      else routes.ensure(conversation);
    },
  );
  const multi = new MultiSends({
    store,
    random,
    contacts: () => directory.list(),
    resolve: (q) => directory.resolve(q),
    sendCopy: (peer, text, at, id) => {
      if ((peer.protocol ?? 'pigeon') === 'pigeon') directory.confirm(peer.id);
      return messenger.send(peer.id, text, at, { multi: id });
    },
    waitDelivered: (id, timeoutMs) => messenger.waitDelivered(id, timeoutMs),
    emit,
  });
  const awayReply = new AwayReply({
    store,
    logger,
    self: () => ({ status: me.status, away: me.away }),
    broadcast: (m) => routes.ipmsg?.broadcastMessage(m.peer, m.id) ?? false,
    reply: (peer, text) => messenger.send(peer, text, undefined, { auto: true }),
  });
  const scheduled = new ScheduledStore(store);

  // Every session's frames go to the service that claimed their type.
  const router = new FrameRouter<Session>(logger);
  router.register(MESSENGER_FRAMES, (session, frame) => messenger.receive(session, frame));
  router.register(['status'], (session, frame) => {
    session.hello = { ...session.hello, status: frame.status, away: frame.away };
    directory.seen({ ...session.hello, address: session.remoteAddress, source: 'session', ttlMs: EXPIRY_MS });
  });
  router.register(['group-have'], (session, frame) => groups.lan.onHave(session.peerId, frame));
  router.register(['group-log'], (session, frame) => groups.lan.onLog(session.peerId, frame));
  router.register(TRANSFER_FRAMES, (session, frame) => transfers.onFrame(session, frame));

  const sessions = new SessionManager(
    { identity, store, directory, clock, logger },
    {
      port: options.port ?? DEFAULT_PORT,
      portFallback: options.port === undefined,
      selfHello: hello,
      wantsSession: hasWork,
      router,
      // The services told when a session opens, in this order: chat, LAN groups, transfers.
      onOpen: (session) => {
        messenger.attach(session);
        groups.lan.onOpen(session.peerId);
        transfers.flush(session.peerId);
      },
      onKeyChanged: (peerId, pinned, presented) => emit({ type: 'key-changed', peerId, name: directory.get(peerId)?.name ?? '', pinned, presented }),
      pipe: (peerId) => relay?.pipe(peerId) ?? null,
    },
  );

  // With no relay, groups go member to member over the sessions (§12.10).
  const groups: GroupService = new GroupService({
    identity, store, clock, random, logger, messenger, relay: () => relay, peerName: (id) => directory.get(id)?.name ?? id.slice(0, 8), emit,
    session: (peerId) => sessions.get(peerId),
    ensure: (peerId) => routes.ensure(peerId),
  });

  const relay: RelayBridge | null = relaySettings
    ? new RelayBridge(
        {
          identity,
          enc: loadOrCreateEncKey(options.home, identity),
          store,
          clock,
          random,
          logger,
          directory,
          messenger,
          profile: () => ({ name: me.name, group: me.group, host: me.host, status: me.status, away: me.away }),
          acceptStream: (stream) => sessions.acceptStream(stream),
          onConnected: (connected) => {
            emit({ type: 'relay', relay: selfInfoOf(identity, me, { sessions, relay }).relay! });
            if (connected) relayFiles?.carryAll();
          },
          groups,
          files: { onSealed: async (from, content) => relayFiles?.onSealed(from, content), carry: (peer) => relayFiles?.carry(peer) },
        },
        relaySettings,
      )
    : null;

  const transfers: TransferService = new TransferService({ store, clock, random, logger }, {
    downloads: downloadsOf(options),
    acceptFrom: options.acceptFrom ?? [],
    session: (peerId) => sessions.get(peerId),
    ensureSession: (peerId) => routes.ensure(peerId),
    dialData: (peerId) => sessions.dialData(peerId),
    dataLinkPlan: (peerId) => sessions.dataLinkPlan(peerId),
    peerName: (peerId) => directory.get(peerId)?.name ?? peerId.slice(0, 8),
    isOnline: (peerId) => routes.of(peerId).transfersReach(peerId),
    relayFiles: { fetcher: (id) => relayFiles?.fetcher(id) ?? null, uploading: (id) => relayFiles?.uploading(id) ?? false },
  }, (e) => {
    emit(e);
    relayFiles?.onTransferEvent(e);
  });
  sessions.onDataConnection((socket, peerId, decoder) => transfers.onDataConnection(socket, peerId, decoder));

  const relayFiles: RelayFiles | null = relay ? new RelayFiles({ identity, store, clock, random, logger, directory, bridge: relay, transfers, emit }) : null;

  /** The routing table: sessions (and their relay fallback) for native peers; the bridges attach when they start. */
  const routes = new ContactRoutes<IpmsgBridge, LocalSendBridge>({
    ensure: (peerId) => sessions.ensure(peerId),
    sighted: (peerId) => sessions.sighted(peerId),
    online: (peerId) => transfers.peerOnline(peerId),
    transfersReach: (peerId) => directory.isOnline(peerId),
  });

  const discoveryPort = options.discoveryPort ?? DEFAULT_PORT;
  const udp = new UdpPresence(
    { logger, random, clock },
    { discoveryPort, broadcast: options.broadcast ?? 'auto', extraAddresses: options.extraAddresses ?? [], self: presence, sink: directory, knownPeers: () => directory.onlineCount(), spki: identity.spki, sign: createSigner(identity) },
  );
  const sources: DiscoverySource[] = [udp];
  if (options.mdns !== false) {
    sources.push(new MdnsSource({ logger, clock }, { discoveryPort, self: presence, sink: directory, ...(options.mdnsInterfaces ? { interfaces: options.mdnsInterfaces } : {}) }));
  }

  return { components, options, identity, store, me, directory, messenger, multi, awayReply, scheduled, sessions, groups, transfers, relay, relayFiles, routes, sources, hasWork, emit };
}
