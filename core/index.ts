/**
 * The engine's public surface: the only module cli/ and electron/main import
 * (docs/architecture.md, rule 2).
 */
export { createPeer, defaultComponents, type Peer, type PeerComponents, type PeerListener, type PeerOptions } from './peer.js';
export { ControlServer, controlSocketPath } from './control/control-server.js';
export { loadOrCreateIdentity, type Identity } from './identity/identity.js';
export { stderrLogger, silentLogger, systemClock, systemRandom, type Clock, type Logger, type LogLevel, type Random } from './util/components.js';
export { callControl, handleControlLine, handleControlRequest, validateControlRequest, type ControlGuard } from './control/control-dispatch.js';
export { isInside } from './transfer/transfer-files.js';
export { sniffFile } from './transfer/pictures.js';
