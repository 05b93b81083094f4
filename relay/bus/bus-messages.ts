/**
 * What relay instances say to each other on NATS, as schemas (spec §12.11,
 * "Relay instances"). Every message is JSON with a version `v`; an
 * instance accepts exactly its own BUS_VERSION and refuses anything else,
 * newer or older, with a logged stable code (bus-refusals.ts), because an
 * instance that guessed at a message of another version would route
 * frames to the wrong device or drop presence without a trace. Members an
 * instance does not know are ignored, so a member that older instances may
 * skip can be added without a new version; any other change takes one.
 *
 *   <p>.dev.<id>    DevMessage: a frame for device <id> (a request,
 *                   answered with DevReply by the instance holding it), or
 *                   a kick (the device connected again on another instance)
 *   <p>.bcast       BroadcastMessage: a frame for every connected device
 *   <p>.presence    PresenceMessage: hello, on, off, list, bye
 *
 * The pipe subjects (<p>.pipe.<key>.own and <p>.pipe.<key>.<side>) are in
 * pipe-wire.ts.
 */
import { z } from 'zod/v3';
import { DeliverFrame, DirectoryFrame, DirPushFrame, GroupDeliverFrame, GroupFrame, GroupLeftFrame, PipeFrame, PresenceFrame } from '../../shared/protocol/relay-frames.js';
import { DeviceId } from '../../shared/protocol/schemas-common.js';
import type { BusFrame } from './bus.js';

/** The version of every message on the bus. Instances refuse any other (§12.11): a change that older instances would misread takes a new one. */
export const BUS_VERSION = 1;

/** Stable codes of a refused bus message, in the log line and in the spec. */
export const BusRefusalCodes = {
  /** `v` is not this instance's BUS_VERSION (or is missing: an instance from before versioned messages). */
  VERSION: 'PIGEON_ERR_RELAY_BUS_VERSION',
  /** Not JSON, or not a message of this subject (a member missing or out of its range). */
  MESSAGE: 'PIGEON_ERR_RELAY_BUS_MESSAGE',
} as const;
export type BusRefusalCode = (typeof BusRefusalCodes)[keyof typeof BusRefusalCodes];

/** Why a message was refused, for the log line. */
export interface BusRefusal {
  code: BusRefusalCode;
  reason: string;
  /** The sender, when the message names one. */
  instance?: string;
}

export type Decoded<T> = { ok: true; msg: T } | { ok: false; refusal: BusRefusal };

const V = z.literal(BUS_VERSION);
/** An instance's id on the bus: 8 random bytes in hex, made at each start. */
export const InstanceId = z.string().regex(/^[0-9a-f]{16}$/);
/** A control connection's id within its instance (a counter); bounded, never interpreted. */
const ConnId = z.string().min(1).max(64);

/** The frames that travel on the bus, as clients will parse them. */
export const BusFrameSchema = z.discriminatedUnion('type', [DeliverFrame, PresenceFrame, DirectoryFrame, DirPushFrame, PipeFrame, GroupFrame, GroupLeftFrame, GroupDeliverFrame]) satisfies z.ZodType<BusFrame>;

export const DevMessage = z.discriminatedUnion('t', [
  z.object({ v: V, t: z.literal('frame'), frame: BusFrameSchema }),
  z.object({ v: V, t: z.literal('kick'), inst: InstanceId, conn: ConnId }),
]);
export type DevMessage = z.infer<typeof DevMessage>;

/** The answer of the instance that handed a frame to its device. */
export const DevReply = z.object({ v: V, t: z.literal('taken') });
export type DevReply = z.infer<typeof DevReply>;

/** Devices per list message: [id, conn] pairs of ~40 bytes, ~80 KB, far under NATS's default 1 MB payload limit. */
export const LIST_CHUNK = 2000;

export const PresenceMessage = z.discriminatedUnion('t', [
  z.object({ v: V, t: z.literal('hello'), inst: InstanceId }),
  z.object({ v: V, t: z.literal('on'), inst: InstanceId, id: DeviceId, conn: ConnId }),
  z.object({ v: V, t: z.literal('off'), inst: InstanceId, id: DeviceId, conn: ConnId }),
  z.object({ v: V, t: z.literal('list'), inst: InstanceId, devs: z.array(z.tuple([DeviceId, ConnId])).max(LIST_CHUNK) }),
  z.object({ v: V, t: z.literal('bye'), inst: InstanceId }),
]);
export type PresenceMessage = z.infer<typeof PresenceMessage>;

export const BroadcastMessage = z.object({ v: V, inst: InstanceId, frame: BusFrameSchema, except: DeviceId.optional() });
export type BroadcastMessage = z.infer<typeof BroadcastMessage>;

/** A message as its sender writes it: encodeBusJson adds the version. */
export type Unversioned<T> = T extends unknown ? Omit<T, 'v'> : never;

/** The bytes of a message, version first. */
export function encodeBusJson<T extends { v: typeof BUS_VERSION }>(m: Unversioned<T>): Uint8Array {
  return Buffer.from(JSON.stringify({ v: BUS_VERSION, ...m }));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A message parsed as JSON; the version checked, then the schema. Never throws. */
export function decodeBusJson<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, bytes: Uint8Array): Decoded<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(utf8.decode(bytes));
  } catch {
    return { ok: false, refusal: { code: BusRefusalCodes.MESSAGE, reason: 'not JSON' } };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, refusal: { code: BusRefusalCodes.MESSAGE, reason: 'not a JSON object' } };
  const r = raw as { v?: unknown; inst?: unknown };
  const instance = typeof r.inst === 'string' ? { instance: r.inst.slice(0, 32) } : {};
  if (r.v !== BUS_VERSION) {
    const said = r.v === undefined ? 'no version (an instance from before versioned bus messages)' : `version ${JSON.stringify(r.v).slice(0, 20)}`;
    return { ok: false, refusal: { code: BusRefusalCodes.VERSION, reason: `${said}; this instance speaks version ${BUS_VERSION}`, ...instance } };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, refusal: { code: BusRefusalCodes.MESSAGE, reason: issue ? `${issue.path.join('.') || 'message'}: ${issue.message}` : 'invalid', ...instance } };
  }
  return { ok: true, msg: parsed.data };
}
