/**
 * The running engine as one object: every part built by assembleEngine()
 * (assemble-engine.ts), none of them null. What may be absent is absent by
 * configuration only: the relay and its file carrier when no relay is set,
 * and the IPMsg / LocalSend bridges inside the routing table. The Peer façade
 * (core/peer.ts) holds one `Engine | null`; the operations (the *-ops.ts
 * files beside this one) take the engine and do their work on its parts.
 */
import type { PeerEvent, SelfInfo } from '../../shared/api/control-api.js';
import type { DiscoverySource, SelfPresence } from '../discovery/discovery-source.js';
import type { PeerDirectory } from '../discovery/peer-directory.js';
import type { GroupService } from '../groups/group-service.js';
import type { Identity } from '../identity/identity.js';
import type { IpmsgBridge } from '../ipmsg/ipmsg-bridge.js';
import type { LocalSendBridge } from '../localsend/localsend-bridge.js';
import type { AwayReply } from '../messaging/away-reply.js';
import type { Messenger } from '../messaging/messenger.js';
import type { MultiSends } from '../messaging/multi-send.js';
import type { RelayBridge } from '../relay-client/relay-bridge.js';
import type { RelayFiles } from '../relay-client/relay-files.js';
import type { SessionManager } from '../session/session-manager.js';
import type { ScheduledStore } from '../store/scheduled-store.js';
import type { Store } from '../store/store.js';
import type { TransferService } from '../transfer/transfer-service.js';
import type { ContactRoutes } from './contact-routes.js';
import type { PeerComponents, PeerOptions } from './peer-options.js';
import type { SelfProfile } from './profile-settings.js';

export interface Engine {
  readonly components: PeerComponents;
  readonly options: PeerOptions;
  readonly identity: Identity;
  readonly store: Store;
  /** Who we are; setProfile / setStatus change it in place. */
  readonly me: SelfProfile;
  readonly directory: PeerDirectory;
  readonly messenger: Messenger;
  readonly multi: MultiSends;
  readonly awayReply: AwayReply;
  readonly scheduled: ScheduledStore;
  readonly sessions: SessionManager;
  readonly groups: GroupService;
  readonly transfers: TransferService;
  /** Null: no relay configured. */
  readonly relay: RelayBridge | null;
  /** Files through the relay; exists exactly when the relay does. */
  readonly relayFiles: RelayFiles | null;
  /** Which engine serves a contact; the IPMsg and LocalSend bridges attach to it when they start. */
  readonly routes: ContactRoutes<IpmsgBridge, LocalSendBridge>;
  /** Discovery sources in start order (UDP, mDNS); the bridges join when they start. */
  readonly sources: DiscoverySource[];
  /** Does a service (messenger, LAN groups, transfers) have work waiting for this peer? */
  hasWork(peerId: string): boolean;
  /** The façade's event stream. */
  emit(event: PeerEvent): void;
}

/** What every source announces about us. */
export function presenceOf(identity: Identity, me: SelfProfile, port: number): SelfPresence {
  return { id: identity.id, name: me.name, group: me.group, host: me.host, port, status: me.status, away: me.away };
}

/** Who we are, with the session port and the relay's state while running (port 0 and no relay when stopped). */
export function selfInfoOf(identity: Identity, me: SelfProfile, engine: Pick<Engine, 'sessions' | 'relay'> | null): SelfInfo {
  const relay = engine?.relay ?? null;
  const r = relay ? { url: relay.settings.url, connected: relay.client.connected, ...(relay.client.error && !relay.client.connected ? { error: relay.client.error.message, code: relay.client.error.code } : {}) } : null;
  return { ...presenceOf(identity, me, engine?.sessions.port ?? 0), fingerprint: identity.fingerprint, ...(r ? { relay: r } : {}) };
}
