/**
 * Protocol constants shared by every Pigeon implementation. Each value says why
 * it has that value; docs/protocol/pigeon-v1.md quotes them.
 */

/** Protocol version carried in discovery packets and the session hello. */
export const PROTOCOL_VERSION = 1;

/**
 * Default UDP discovery port and TCP session port. 2426 sits next to IP
 * Messenger's 2425, so office firewall rules for LAN messengers are familiar,
 * yet both programs can run side by side.
 */
export const DEFAULT_PORT = 2426;

/** Magic prefix of every discovery datagram: "PGN1" (Pigeon, protocol 1). */
export const DISCOVERY_MAGIC = 'PGN1';

/**
 * Largest discovery datagram accepted or sent. Below the 1500-byte Ethernet
 * MTU minus IP/UDP headers, so a presence packet is never fragmented.
 */
export const MAX_DISCOVERY_PACKET = 1400;

/** Longest display name / group / host / away message in characters; keeps packets under MAX_DISCOVERY_PACKET. */
export const MAX_LABEL_CHARS = 64;
export const MAX_AWAY_CHARS = 200;

/**
 * Largest session frame payload (1 MiB). Chat text is limited far below it;
 * the bound exists so that a length prefix is checked before any allocation.
 */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** Longest chat message in characters (64 Ki): a long paste, not a file. */
export const MAX_TEXT_CHARS = 65536;

/** Most ids in one ack / read frame; bounds work done for one frame. */
export const MAX_IDS_PER_FRAME = 4096;

/**
 * Presence refresh period and expiry. A peer re-announces every
 * REFRESH_MS ± REFRESH_JITTER_MS (jitter spreads the load of a large office);
 * one that is silent for EXPIRY_MS is offline. 4 s + 12 s expiry means a peer
 * that vanished without a word is shown offline within 13 s (issue target: 15 s),
 * even if two refreshes in a row are lost.
 */
export const REFRESH_MS = 4000;
export const REFRESH_JITTER_MS = 1000;
export const EXPIRY_MS = 12000;

/**
 * Replies to an announcement are delayed by a random 0..REPLY_SPREAD_MS per
 * known peer (capped at REPLY_SPREAD_MAX_MS), as IP Messenger does, so a join
 * in a big office does not make every host answer in the same millisecond.
 */
export const REPLY_SPREAD_PER_PEER_MS = 4;
export const REPLY_SPREAD_MAX_MS = 1000;

/**
 * Session heartbeat: a ping after HEARTBEAT_MS without traffic; a session with
 * no frame at all for DEAD_SESSION_MS (three heartbeats) is dead and closed.
 */
export const HEARTBEAT_MS = 5000;
export const DEAD_SESSION_MS = 15000;

/** mDNS / DNS-SD service type: _pigeon._tcp.local. */
export const MDNS_SERVICE_TYPE = 'pigeon';
