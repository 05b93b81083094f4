/**
 * UDP discovery datagrams: the ASCII magic "PGN1" followed by one JSON object.
 * announce asks every receiver for a unicast reply; alive is the periodic
 * refresh (no reply); reply answers an announce; exit says goodbye.
 * See docs/protocol/pigeon-v1.md §3.
 */
import { z } from 'zod/v3';
import { DISCOVERY_MAGIC, MAX_DISCOVERY_PACKET, PROTOCOL_VERSION } from './constants.js';
import { ErrorCodes, PigeonError } from './errors.js';
import { PresenceFields } from './schemas-common.js';

export const DiscoveryPacket = z.object({
  v: z.literal(PROTOCOL_VERSION),
  t: z.enum(['announce', 'alive', 'reply', 'exit']),
  ...PresenceFields,
  /** Set when the datagram was sent to a unicast address: the receiver should answer in kind. */
  u: z.boolean().optional(),
});
export type DiscoveryPacket = z.infer<typeof DiscoveryPacket>;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const MAGIC = encoder.encode(DISCOVERY_MAGIC);

export function encodeDiscoveryPacket(packet: DiscoveryPacket): Uint8Array {
  const body = encoder.encode(JSON.stringify(packet));
  const out = new Uint8Array(MAGIC.length + body.length);
  out.set(MAGIC, 0);
  out.set(body, MAGIC.length);
  if (out.length > MAX_DISCOVERY_PACKET) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `discovery packet of ${out.length} bytes is too large`);
  }
  return out;
}

/**
 * Decodes a datagram. Throws PigeonError(PROTOCOL) with the reason for anything
 * that is not a valid Pigeon packet (the caller logs and drops it).
 */
export function decodeDiscoveryPacket(data: Uint8Array): DiscoveryPacket {
  if (data.length > MAX_DISCOVERY_PACKET) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `datagram of ${data.length} bytes is too large`);
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (data[i] !== MAGIC[i]) throw new PigeonError(ErrorCodes.PROTOCOL, 'not a Pigeon datagram (bad magic)');
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data.subarray(MAGIC.length)));
  } catch (err) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `undecodable datagram: ${(err as Error).message}`);
  }
  const parsed = DiscoveryPacket.safeParse(json);
  if (!parsed.success) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `invalid datagram: ${parsed.error.issues[0]?.message ?? 'schema'}`);
  }
  return parsed.data;
}
