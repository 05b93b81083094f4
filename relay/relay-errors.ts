/**
 * Errors of the relay process itself (starting, certificates, data folder),
 * with stable codes. Errors a client sees travel as `error` frames with the
 * wire codes of shared/protocol/errors.ts instead.
 */

export const RelayErrorCodes = {
  /** The chosen TCP port is taken by another program. */
  PORT_IN_USE: 'PIGEON_ERR_RELAY_PORT_IN_USE',
  /** The relay cannot listen (no permission for the port, address not on this machine). */
  LISTEN: 'PIGEON_ERR_RELAY_LISTEN',
  /** The TLS certificate or key cannot be read, parsed, or do not belong together. */
  CERT: 'PIGEON_ERR_RELAY_CERT',
  /** The data folder or its database cannot be opened. */
  DATA: 'PIGEON_ERR_RELAY_DATA',
  /** A command-line value is invalid. */
  USAGE: 'PIGEON_ERR_RELAY_USAGE',
} as const;

export type RelayErrorCode = (typeof RelayErrorCodes)[keyof typeof RelayErrorCodes];

/** An error with a stable code whose message is fit to show an administrator as it is. */
export class RelayError extends Error {
  readonly code: RelayErrorCode;
  constructor(code: RelayErrorCode, message: string) {
    super(message);
    this.name = 'RelayError';
    this.code = code;
  }
}
