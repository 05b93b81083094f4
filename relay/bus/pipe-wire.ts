/**
 * The wire format of pipes whose two sockets reached different relay
 * instances (spec §12.11.3), on two subjects per pipe key:
 *
 *   <p>.pipe.<key>.own     OwnerMessage (JSON, versioned): a socket that
 *                          arrived elsewhere asks the key's owner to `join`
 *                          (a request, answered with a control message) or
 *                          says it `leave`s before it was paired
 *   <p>.pipe.<key>.<side>  one byte, then the rest:
 *                            0  data: the bytes of one WebSocket message
 *                            1  control: PipeControl as JSON, versioned
 *                          (any other first byte is refused)
 *
 * Credit: a side sends data while it holds credit (PIPE_WINDOW bytes at
 * first; each data message spends its length, so one message may take it
 * below zero). The receiving instance returns `credit` for the bytes it
 * handed to its socket, once a quarter window has gathered and never while
 * its socket's reader is paused; unconfirmed bytes beyond PIPE_OVERFLOW
 * close the pipe. `end` closes the pipe with a WebSocket close code.
 */
import { z } from 'zod/v3';
import { BUS_VERSION, BusRefusalCodes, decodeBusJson, InstanceId, type BusRefusal, type Decoded, type Unversioned } from './bus-messages.js';
import { DeviceId } from '../../shared/protocol/schemas-common.js';

/**
 * Bytes one side of a bridged pipe may send before the other instance
 * confirms it handed them on: 16 full pipe messages, about 10 ms of a
 * gigabit link, so a LAN round trip does not limit throughput; it is also
 * the most a stalled reader makes another instance hold per direction.
 */
export const PIPE_WINDOW = 1024 * 1024;
/** Unconfirmed bytes beyond which the sending instance counts as ignoring the window: the pipe is closed (the window plus the largest WebSocket message, with room). */
export const PIPE_OVERFLOW = 2 * PIPE_WINDOW;
/** A pipe key as the relay makes them. */
export const PIPE_KEY = /^[0-9a-f]{64}$/;
/** First byte of a message on a side's subject. */
export const DATA = 0;
export const CONTROL = 1;

/** A pipe socket's id on the bus: 8 random bytes in hex. */
const SideId = z.string().regex(/^[0-9a-f]{16}$/);
const V = z.literal(BUS_VERSION);
/** A WebSocket close code (RFC 6455: 1000-4999) and reason (at most 123 bytes there; bounded here the same way in characters). */
const CloseCode = z.number().int().min(1000).max(4999);
const CloseReason = z.string().max(123);

export const PipeControl = z.discriminatedUnion('t', [
  /** The owner has this side's key and waits for the other socket. */
  z.object({ v: V, t: z.literal('wait') }),
  /** Bridge to that side on that instance. */
  z.object({ v: V, t: z.literal('go'), inst: InstanceId, side: SideId, opener: DeviceId, target: DeviceId }),
  /** The other side is on this instance too: splice the two here. */
  z.object({ v: V, t: z.literal('pair'), side: SideId, opener: DeviceId, target: DeviceId }),
  z.object({ v: V, t: z.literal('refused'), reason: CloseReason }),
  z.object({ v: V, t: z.literal('credit'), n: z.number().int().positive().max(PIPE_OVERFLOW) }),
  z.object({ v: V, t: z.literal('end'), code: CloseCode, reason: CloseReason }),
]);
export type PipeControl = z.infer<typeof PipeControl>;

export const OwnerMessage = z.discriminatedUnion('t', [z.object({ v: V, t: z.literal('join'), inst: InstanceId, side: SideId }), z.object({ v: V, t: z.literal('leave'), side: SideId })]);
export type OwnerMessage = z.infer<typeof OwnerMessage>;

/** A control message's bytes: CONTROL, then the JSON with the version. */
export function controlBytes(c: Unversioned<PipeControl>): Uint8Array {
  const text = Buffer.from(JSON.stringify({ v: BUS_VERSION, ...c }));
  const b = Buffer.allocUnsafe(1 + text.length);
  b[0] = CONTROL;
  text.copy(b, 1);
  return b;
}

/** A data message's bytes: DATA, then the WebSocket message. */
export function dataBytes(data: Buffer): Buffer {
  const b = Buffer.allocUnsafe(1 + data.length);
  b[0] = DATA;
  data.copy(b, 1);
  return b;
}

export type SideMessage = { t: 'data'; bytes: Uint8Array } | { t: 'control'; c: PipeControl } | { t: 'refused'; refusal: BusRefusal };

/** A message on a side's subject; data is a view into `d`. Never throws. */
export function decodeSideMessage(d: Uint8Array): SideMessage {
  if (d[0] === DATA) return { t: 'data', bytes: d.subarray(1) };
  if (d[0] !== CONTROL) return { t: 'refused', refusal: { code: BusRefusalCodes.MESSAGE, reason: d.length === 0 ? 'empty pipe message' : `unknown pipe message kind ${d[0]}` } };
  const r = decodeBusJson(PipeControl, d.subarray(1));
  return r.ok ? { t: 'control', c: r.msg } : { t: 'refused', refusal: r.refusal };
}

export function decodeOwnerMessage(d: Uint8Array): Decoded<OwnerMessage> {
  return decodeBusJson(OwnerMessage, d);
}
