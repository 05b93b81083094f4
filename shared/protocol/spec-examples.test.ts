/**
 * Keeps docs/protocol/pigeon-v1.md true to the code: every example block in
 * the spec is checked with the protocol's own schemas and codecs (the table
 * in the spec's Appendix B says which check applies to which block). Valid
 * examples must pass, the *-invalid ones must be refused, every kind must
 * have examples, and every packet type, frame type, control method and event
 * type must appear at least once.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod/v3';
import {
  ControlRequests,
  type ControlMethod,
  type ControlResults,
  type GroupInfo,
  type MessageInfo,
  type MultiSendInfo,
  type PeerEvent,
  type PeerInfo,
  type RelayStatus,
  type SelfInfo,
  type TransferEntryInfo,
  type TransferFilesInfo,
  type UnreadInfo,
  type KeyChangeInfo,
  type SettingsInfo,
  type TransferInfo,
} from '../api/control-api.js';
import { DataConnectionFrame } from './transfer-frames.js';
import { GroupBody } from './group-lan-frames.js';
import { BlobAnswer, BlobError, parseBlobPath } from './blob-http.js';
import { applyGroupChange, type ChainState } from './group-chain-rules.js';
import { GroupChange, groupChangeHashInput, groupChangeMessage, parseRelayClientFrame, parseRelayServerFrame, RelayClientFrame, RelayServerFrame, SealedContent } from './relay-frames.js';
import { base32, groupHex } from '../util/base32.js';
import * as Constants from './constants.js';
import { DiscoveryPacket, decodeDiscoveryPacket, encodeDiscoveryPacket } from './discovery-packet.js';
import { ErrorCodes, PigeonError } from './errors.js';
import { FrameDecoder, FrameKind, encodeJsonFrame } from './frame-codec.js';
import { AwayMessage, DeviceId, Label, MessageId, Port, PresenceStatus } from './schemas-common.js';
import { SessionFrame, parseSessionFrame } from './session-frames.js';

const SPEC = new URL('../../docs/protocol/pigeon-v1.md', import.meta.url);

/** Every block kind the spec may use, with the language its info string starts with. */
const KINDS = {
  identity: 'json',
  discovery: 'json',
  'discovery-invalid': 'json',
  'discovery-bytes': 'hex',
  'discovery-bytes-invalid': 'hex',
  frame: 'json',
  'frame-invalid': 'json',
  'frame-bytes': 'hex',
  'frame-bytes-invalid': 'hex',
  'control-request': 'json',
  'control-request-invalid': 'json',
  'control-response': 'json',
  'control-response-invalid': 'json',
  'control-event': 'json',
  'control-event-invalid': 'json',
  constants: 'json',
  'data-frame': 'json',
  'data-frame-invalid': 'json',
  'relay-client': 'json',
  'relay-client-invalid': 'json',
  'relay-server': 'json',
  'relay-server-invalid': 'json',
  sealed: 'json',
  'sealed-invalid': 'json',
  'group-chain': 'json',
  'group-chain-invalid': 'json',
  'group-body': 'json',
  'group-body-invalid': 'json',
  'blob-request': 'http',
  'blob-answer': 'json',
  'blob-error': 'json',
  'blob-error-invalid': 'json',
  // Messages between relay instances (§12.11): their schemas are the relay's
  // own, which shared/ cannot import; relay/bus/spec-examples.test.ts checks them.
  'relay-bus': 'json',
  'relay-bus-invalid': 'json',
  'relay-pipe-control': 'json',
  'relay-pipe-control-invalid': 'json',
} as const;
type Kind = keyof typeof KINDS;

interface Block {
  kind: Kind;
  text: string;
  /** 1-based line of the opening fence, for test names. */
  line: number;
}

/** Fenced blocks with a kind; throws on an unknown kind, a wrong language or a JSON block without a kind. */
function extractBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split(/\r?\n/);
  let open: { lang: string; kind: string | undefined; line: number; body: string[] } | null = null;
  lines.forEach((text, i) => {
    if (!open) {
      const m = /^```(\S*)(?:[ \t]+(\S+))?/.exec(text);
      if (m) open = { lang: m[1]!, kind: m[2], line: i + 1, body: [] };
      return;
    }
    if (!/^```\s*$/.test(text)) {
      open.body.push(text);
      return;
    }
    const { lang, kind, line, body } = open;
    open = null;
    if (kind === undefined) {
      if (lang === 'json' || lang === 'hex') throw new Error(`line ${line}: a ${lang} block needs a kind (see Appendix B)`);
      return;
    }
    if (!Object.hasOwn(KINDS, kind)) throw new Error(`line ${line}: unknown example kind "${kind}"`);
    if (KINDS[kind as Kind] !== lang) throw new Error(`line ${line}: a ${kind} block is \`\`\`${KINDS[kind as Kind]}, not \`\`\`${lang}`);
    blocks.push({ kind: kind as Kind, text: body.join('\n'), line });
  });
  if (open) throw new Error(`line ${(open as { line: number }).line}: unclosed code block`);
  return blocks;
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Hex bytes separated by white space; `#` starts a comment. */
function hexBytes(text: string): Uint8Array {
  const tokens = text
    .split('\n')
    .map((l) => l.replace(/#.*$/, ''))
    .join(' ')
    .split(/\s+/)
    .filter((t) => t !== '');
  for (const t of tokens) if (!/^[0-9a-f]{2}$/i.test(t)) throw new Error(`bad hex byte "${t}"`);
  return Uint8Array.from(tokens, (t) => parseInt(t, 16));
}

/** A blob request (§12.9): request line, blob path, signature headers; for PUT the sizes add up. */
function checkBlobRequest(text: string): void {
  const [first, ...rest] = text.split('\n');
  const m = /^(PUT|HEAD|GET|DELETE) (\S+) HTTP\/1\.1$/.exec(first ?? '');
  if (!m) throw new Error(`bad request line ${first}`);
  if (!parseBlobPath(m[2]!)) throw new Error(`not a blob path: ${m[2]}`);
  const h = new Map(rest.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  if (!DeviceId.safeParse(h.get('pigeon-device')).success) throw new Error('Pigeon-Device is not a device id');
  if (!/^\d{13}$/.test(h.get('pigeon-time') ?? '')) throw new Error('Pigeon-Time is not a time in ms');
  if (!/^[A-Za-z0-9+/]{86}==$/.test(h.get('pigeon-signature') ?? '')) throw new Error('Pigeon-Signature is not a 64-byte P1363 signature');
  if (m[1] === 'PUT') {
    const [size, offset, length] = ['pigeon-blob-size', 'pigeon-blob-offset', 'content-length'].map((k) => Number(h.get(k)));
    if (!(size! > 0) || !(offset! >= 0) || length !== size! - offset!) throw new Error('PUT: Content-Length must be Pigeon-Blob-Size minus Pigeon-Blob-Offset');
    if (h.get('expect') !== '100-continue') throw new Error('PUT: Expect: 100-continue');
  }
  if (h.has('range') && !/^bytes=\d+-$/.test(h.get('range')!)) throw new Error('Range must be bytes=N-');
}

const errorCodes = new Set<string>(Object.values(ErrorCodes));
function checkBlobError(text: string): void {
  const e = BlobError.parse(JSON.parse(text));
  if (!errorCodes.has(e.code)) throw new Error(`unknown code ${e.code}`);
}

function same(actual: unknown, expected: unknown, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new Error(`${what}: ${JSON.stringify(actual)} differs from ${JSON.stringify(expected)}`);
  }
}

// ---- the shapes of the control API answers, tied to its TypeScript types ----

const Fingerprint = z.string().regex(/^[0-9a-f]{4}( [0-9a-f]{4}){15}$/);
const Time = z.number().int().nonnegative();
const Ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/);

const RelayStatusSchema = z.strictObject({ url: z.string().url(), connected: z.boolean(), error: z.string().optional(), code: z.string().optional() }) satisfies z.ZodType<RelayStatus>;

const SelfInfoSchema = z.strictObject({
  id: DeviceId,
  name: Label,
  group: Label,
  host: Label,
  port: Port,
  fingerprint: Fingerprint,
  status: PresenceStatus,
  away: AwayMessage,
  relay: RelayStatusSchema.optional(),
}) satisfies z.ZodType<SelfInfo>;

const PeerInfoSchema = z.strictObject({
  id: DeviceId,
  name: Label,
  group: Label,
  host: Label,
  addresses: z.array(Ipv4),
  /** 0 for a peer known only through the relay (no LAN port). */
  port: z.union([Port, z.literal(0)]),
  status: PresenceStatus,
  away: AwayMessage,
  online: z.boolean(),
  sources: z.array(z.enum(['broadcast', 'unicast', 'mdns', 'session', 'relay', 'ipmsg'])),
  remote: z.boolean(),
  lastSeen: Time,
  fingerprint: z.union([z.literal(''), Fingerprint]),
  protocol: z.enum(['pigeon', 'ipmsg']).optional(),
  capabilities: z.strictObject({ encrypted: z.boolean(), readReceipts: z.boolean(), relay: z.boolean(), files: z.boolean() }).optional(),
  pinned: z.boolean().optional(),
  namesakeOf: DeviceId.optional(),
  successorOf: DeviceId.optional(),
  keyChanged: z.strictObject({ id: DeviceId, fingerprint: z.union([z.literal(''), Fingerprint]) }).optional(),
}) satisfies z.ZodType<PeerInfo>;

const GroupIdSchema = z.string().regex(/^[0-9a-f]{32}$/);
const MessageInfoSchema = z.strictObject({
  id: MessageId,
  /** A device id, or group:<gid> for a group conversation. */
  peer: z.union([DeviceId, z.string().regex(/^group:[0-9a-f]{32}$/)]),
  direction: z.enum(['out', 'in']),
  text: z.string(),
  state: z.enum(['scheduled', 'queued', 'sent', 'relayed', 'delivered', 'read', 'received']),
  ts: Time,
  received: Time.nullable(),
  order: Time,
  due: Time.nullable(),
  seq: z.number().int().positive().nullable(),
  group: GroupIdSchema.optional(),
  from: DeviceId.nullable().optional(),
  warning: z.strictObject({ code: z.enum(['PIGEON_ERR_UNENCRYPTED', 'PIGEON_ERR_KEY_CHANGED']), message: z.string() }).optional(),
  queuedReason: z.string().optional(),
  auto: z.literal(true).optional(),
  multi: z.strictObject({ id: MessageId, total: z.number().int().positive(), delivered: z.number().int().nonnegative() }).optional(),
  receipts: z.strictObject({ of: z.number(), delivered: z.array(z.strictObject({ id: z.string(), name: z.string() })), read: z.array(z.strictObject({ id: z.string(), name: z.string() })) }).optional(),
}) satisfies z.ZodType<MessageInfo>;

const MultiSendInfoSchema = z.strictObject({
  id: MessageId,
  text: z.string(),
  ts: Time,
  total: z.number().int().positive(),
  delivered: z.number().int().nonnegative(),
  read: z.number().int().nonnegative(),
  recipients: z.array(z.strictObject({ peer: DeviceId, name: Label, message: MessageId, state: z.enum(['scheduled', 'queued', 'sent', 'relayed', 'delivered', 'read']) })).min(1),
}) satisfies z.ZodType<MultiSendInfo>;

const GroupInfoSchema = z.strictObject({
  id: GroupIdSchema,
  name: Label,
  owner: DeviceId,
  members: z.array(z.strictObject({ id: DeviceId, name: Label })),
  joined: z.boolean(),
  tampered: z.string().optional(),
}) satisfies z.ZodType<GroupInfo>;

const TransferInfoSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{32}$/),
  peer: DeviceId,
  direction: z.enum(['out', 'in']),
  state: z.enum(['queued', 'offered', 'accepted', 'relayed', 'done', 'declined', 'canceled', 'failed']),
  created: Time,
  totalBytes: z.number().int().nonnegative(),
  fileCount: z.number().int().nonnegative(),
  doneBytes: z.number().int().nonnegative(),
  rate: z.number().int().nonnegative(),
  names: z.array(z.string()),
  error: z.string().nullable(),
  acceptedFiles: z.number().int().min(0).optional(),
  acceptedBytes: z.number().int().min(0).optional(),
  picture: z.literal(true).optional(),
}) satisfies z.ZodType<TransferInfo>;

const PeerEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('listening'), self: SelfInfoSchema }),
  z.strictObject({ type: z.literal('peer-online'), peer: PeerInfoSchema }),
  z.strictObject({ type: z.literal('peer-offline'), peer: PeerInfoSchema }),
  z.strictObject({ type: z.literal('peer-updated'), peer: PeerInfoSchema }),
  z.strictObject({ type: z.literal('message'), message: MessageInfoSchema }),
  z.strictObject({ type: z.literal('message-state'), message: MessageInfoSchema }),
  z.strictObject({ type: z.literal('key-changed'), peerId: DeviceId, name: Label, pinned: Fingerprint, presented: Fingerprint }),
  z.strictObject({ type: z.literal('warning'), code: z.string(), message: z.string() }),
  z.strictObject({ type: z.literal('transfer'), transfer: TransferInfoSchema }),
  z.strictObject({ type: z.literal('transfer-progress'), transfer: TransferInfoSchema }),
  z.strictObject({ type: z.literal('relay'), relay: RelayStatusSchema }),
  z.strictObject({ type: z.literal('group'), group: GroupInfoSchema }),
  z.strictObject({ type: z.literal('multi-send'), multi: MultiSendInfoSchema }),
]) satisfies z.ZodType<PeerEvent>;

/** One result schema per method: adding a method to the API without one fails to compile. */
const ResultSchemas = {
  whoami: SelfInfoSchema,
  peers: z.array(PeerInfoSchema),
  send: MessageInfoSchema,
  waitDelivered: MessageInfoSchema,
  history: z.array(MessageInfoSchema),
  markRead: z.strictObject({ count: z.number().int().nonnegative() }),
  setStatus: SelfInfoSchema,
  trust: PeerInfoSchema,
  subscribe: z.strictObject({ subscribed: z.literal(true) }),
  sendFiles: TransferInfoSchema,
  sendPicture: TransferInfoSchema,
  transfers: z.array(TransferInfoSchema),
  accept: TransferInfoSchema,
  decline: TransferInfoSchema,
  cancel: TransferInfoSchema,
  waitTransfer: TransferInfoSchema,
  transferEntries: z.array(
    z.strictObject({ index: z.number().int().nonnegative(), path: z.string(), kind: z.enum(['file', 'dir']), size: z.number().int().nonnegative(), wanted: z.boolean(), done: z.boolean() }) satisfies z.ZodType<TransferEntryInfo>,
  ),
  transferFiles: z.strictObject({
    transfer: TransferInfoSchema,
    files: z.array(z.strictObject({ index: z.number().int().nonnegative(), path: z.string(), size: z.number().int().nonnegative(), localPath: z.string().nullable() })),
    landed: z.array(z.string()),
  }) satisfies z.ZodType<TransferFilesInfo>,
  unread: z.array(z.strictObject({ peer: z.union([DeviceId, z.string().regex(/^group:/)]), count: z.number().int().positive() }) satisfies z.ZodType<UnreadInfo>),
  searchHistory: z.array(MessageInfoSchema),
  keyChanges: z.array(z.strictObject({ peerId: DeviceId, name: Label, pinned: Fingerprint, presented: Fingerprint }) satisfies z.ZodType<KeyChangeInfo>),
  settings: z.strictObject({
    name: Label,
    group: Label,
    downloads: z.string().min(1),
    acceptFrom: z.array(z.string()),
    relay: z.strictObject({ url: z.string().url(), fingerprint: z.string() }).nullable(),
  }) satisfies z.ZodType<SettingsInfo>,
  setProfile: SelfInfoSchema,
  groups: z.array(GroupInfoSchema),
  groupCreate: GroupInfoSchema,
  groupAdd: GroupInfoSchema,
  groupRemove: GroupInfoSchema,
  groupLeave: GroupInfoSchema,
  sendMulti: MultiSendInfoSchema,
  recipients: z.array(PeerInfoSchema),
  multiSend: MultiSendInfoSchema,
  waitMulti: MultiSendInfoSchema,
  scheduled: z.array(MessageInfoSchema),
  scheduledCancel: z.array(MessageInfoSchema),
  scheduledEdit: z.array(MessageInfoSchema),
} satisfies { [M in ControlMethod]: z.ZodType<ControlResults[M]> };

// `satisfies` above checks that the schemas produce the API types; these check
// that they have no fewer members either, so a member added to a type fails here.
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type SameVariants<A extends { type: string }, B extends { type: string }> = [A['type']] extends [B['type']]
  ? [B['type']] extends [A['type']]
    ? [{ [K in B['type']]: SameKeys<Extract<A, { type: K }>, Extract<B, { type: K }>> }[B['type']]] extends [true]
      ? true
      : false
    : false
  : false;
const _typesMatch: [
  SameKeys<z.output<typeof SelfInfoSchema>, SelfInfo>,
  SameKeys<z.output<typeof PeerInfoSchema>, PeerInfo>,
  SameKeys<z.output<typeof MessageInfoSchema>, MessageInfo>,
  SameVariants<z.output<typeof PeerEventSchema>, PeerEvent>,
  SameKeys<z.output<typeof TransferInfoSchema>, TransferInfo>,
  SameKeys<z.output<typeof GroupInfoSchema>, GroupInfo>,
  SameKeys<z.output<typeof MultiSendInfoSchema>, MultiSendInfo>,
] = [true, true, true, true, true, true, true];

const RequestLine = z.strictObject({ id: z.number(), method: z.string(), params: z.unknown().optional() });
const ResponseLine = z.union([
  z.strictObject({ id: z.number(), ok: z.literal(true), value: z.unknown() }),
  z.strictObject({ id: z.number(), ok: z.literal(false), error: z.strictObject({ code: z.nativeEnum(ErrorCodes), message: z.string() }) }),
]);
const EventLine = z.strictObject({ event: PeerEventSchema });

// ---- the checks: each throws when the example is not valid ----

function checkIdentity(text: string): void {
  const ex = z.strictObject({ spki: z.string(), id: DeviceId, fingerprint: Fingerprint }).parse(JSON.parse(text));
  const spki = Buffer.from(ex.spki, 'base64');
  const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  same(key.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'curve');
  const digest = createHash('sha256').update(spki).digest();
  same(base32(digest.subarray(0, 16)), ex.id, 'device id');
  same(groupHex(digest.toString('hex')), ex.fingerprint, 'fingerprint');
}

const ChainExample = z.strictObject({ keys: z.record(DeviceId, z.string()), changes: z.array(GroupChange).min(1) });

/**
 * A group chain example (§12.7.1): every id derives from its key; each change
 * is signed by its author and follows the state before it. Returns how many
 * changes verified before the first that did not.
 */
function verifiedChanges(text: string): { verified: number; total: number } {
  const ex = ChainExample.parse(JSON.parse(text));
  for (const [id, spki] of Object.entries(ex.keys)) same(base32(createHash('sha256').update(Buffer.from(spki, 'base64')).digest().subarray(0, 16)), id, 'device id of a chain key');
  let state: ChainState | null = null;
  for (const [i, c] of ex.changes.entries()) {
    same(GroupChange.parse(c), c, 'group change');
    const spki = ex.keys[c.by];
    const signed =
      spki !== undefined &&
      verify('sha256', Buffer.from(groupChangeMessage(c)), { key: createPublicKey({ key: Buffer.from(spki, 'base64'), format: 'der', type: 'spki' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(c.sig, 'base64'));
    if (!signed) return { verified: i, total: ex.changes.length };
    try {
      state = applyGroupChange(state, c, createHash('sha256').update(groupChangeHashInput(c)).digest('hex'));
    } catch {
      return { verified: i, total: ex.changes.length };
    }
  }
  return { verified: ex.changes.length, total: ex.changes.length };
}

function checkGroupChain(text: string): void {
  const { verified, total } = verifiedChanges(text);
  same(verified, total, 'changes that verify');
}

function checkDiscoveryJson(text: string): void {
  const datagram = concat(utf8(Constants.DISCOVERY_MAGIC), utf8(text));
  const packet = decodeDiscoveryPacket(datagram);
  same(packet, JSON.parse(text), 'decoded packet');
  same(decodeDiscoveryPacket(encodeDiscoveryPacket(packet)), packet, 're-encoded packet');
}

function checkDiscoveryBytes(text: string): void {
  const datagram = hexBytes(text);
  same(encodeDiscoveryPacket(decodeDiscoveryPacket(datagram)), datagram, 're-encoded datagram');
}

function checkFrameJson(text: string): void {
  const frame = parseSessionFrame(utf8(text));
  same(frame, JSON.parse(text), 'parsed frame');
  const decoded = new FrameDecoder().push(encodeJsonFrame(frame));
  if (decoded.length !== 1 || decoded[0]!.kind !== FrameKind.JSON) throw new Error('frame did not survive encoding');
  same(parseSessionFrame(decoded[0]!.payload), frame, 're-encoded frame');
}

/** Exactly one complete kind-1 frame whose payload is a valid session frame; returns it. */
function frameOf(bytes: Uint8Array, decoder: FrameDecoder, chunks: Uint8Array[]): SessionFrame {
  const frames = chunks.flatMap((c) => decoder.push(c));
  if (frames.length !== 1 || decoder.pending !== 0) throw new Error(`${frames.length} frames, ${decoder.pending} bytes left over`);
  if (frames[0]!.kind !== FrameKind.JSON) throw new Error(`unknown frame kind ${frames[0]!.kind}`);
  return parseSessionFrame(frames[0]!.payload);
}

function checkFrameBytes(text: string): void {
  const bytes = hexBytes(text);
  const frame = frameOf(bytes, new FrameDecoder(), [bytes]);
  // The decoder is incremental: byte by byte gives the same frame.
  same(frameOf(bytes, new FrameDecoder(), Array.from(bytes, (b) => Uint8Array.of(b))), frame, 'frame decoded byte by byte');
  same(encodeJsonFrame(frame), bytes, 're-encoded frame bytes');
}

function checkRequest(text: string): ControlMethod {
  const req = RequestLine.parse(JSON.parse(text));
  if (!Object.hasOwn(ControlRequests, req.method)) throw new Error(`unknown method ${req.method}`);
  const method = req.method as ControlMethod;
  const params = req.params ?? {};
  same((ControlRequests[method] as z.ZodType).parse(params), params, `params of ${method}`);
  return method;
}

/** `method`: the method of the latest valid request with the same id earlier in the spec. */
function checkResponse(text: string, method: ControlMethod | undefined): void {
  const res = ResponseLine.parse(JSON.parse(text));
  if (!res.ok) return;
  if (!('value' in res)) throw new Error('a success has a value');
  if (!method) throw new Error(`no request with id ${res.id} precedes this response`);
  same((ResultSchemas[method] as z.ZodType).parse(res.value), res.value, `value of ${method}`);
}

function checkEvent(text: string): PeerEvent['type'] {
  return EventLine.parse(JSON.parse(text)).event.type;
}

// ---- the tests ----

const blocks = extractBlocks(readFileSync(SPEC, 'utf8'));
const ofKind = (kind: Kind): Block[] => blocks.filter((b) => b.kind === kind);

/** The method each control-response answers, in document order. */
const answeredMethod = new Map<Block, ControlMethod | undefined>();
{
  const requests = new Map<number, ControlMethod>();
  for (const b of blocks) {
    if (b.kind === 'control-request') {
      const req = RequestLine.safeParse(JSON.parse(b.text));
      if (req.success && Object.hasOwn(ControlRequests, req.data.method)) requests.set(req.data.id, req.data.method as ControlMethod);
    }
    if (b.kind === 'control-response' || b.kind === 'control-response-invalid') {
      const id = (JSON.parse(b.text) as { id?: unknown }).id;
      answeredMethod.set(b, typeof id === 'number' ? requests.get(id) : undefined);
    }
  }
}

describe('docs/protocol/pigeon-v1.md', () => {
  it('has examples of every kind', () => {
    const missing = (Object.keys(KINDS) as Kind[]).filter((k) => ofKind(k).length === 0);
    expect(missing).toEqual([]);
  });

  it('has an example of every discovery packet type', () => {
    const seen = new Set(ofKind('discovery').map((b) => (JSON.parse(b.text) as { t: unknown }).t));
    expect(DiscoveryPacket.shape.t.options.filter((t) => !seen.has(t))).toEqual([]);
  });

  it('has an example of every session frame type', () => {
    const seen = new Set(ofKind('frame').map((b) => (JSON.parse(b.text) as { type: unknown }).type));
    const types = SessionFrame.options.map((o) => o.shape.type.value);
    expect(types.filter((t) => !seen.has(t))).toEqual([]);
  });

  it('has an example of every data-connection frame type', () => {
    const seen = new Set(ofKind('data-frame').map((b) => (JSON.parse(b.text) as { type: unknown }).type));
    const types = DataConnectionFrame.innerType().options.map((o) => o.shape.type.value);
    expect(types.filter((t) => !seen.has(t))).toEqual([]);
  });

  it('has an example of every relay message type, both directions', () => {
    const typesIn = (kind: Kind): Set<unknown> => new Set(ofKind(kind).map((b) => (JSON.parse(b.text) as { type: unknown }).type));
    const client = typesIn('relay-client');
    const server = typesIn('relay-server');
    expect(RelayClientFrame.options.map((o) => o.shape.type.value).filter((t) => !client.has(t))).toEqual([]);
    expect(RelayServerFrame.options.map((o) => o.shape.type.value).filter((t) => !server.has(t))).toEqual([]);
  });

  it('has a request and a successful answer for every control method', () => {
    const methods = Object.keys(ControlRequests) as ControlMethod[];
    const requested = new Set(ofKind('control-request').map((b) => (JSON.parse(b.text) as { method: unknown }).method));
    const answered = new Set(
      ofKind('control-response')
        .filter((b) => (JSON.parse(b.text) as { ok: unknown }).ok === true)
        .map((b) => answeredMethod.get(b)),
    );
    expect(methods.filter((m) => !requested.has(m))).toEqual([]);
    expect(methods.filter((m) => !answered.has(m))).toEqual([]);
  });

  it('has an example of every control event type', () => {
    const seen = new Set(ofKind('control-event').map((b) => checkEvent(b.text)));
    const types = PeerEventSchema.options.map((o) => o.shape.type.value);
    expect(types.filter((t) => !seen.has(t))).toEqual([]);
  });

  it('quotes the constants of shared/protocol/constants.ts', () => {
    for (const b of ofKind('constants')) expect(JSON.parse(b.text)).toStrictEqual(Object.fromEntries(Object.entries(Constants)));
  });

  const valid: Array<[Kind, (b: Block) => unknown]> = [
    ['identity', (b) => checkIdentity(b.text)],
    ['discovery', (b) => checkDiscoveryJson(b.text)],
    ['discovery-bytes', (b) => checkDiscoveryBytes(b.text)],
    ['frame', (b) => checkFrameJson(b.text)],
    ['frame-bytes', (b) => checkFrameBytes(b.text)],
    ['control-request', (b) => checkRequest(b.text)],
    ['control-response', (b) => checkResponse(b.text, answeredMethod.get(b))],
    ['control-event', (b) => checkEvent(b.text)],
    ['data-frame', (b) => same(DataConnectionFrame.parse(JSON.parse(b.text)), JSON.parse(b.text), 'data-connection frame')],
    ['relay-client', (b) => same(parseRelayClientFrame(b.text), JSON.parse(b.text), 'relay client message')],
    ['relay-server', (b) => same(parseRelayServerFrame(b.text), JSON.parse(b.text), 'relay server message')],
    ['sealed', (b) => same(SealedContent.parse(JSON.parse(b.text)), JSON.parse(b.text), 'sealed content')],
    ['group-chain', (b) => checkGroupChain(b.text)],
    ['group-body', (b) => same(GroupBody.parse(JSON.parse(b.text)), JSON.parse(b.text), 'opened group body')],
    ['blob-request', (b) => checkBlobRequest(b.text)],
    ['blob-answer', (b) => same(BlobAnswer.parse(JSON.parse(b.text)), JSON.parse(b.text), 'blob answer')],
    ['blob-error', (b) => checkBlobError(b.text)],
  ];
  for (const [kind, check] of valid) {
    for (const b of ofKind(kind)) {
      it(`accepts the ${kind} example at line ${b.line}`, () => {
        expect(() => check(b)).not.toThrow();
      });
    }
  }

  const protocolError = (fn: () => unknown): void => {
    expect(fn).toThrow(PigeonError);
    try {
      fn();
    } catch (err) {
      expect((err as PigeonError).code).toBe(ErrorCodes.PROTOCOL);
    }
  };
  const invalid: Array<[Kind, (b: Block) => void]> = [
    ['discovery-invalid', (b) => protocolError(() => decodeDiscoveryPacket(concat(utf8(Constants.DISCOVERY_MAGIC), utf8(b.text))))],
    ['discovery-bytes-invalid', (b) => protocolError(() => decodeDiscoveryPacket(hexBytes(b.text)))],
    ['frame-invalid', (b) => protocolError(() => parseSessionFrame(utf8(b.text)))],
    ['frame-bytes-invalid', (b) => expect(() => frameOf(hexBytes(b.text), new FrameDecoder(), [hexBytes(b.text)])).toThrow()],
    ['control-request-invalid', (b) => expect(() => checkRequest(b.text)).toThrow()],
    ['control-response-invalid', (b) => expect(() => checkResponse(b.text, answeredMethod.get(b))).toThrow()],
    ['control-event-invalid', (b) => expect(() => checkEvent(b.text)).toThrow()],
    ['data-frame-invalid', (b) => expect(DataConnectionFrame.safeParse(JSON.parse(b.text)).success).toBe(false)],
    ['relay-client-invalid', (b) => protocolError(() => parseRelayClientFrame(b.text))],
    ['relay-server-invalid', (b) => protocolError(() => parseRelayServerFrame(b.text))],
    ['sealed-invalid', (b) => expect(SealedContent.safeParse(JSON.parse(b.text)).success).toBe(false)],
    ['group-body-invalid', (b) => expect(GroupBody.safeParse(JSON.parse(b.text)).success).toBe(false)],
    // Schema-valid and good up to the last change, which is refused: the example shows one refusal, not a typo.
    ['group-chain-invalid', (b) => expect(verifiedChanges(b.text)).toEqual({ verified: JSON.parse(b.text).changes.length - 1, total: JSON.parse(b.text).changes.length })],
    ['blob-error-invalid', (b) => expect(() => checkBlobError(b.text)).toThrow()],
  ];
  for (const [kind, check] of invalid) {
    for (const b of ofKind(kind)) {
      it(`refuses the ${kind} example at line ${b.line}`, () => check(b));
    }
  }
});
