/**
 * The group requests of an authenticated device (§12.7): membership changes,
 * the chain, put and sync. A membership change arrives signed by the member
 * that makes it and chained to the group's head (§12.7.1); the relay checks
 * the signature and the same rules every member checks
 * (shared/protocol/group-chain-rules.ts), stores it with the membership it
 * changes, and tells every member that the group moved; members fetch the
 * chain with group-chain and believe nothing they cannot verify. The relay
 * orders changes (one head per group, GROUP_STALE for a change that lost the
 * race) but cannot make one: it holds no member's key.
 *
 * A group message is stored once, in the group's log (groupMailbox), and
 * pushed to the members that are connected. Members that are not pull what
 * they missed with group-sync from their cursor.
 *
 * The relay sees who is in a group and when they write, never what: bodies
 * are sealed with the sender's sender key, which members exchange sealed
 * through their mailboxes (the relay only stores those puts).
 *
 * Live pushes are not ordered against sync pages here: a client that sees
 * a seq beyond the next one it expects syncs from its cursor instead, so a
 * push that overtakes another (across relay instances) costs one page read.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { applyGroupChange, ChainBreak, type ChainState } from '../../shared/protocol/group-chain-rules.js';
import { ErrorCodes, PigeonError, type ErrorCode } from '../../shared/protocol/errors.js';
import {
  groupChangeHashInput,
  groupChangeMessage,
  MAX_GROUP_CHANGES_PAGE_CHARS,
  MAX_GROUP_MEMBERS,
  type GroupChange,
  type GroupState,
  type RelayClientFrame,
  type RelayServerFrame,
} from '../../shared/protocol/relay-frames.js';
import { verifySig } from './auth.js';
import type { Bus } from '../bus/bus.js';
import type { RelayLogger } from '../log.js';
import { groupMailbox, type GroupLink, type GroupRow, type RelayStore } from '../store/relay-store.js';

type GroupRequest = Extract<RelayClientFrame, { type: `group-${string}` }>;

export interface GroupRequestContext {
  store: RelayStore;
  bus: Bus;
  logger: RelayLogger;
  /** The authenticated device making the request. */
  device: string;
  /** Most entries a group's log holds (quota); older ones leave by expiry. */
  groupLogMax: number;
  counters: { puts: number; delivers: number };
  now(): number;
  /** Answers the requesting connection. */
  send(frame: RelayServerFrame): void;
  /** Hands over the rest of a queued write (see ControlConnection.afterQueued). */
  afterQueued(rest: Promise<void>): Promise<void>;
}

/** A refusal that goes back to the client as an error frame with the request's ref (or id). */
class Refusal extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isGroupRequest(frame: RelayClientFrame): frame is GroupRequest {
  return frame.type.startsWith('group-');
}

export async function handleGroupRequest(ctx: GroupRequestContext, frame: GroupRequest): Promise<void> {
  try {
    switch (frame.type) {
      case 'group-change':
        return await change(ctx, frame.change, frame.ref);
      case 'group-chain':
        return await chain(ctx, frame.gid, frame.after, frame.ref);
      case 'group-put':
        return await put(ctx, frame);
      case 'group-sync':
        return await sync(ctx, frame.gid, frame.after, frame.limit ?? DEFAULT_GROUP_SYNC_LIMIT);
    }
  } catch (err) {
    const passOn: readonly string[] = [ErrorCodes.RELAY_QUOTA, ErrorCodes.GROUP_STALE];
    const refusal = err instanceof Refusal ? err : err instanceof PigeonError && passOn.includes(err.code) ? new Refusal(err.code, err.message) : null;
    if (!refusal) throw err;
    const gid = frame.type === 'group-change' ? frame.change.gid : frame.gid;
    ctx.logger.log('info', 'group request refused', { id: ctx.device, type: frame.type, gid, reason: refusal.message });
    const tag = 'ref' in frame ? { ref: frame.ref } : 'id' in frame ? { id: frame.id } : {};
    ctx.send({ type: 'error', code: refusal.code, message: refusal.message, ...tag });
  }
}

/** Entries per group-sync page when the client names no limit. */
const DEFAULT_GROUP_SYNC_LIMIT = 100;
/** Changes read from the store per group-changes page; the page is then cut to MAX_GROUP_CHANGES_PAGE_CHARS. */
const CHAIN_PAGE_ROWS = 100;

/** What members are told about a group (a hint to fetch the chain: they believe only what verifies). */
export async function groupState(store: RelayStore, g: GroupRow): Promise<GroupState> {
  return { gid: g.gid, name: g.name, owner: g.owner, members: g.members, last: await store.lastSeq(groupMailbox(g.gid)), rev: g.rev };
}

async function memberOf(ctx: GroupRequestContext, gid: string): Promise<GroupRow> {
  const g = await ctx.store.group(gid);
  if (!g || !g.members.some((m) => m.id === ctx.device)) throw new Refusal(ErrorCodes.GROUP_NOT_FOUND, `no group ${gid} with this device as a member`);
  return g;
}

async function registered(ctx: GroupRequestContext, ids: readonly string[]): Promise<void> {
  for (const id of ids) if (!(await ctx.store.device(id))) throw new Refusal(ErrorCodes.PEER_NOT_FOUND, `no device ${id} is registered at this relay`);
}

/** Tells every member the new state (the requester through its answer) and a removed member that it is out. */
async function announce(ctx: GroupRequestContext, state: GroupState, ref: string, removed?: string): Promise<void> {
  ctx.send({ type: 'group', group: state, ref });
  await Promise.all(state.members.filter((m) => m.id !== ctx.device).map((m) => ctx.bus.send(m.id, { type: 'group', group: state })));
  if (removed && removed !== ctx.device) await ctx.bus.send(removed, { type: 'group-left', gid: state.gid, by: ctx.device });
}

/** The group as the relay's rows say, in the form the chain rules take. */
function chainState(g: GroupRow): ChainState {
  return { gid: g.gid, name: g.name, owner: g.owner, members: g.members.map((m) => m.id), rev: g.rev, head: g.head };
}

/** Checks that `c` is signed by the requesting device with the key it registered; returns its link. */
async function signedLink(ctx: GroupRequestContext, c: GroupChange): Promise<GroupLink> {
  if (c.by !== ctx.device) throw new Refusal(ErrorCodes.NOT_ALLOWED, 'a member sends only changes it signed itself');
  const device = await ctx.store.device(ctx.device);
  const key = device ? createPublicKey({ key: Buffer.from(device.spki, 'base64'), format: 'der', type: 'spki' }) : null;
  if (!key || !verifySig(key, groupChangeMessage(c), c.sig)) throw new Refusal(ErrorCodes.BAD_REQUEST, 'the change does not carry a valid signature of this device');
  return { rev: c.rev, prev: c.prev, hash: createHash('sha256').update(groupChangeHashInput(c)).digest('hex'), body: JSON.stringify(c) };
}

/** Whether `link` is already in the chain (a retried request whose answer was lost). */
async function already(ctx: GroupRequestContext, gid: string, link: GroupLink): Promise<boolean> {
  const [stored] = await ctx.store.groupChanges(gid, link.rev - 1, 1);
  return stored?.rev === link.rev && stored.hash === link.hash;
}

async function change(ctx: GroupRequestContext, c: GroupChange, ref: string): Promise<void> {
  const link = await signedLink(ctx, c);
  const g = await ctx.store.group(c.gid);
  if (c.op === 'create') {
    if (g) {
      // A retried create finds its own group; someone else's id is refused.
      if (await already(ctx, c.gid, link)) return announce(ctx, await groupState(ctx.store, g), ref);
      throw new Refusal(ErrorCodes.BAD_REQUEST, `group id ${c.gid} is taken`);
    }
  } else {
    if (!g || !g.members.some((m) => m.id === ctx.device)) {
      if (g && (await already(ctx, c.gid, link))) return ctx.send({ type: 'group-left', gid: c.gid, by: ctx.device, ref });
      throw new Refusal(ErrorCodes.GROUP_NOT_FOUND, `no group ${c.gid} with this device as a member`);
    }
    if (c.rev <= g.rev && (await already(ctx, c.gid, link))) return announce(ctx, await groupState(ctx.store, g), ref);
    if (c.rev !== g.rev + 1 || c.prev !== g.head) throw new Refusal(ErrorCodes.GROUP_STALE, `the group is at revision ${g.rev}: fetch the chain and sign the change again`);
  }
  if (c.op === 'add' && g!.members.length + c.members.length > MAX_GROUP_MEMBERS) throw new Refusal(ErrorCodes.RELAY_LIMIT, `a group has at most ${MAX_GROUP_MEMBERS} members`);
  try {
    applyGroupChange(g ? chainState(g) : null, c, link.hash);
  } catch (err) {
    if (!(err instanceof ChainBreak)) throw err;
    throw new Refusal(err.kind === 'not-owner' || err.kind === 'not-member' ? ErrorCodes.NOT_ALLOWED : ErrorCodes.BAD_REQUEST, err.message);
  }
  switch (c.op) {
    case 'create': {
      await registered(ctx, c.members);
      const row = await ctx.store.createGroup({ gid: c.gid, name: c.name, owner: ctx.device, created: ctx.now(), members: c.members.map((id) => ({ id, joined: 0 })) }, link);
      if (row.head !== link.hash) throw new Refusal(ErrorCodes.BAD_REQUEST, `group id ${c.gid} is taken`);
      ctx.logger.log('info', 'group created', { id: ctx.device, gid: c.gid, members: c.members.length });
      return announce(ctx, await groupState(ctx.store, row), ref);
    }
    case 'add': {
      await registered(ctx, c.members);
      const row = await ctx.store.addGroupMembers(c.gid, c.members, link);
      if (!row) throw new Refusal(ErrorCodes.GROUP_NOT_FOUND, `no group ${c.gid}`);
      ctx.logger.log('info', 'group members added', { id: ctx.device, gid: c.gid, added: c.members.length, rev: c.rev });
      return announce(ctx, await groupState(ctx.store, row), ref);
    }
    case 'remove':
    case 'leave':
      return remove(ctx, c.gid, c.op === 'leave' ? ctx.device : c.member, link, ref);
  }
}

async function remove(ctx: GroupRequestContext, gid: string, member: string, link: GroupLink, ref: string): Promise<void> {
  const row = await ctx.store.removeGroupMember(gid, member, link);
  ctx.logger.log('info', member === ctx.device ? 'group left' : 'group member removed', { id: ctx.device, gid, member, rev: link.rev });
  if (member === ctx.device) ctx.send({ type: 'group-left', gid, by: ctx.device, ref });
  if (!row) return; // the last member left: the group, its log and its chain are gone
  const state = await groupState(ctx.store, row);
  if (member === ctx.device) await Promise.all(state.members.map((m) => ctx.bus.send(m.id, { type: 'group', group: state })));
  else await announce(ctx, state, ref, member);
}

/** A page of the chain after `after`: consecutive changes, at most MAX_GROUP_CHANGES_PAGE_CHARS of them (at least one). */
async function chain(ctx: GroupRequestContext, gid: string, after: number, ref: string): Promise<void> {
  const g = await memberOf(ctx, gid);
  const rows = await ctx.store.groupChanges(gid, after, CHAIN_PAGE_ROWS + 1);
  const changes: GroupChange[] = [];
  let chars = 0;
  for (const r of rows.slice(0, CHAIN_PAGE_ROWS)) {
    if (changes.length > 0 && chars + r.body.length > MAX_GROUP_CHANGES_PAGE_CHARS) break;
    chars += r.body.length;
    changes.push(JSON.parse(r.body) as GroupChange);
  }
  ctx.send({ type: 'group-changes', ref, gid, changes, complete: changes.length === rows.length, rev: Math.max(g.rev, rows.at(-1)?.rev ?? 0) });
}

async function put(ctx: GroupRequestContext, f: Extract<GroupRequest, { type: 'group-put' }>): Promise<void> {
  const g = await memberOf(ctx, f.gid);
  const ts = ctx.now();
  const stored = ctx.store.put({ recipient: groupMailbox(f.gid), sender: ctx.device, msgId: f.id, ts, body: JSON.stringify(f.body) }, { entries: ctx.groupLogMax });
  const answered = stored.then(
    async ({ seq, duplicate }) => {
      // Committed: durable, so it may be acknowledged.
      ctx.send({ type: 'group-put-ack', gid: f.gid, id: f.id, seq });
      if (duplicate) return;
      ctx.counters.puts++;
      const frame: RelayServerFrame = { type: 'group-deliver', gid: f.gid, seq, id: f.id, from: ctx.device, ts, body: f.body };
      await Promise.all(g.members.filter((m) => m.id !== ctx.device).map((m) => ctx.bus.send(m.id, frame)));
    },
    (err: unknown) => {
      if (!(err instanceof PigeonError) || err.code !== ErrorCodes.RELAY_QUOTA) throw err;
      ctx.logger.log('info', 'group log full', { id: ctx.device, gid: f.gid, max: ctx.groupLogMax });
      ctx.send({ type: 'error', code: ErrorCodes.RELAY_QUOTA, id: f.id, message: `the group's log is full (${ctx.groupLogMax} messages kept)` });
    },
  );
  return ctx.afterQueued(answered);
}

async function sync(ctx: GroupRequestContext, gid: string, after: number, limit: number): Promise<void> {
  const g = await memberOf(ctx, gid);
  // A member reads only what was written after it joined.
  const from = Math.max(after, g.members.find((m) => m.id === ctx.device)!.joined);
  const rows = await ctx.store.page(groupMailbox(gid), from, limit + 1);
  const page = rows.slice(0, limit);
  for (const e of page) {
    ctx.send({ type: 'group-deliver', gid, seq: e.seq, id: e.msgId, from: e.sender, ts: e.ts, body: JSON.parse(e.body) as Extract<RelayServerFrame, { type: 'group-deliver' }>['body'], page: true });
    ctx.counters.delivers++;
  }
  ctx.send({ type: 'group-synced', gid, last: page.at(-1)?.seq ?? from, complete: rows.length <= limit });
}
