/**
 * The integrity check of a whole received file: SHA-256, or XXH3-64 or
 * CRC-32 where the receiver asks for it on a native data connection (spec
 * §13.3, `check` in `fetch`). TLS already authenticates every byte in
 * transit; this check guards what TLS cannot see: the disk, a resumed
 * `.pigeon-part` file, and our own offsets. Per GB on each side, measured
 * side by side (docs/benchmarks.md, stop 25): XXH3 (xxh3.ts, native) ~0.03
 * CPU-s, CRC-32 (node:zlib) ~0.25-0.33, SHA-256 with SHA-NI ~0.8
 * (docs/decisions.md, "integrity hash"). Relay blobs and LocalSend keep
 * SHA-256: their senders give one.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { crc32 } from 'node:zlib';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { hasXxh3, xxh3, xxh3Once } from './xxh3.js';

export type CheckAlg = 'sha256' | 'crc32' | 'xxh3';

/** The sender's (or the offer's) check of a whole file. */
export interface FileCheck {
  alg: CheckAlg;
  /** Lower-case hex: 64 digits for SHA-256, 16 for XXH3-64, 8 for CRC-32. */
  hex: string;
}

/** A running check over bytes in order. */
export interface Checker {
  readonly alg: CheckAlg;
  update(bytes: Uint8Array): void;
  /** Lower-case hex of everything fed; call once. */
  digest(): string;
}

/** Read size when a check is computed from a file: large reads, few calls. */
const READ_CHUNK = 1024 * 1024;

/** A running check; `crcFrom`: the CRC-32 of bytes already checked, continued from (a resumed part file's, computed on another thread). */
export function checker(alg: CheckAlg, crcFrom = 0): Checker {
  if (alg === 'sha256') {
    const h = createHash('sha256');
    return { alg, update: (b) => void h.update(b), digest: () => h.digest('hex') };
  }
  if (alg === 'xxh3') {
    const h = xxh3();
    return { alg, update: (b) => h.update(b), digest: () => h.digest() };
  }
  let value = crcFrom;
  return {
    alg,
    update: (b) => {
      value = crc32(b, value);
    },
    digest: () => value.toString(16).padStart(8, '0'),
  };
}

/** The check `alg` of bytes that arrived as `pieces` (in order): one call for XXH3 or CRC-32 of a single piece, the file's usual case. */
export function checkOf(alg: CheckAlg, pieces: readonly Uint8Array[]): string {
  if (pieces.length === 1 && alg === 'xxh3') return xxh3Once(pieces[0]!);
  if (pieces.length === 1 && alg === 'crc32') return crc32(pieces[0]!).toString(16).padStart(8, '0');
  const h = checker(alg);
  for (const p of pieces) h.update(p);
  return h.digest();
}

/**
 * The check a receiver asks of a sender on a native data link: XXH3 when the
 * sender's hello lists it and this process has it too, else CRC-32 (which
 * every sender since §13.3 gives; an older one answers SHA-256).
 */
export function linkCheck(senderChecks: readonly string[] | undefined): 'xxh3' | 'crc32' {
  return senderChecks?.includes('xxh3') && hasXxh3() ? 'xxh3' : 'crc32';
}

/** Feeds the bytes [0, end) of a file into a check (or a node:crypto Hash). */
export async function checkRange(path: string, into: { update(bytes: Buffer): unknown }, end: number): Promise<void> {
  if (end <= 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: end - 1, highWaterMark: READ_CHUNK })) into.update(chunk as Buffer);
}

/** "SHA-256", "XXH3" or "CRC-32", for messages. */
export function checkName(alg: CheckAlg): string {
  return alg === 'sha256' ? 'SHA-256' : alg === 'xxh3' ? 'XXH3' : 'CRC-32';
}

/** A SHA-256 string or a check, as a check. */
export function asCheck(expected: string | FileCheck): FileCheck {
  return typeof expected === 'string' ? { alg: 'sha256', hex: expected } : expected;
}

/** The integrity error of an entry whose bytes do not match the sender's check (the file was discarded). */
export function checkMismatch(path: string, want: FileCheck, got: string): PigeonError {
  return new PigeonError(ErrorCodes.TRANSFER_INTEGRITY, `${path}: ${checkName(want.alg)} mismatch (expected ${want.hex.slice(0, 16)}…, got ${got.slice(0, 16)}…); the file was discarded`);
}
