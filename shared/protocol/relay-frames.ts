/**
 * The relay protocol (docs/protocol/pigeon-v1.md §14): JSON text messages on
 * a WebSocket over TLS between a peer and a relay, as zod schemas. Both the
 * relay (relay/) and the peer's relay client (core/relay/) parse every
 * message with RelayClientFrame / RelayServerFrame before use.
 *
 * The relay never sees plaintext: mailbox bodies are envelopes sealed to the
 * recipient's encryption key and signed by the sender's device key; pipes
 * carry an ordinary end-to-end TLS peer session as opaque bytes.
 */
import { z } from 'zod/v3';
import { MAX_IDS_PER_FRAME, MAX_LABEL_CHARS, MAX_TEXT_CHARS, PROTOCOL_VERSION } from './constants.js';
import { DeviceId, MessageId, PresenceFields } from './schemas-common.js';
import { ErrorCodes, PigeonError } from './errors.js';
import { BlobId } from './blob-http.js';
import { OfferEntry, TransferId } from './transfer-frames.js';

/** WebSocket path of the relay's control connection. */
export const RELAY_PATH = '/pigeon/1';
/** WebSocket path of a pipe connection: `${RELAY_PIPE_PATH}?key=<pipe key>`. */
export const RELAY_PIPE_PATH = '/pigeon/1/pipe';
/** WebSocket subprotocol both paths require: refuses anything else early. */
export const RELAY_SUBPROTOCOL = 'pigeon-relay.1';

/**
 * Largest relay JSON message (512 KiB): room for the largest envelope
 * (MAX_ENVELOPE_CHARS) plus the frame around it. Checked by the WebSocket
 * layer before a message is buffered whole.
 */
export const MAX_RELAY_MESSAGE_BYTES = 512 * 1024;
/**
 * Longest sealed ciphertext (base64 characters): a 64 Ki-character chat
 * message is at most 256 KiB of UTF-8, ~350 KB in base64, plus headroom.
 */
export const MAX_ENVELOPE_CHARS = 400_000;
/**
 * Largest binary message a client sends into a pipe (64 KiB): four TLS
 * records. A TLS socket hands its whole output buffer to the stream at once
 * (a megabyte during a file transfer); clients cut it to this size so the
 * relay's per-message limit holds and no message stalls the splice for long.
 */
export const MAX_PIPE_MESSAGE_BYTES = 64 * 1024;
/**
 * Messages per second a client may send on its control connection, and the
 * burst (2 × rate, as Syncthing's relay buckets): a peer handing a backlog of
 * thousands of queued messages to the relay paces itself under it; a flood
 * far beyond it is closed with PIGEON_ERR_RELAY_LIMIT.
 */
export const CLIENT_MESSAGE_RATE = 2000;
export const CLIENT_MESSAGE_BURST = 2 * CLIENT_MESSAGE_RATE;
/** Most mailbox entries the relay sends per sync page: bounds one burst and a client's memory. */
export const MAX_SYNC_PAGE = 500;
/** Most peers in one directory message; a bigger office gets several. */
export const MAX_DIRECTORY_PAGE = 1000;
/**
 * Most members of a group: a department-wide chat (the fan-out benchmark
 * targets 500). Bounds one group message (1000 × ~50 bytes) and a sender-key
 * rotation (one sealed put per member: under a second at the paced rate).
 */
export const MAX_GROUP_MEMBERS = 1000;
/** Longest group name, in characters: the same bound as a peer's name. */
export const MAX_GROUP_NAME_CHARS = MAX_LABEL_CHARS;

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
/** A DER SubjectPublicKeyInfo of a P-256 key is 91 bytes: 124 base64 characters; bounded loosely. */
const Spki = Base64.min(4).max(400);
/** An X25519 public key: 32 bytes raw, 44 base64 characters. */
const X25519Key = Base64.length(44);
/** An ECDSA P-256 / SHA-256 signature in IEEE P1363 form (r ‖ s, 64 bytes): 88 base64 characters. DER is not used. */
const Signature = Base64.length(88);
const Nonce = Base64.length(44);
const Seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** Client-chosen tag to match an answer to its request. */
const Ref = z.string().max(64);

/** A device's encryption key, signed by its device key (what a sender seals to). */
export const EncKey = z.object({ key: X25519Key, sig: Signature });
export type EncKey = z.infer<typeof EncKey>;

/** What a peer tells the relay about itself (the presence fields minus the LAN port). */
export const RelayProfile = z.object({
  name: PresenceFields.name,
  group: PresenceFields.group,
  host: PresenceFields.host,
  status: PresenceFields.status,
  away: PresenceFields.away,
});
export type RelayProfile = z.infer<typeof RelayProfile>;

/** A device registered at the relay, as other clients see it. */
export const RemotePeer = RelayProfile.extend({
  id: DeviceId,
  online: z.boolean(),
  spki: Spki,
  enc: EncKey,
  /** Last time the relay saw it (ms since epoch). */
  lastSeen: z.number().int().nonnegative(),
});
export type RemotePeer = z.infer<typeof RemotePeer>;

/** A device in the versioned directory (§14.3.1): `v` is the directory version of its last change. */
export const VersionedPeer = RemotePeer.extend({ v: Seq });
export type VersionedPeer = z.infer<typeof VersionedPeer>;
/**
 * A device's presence as pushed to the connections that watch it (§12.2.1,
 * `dir-presence`): its profile, online flag and last-seen time with the
 * version of the change, without its keys (they change only on reinstall,
 * and the client holds them from the directory): ~150 bytes instead of ~400.
 */
export const PresencePeer = RelayProfile.extend({ id: DeviceId, online: z.boolean(), lastSeen: z.number().int().nonnegative(), v: Seq });
export type PresencePeer = z.infer<typeof PresencePeer>;
/** A device pruned from the directory at version `v`. */
export const GonePeer = z.object({ id: DeviceId, v: Seq, gone: z.literal(true) });
export type GonePeer = z.infer<typeof GonePeer>;
/** One change of the directory: a device as it is now, or its removal. */
export const DirectoryEntry = z.union([GonePeer, VersionedPeer]);
export type DirectoryEntry = z.infer<typeof DirectoryEntry>;
/** One change told to a watcher: a watched device's presence, or its removal. */
export const PresenceEntry = z.union([GonePeer, PresencePeer]);
export type PresenceEntry = z.infer<typeof PresenceEntry>;
/**
 * Most devices one connection may watch (§12.2.1): a person's contacts and
 * group co-members are tens to hundreds; 2,000 ids are ~100 KB of the
 * relay's memory for that connection, paid only by a client that asks.
 */
export const MAX_WATCHED = 2000;

/**
 * A sealed mailbox body (§14.5): X25519 ephemeral key, AES-256-GCM nonce and
 * ciphertext+tag, and the sender's ECDSA signature over all of it.
 */
export const Envelope = z.object({
  eph: X25519Key,
  nonce: Base64.length(16),
  ct: Base64.min(1).max(MAX_ENVELOPE_CHARS),
  sig: Signature,
});
export type Envelope = z.infer<typeof Envelope>;

/** A group's id: 128 random bits in hex, chosen by its creator (so a retried create is recognised). */
export const GroupId = z.string().regex(/^[0-9a-f]{32}$/);
/** A sender key's id: 64 random bits in hex; a new one each time a member's sender key rotates. */
const KeyId = z.string().regex(/^[0-9a-f]{16}$/);
const GroupName = z.string().trim().min(1).max(MAX_GROUP_NAME_CHARS);
const Members = z.array(DeviceId).max(MAX_GROUP_MEMBERS);

/**
 * A group message body (§12.7): AES-256-GCM under the sender's current
 * sender key `kid` (96-bit nonce, ciphertext ‖ tag), signed by the sender's
 * device key so that no other member can write in its name.
 */
export const GroupEnvelope = z.object({
  kid: KeyId,
  nonce: Base64.length(16),
  ct: Base64.min(1).max(MAX_ENVELOPE_CHARS),
  sig: Signature,
});
export type GroupEnvelope = z.infer<typeof GroupEnvelope>;

/**
 * A group as the relay tells its members: `joined` is the group seq after
 * which a member may read; `rev` the revision of the group's chain the relay
 * holds. Members believe none of it until the chain (GroupChange) verifies:
 * it only tells them that there is something to fetch.
 */
export const GroupState = z.object({
  gid: GroupId,
  name: GroupName,
  owner: DeviceId,
  members: z.array(z.object({ id: DeviceId, joined: Seq })).min(1).max(MAX_GROUP_MEMBERS),
  /** Highest seq in the group's log. */
  last: Seq,
  /** Revision of the last membership change the relay holds (§12.7.1). */
  rev: Seq,
});
export type GroupState = z.infer<typeof GroupState>;

/** SHA-256 in lowercase hex: a chain link's hash. */
const Hash = z.string().regex(/^[0-9a-f]{64}$/);
/** The `prev` of a group's first change (rev 1): there is nothing before it. */
export const GROUP_CHAIN_START = '0'.repeat(64);
/**
 * Most characters of changes in one group-changes page (256 KiB): half the
 * relay message limit, room for several changes of the largest size (a create
 * naming 1000 members is ~30 KB).
 */
export const MAX_GROUP_CHANGES_PAGE_CHARS = 256 * 1024;

const ChangeFields = {
  gid: GroupId,
  /** 1 for the create, then one more per change. */
  rev: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** Hash of the change before (groupChangeHash), GROUP_CHAIN_START for rev 1. */
  prev: Hash,
  /** The member that made and signed the change. */
  by: DeviceId,
  /** The signer's clock (ms since epoch): shown, never used for order. */
  ts: z.number().int().nonnegative(),
  /** ECDSA P-256/SHA-256 (P1363) of `by`'s device key over groupChangeMessage. */
  sig: Signature,
};

/**
 * One membership change (§12.7.1), signed by the member that makes it and
 * chained to the one before by hash. Create names every first member, the
 * creator first; add names members not yet in; remove (the owner only) one
 * other member; leave the signer itself (an owner who leaves hands the group
 * to the earliest remaining member).
 */
export const GroupChange = z.discriminatedUnion('op', [
  z.object({ ...ChangeFields, op: z.literal('create'), name: GroupName, members: Members.min(1) }),
  z.object({ ...ChangeFields, op: z.literal('add'), members: Members.min(1) }),
  z.object({ ...ChangeFields, op: z.literal('remove'), member: DeviceId }),
  z.object({ ...ChangeFields, op: z.literal('leave') }),
]);
export type GroupChange = z.infer<typeof GroupChange>;
/** A change before it is signed. */
export type UnsignedGroupChange = OmitSig<GroupChange>;
type OmitSig<T> = T extends unknown ? Omit<T, 'sig'> : never;

/** The bytes a member signs for a group change: every field but the signature, one per line. */
export function groupChangeMessage(c: UnsignedGroupChange): string {
  const head = `pigeon-group-change/1\n${c.gid}\n${c.rev}\n${c.prev}\n${c.by}\n${c.ts}\n${c.op}`;
  switch (c.op) {
    case 'create':
      return `${head}\n${JSON.stringify(c.name)}\n${c.members.join(',')}`;
    case 'add':
      return `${head}\n${c.members.join(',')}`;
    case 'remove':
      return `${head}\n${c.member}`;
    case 'leave':
      return head;
  }
}

/** What a change's hash (SHA-256, hex) is taken over: the signed bytes and the signature. */
export function groupChangeHashInput(c: GroupChange): string {
  return `${groupChangeMessage(c)}\n${c.sig}`;
}

// ---- client → relay ---------------------------------------------------------

/** Answer to the challenge: proves the device key, registers the profile and encryption key. */
export const AuthFrame = z.object({
  type: z.literal('auth'),
  v: z.literal(PROTOCOL_VERSION),
  id: DeviceId,
  spki: Spki,
  /** ECDSA P-256/SHA-256 over authMessage(nonce, id). */
  sig: Signature,
  /** The relay's invite token, if it requires one. */
  token: z.string().max(200).optional(),
  profile: RelayProfile,
  enc: EncKey,
  /** The directory version the client holds (§14.3.1); absent or 0: it holds none. */
  dir: Seq.optional(),
});
/** Presence change while connected. */
export const ProfileFrame = z.object({ type: z.literal('profile'), profile: RelayProfile });
/** Leave a sealed message in `to`'s mailbox; answered by put-ack once it is on disk. */
export const PutFrame = z.object({ type: z.literal('put'), id: MessageId, to: DeviceId, body: Envelope });
/** Everything in my mailbox up to and including seq may be deleted. */
export const AckFrame = z.object({ type: z.literal('ack'), seq: Seq });
/** Send me my mailbox after seq (one page, then `synced`). */
export const SyncFrame = z.object({ type: z.literal('sync'), after: Seq, limit: z.number().int().min(1).max(MAX_SYNC_PAGE).optional() });
/** Join me to `to` through a pipe: the relay answers `pipe` to both sides, or an error with the same ref. */
export const PipeOpenFrame = z.object({ type: z.literal('pipe-open'), to: DeviceId, ref: Ref });
export const RelayPingFrame = z.object({ type: z.literal('ping'), n: z.number().int().nonnegative() });
/**
 * Apply a signed membership change (create, add, remove, leave; §12.7.1): it
 * must follow the relay's head. Answered by `group` (or `group-left` for a
 * leave), or an error, with the same ref.
 */
export const GroupChangeFrame = z.object({ type: z.literal('group-change'), ref: Ref, change: GroupChange });
/** Send me the group's chain of changes after revision `after` (answered by group-changes with the same ref). */
export const GroupChainFrame = z.object({ type: z.literal('group-chain'), ref: Ref, gid: GroupId, after: Seq });
/** Append a message to the group's log, stored once; answered by group-put-ack once it is on disk. */
export const GroupPutFrame = z.object({ type: z.literal('group-put'), gid: GroupId, id: MessageId, body: GroupEnvelope });
/** Send me the group's log after seq (one page, then group-synced). */
export const GroupSyncFrame = z.object({ type: z.literal('group-sync'), gid: GroupId, after: Seq, limit: z.number().int().min(1).max(MAX_SYNC_PAGE).optional() });

/** Send me the directory's changes after version `after` (answered by dir-changes with the same ref). */
export const DirSyncFrame = z.object({ type: z.literal('dir-sync'), ref: Ref, after: Seq });
/** Send me the devices after id `after` ('' from the start), in id order (answered by dir-peers with the same ref). */
export const DirPageFrame = z.object({ type: z.literal('dir-page'), ref: Ref, after: z.union([DeviceId, z.literal('')]) });

/**
 * Tell me the presence of these devices too (§12.2.1), on a relay whose
 * dir-state said `presence: "watched"`: the relay then pushes `dir-presence`
 * for them and for this device's group co-members. Adds to what was asked
 * before on this connection; at most MAX_WATCHED in all.
 */
export const DirWatchFrame = z.object({ type: z.literal('dir-watch'), ids: z.array(DeviceId).max(MAX_WATCHED) });

export const RelayClientFrame = z.discriminatedUnion('type', [
  AuthFrame,
  ProfileFrame,
  PutFrame,
  AckFrame,
  SyncFrame,
  PipeOpenFrame,
  RelayPingFrame,
  GroupChangeFrame,
  GroupChainFrame,
  GroupPutFrame,
  GroupSyncFrame,
  DirSyncFrame,
  DirPageFrame,
  DirWatchFrame,
]);
export type RelayClientFrame = z.infer<typeof RelayClientFrame>;

// ---- relay → client ---------------------------------------------------------

/** First message from the relay: sign this nonce. */
export const ChallengeFrame = z.object({ type: z.literal('challenge'), v: z.literal(PROTOCOL_VERSION), nonce: Nonce });
/**
 * Authenticated. `epoch` changes only if the relay lost its store: a client
 * whose remembered epoch differs starts its mailbox cursor from 0.
 */
export const WelcomeFrame = z.object({ type: z.literal('welcome'), id: DeviceId, epoch: z.string().min(1).max(64), last: Seq });
/** Registered devices (all of them on connect, in pages; `done` on the last page). */
export const DirectoryFrame = z.object({ type: z.literal('directory'), peers: z.array(RemotePeer).max(MAX_DIRECTORY_PAGE), done: z.boolean() });
/**
 * Right after welcome: the directory's version now, what the client must do
 * to catch up with it (nothing; ask for the changes after its version; page
 * through the whole directory), and `boot`, which changes when the relay
 * lost who was online (a restart): online flags held from before mean nothing.
 */
export const DirStateFrame = z.object({
  type: z.literal('dir-state'),
  version: Seq,
  boot: z.string().min(1).max(64),
  state: z.enum(['unchanged', 'delta', 'page']),
  /**
   * Which changes this connection is pushed (§12.2.1): `all` (absent from
   * older relays): every change, as dir-push; `watched`: only those of the
   * devices it watches (dir-watch), as dir-presence.
   */
  presence: z.enum(['all', 'watched']).optional(),
});
/**
 * The answer to dir-sync: the changes after `from`, in version order;
 * applied to a directory at `from` they make it the directory at `to`.
 * `more`: there are changes after `to`, ask again.
 */
export const DirChangesFrame = z.object({
  type: z.literal('dir-changes'),
  ref: Ref,
  from: Seq,
  to: Seq,
  changes: z.array(DirectoryEntry).max(MAX_DIRECTORY_PAGE),
  more: z.boolean(),
});
/**
 * The answer to dir-page: devices in id order after the asked id; `next`
 * is the id to ask after for the next page (null: that was the last).
 * `version`: the directory's version before the page was read (ask dir-sync
 * after it once done: changes made while paging are there).
 */
export const DirPeersFrame = z.object({
  type: z.literal('dir-peers'),
  ref: Ref,
  version: Seq,
  peers: z.array(VersionedPeer).max(MAX_DIRECTORY_PAGE),
  next: DeviceId.nullable(),
});
/**
 * Directory changes as they happen, gathered for a moment (presence comes
 * and goes here): each entry has its version, every version is told once.
 * A client that sees a version above the one it holds + 1 and not the ones
 * between for a while asks for them with dir-sync.
 */
export const DirPushFrame = z.object({ type: z.literal('dir-push'), changes: z.array(DirectoryEntry).min(1).max(MAX_DIRECTORY_PAGE) });
/**
 * The presence changes of the devices this connection watches (§12.2.1), on
 * a relay that pushes presence to watchers only: versions are not
 * consecutive (the changes of other devices are not told), so they are not
 * counted towards the version the client holds.
 */
export const DirPresenceFrame = z.object({ type: z.literal('dir-presence'), changes: z.array(PresenceEntry).min(1).max(MAX_DIRECTORY_PAGE) });
/** One device came, went, or changed its profile. */
export const PresenceFrame = z.object({ type: z.literal('presence'), peer: RemotePeer });
/** A put is durable: `seq` is its place in the recipient's mailbox (also for a duplicate id). */
export const PutAckFrame = z.object({ type: z.literal('put-ack'), id: MessageId, seq: Seq });
/** A mailbox entry: sent live when it arrives, or as part of a sync page. */
export const DeliverFrame = z.object({
  type: z.literal('deliver'),
  seq: Seq,
  id: MessageId,
  from: DeviceId,
  /** When the relay stored it (ms since epoch). */
  ts: z.number().int().nonnegative(),
  body: Envelope,
});
export type DeliverFrame = z.infer<typeof DeliverFrame>;
/** End of a sync page: `complete` when nothing after `last` remains. */
export const SyncedFrame = z.object({ type: z.literal('synced'), last: Seq, complete: z.boolean() });
/**
 * Connect a pipe: open a WebSocket to RELAY_PIPE_PATH?key=<key>, or, when
 * `raw` is there, plain TCP to the relay's host on `raw.port` with a header
 * carrying `raw.token` (shared/protocol/raw-pipe.ts, §12.3.1), falling back to
 * the WebSocket. `role` says which end of the TLS handshake inside the pipe
 * this side plays.
 */
export const PipeFrame = z.object({
  type: z.literal('pipe'),
  key: z.string().regex(/^[0-9a-f]{64}$/),
  peer: DeviceId,
  role: z.enum(['client', 'server']),
  /** The ref of the pipe-open it answers (the opener only). */
  ref: Ref.optional(),
  /** The relay's raw TCP pipe port and this side's one-time token for it (absent: WebSocket only). */
  raw: z.object({ port: z.number().int().min(1).max(65535), token: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
});
export type PipeFrame = z.infer<typeof PipeFrame>;
/** A request failed, or (without ref) the connection is about to close. */
export const RelayErrorFrame = z.object({ type: z.literal('error'), code: z.string().max(64), message: z.string().max(500), ref: Ref.optional(), id: MessageId.optional() });
export const RelayPongFrame = z.object({ type: z.literal('pong'), n: z.number().int().nonnegative() });
/** A group I am a member of: after welcome (each of them), after every change, and as the answer to a group request. */
export const GroupFrame = z.object({ type: z.literal('group'), group: GroupState, ref: Ref.optional() });
/** I am no longer a member (removed by `by`, or I left): forget its keys. */
export const GroupLeftFrame = z.object({ type: z.literal('group-left'), gid: GroupId, by: DeviceId, ref: Ref.optional() });
/**
 * A page of a group's chain: consecutive changes from `after` + 1; `complete`
 * when none is left after them; `rev` the relay's head when it answered (a
 * member that verified more than that sees a rollback).
 */
export const GroupChangesFrame = z.object({
  type: z.literal('group-changes'),
  ref: Ref,
  gid: GroupId,
  changes: z.array(GroupChange).max(MAX_GROUP_MEMBERS),
  complete: z.boolean(),
  rev: Seq,
});
/** A group message is durable: `seq` is its place in the group's log (also for a duplicate id). */
export const GroupPutAckFrame = z.object({ type: z.literal('group-put-ack'), gid: GroupId, id: MessageId, seq: Seq });
/** A group log entry: live when it arrives, or as part of a group-sync page. */
export const GroupDeliverFrame = z.object({
  type: z.literal('group-deliver'),
  gid: GroupId,
  seq: Seq,
  id: MessageId,
  from: DeviceId,
  ts: z.number().int().nonnegative(),
  body: GroupEnvelope,
  /** Part of a group-sync page (entries may skip expired seqs); absent on a live push. */
  page: z.literal(true).optional(),
});
export type GroupDeliverFrame = z.infer<typeof GroupDeliverFrame>;
/** End of a group-sync page: `complete` when nothing after `last` remains. */
export const GroupSyncedFrame = z.object({ type: z.literal('group-synced'), gid: GroupId, last: Seq, complete: z.boolean() });

export const RelayServerFrame = z.discriminatedUnion('type', [
  ChallengeFrame,
  WelcomeFrame,
  DirectoryFrame,
  PresenceFrame,
  PutAckFrame,
  DeliverFrame,
  SyncedFrame,
  PipeFrame,
  RelayErrorFrame,
  RelayPongFrame,
  GroupFrame,
  GroupLeftFrame,
  GroupChangesFrame,
  GroupPutAckFrame,
  GroupDeliverFrame,
  GroupSyncedFrame,
  DirStateFrame,
  DirChangesFrame,
  DirPeersFrame,
  DirPushFrame,
  DirPresenceFrame,
]);
export type RelayServerFrame = z.infer<typeof RelayServerFrame>;

/** The bytes a device signs to answer a challenge. */
export function authMessage(nonce: string, id: string): string {
  return `pigeon-relay-auth/1\n${nonce}\n${id}`;
}

/** The bytes a device signs to vouch for its encryption key. */
export function encKeyMessage(id: string, key: string): string {
  return `pigeon-enc-key/1\n${id}\n${key}`;
}

/** The bytes a group sender signs (and authenticates as AES-GCM associated data, without the ciphertext). */
export function groupEnvelopeMessage(gid: string, from: string, id: string, kid: string, nonce: string, ct: string): string {
  return `pigeon-group/1\n${gid}\n${from}\n${id}\n${kid}\n${nonce}\n${ct}`;
}

/** The bytes a sender signs for an envelope (everything the recipient relies on). */
export function envelopeMessage(from: string, to: string, id: string, e: Omit<Envelope, 'sig'>): string {
  return `pigeon-envelope/1\n${from}\n${to}\n${id}\n${e.eph}\n${e.nonce}\n${e.ct}`;
}

function parseWith<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PigeonError(ErrorCodes.PROTOCOL, `${what}: not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PigeonError(ErrorCodes.PROTOCOL, `${what}: ${issue ? `${issue.path.join('.')} ${issue.message}` : 'invalid'}`);
  }
  return parsed.data;
}

/** Parses one message from a client; throws PigeonError(PROTOCOL). */
export function parseRelayClientFrame(text: string): RelayClientFrame {
  return parseWith(RelayClientFrame, text, 'invalid relay request');
}

/** Parses one message from a relay; throws PigeonError(PROTOCOL). */
export function parseRelayServerFrame(text: string): RelayServerFrame {
  return parseWith(RelayServerFrame, text, 'invalid relay message');
}

// ---- inside an envelope (only the two devices see this) ----------------------

/**
 * Most entries in one sealed file-offer: ~250 bytes of JSON each keeps the
 * sealed body (base64, +33 %) under MAX_ENVELOPE_CHARS with room for long
 * paths; a bigger offer to an offline peer waits for the peer instead.
 */
export const MAX_RELAY_OFFER_ENTRIES = 1000;

/** One entry of a file-offer: an offer entry, plus for a file its blob on the relay and the SHA-256 of its plaintext. */
export const RelayOfferEntry = OfferEntry.extend({ blob: BlobId.optional(), sha256: z.string().regex(/^[0-9a-f]{64}$/).optional() });
export type RelayOfferEntry = z.infer<typeof RelayOfferEntry>;

export const RelayFileOffer = z.object({
  kind: z.literal('file-offer'),
  transfer: TransferId,
  /** AES-256 transfer key (32 bytes, base64); each file's key is derived from it (chunk-cipher.ts). */
  key: Base64.length(44),
  entries: z.array(RelayOfferEntry).min(1).max(MAX_RELAY_OFFER_ENTRIES),
  /** A picture (§13.8), as the offer frame's `picture`. */
  picture: z.literal(true).optional(),
});
export type RelayFileOffer = z.infer<typeof RelayFileOffer>;

/** What a sealed mailbox body carries once opened (§14.5). */
export const SealedContent = z.discriminatedUnion('kind', [
  /** A chat message, as the msg session frame carries it (the id is the put's id). */
  z.object({ kind: z.literal('msg'), seq: z.number().int().positive(), ts: z.number().int().nonnegative(), text: z.string().max(MAX_TEXT_CHARS), auto: z.literal(true).optional() }),
  /** Receipts: these messages were stored (delivered) or read by the recipient. */
  z.object({ kind: z.enum(['delivered', 'read']), ids: z.array(MessageId).min(1).max(MAX_IDS_PER_FRAME) }),
  /**
   * The sender's key for its messages in a group (AES-256, 32 bytes base64), sealed to each member,
   * with the chain revision and hash of the membership it was made for (a member checks both first).
   */
  z.object({ kind: z.literal('group-key'), gid: GroupId, kid: KeyId, key: Base64.length(44), rev: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), head: Hash }),
  /** Files left on the relay for an offline recipient (§12.9): the manifest, the blobs and the transfer key. */
  RelayFileOffer,
  /** The recipient's answer to a file-offer (the sender's transfer ends in this state). */
  z.object({ kind: z.literal('file-answer'), transfer: TransferId, state: z.enum(['done', 'declined', 'canceled']), reason: z.string().max(200).optional() }),
]);
export type SealedContent = z.infer<typeof SealedContent>;
