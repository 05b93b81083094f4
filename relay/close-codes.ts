/**
 * WebSocket close codes the relay uses (4000-4999 is the range RFC 6455
 * leaves to applications). A client can tell from the code alone whether
 * reconnecting makes sense: 4003 and 4004 will fail again, the others not
 * necessarily.
 */
export const CloseCodes = {
  /** The relay is shutting down (RFC 6455 "going away"): reconnect later. */
  GOING_AWAY: 1001,
  /**
   * The relay is busy (RFC 6455 "try again later"): too many devices are
   * authenticating at once. The reason ends with `retry-after=<seconds>`;
   * the client waits that long (plus jitter) before it dials again.
   */
  TRY_LATER: 1013,
  /** The relay failed while handling the connection (RFC 6455 "internal error"); retry later. */
  INTERNAL: 1011,
  /** No `auth` within the auth timeout after the challenge. */
  AUTH_TIMEOUT: 4001,
  /** Not JSON, not a valid frame, or a frame out of order (e.g. before auth). */
  PROTOCOL: 4002,
  /** Authentication refused (signature, id, invite token, allowlist). */
  AUTH_FAILED: 4003,
  /** Pipe refused: unknown, expired or already used key. */
  PIPE_REFUSED: 4004,
  /** The same device connected again; this older connection is closed. */
  REPLACED: 4005,
  /** A pipe carried no bytes for the idle timeout. */
  PIPE_IDLE: 4006,
  /** Too many messages per second on this connection. */
  LIMIT: 4008,
  /** The client does not read what the relay sends (send buffer over its bound). */
  SLOW_READER: 4009,
} as const;
