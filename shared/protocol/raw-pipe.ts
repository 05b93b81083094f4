/**
 * The raw TCP pipe (docs/protocol/pigeon-v1.md §12.3.1): the wire format
 * both the relay (relay/raw-pipe-server.ts) and the peer's relay client use
 * on the relay's pipe port. A side connects plain TCP and sends one
 * fixed-size header, magic + version + the 32-byte one-time token from its
 * `pipe` frame; the relay answers one status byte and, on RAW_PIPE_OK,
 * splices the socket with the other side of the pipe. Everything after is
 * the peers' own end-to-end TLS session, opaque to the relay.
 */

/** "PGNP": a stray client (HTTP, TLS, a port scanner) is told apart at its first bytes. */
export const RAW_PIPE_MAGIC = Uint8Array.of(0x50, 0x47, 0x4e, 0x50);
/** Header layout version; a relay refuses versions it does not know with RAW_PIPE_BAD_VERSION. */
export const RAW_PIPE_VERSION = 1;
/** Bytes of the token (256 bits, like a pipe key: not guessable within its life). */
export const RAW_PIPE_TOKEN_BYTES = 32;
/** magic (4) + version (1) + token (32). */
export const RAW_PIPE_HEADER_BYTES = RAW_PIPE_MAGIC.length + 1 + RAW_PIPE_TOKEN_BYTES;

/** The relay's one-byte answer to the header. */
export const RawPipeStatus = {
  /** Token taken: what follows is spliced with the other side. */
  OK: 0,
  /** Unknown, expired or already used token (the WebSocket pipe may still work). */
  REFUSED: 1,
  /** A header version this relay does not speak. */
  BAD_VERSION: 2,
  /** Not a raw pipe header (wrong magic). */
  BAD_HEADER: 3,
} as const;
export type RawPipeStatus = (typeof RawPipeStatus)[keyof typeof RawPipeStatus];

/** A token as it travels in the `pipe` frame: 64 lowercase hex digits. */
export const RAW_PIPE_TOKEN_HEX = /^[0-9a-f]{64}$/;

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function bytesToHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** The header a side sends first, for a token in hex (throws on a malformed token: it came from our own relay frame, already checked). */
export function encodeRawPipeHeader(tokenHex: string): Uint8Array {
  if (!RAW_PIPE_TOKEN_HEX.test(tokenHex)) throw new RangeError('a raw pipe token is 64 hex digits');
  const out = new Uint8Array(RAW_PIPE_HEADER_BYTES);
  out.set(RAW_PIPE_MAGIC, 0);
  out[RAW_PIPE_MAGIC.length] = RAW_PIPE_VERSION;
  out.set(hexToBytes(tokenHex), RAW_PIPE_MAGIC.length + 1);
  return out;
}

/** Reads a complete header (exactly RAW_PIPE_HEADER_BYTES): the token in hex, or the status to refuse it with. */
export function parseRawPipeHeader(h: Uint8Array): { token: string } | { refuse: RawPipeStatus } {
  if (h.length !== RAW_PIPE_HEADER_BYTES) return { refuse: RawPipeStatus.BAD_HEADER };
  for (let i = 0; i < RAW_PIPE_MAGIC.length; i++) if (h[i] !== RAW_PIPE_MAGIC[i]) return { refuse: RawPipeStatus.BAD_HEADER };
  if (h[RAW_PIPE_MAGIC.length] !== RAW_PIPE_VERSION) return { refuse: RawPipeStatus.BAD_VERSION };
  return { token: bytesToHex(h.subarray(RAW_PIPE_MAGIC.length + 1)) };
}
