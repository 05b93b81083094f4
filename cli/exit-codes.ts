/**
 * Exit codes of the pigeon command. Scripts rely on them: a code never changes
 * meaning. Documented in `pigeon --help` and README.md.
 */
import { ErrorCodes, type ErrorCode } from '../shared/protocol/errors.js';

export const ExitCodes = {
  OK: 0,
  /** Anything else that went wrong (message on stderr). */
  ERROR: 1,
  /** Bad command line. */
  USAGE: 2,
  /** No peer is running for the profile. */
  NOT_RUNNING: 3,
  /** The peer name or id prefix matches no peer, or several. */
  PEER_NOT_FOUND: 4,
  /** `send --wait` gave up before the message was delivered or stored on the relay (it stays queued). */
  NOT_DELIVERED: 5,
  /** Another peer already runs with this profile. */
  PROFILE_BUSY: 6,
  /** A file transfer was declined, canceled or failed (or no such transfer). */
  TRANSFER_FAILED: 7,
} as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.NOT_RUNNING]: ExitCodes.NOT_RUNNING,
  [ErrorCodes.PEER_NOT_FOUND]: ExitCodes.PEER_NOT_FOUND,
  [ErrorCodes.GROUP_NOT_FOUND]: ExitCodes.PEER_NOT_FOUND,
  [ErrorCodes.PEER_AMBIGUOUS]: ExitCodes.PEER_NOT_FOUND,
  [ErrorCodes.NOT_DELIVERED]: ExitCodes.NOT_DELIVERED,
  [ErrorCodes.BAD_REQUEST]: ExitCodes.USAGE,
  [ErrorCodes.PROFILE_BUSY]: ExitCodes.PROFILE_BUSY,
  [ErrorCodes.TRANSFER_FAILED]: ExitCodes.TRANSFER_FAILED,
  [ErrorCodes.TRANSFER_NOT_FOUND]: ExitCodes.TRANSFER_FAILED,
  [ErrorCodes.DISK_FULL]: ExitCodes.TRANSFER_FAILED,
  [ErrorCodes.DATA_WORKER_FAILED]: ExitCodes.TRANSFER_FAILED,
  [ErrorCodes.SIZE_MISMATCH]: ExitCodes.TRANSFER_FAILED,
  [ErrorCodes.TRANSFER_INTEGRITY]: ExitCodes.TRANSFER_FAILED,
  [ErrorCodes.TRANSFER_REFUSED]: ExitCodes.TRANSFER_FAILED,
};

export function exitCodeFor(code: string): number {
  return BY_CODE[code as ErrorCode] ?? ExitCodes.ERROR;
}

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  error (see the message)
  2  bad command line or request
  3  no peer is running for this profile (start one with: pigeon peer)
  4  peer not found, or the name matches several peers
  5  not delivered (nor stored on the relay) in time (--wait); the message stays queued
  6  a peer is already running with this profile
  7  a file transfer was declined, canceled or failed, or no such transfer`;
