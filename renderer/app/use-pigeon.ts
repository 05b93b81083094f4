/**
 * The container's data: loads the engine's state when the transport
 * connects, keeps it current from events, and offers the actions the
 * screens need. Side effects live here (mark read, notifications, the
 * offer queue); the components stay props-only.
 */
import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import type { PeerEvent, TransferFileInfo, TransferInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { totalUnread } from '../logic/contacts.js';
import { groupIdOf, groupKey } from '../logic/conversations.js';
import type { DropBundle, Host } from '../transport/host.js';
import type { Staging } from '../components/transfers-panel.js';
import { initialState, reducer } from './state.js';
import { loadMuted, saveMuted } from './muted.js';
import { shouldNotify, type NotifyContext } from '../logic/notify-policy.js';
import { PICTURE_MAX_BYTES, pictureTypeOfName } from '../../shared/transfer/picture.js';
import { formatSize } from '../../shared/format/format-size.js';

/** How often message times ("12:30" vs "Mon 12:30") are refreshed. */
const CLOCK_TICK_MS = 30_000;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err); // ApiError is an Error
}

export function usePigeon(host: Host) {
  const t = useT();
  const { api } = host;
  const [state, dispatch] = useReducer(reducer, initialState);
  const [activeId, setActiveId] = useState<string | null>(null);
  const [errors, setErrors] = useState<string[]>([]);
  const [offerQueue, setOfferQueue] = useState<string[]>([]);
  const [staging, setStaging] = useState<Staging[]>([]);
  const [now, setNow] = useState(() => Date.now());
  /** The files each finished transfer carried (for the cards of the open conversation), loaded once. */
  const [transferFiles, setTransferFiles] = useState<Record<string, TransferFileInfo[]>>({});
  const filesAsked = useRef(new Set<string>());
  /** Transfers cleared from the transfers panel (their cards stay in the conversation). */
  const [cleared, setCleared] = useState<ReadonlySet<string>>(new Set());
  /** Changed keys the user chose to keep blocking: not asked again until reviewed. */
  const [blocked, setBlocked] = useState<ReadonlySet<string>>(new Set());
  const active = useRef<string | null>(null);
  active.current = activeId;
  const peersRef = useRef(state.peers);
  peersRef.current = state.peers;

  /** Muted conversations (this window's choice, muted.ts). */
  const [muted, setMuted] = useState<ReadonlySet<string>>(loadMuted);
  const mutedRef = useRef(muted);
  mutedRef.current = muted;
  const selfRef = useRef(state.self);
  selfRef.current = state.self;
  const notifyContext = (): NotifyContext => ({ active: active.current, focused: document.hasFocus(), muted: mutedRef.current, selfName: selfRef.current?.name ?? '' });
  /** What the user sent in each outgoing transfer, to send it again with a PIN when a LocalSend device asks for one. */
  const sent = useRef(new Map<string, { peer: string; paths: string[] }>());
  const [pinAsk, setPinAsk] = useState<{ peer: string; paths: string[] } | null>(null);
  const groupsRef = useRef(state.groups);
  groupsRef.current = state.groups;
  const fail = useCallback((err: unknown) => setErrors((e) => [...e, messageOf(err)]), []);
  /** The name of a colleague or of a group conversation (`group:<id>`). */
  const peerName = useCallback((key: string) => {
    const gid = groupIdOf(key);
    if (gid) return groupsRef.current[gid]?.name ?? gid.slice(0, 8);
    return peersRef.current[key]?.name ?? key.slice(0, 8);
  }, []);

  const load = useCallback(async () => {
    try {
      const [self, peers, unread, transfers, keyChanges, groups] = await Promise.all([
        api.whoami({}),
        api.peers({}),
        api.unread({}),
        api.transfers({}),
        api.keyChanges({}),
        // Groups live on the relay; an engine without them still shows everything else.
        api.groups({}).catch(() => []),
      ]);
      dispatch({ type: 'loaded', self, peers, unread, transfers, keyChanges, groups });
      setOfferQueue(transfers.filter((tr) => tr.direction === 'in' && tr.state === 'offered' && !tr.picture).map((tr) => tr.id));
      const open = active.current;
      if (open) dispatch({ type: 'history', peer: open, messages: await api.history({ peer: open, markRead: true }) });
    } catch (err) {
      fail(err);
    }
  }, [api, fail]);

  useEffect(() => {
    const offConnection = host.onConnection((s) => {
      if (s === 'open') void load();
      else dispatch({ type: 'connection', state: 'lost' });
    });
    const offEvents = api.onEvent((event: PeerEvent) => {
      dispatch({ type: 'event', event });
      if (event.type === 'message' && event.message.direction === 'in') {
        const from = event.message.peer;
        if (from === active.current && document.hasFocus()) {
          void api.markRead({ peer: from }).then(() => dispatch({ type: 'read', peer: from }), fail);
        } else if (shouldNotify(from, event.message.text, event.message.group !== undefined, notifyContext())) {
          const author = event.message.from ? peerName(event.message.from) : null;
          host.notify(author ? `${author} · ${peerName(from)}` : peerName(from), event.message.text, () => setActiveId(from));
        }
      }
      if (event.type === 'transfer' && event.transfer.direction === 'out' && event.transfer.state === 'failed' && event.transfer.error?.includes('PIGEON_ERR_LOCALSEND_PIN')) {
        const again = sent.current.get(event.transfer.id);
        if (again) setPinAsk(again);
      }
      if (event.type === 'transfer' && event.transfer.direction === 'in' && event.transfer.state === 'offered') {
        const tr: TransferInfo = event.transfer;
        // A picture is taken without asking: no question, only the notification.
        if (!tr.picture) setOfferQueue((q) => (q.includes(tr.id) ? q : [...q, tr.id]));
        if (shouldNotify(tr.peer, '', false, notifyContext())) host.notify(peerName(tr.peer), t(tr.picture ? 'picture.notify' : 'offer.title', { name: peerName(tr.peer) }), () => setActiveId(tr.peer));
      }
    });
    const tick = setInterval(() => setNow(Date.now()), CLOCK_TICK_MS);
    return () => {
      offConnection();
      offEvents();
      clearInterval(tick);
    };
  }, [api, host, load, fail, peerName, t]);

  useEffect(() => {
    // Muted conversations keep their unread count in the list, not in the title.
    host.setBadge(totalUnread(Object.fromEntries(Object.entries(state.unread).filter(([k]) => !muted.has(k)))));
  }, [host, state.unread, muted]);

  // Opening a conversation loads its history and marks it read.
  useEffect(() => {
    if (!activeId || state.connection !== 'open') return;
    let live = true;
    api.history({ peer: activeId, markRead: true }).then((messages) => {
      if (!live) return;
      dispatch({ type: 'history', peer: activeId, messages });
      dispatch({ type: 'read', peer: activeId });
    }, fail);
    return () => {
      live = false;
    };
  }, [activeId, api, fail, state.connection]);

  // The cards of the open conversation list the files each finished transfer carried.
  useEffect(() => {
    if (!activeId || state.connection !== 'open') return;
    for (const tr of Object.values(state.transfers)) {
      if (tr.peer !== activeId || tr.state !== 'done' || filesAsked.current.has(tr.id)) continue;
      filesAsked.current.add(tr.id);
      api.transferFiles({ transfer: tr.id }).then(
        (info) => setTransferFiles((f) => ({ ...f, [tr.id]: info.files })),
        (err: unknown) => {
          filesAsked.current.delete(tr.id);
          fail(err);
        },
      );
    }
  }, [activeId, api, fail, state.connection, state.transfers]);
  const sendPaths = (peer: string, paths: string[], pin?: string): void => {
    void api.sendFiles({ peer, paths, ...(pin !== undefined ? { pin } : {}) }).then((tr) => {
      sent.current.set(tr.id, { peer, paths });
      dispatch({ type: 'event', event: { type: 'transfer', transfer: tr } });
    }, fail);
  };

  const actions = {
    /** Sends the files a LocalSend device refused for want of a PIN again, with this PIN. */
    sendWithPin(pin: string) {
      if (pinAsk) sendPaths(pinAsk.peer, pinAsk.paths, pin);
      setPinAsk(null);
    },
    cancelPin: () => setPinAsk(null),
    select: setActiveId,
    dismissErrors: () => setErrors([]),
    async send(peer: string, text: string, at?: number) {
      try {
        dispatch({ type: 'message', message: await api.send({ peer, text, ...(at !== undefined ? { at } : {}) }) });
      } catch (err) {
        fail(err);
      }
    },
    async dropFiles(peer: string, drop: DropBundle) {
      const key = `${Date.now()}-${Math.random()}`;
      const total = drop.files.reduce((n, f) => n + f.size, 0);
      if (host.kind === 'web') setStaging((s) => [...s, { key, peerName: peerName(peer), files: drop.files.length, sent: 0, total }]);
      try {
        const paths = await host.stageDrop(drop, (sent, all) => setStaging((s) => s.map((x) => (x.key === key ? { ...x, sent, total: all } : x))));
        if (paths.length === 0) return;
        sendPaths(peer, paths);
      } catch (err) {
        fail(err);
      } finally {
        setStaging((s) => s.filter((x) => x.key !== key));
      }
    },
    /** Pasted or dropped images: each sent as a picture; one too big or of another type goes as a file, saying so. */
    async sendPictures(peer: string, files: File[]) {
      for (const file of files) {
        const drop: DropBundle = { files: [file], entries: [null] };
        if (file.size > PICTURE_MAX_BYTES || !pictureTypeOfName(file.name)) {
          if (file.size > PICTURE_MAX_BYTES) fail(t('picture.tooBig', { name: file.name, size: formatSize(file.size), limit: formatSize(PICTURE_MAX_BYTES) }));
          await actions.dropFiles(peer, drop);
          continue;
        }
        try {
          const [path] = await host.stageDrop(drop);
          if (!path) continue;
          const tr = await api.sendPicture({ peer, path });
          dispatch({ type: 'event', event: { type: 'transfer', transfer: tr } });
        } catch (err) {
          fail(err);
        }
      }
    },
    cancel: (id: string) => void api.cancel({ transfer: id }).catch(fail),
    async accept(id: string, files?: number[]) {
      setOfferQueue((q) => q.filter((x) => x !== id));
      try {
        await api.accept({ transfer: id, ...(files ? { files } : {}) });
      } catch (err) {
        fail(err);
      }
    },
    decline(id: string) {
      setOfferQueue((q) => q.filter((x) => x !== id));
      void api.decline({ transfer: id }).catch(fail);
    },
    later: (id: string) => setOfferQueue((q) => q.filter((x) => x !== id)),
    openOffer: (id: string) => setOfferQueue((q) => [id, ...q.filter((x) => x !== id)]),
    entries: (id: string) => api.transferEntries({ transfer: id }),
    async trust(peerId: string) {
      try {
        await api.trust({ peer: peerId });
        dispatch({ type: 'key-answered', peerId });
      } catch (err) {
        fail(err);
      }
    },
    block: (peerId: string) => setBlocked((b) => new Set([...b, peerId])),
    review: (peerId: string) => setBlocked((b) => new Set([...b].filter((x) => x !== peerId))),
    async setStatus(status: 'online' | 'away' | 'busy', away: string) {
      try {
        dispatch({ type: 'self', self: await api.setStatus({ status, away }) });
      } catch (err) {
        fail(err);
      }
    },
    settings: () => api.settings({}),
    /** Resolves true once saved (false: the error is shown). */
    async saveProfile(name: string, group: string): Promise<boolean> {
      try {
        dispatch({ type: 'self', self: await api.setProfile({ name, group }) });
        return true;
      } catch (err) {
        fail(err);
        return false;
      }
    },
    search: (query: string) => api.searchHistory({ query }),
    async createGroup(name: string, members: string[]): Promise<boolean> {
      try {
        const group = await api.groupCreate({ name, members });
        dispatch({ type: 'event', event: { type: 'group', group } });
        setActiveId(groupKey(group.id));
        return true;
      } catch (err) {
        fail(err);
        return false;
      }
    },
    async leaveGroup(groupId: string) {
      try {
        dispatch({ type: 'event', event: { type: 'group', group: await api.groupLeave({ group: groupKey(groupId) }) } });
      } catch (err) {
        fail(err);
      }
    },
    toggleMute(key: string) {
      setMuted((m) => {
        const next = new Set(m);
        if (!next.delete(key)) next.add(key);
        saveMuted(next);
        return next;
      });
    },
    clearFinished: (ids: string[]) => setCleared((c) => new Set([...c, ...ids])),
    fail,
  };

  return { state, activeId, errors, offerQueue, staging, now, blocked, peerName, transferFiles, cleared, muted, actions, pinAsk };
}
