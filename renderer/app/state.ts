/**
 * The UI's view of the engine: one reducer fed by the initial queries and by
 * engine events. Pure (tested in state.test.ts); the container in
 * use-pigeon.ts does the calls.
 */
import type { GroupInfo, KeyChangeInfo, MessageInfo, MultiSendInfo, PeerEvent, PeerInfo, SelfInfo, TransferInfo } from '../../shared/api/control-api.js';

export interface UiState {
  connection: 'connecting' | 'open' | 'lost';
  self: SelfInfo | null;
  peers: Record<string, PeerInfo>;
  /** Loaded conversations only (history fetched when opened). */
  conversations: Record<string, MessageInfo[]>;
  unread: Record<string, number>;
  transfers: Record<string, TransferInfo>;
  /** Changed keys waiting for the user's answer, oldest first. */
  keyChanges: KeyChangeInfo[];
  /** Group conversations by group id (their conversation key is `group:<id>`). */
  groups: Record<string, GroupInfo>;
}

export type UiAction =
  | { type: 'connection'; state: UiState['connection'] }
  | { type: 'loaded'; self: SelfInfo; peers: PeerInfo[]; unread: Array<{ peer: string; count: number }>; transfers: TransferInfo[]; keyChanges: KeyChangeInfo[]; groups: GroupInfo[] }
  | { type: 'history'; peer: string; messages: MessageInfo[] }
  | { type: 'read'; peer: string }
  | { type: 'self'; self: SelfInfo }
  | { type: 'message'; message: MessageInfo }
  | { type: 'key-answered'; peerId: string }
  | { type: 'transfers-cleared'; ids: string[] }
  | { type: 'event'; event: PeerEvent };

export const initialState: UiState = { connection: 'connecting', self: null, peers: {}, conversations: {}, unread: {}, transfers: {}, keyChanges: [], groups: {} };

/** The conversation order of the spec (§7.5), as history returns it: by place, mine before theirs, then the sender's seq. */
function byOrder(a: MessageInfo, b: MessageInfo): number {
  return a.order - b.order || (a.direction === b.direction ? 0 : a.direction === 'out' ? -1 : 1) || (a.seq ?? 0) - (b.seq ?? 0);
}

/** Puts a message into its loaded conversation (replacing the same id), keeping the conversation's order. */
function upsertMessage(conversations: UiState['conversations'], m: MessageInfo): UiState['conversations'] {
  const list = conversations[m.peer];
  if (!list) return conversations;
  const i = list.findIndex((x) => x.id === m.id && x.direction === m.direction);
  const next = i >= 0 ? list.map((x, j) => (j === i ? m : x)) : [...list, m].sort(byOrder);
  return { ...conversations, [m.peer]: next };
}

function onEvent(state: UiState, e: PeerEvent): UiState {
  switch (e.type) {
    case 'listening':
      return { ...state, self: e.self };
    case 'peer-online':
    case 'peer-offline':
    case 'peer-updated':
      return { ...state, peers: { ...state.peers, [e.peer.id]: e.peer } };
    case 'message': {
      const next = { ...state, conversations: upsertMessage(state.conversations, e.message) };
      if (e.message.direction === 'in' && e.message.state === 'received') next.unread = { ...state.unread, [e.message.peer]: (state.unread[e.message.peer] ?? 0) + 1 };
      return next;
    }
    case 'message-state':
      return { ...state, conversations: upsertMessage(state.conversations, e.message) };
    case 'key-changed':
      return {
        ...state,
        keyChanges: [...state.keyChanges.filter((k) => k.peerId !== e.peerId), { peerId: e.peerId, name: e.name, pinned: e.pinned, presented: e.presented }],
      };
    case 'transfer':
    case 'transfer-progress':
      return { ...state, transfers: { ...state.transfers, [e.transfer.id]: e.transfer } };
    case 'relay':
      return state.self ? { ...state, self: { ...state.self, relay: e.relay } } : state;
    case 'group':
      return { ...state, groups: { ...state.groups, [e.group.id]: e.group } };
    case 'warning':
      return state;
    case 'multi-send':
      return { ...state, conversations: withMultiSummary(state.conversations, e.multi) };
  }
}

/** A multi-send's copies, in whichever conversations are loaded, show its new "delivered to N of M". */
function withMultiSummary(conversations: UiState['conversations'], multi: MultiSendInfo): UiState['conversations'] {
  const summary = { id: multi.id, total: multi.total, delivered: multi.delivered };
  const out: UiState['conversations'] = {};
  for (const [peer, list] of Object.entries(conversations)) {
    out[peer] = list.some((m) => m.multi?.id === multi.id) ? list.map((m) => (m.multi?.id === multi.id ? { ...m, multi: summary } : m)) : list;
  }
  return out;
}

export function reducer(state: UiState, action: UiAction): UiState {
  switch (action.type) {
    case 'connection':
      return { ...state, connection: action.state };
    case 'loaded':
      return {
        ...state,
        connection: 'open',
        self: action.self,
        peers: Object.fromEntries(action.peers.map((p) => [p.id, p])),
        unread: Object.fromEntries(action.unread.map((u) => [u.peer, u.count])),
        transfers: Object.fromEntries(action.transfers.map((t) => [t.id, t])),
        keyChanges: action.keyChanges,
        groups: Object.fromEntries(action.groups.map((g) => [g.id, g])),
      };
    case 'history':
      return { ...state, conversations: { ...state.conversations, [action.peer]: action.messages } };
    case 'read': {
      const unread = { ...state.unread };
      delete unread[action.peer];
      return { ...state, unread };
    }
    case 'self':
      return { ...state, self: action.self };
    case 'message':
      return { ...state, conversations: upsertMessage(state.conversations, action.message) };
    case 'key-answered':
      return { ...state, keyChanges: state.keyChanges.filter((k) => k.peerId !== action.peerId) };
    case 'transfers-cleared': {
      const transfers = { ...state.transfers };
      for (const id of action.ids) delete transfers[id];
      return { ...state, transfers };
    }
    case 'event':
      return onEvent(state, action.event);
  }
}
