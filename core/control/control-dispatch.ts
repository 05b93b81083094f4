/**
 * One dispatcher for every host of the control API: the Unix-socket server,
 * the web UI's WebSocket bridge and the desktop app's IPC handlers all
 * validate a request with the same zod schemas (shared/api/control-api.ts)
 * and call the engine through the same table. No exception leaves here: the
 * answer is { ok, value } or { ok: false, error: { code, message } }.
 */
import { ControlRequests, type ControlMethod, type ControlParsed, type ControlRequest, type ControlResponse } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError, toErrorInfo } from '../../shared/protocol/errors.js';
import type { Peer } from '../peer.js';
import type { Logger } from '../util/components.js';

/** A host's own check of a validated request (e.g. the web UI limits which paths may be offered); throws PigeonError to refuse. */
export type ControlGuard = (method: ControlMethod, params: unknown) => void;

/** Checks the method name and the parameters; throws PigeonError(BAD_REQUEST) with a readable reason. */
export function validateControlRequest(method: unknown, params: unknown): { method: ControlMethod; params: unknown } {
  if (typeof method !== 'string' || !Object.hasOwn(ControlRequests, method)) throw new PigeonError(ErrorCodes.BAD_REQUEST, `unknown method ${String(method)}`);
  const m = method as ControlMethod;
  const parsed = ControlRequests[m].safeParse(params ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PigeonError(ErrorCodes.BAD_REQUEST, `bad parameters for ${m}: ${issue ? `${issue.path.join('.')} ${issue.message}` : ''}`);
  }
  return { method: m, params: parsed.data };
}

/** Calls the engine for an already validated request. `subscribe` starts the caller's event stream. */
export function callControl(peer: Peer, method: ControlMethod, params: unknown, subscribe: () => void): unknown {
  const handlers: { [M in ControlMethod]: (p: ControlParsed<M>) => unknown } = {
    whoami: () => peer.self(),
    peers: () => peer.peers(),
    send: (p) => peer.send(p.peer, p.text, p.at),
    waitDelivered: (p) => peer.waitDelivered(p.id, p.timeoutMs, { stored: p.stored === true }),
    history: (p) => {
      const messages = peer.history(p.peer, p.limit, p.before);
      if (p.markRead) peer.markRead(p.peer);
      return messages;
    },
    markRead: (p) => ({ count: peer.markRead(p.peer) }),
    setStatus: (p) => peer.setStatus(p.status, p.away),
    trust: (p) => peer.trust(p.peer),
    subscribe: () => {
      subscribe();
      return { subscribed: true };
    },
    sendFiles: (p) => peer.sendFiles(p.peer, p.paths),
    transfers: () => peer.transfers(),
    accept: (p) => peer.accept(p.transfer, p.files),
    decline: (p) => peer.decline(p.transfer),
    cancel: (p) => peer.cancel(p.transfer),
    waitTransfer: (p) => peer.waitTransfer(p.transfer, p.timeoutMs),
    transferEntries: (p) => peer.transferEntries(p.transfer),
    unread: () => peer.unread(),
    searchHistory: (p) => peer.searchHistory(p.query, p.limit),
    keyChanges: () => peer.keyChanges(),
    settings: () => peer.settings(),
    setProfile: (p) => peer.setProfile(p.name, p.group),
    groups: () => peer.groups(),
    groupCreate: (p) => peer.groupCreate(p.name, p.members),
    groupAdd: (p) => peer.groupAdd(p.group, p.members),
    groupRemove: (p) => peer.groupRemove(p.group, p.member),
    groupLeave: (p) => peer.groupLeave(p.group),
    sendMulti: (p) => peer.sendMulti(p.to, p.text, p.at),
    recipients: (p) => peer.recipients(p.to),
    multiSend: (p) => peer.multiSend(p.id),
    waitMulti: (p) => peer.waitMulti(p.id, p.timeoutMs),
    scheduled: () => peer.scheduled(),
    scheduledCancel: (p) => peer.scheduledCancel(p.id),
    scheduledEdit: (p) => peer.scheduledEdit(p.id, p.at, p.text),
  };
  return (handlers[method] as (p: unknown) => unknown)(params);
}

/** Validates and runs one request object; always resolves with the answer to send back. */
export async function handleControlRequest(peer: Peer, logger: Logger, req: unknown, subscribe: () => void, guard?: ControlGuard): Promise<ControlResponse> {
  let id = 0;
  try {
    if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'a request is a JSON object');
    const r = req as Partial<ControlRequest>;
    id = typeof r.id === 'number' ? r.id : 0;
    const { method, params } = validateControlRequest(r.method, r.params);
    guard?.(method, params);
    const value = await callControl(peer, method, params, subscribe);
    return { id, ok: true, value };
  } catch (err) {
    const info = toErrorInfo(err);
    if (info.code === ErrorCodes.INTERNAL) logger.log('error', 'control request failed', { error: info.message });
    return { id, ok: false, error: info };
  }
}

/** Parses one JSON request line (socket or WebSocket message) and runs it. */
export function handleControlLine(peer: Peer, logger: Logger, line: string, subscribe: () => void, guard?: ControlGuard): Promise<ControlResponse> {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    return Promise.resolve({ id: 0, ok: false, error: { code: ErrorCodes.BAD_REQUEST, message: 'request is not valid JSON' } });
  }
  return handleControlRequest(peer, logger, req, subscribe, guard);
}
