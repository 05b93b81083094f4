/**
 * The container of the conversation tools beside the chat: writing to
 * several people at once (multi-send-dialog.tsx), the scheduled messages
 * (scheduled-dialog.tsx); who got a multi-send is loaded through
 * recipients-context.ts, provided in main.tsx.
 * The scheduled list is reloaded when the connection opens and whenever a
 * message becomes scheduled or a scheduled one goes out.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { MessageInfo, Recipients } from '../../shared/api/control-api.js';
import type { PigeonApi } from '../../shared/api/pigeon-api.js';
import type { DropBundle, Host } from '../transport/host.js';

export interface ConvoTools {
  multiOpen: boolean;
  scheduledOpen: boolean;
  scheduled: MessageInfo[];
  /** Scheduled messages as the user counts them: the copies of one multi-send are one. */
  scheduledCount: number;
  openMulti(open: boolean): void;
  openScheduled(open: boolean): void;
  sendMulti(to: Recipients, text: string): void;
  /** Stages a drop (the web UI uploads it) and offers it to every recipient, one transfer each. */
  sendFilesMulti(to: Recipients, drop: DropBundle): void;
  cancelScheduled(id: string): void;
  editScheduled(id: string, at: number, text: string): void;
}

export function useConvoTools(host: Host, connected: boolean, fail: (err: unknown) => void): ConvoTools {
  const api: PigeonApi = host.api;
  const [multiOpen, openMulti] = useState(false);
  const [scheduledOpen, openScheduled] = useState(false);
  const [scheduled, setScheduled] = useState<MessageInfo[]>([]);
  const ids = useRef<ReadonlySet<string>>(new Set());
  const refresh = useCallback(() => {
    api.scheduled({}).then((list) => {
      ids.current = new Set(list.map((m) => m.id));
      setScheduled(list);
    }, fail);
  }, [api, fail]);

  useEffect(() => {
    if (connected) refresh();
  }, [connected, refresh]);
  useEffect(
    () =>
      api.onEvent((e) => {
        if (e.type === 'message-state' && (e.message.state === 'scheduled' || ids.current.has(e.message.id))) refresh();
      }),
    [api, refresh],
  );

  return {
    multiOpen,
    scheduledOpen,
    scheduled,
    scheduledCount: new Set(scheduled.map((m) => m.multi?.id ?? m.id)).size,
    openMulti,
    openScheduled,
    sendMulti: (to, text) => void api.sendMulti({ to, text }).then(() => openMulti(false), fail),
    sendFilesMulti(to, drop) {
      openMulti(false);
      void (async () => {
        // Who first: an unknown name stops it before anything is uploaded.
        const peers = await api.recipients({ to });
        const paths = await host.stageDrop(drop);
        if (paths.length === 0) return;
        for (const p of peers) await api.sendFiles({ peer: p.id, paths });
      })().catch(fail);
    },
    cancelScheduled: (id) => void api.scheduledCancel({ id }).then(refresh, fail),
    editScheduled: (id, at, text) => void api.scheduledEdit({ id, at, text }).then(refresh, fail),
  };
}
