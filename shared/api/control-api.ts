/**
 * The control API between a running peer and its hosts (the one-shot CLI
 * commands, `pigeon chat`, later the desktop app). Transport: newline-delimited
 * JSON over a local socket in the profile folder. Requests carry an id; the
 * answer carries the same id. After `subscribe`, engine events stream as
 * `{ "event": ... }` lines. No exception crosses this boundary: errors travel
 * as { code, message }.
 */
import { z } from 'zod/v3';
import { MAX_LABEL_CHARS, MAX_TEXT_CHARS } from '../protocol/constants.js';
import { MAX_GROUP_MEMBERS } from '../protocol/relay-frames.js';
import type { ErrorInfo } from '../protocol/errors.js';
import { AwayMessage, Label, MessageId, PresenceStatus, type Presence } from '../protocol/schemas-common.js';

/** Most recipients of one multi-send by name: an office floor; a bigger list is a workgroup or everyone. */
export const MAX_RECIPIENTS = 500;

/** 'relayed': the relay holds it for the offline recipient (out of the outbox; delivered comes later). */
export type MessageState = 'scheduled' | 'queued' | 'sent' | 'relayed' | 'delivered' | 'read' | 'received';

/** The protocol a peer speaks: native Pigeon (TLS 1.3), IPMsg (IP Messenger, Feiq, iptux) through the bridge, or LocalSend (phones and laptops, files only). */
export type PeerProtocol = 'pigeon' | 'ipmsg' | 'localsend';

/** What a peer supports; hosts show and decide by these, not by the protocol. */
export interface PeerCapabilities {
  /** Messages and files travel encrypted end to end. */
  encrypted: boolean;
  /** The peer reports when a message was read. */
  readReceipts: boolean;
  /** The peer can be reached through a relay (mailbox, pipe). */
  relay: boolean;
  /** Files and folders can be sent to the peer. */
  files: boolean;
}

/** A peer as the engine knows it. */
export interface PeerInfo extends Presence {
  addresses: string[];
  online: boolean;
  /** Discovery sources that currently see the peer: broadcast, unicast, mdns, session, relay. */
  sources: string[];
  /** Reached through the relay only (another office, behind another NAT): no LAN address. */
  remote: boolean;
  lastSeen: number;
  /**
   * SHA-256 of the public key, grouped hex: the pinned key, or before the
   * first session the key that signed the peer's announcements; empty when
   * neither is known (IPMsg contacts, peers known only from the relay).
   */
  fingerprint: string;
  /** The key is pinned (a session confirmed it, or the user trusted it): the peer can be chosen by name. */
  pinned?: boolean;
  /** A new device calling itself by the name of this pinned colleague (device id): never chosen by name until trusted. */
  namesakeOf?: string;
  /** A new key for this pinned colleague (same name and host): the same person's reinstalled device, until `trust`. Listed only under the colleague. */
  successorOf?: string;
  /** On a pinned colleague: a device with the same name and host presented another key (a reinstall, or an impostor). */
  keyChanged?: { id: string; fingerprint: string };
  /** Absent from older engines: 'pigeon'. */
  protocol?: PeerProtocol;
  capabilities?: PeerCapabilities;
}

export interface MessageInfo {
  id: string;
  peer: string;
  direction: 'out' | 'in';
  text: string;
  state: MessageState;
  /**
   * When the message was written (ms since epoch): on the sender's clock, as
   * the sender's msg frame said. For a scheduled message: when it is due, then
   * when it went out.
   */
  ts: number;
  /** Incoming messages: when this device received and stored it (ms since epoch, its own clock). Null for outgoing ones. */
  received: number | null;
  /**
   * The message's place in its conversation (ms on this device's clock; spec
   * §7.5): sort by order, then outgoing before incoming, then seq. Keeps each
   * sender's messages in the sender's seq order across restarts.
   */
  order: number;
  /** For scheduled messages: when it is due. */
  due: number | null;
  seq: number | null;
  /** In a group conversation: the group's id (`peer` is then `group:<id>`). */
  group?: string;
  /** In a group conversation, for incoming messages: the member who wrote it. */
  from?: string | null;
  /** An automatic reply (away message, §7.11), sent or received; absent: written by a person. */
  auto?: true;
  /** Outgoing copy of a message sent to several people at once (§7.12): the multi-send it belongs to, and how far it got. */
  multi?: MultiSummary;
  /** Said to the user when the message was written: it goes unencrypted (IPMsg), or waits because the peer's key changed. */
  warning?: { code: 'PIGEON_ERR_UNENCRYPTED' | 'PIGEON_ERR_KEY_CHANGED'; message: string };
  /**
   * Outgoing and queued, when it cannot go anywhere yet: why, in words
   * ("Bob is offline and no relay is configured: …", "the relay has never
   * seen Bob: …"). Absent while it is on its way.
   */
  queuedReason?: string;
  /**
   * Outgoing, in a group on the LAN (§12.10): of the other members (`of`),
   * who holds it and who has read it ("read by 3 of 5"; names as shown).
   */
  receipts?: { of: number; delivered: Array<{ id: string; name: string }>; read: Array<{ id: string; name: string }> };
}

/** How far a multi-send got: "delivered to `delivered` of `total`". */
export interface MultiSummary {
  /** The multi-send's id (each copy has its own message id). */
  id: string;
  total: number;
  /** Copies delivered or read. */
  delivered: number;
}

/** One message sent to several people at once (§7.12): a copy per recipient, each with its own delivery state. */
export interface MultiSendInfo extends MultiSummary {
  text: string;
  /** When it was written (or, scheduled, when it is due). */
  ts: number;
  /** Copies read. */
  read: number;
  /** The copies, one per recipient, by name. */
  recipients: Array<{ peer: string; name: string; message: string; state: MessageState }>;
}

/** Who a multi-send goes to: named colleagues, everyone of a workgroup, or everyone online on the LAN. */
export const Recipients = z.union([
  z.strictObject({ peers: z.array(z.string().min(1)).min(1).max(MAX_RECIPIENTS) }),
  z.strictObject({ workgroup: z.string().min(1).max(MAX_LABEL_CHARS) }),
  z.strictObject({ everyone: z.literal(true) }),
]);
export type Recipients = z.infer<typeof Recipients>;

/** A group conversation (carried by the relay). */
export interface GroupInfo {
  id: string;
  name: string;
  owner: string;
  /** Members with their names as the directory knows them (this device included). */
  members: Array<{ id: string; name: string }>;
  /** False once this device left or was removed (the history stays). */
  joined: boolean;
  /** Set when the relay's account of the members did not verify (§12.7.1): why; the members shown are the verified ones. */
  tampered?: string;
}

export interface SelfInfo extends Presence {
  fingerprint: string;
  /** The relay this peer uses, if any. */
  relay?: RelayStatus;
}

/** A peer's relay and whether it is connected (with the last error when not). */
export interface RelayStatus {
  url: string;
  connected: boolean;
  error?: string;
  /** The stable code of `error` (PIGEON_ERR_RELAY_TOKEN, …). */
  code?: string;
}

/** 'relayed': (sender) the files and the offer wait on the relay for the offline recipient (§12.9). */
export type TransferState = 'queued' | 'offered' | 'accepted' | 'relayed' | 'done' | 'declined' | 'canceled' | 'failed';

/** States a transfer never leaves. */
const FINISHED_TRANSFER_STATES: ReadonlySet<string> = new Set<TransferState>(['done', 'declined', 'canceled', 'failed']);

/** The transfer has ended (done, declined, canceled or failed); 'relayed' is not an end, the colleague still fetches. */
export function isFinishedTransfer(state: string): boolean {
  return FINISHED_TRANSFER_STATES.has(state);
}

/** A file or folder transfer as the control API shows it. */
export interface TransferInfo {
  id: string;
  peer: string;
  direction: 'out' | 'in';
  state: TransferState;
  created: number;
  totalBytes: number;
  fileCount: number;
  /** Bytes verified (receiver) or acknowledged by completion (sender) so far, plus the file in progress. */
  doneBytes: number;
  /** Bytes per second over the last seconds; 0 when idle. */
  rate: number;
  /** The first few entries, for display ("report.pdf and 12 more"). */
  names: string[];
  error: string | null;
  /**
   * Set once the receiver took only some of the files (accept --files), on
   * both sides: how many files and bytes were taken. `doneBytes` then counts
   * towards `acceptedBytes`, not `totalBytes`.
   */
  acceptedFiles?: number;
  acceptedBytes?: number;
  /** A picture (§13.8): one image file, taken without asking, shown inline. Absent for other transfers. */
  picture?: true;
}

/** One offered file or folder; `index` is what `accept` takes to accept some. */
export interface TransferEntryInfo {
  index: number;
  path: string;
  kind: 'file' | 'dir';
  size: number;
  wanted: boolean;
  done: boolean;
}

/** A file a transfer actually carried (received and verified, or accepted and sent); `index` as in TransferEntryInfo. */
export interface TransferFileInfo {
  index: number;
  path: string;
  size: number;
  /** Where it is on this device: in the download folder (received), or its source (sent); null when unknown. */
  localPath: string | null;
}

/** The files of a transfer that were taken, and where the transfer landed (its top-level files and folders). */
export interface TransferFilesInfo {
  transfer: TransferInfo;
  files: TransferFileInfo[];
  /** Received: the top-level files and folders in the download folder; sent: their sources here. */
  landed: string[];
}

/** Unread incoming messages of one conversation. */
export interface UnreadInfo {
  peer: string;
  count: number;
}

/** A changed key a peer presented, refused until the user trusts it. */
export interface KeyChangeInfo {
  peerId: string;
  name: string;
  /** Fingerprint of the pinned (known) key. */
  pinned: string;
  /** Fingerprint of the key presented now. */
  presented: string;
}

/** The settings a UI shows; name and group are changed with setProfile, the rest by `pigeon peer` options. */
export interface SettingsInfo {
  name: string;
  group: string;
  downloads: string;
  /** Peers whose offers are accepted without asking (names, id prefixes or 'all'). */
  acceptFrom: string[];
  relay: { url: string; fingerprint: string } | null;
}

export type PeerEvent =
  | { type: 'listening'; self: SelfInfo }
  | { type: 'peer-online'; peer: PeerInfo }
  | { type: 'peer-offline'; peer: PeerInfo }
  | { type: 'peer-updated'; peer: PeerInfo }
  | { type: 'message'; message: MessageInfo }
  | { type: 'message-state'; message: MessageInfo }
  | { type: 'key-changed'; peerId: string; name: string; pinned: string; presented: string }
  | { type: 'warning'; code: string; message: string }
  /** A transfer changed state (offered, accepted, done, ...). */
  | { type: 'transfer'; transfer: TransferInfo }
  /** Progress of a running transfer, at most a few times per second. */
  | { type: 'transfer-progress'; transfer: TransferInfo }
  /** The relay connection came up or went down. */
  | { type: 'relay'; relay: RelayStatus }
  /** A group was created, changed members, or we left it. */
  | { type: 'group'; group: GroupInfo }
  /** A copy of a multi-send changed state: how far the whole multi-send got. */
  | { type: 'multi-send'; multi: MultiSendInfo };

/** Request schemas, one per method; the server validates params with them. */
export const ControlRequests = {
  whoami: z.object({}),
  peers: z.object({}),
  send: z.object({ peer: z.string().min(1), text: z.string().min(1).max(MAX_TEXT_CHARS), at: z.number().int().optional() }),
  /** `stored`: stored on the relay for a peer offline everywhere counts as done (what `send --wait` means). */
  waitDelivered: z.object({ id: MessageId, timeoutMs: z.number().int().min(0).max(24 * 3600 * 1000), stored: z.boolean().optional() }),
  /** `before`: for a group, the page of messages before this group seq. */
  history: z.object({ peer: z.string().min(1), limit: z.number().int().min(1).max(100000).optional(), markRead: z.boolean().optional(), before: z.number().int().min(1).optional() }),
  markRead: z.object({ peer: z.string().min(1) }),
  setStatus: z.object({ status: PresenceStatus, away: AwayMessage.optional() }),
  trust: z.object({ peer: z.string().min(1) }),
  subscribe: z.object({}),
  sendFiles: z.object({ peer: z.string().min(1), paths: z.array(z.string().min(1)).min(1).max(10000), pin: z.string().max(64).optional() }),
  /** One PNG, JPEG, GIF or WebP file as a picture (§13.8); to an IPMsg contact, an ordinary file. */
  sendPicture: z.object({ peer: z.string().min(1), path: z.string().min(1) }),
  transfers: z.object({}),
  accept: z.object({ transfer: z.string().min(1), files: z.array(z.number().int().min(0)).optional() }),
  decline: z.object({ transfer: z.string().min(1) }),
  cancel: z.object({ transfer: z.string().min(1) }),
  waitTransfer: z.object({ transfer: z.string().min(1), timeoutMs: z.number().int().min(0).max(7 * 24 * 3600 * 1000) }),
  transferEntries: z.object({ transfer: z.string().min(1) }),
  /** The files a transfer actually carried and where they are (the conversation's file card). */
  transferFiles: z.object({ transfer: z.string().min(1) }),
  unread: z.object({}),
  /** Case-insensitive substring search over all conversations, newest first. */
  searchHistory: z.object({ query: z.string().min(1).max(200), limit: z.number().int().min(1).max(1000).optional() }),
  keyChanges: z.object({}),
  settings: z.object({}),
  setProfile: z.object({ name: Label.min(1), group: Label }),
  groups: z.object({}),
  /** Members by name or id prefix, as for send. */
  groupCreate: z.object({ name: z.string().trim().min(1).max(MAX_LABEL_CHARS), members: z.array(z.string().min(1)).max(MAX_GROUP_MEMBERS) }),
  groupAdd: z.object({ group: z.string().min(1), members: z.array(z.string().min(1)).min(1).max(MAX_GROUP_MEMBERS) }),
  groupRemove: z.object({ group: z.string().min(1), member: z.string().min(1) }),
  groupLeave: z.object({ group: z.string().min(1) }),
  /** One message to several people (§7.12): a copy each; unknown names refuse the whole send. */
  sendMulti: z.object({ to: Recipients, text: z.string().min(1).max(MAX_TEXT_CHARS), at: z.number().int().optional() }),
  /** The colleagues a Recipients list means now (send-file to several). */
  recipients: z.object({ to: Recipients }),
  /** A multi-send by id or id prefix, with each copy's state. */
  multiSend: z.object({ id: z.string().min(1).max(32) }),
  /** Resolves when every copy is delivered, or after timeoutMs, with how far it got (never NOT_DELIVERED: the caller decides). */
  waitMulti: z.object({ id: z.string().min(1).max(32), timeoutMs: z.number().int().min(0).max(24 * 3600 * 1000) }),
  /** Scheduled messages not yet sent, soonest first (§7.9). */
  scheduled: z.object({}),
  /** Cancels a scheduled message (by id or id prefix; a multi-send's id cancels every copy). */
  scheduledCancel: z.object({ id: z.string().min(1).max(32) }),
  /** Changes a scheduled message's time and/or text. */
  scheduledEdit: z.object({ id: z.string().min(1).max(32), at: z.number().int().optional(), text: z.string().min(1).max(MAX_TEXT_CHARS).optional() }),
} as const;

export type ControlMethod = keyof typeof ControlRequests;

export interface ControlResults {
  whoami: SelfInfo;
  peers: PeerInfo[];
  send: MessageInfo;
  waitDelivered: MessageInfo;
  history: MessageInfo[];
  markRead: { count: number };
  setStatus: SelfInfo;
  trust: PeerInfo;
  subscribe: { subscribed: true };
  sendFiles: TransferInfo;
  sendPicture: TransferInfo;
  transfers: TransferInfo[];
  accept: TransferInfo;
  decline: TransferInfo;
  cancel: TransferInfo;
  waitTransfer: TransferInfo;
  transferEntries: TransferEntryInfo[];
  transferFiles: TransferFilesInfo;
  unread: UnreadInfo[];
  searchHistory: MessageInfo[];
  keyChanges: KeyChangeInfo[];
  settings: SettingsInfo;
  setProfile: SelfInfo;
  groups: GroupInfo[];
  groupCreate: GroupInfo;
  groupAdd: GroupInfo;
  groupRemove: GroupInfo;
  groupLeave: GroupInfo;
  sendMulti: MultiSendInfo;
  recipients: PeerInfo[];
  multiSend: MultiSendInfo;
  waitMulti: MultiSendInfo;
  scheduled: MessageInfo[];
  scheduledCancel: MessageInfo[];
  scheduledEdit: MessageInfo[];
}

export type ControlParams<M extends ControlMethod> = z.input<(typeof ControlRequests)[M]>;
/** Parameters after validation. */
export type ControlParsed<M extends ControlMethod> = z.output<(typeof ControlRequests)[M]>;

export interface ControlRequest {
  id: number;
  method: string;
  params?: unknown;
}

export type ControlResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: ErrorInfo };

export interface ControlEventLine {
  event: PeerEvent;
}

/** Name of the control socket inside the profile folder. */
export const CONTROL_SOCKET_NAME = 'control.sock';
