/**
 * What a bridge to another LAN protocol (IPMsg in core/ipmsg, LocalSend in
 * core/localsend) is given when the engine starts (core/engine/engine-lifecycle.ts): the peer's store,
 * clock and log, the directory its contacts join, the messenger its chat goes
 * through, and the transfer service its files are reported to. One shape, so
 * a new bridge is wired like the others.
 */
import type { PeerEvent } from '../shared/api/control-api.js';
import type { PeerDirectory } from './discovery/peer-directory.js';
import type { Messenger } from './messaging/messenger.js';
import type { Store } from './store/store.js';
import type { TransferService } from './transfer/transfer-service.js';
import type { Clock, Logger, Random } from './util/components.js';

export interface BridgeDeps {
  store: Store;
  clock: Clock;
  random: Random;
  logger: Logger;
  directory: PeerDirectory;
  messenger: Messenger;
  transfers: TransferService;
  emit: (e: PeerEvent) => void;
}
