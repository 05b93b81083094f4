/**
 * Stable error codes (PIGEON_ERR_*) used across the engine, the control API and
 * the CLI. A code never changes meaning; the CLI maps codes to exit codes.
 */
export const ErrorCodes = {
  /** No peer is running for this profile (control socket absent or refusing). */
  NOT_RUNNING: 'PIGEON_ERR_NOT_RUNNING',
  /** The named peer is not known. */
  PEER_NOT_FOUND: 'PIGEON_ERR_PEER_NOT_FOUND',
  /** The name or id prefix matches more than one peer. */
  PEER_AMBIGUOUS: 'PIGEON_ERR_PEER_AMBIGUOUS',
  /** Waiting for delivery timed out; the message stays queued. */
  NOT_DELIVERED: 'PIGEON_ERR_NOT_DELIVERED',
  /** A request was malformed (bad arguments, bad time, text too long). */
  BAD_REQUEST: 'PIGEON_ERR_BAD_REQUEST',
  /** A peer presented a key other than the one pinned for its id. */
  KEY_CHANGED: 'PIGEON_ERR_KEY_CHANGED',
  /** A peer's certificate does not match the device id it claimed. */
  ID_MISMATCH: 'PIGEON_ERR_ID_MISMATCH',
  /** A frame or packet broke the protocol (size, schema, order). */
  PROTOCOL: 'PIGEON_ERR_PROTOCOL',
  /** The profile is already used by a running peer. */
  PROFILE_BUSY: 'PIGEON_ERR_PROFILE_BUSY',
  /** A file transfer could not go on (file changed, connection lost, integrity check failed). */
  TRANSFER_FAILED: 'PIGEON_ERR_TRANSFER_FAILED',
  /**
   * The sender sent more or fewer bytes than it declared for a file (its offer,
   * or an IPMsg folder's announced size): nothing past the declared size is
   * written, the file is discarded and the transfer fails for good.
   */
  SIZE_MISMATCH: 'PIGEON_ERR_SIZE_MISMATCH',
  /**
   * A received file does not match the SHA-256 its sender gave, or a file
   * from the relay fails its authentication: the file is discarded and the
   * transfer fails for good (trying again would fetch the same bytes).
   */
  TRANSFER_INTEGRITY: 'PIGEON_ERR_TRANSFER_INTEGRITY',
  /**
   * A file cannot be had as offered, and trying again would not help: the
   * sender could not send it (changed or gone), it is no longer on the relay,
   * or what the sender sent is refused (an unsafe name, a special file, a
   * folder too deep or too large). The transfer fails for good.
   */
  TRANSFER_REFUSED: 'PIGEON_ERR_TRANSFER_REFUSED',
  /** No transfer with that id (or prefix). */
  TRANSFER_NOT_FOUND: 'PIGEON_ERR_TRANSFER_NOT_FOUND',
  /**
   * The thread that received a file's bytes (a native data link run off the
   * main thread) stopped or crashed: the transfer stops here and resumes from
   * the bytes already on disk, with a new thread.
   */
  DATA_WORKER_FAILED: 'PIGEON_ERR_DATA_WORKER_FAILED',
  /** The download folder's disk is full; partial data is kept for resuming. */
  DISK_FULL: 'PIGEON_ERR_DISK_FULL',
  /** The relay cannot be reached (connection refused, DNS, TLS failure). */
  RELAY_UNREACHABLE: 'PIGEON_ERR_RELAY_UNREACHABLE',
  /** The relay's certificate does not match the pinned fingerprint (or is not trusted and none was pinned). */
  RELAY_FINGERPRINT: 'PIGEON_ERR_RELAY_FINGERPRINT',
  /** The relay refused this device's proof of identity (key, id or signature); retrying cannot help. */
  RELAY_AUTH: 'PIGEON_ERR_RELAY_AUTH',
  /** The relay requires an invite token and none, or another one, was presented: the peer stops retrying until it gets the right one. */
  RELAY_TOKEN: 'PIGEON_ERR_RELAY_TOKEN',
  /** The relay admits only the devices on its allowlist, and this one is not on it: the peer stops retrying until the administrator adds it. */
  RELAY_DEVICE_REFUSED: 'PIGEON_ERR_RELAY_DEVICE_REFUSED',
  /** The recipient's mailbox on the relay is full (quota); the message stays queued here. */
  RELAY_QUOTA: 'PIGEON_ERR_RELAY_QUOTA',
  /** The relay refused a mailbox message whose envelope signature does not match the sending device's key. */
  RELAY_SIGNATURE: 'PIGEON_ERR_RELAY_SIGNATURE',
  /** Too many requests, bytes, connections or new devices: the relay limited this connection; try again later. */
  RELAY_LIMIT: 'PIGEON_ERR_RELAY_LIMIT',
  /** The directory changes after the asked version are no longer kept (pruned long ago): page through the directory instead. */
  DIR_STALE: 'PIGEON_ERR_DIR_STALE',
  /** The peer is not connected to the relay (a pipe cannot be made now). */
  PEER_OFFLINE: 'PIGEON_ERR_PEER_OFFLINE',
  /** No group with that id or name, or this device is not a member of it. */
  GROUP_NOT_FOUND: 'PIGEON_ERR_GROUP_NOT_FOUND',
  /** The request is not allowed to this device (only a group's owner removes other members). */
  NOT_ALLOWED: 'PIGEON_ERR_NOT_ALLOWED',
  /** A group change does not follow the group's current head (another change came first): fetch the chain and sign again. */
  GROUP_STALE: 'PIGEON_ERR_GROUP_STALE',
  /** The relay's account of a group does not verify against its signed chain (forged, forked or rolled back): refused, and the user is warned. */
  GROUP_TAMPERED: 'PIGEON_ERR_GROUP_TAMPERED',
  /** The IPMsg bridge cannot run (its port is taken by another IPMsg client, or cannot be opened); native peers are unaffected. */
  IPMSG_UNAVAILABLE: 'PIGEON_ERR_IPMSG_UNAVAILABLE',
  /** LocalSend cannot run (its port is taken, by the LocalSend app on this computer perhaps, or cannot be opened); native peers are unaffected. */
  LOCALSEND_UNAVAILABLE: 'PIGEON_ERR_LOCALSEND_UNAVAILABLE',
  /** The LocalSend device asks for a PIN (HTTP 401), or the one given is wrong: send again with the PIN its owner reads out. */
  LOCALSEND_PIN: 'PIGEON_ERR_LOCALSEND_PIN',
  /** The LocalSend device is busy with another transfer (HTTP 409) or limits us (HTTP 429): try again later. */
  LOCALSEND_BUSY: 'PIGEON_ERR_LOCALSEND_BUSY',
  /** The LocalSend device's HTTPS certificate does not hash to the fingerprint it announced: nothing was sent to it. */
  LOCALSEND_FINGERPRINT: 'PIGEON_ERR_LOCALSEND_FINGERPRINT',
  /** A remote party went over its budget (output queued for a peer that does not read); its session was closed. */
  SESSION_BUDGET: 'PIGEON_ERR_SESSION_BUDGET',
  /** A warning, not a failure: the contact speaks a protocol without encryption (IPMsg); what is sent to it travels in clear on the LAN. */
  UNENCRYPTED: 'PIGEON_ERR_UNENCRYPTED',
  /** No scheduled message has this id (it went out already, or was cancelled). */
  NOT_SCHEDULED: 'PIGEON_ERR_NOT_SCHEDULED',
  /** Anything unexpected inside the engine. */
  INTERNAL: 'PIGEON_ERR_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const KNOWN_CODES: ReadonlySet<string> = new Set<string>(Object.values(ErrorCodes));

/** A code that came from another program (a relay's error frame or HTTP answer): itself if we know it, else INTERNAL. */
export function knownErrorCode(code: string): ErrorCode {
  return KNOWN_CODES.has(code) ? (code as ErrorCode) : ErrorCodes.INTERNAL;
}

/** An error that carries a stable code; safe to show its message to users. */
export class PigeonError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'PigeonError';
    this.code = code;
  }
}

/** The serialisable shape of an error that crosses a process boundary. */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
}

export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof PigeonError) return { code: err.code, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: ErrorCodes.INTERNAL, message };
}
