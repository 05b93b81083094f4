/**
 * The group requests of an authenticated device (§12.7): create, add,
 * remove, leave, put and sync. Membership lives in the store and is checked
 * on every request; a group message is stored once, in the group's log
 * (groupMailbox), and pushed to the members that are connected. Members
 * that are not pull what they missed with group-sync from their cursor.
 *
 * The relay sees who is in a group and when they write, never what: bodies
 * are sealed with the sender's sender key, which members exchange sealed
 * through their mailboxes (the relay only stores those puts).
 *
 * Live pushes are not ordered against sync pages here: a client that sees
 * a seq beyond the next one it expects syncs from its cursor instead, so a
 * push that overtakes another (across relay instances) costs one page read.
 */
import { ErrorCodes, PigeonError, type ErrorCode } from '../shared/protocol/errors.js';
import { MAX_GROUP_MEMBERS, type GroupState, type RelayClientFrame, type RelayServerFrame } from '../shared/protocol/relay-frames.js';
import type { Bus } from './bus.js';
import type { RelayLogger } from './log.js';
import { groupMailbox, type GroupRow, type RelayStore } from './store/relay-store.js';

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
      case 'group-create':
        return await create(ctx, frame);
      case 'group-add':
        return await add(ctx, frame);
      case 'group-remove':
        return await remove(ctx, frame.gid, frame.member, frame.ref);
      case 'group-leave':
        return await remove(ctx, frame.gid, ctx.device, frame.ref);
      case 'group-put':
        return await put(ctx, frame);
      case 'group-sync':
        return await sync(ctx, frame.gid, frame.after, frame.limit ?? DEFAULT_GROUP_SYNC_LIMIT);
    }
  } catch (err) {
    const refusal = err instanceof Refusal ? err : err instanceof PigeonError && err.code === ErrorCodes.RELAY_QUOTA ? new Refusal(err.code, err.message) : null;
    if (!refusal) throw err;
    ctx.logger.log('info', 'group request refused', { id: ctx.device, type: frame.type, gid: frame.gid, reason: refusal.message });
    const tag = 'ref' in frame ? { ref: frame.ref } : 'id' in frame ? { id: frame.id } : {};
    ctx.send({ type: 'error', code: refusal.code, message: refusal.message, ...tag });
  }
}

/** Entries per group-sync page when the client names no limit. */
const DEFAULT_GROUP_SYNC_LIMIT = 100;

/** What members are told about a group. */
export async function groupState(store: RelayStore, g: GroupRow): Promise<GroupState> {
  return { gid: g.gid, name: g.name, owner: g.owner, members: g.members, last: await store.lastSeq(groupMailbox(g.gid)) };
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

async function create(ctx: GroupRequestContext, f: Extract<GroupRequest, { type: 'group-create' }>): Promise<void> {
  const members = [...new Set([ctx.device, ...f.members])];
  if (members.length > MAX_GROUP_MEMBERS) throw new Refusal(ErrorCodes.RELAY_LIMIT, `a group has at most ${MAX_GROUP_MEMBERS} members`);
  await registered(ctx, members);
  const row = await ctx.store.createGroup({ gid: f.gid, name: f.name, owner: ctx.device, created: ctx.now(), members: members.map((id) => ({ id, joined: 0 })) });
  // A retried create finds its own group; someone else's id is refused.
  if (row.owner !== ctx.device) throw new Refusal(ErrorCodes.BAD_REQUEST, `group id ${f.gid} is taken`);
  ctx.logger.log('info', 'group created', { id: ctx.device, gid: f.gid, members: members.length });
  await announce(ctx, await groupState(ctx.store, row), f.ref);
}

async function add(ctx: GroupRequestContext, f: Extract<GroupRequest, { type: 'group-add' }>): Promise<void> {
  const g = await memberOf(ctx, f.gid);
  const fresh = [...new Set(f.members)].filter((id) => !g.members.some((m) => m.id === id));
  if (g.members.length + fresh.length > MAX_GROUP_MEMBERS) throw new Refusal(ErrorCodes.RELAY_LIMIT, `a group has at most ${MAX_GROUP_MEMBERS} members`);
  await registered(ctx, fresh);
  const row = await ctx.store.addGroupMembers(f.gid, fresh);
  if (!row) throw new Refusal(ErrorCodes.GROUP_NOT_FOUND, `no group ${f.gid}`);
  ctx.logger.log('info', 'group members added', { id: ctx.device, gid: f.gid, added: fresh.length });
  await announce(ctx, await groupState(ctx.store, row), f.ref);
}

async function remove(ctx: GroupRequestContext, gid: string, member: string, ref: string): Promise<void> {
  const g = await memberOf(ctx, gid);
  if (member !== ctx.device && g.owner !== ctx.device) throw new Refusal(ErrorCodes.NOT_ALLOWED, 'only the group owner removes other members; anyone may leave');
  if (!g.members.some((m) => m.id === member)) throw new Refusal(ErrorCodes.PEER_NOT_FOUND, `${member} is not a member of the group`);
  const row = await ctx.store.removeGroupMember(gid, member);
  ctx.logger.log('info', member === ctx.device ? 'group left' : 'group member removed', { id: ctx.device, gid, member });
  if (member === ctx.device) ctx.send({ type: 'group-left', gid, by: ctx.device, ref });
  if (!row) return; // the last member left: the group and its log are gone
  const state = await groupState(ctx.store, row);
  if (member === ctx.device) await Promise.all(state.members.map((m) => ctx.bus.send(m.id, { type: 'group', group: state })));
  else await announce(ctx, state, ref, member);
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
