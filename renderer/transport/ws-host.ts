/**
 * The host of the web UI (`pigeon peer --ui`): the control API over a
 * WebSocket to the page's own origin (the token travels in the cookie set
 * by the printed link), reconnecting with back-off; dropped files are
 * uploaded one by one as streamed POST bodies (a File body is read from
 * disk by the browser as it is sent, never held in this page's memory).
 */
import type { ControlResponse, PeerEvent } from '../../shared/api/control-api.js';
import { ErrorCodes, type ErrorInfo } from '../../shared/protocol/errors.js';
import { apiFromBridge, bridgeFromCall, type ApiMethod, type ApiResult, type EventListener } from '../../shared/api/pigeon-api.js';
import type { ConnectionState, DropBundle, Host } from './host.js';
import { uploadDrop } from './web-upload.js';
import { chime } from './chime.js';
import { WEB_UI_BRIDGE_PATH, webUiFileUrl } from '../../shared/api/web-ui-paths.js';

/** Reconnect delays in ms: quick first tries (a restarted peer is back in a second), then every 5 s. */
const RECONNECT_MS = [250, 500, 1000, 2000, 5000];
/** Shown when the engine cannot answer because the connection is down. */
const LOST: ErrorInfo = { code: ErrorCodes.NOT_RUNNING, message: 'the connection to Pigeon is lost' };

export function createWsHost(location: Location): Host {
  const listeners = new Set<EventListener>();
  const connectionListeners = new Set<(s: ConnectionState) => void>();
  const pending = new Map<number, (r: ApiResult<unknown>) => void>();
  let nextId = 1;
  let socket: WebSocket | null = null;
  let attempt = 0;
  let opened: Promise<WebSocket>;

  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${WEB_UI_BRIDGE_PATH}`;

  function connect(): Promise<WebSocket> {
    return new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.onopen = () => {
        attempt = 0;
        socket = ws;
        ws.send(JSON.stringify({ id: 0, method: 'subscribe', params: {} }));
        resolve(ws);
        for (const l of connectionListeners) l('open');
      };
      ws.onmessage = (msg) => {
        let data: ControlResponse | { event: PeerEvent };
        try {
          data = JSON.parse(String(msg.data)) as ControlResponse | { event: PeerEvent };
        } catch {
          return;
        }
        if ('event' in data) {
          for (const l of listeners) l(data.event);
          return;
        }
        const done = pending.get(data.id);
        if (!done) return;
        pending.delete(data.id);
        done(data.ok ? { ok: true, value: data.value } : { ok: false, error: data.error });
      };
      ws.onclose = () => {
        const wasOpen = socket === ws;
        socket = null;
        for (const done of pending.values()) done({ ok: false, error: LOST });
        pending.clear();
        if (wasOpen) for (const l of connectionListeners) l('lost');
        // Refused rather than unreachable (the profile got a new token): reloading shows the server's page that says how to get the current link.
        if (!wasOpen) void fetch(location.href, { method: 'HEAD' }).then((r) => r.status === 403 && location.reload(), () => {});
        const delay = RECONNECT_MS[Math.min(attempt++, RECONNECT_MS.length - 1)]!;
        setTimeout(() => {
          opened = connect();
          void opened.then(resolve);
        }, delay);
      };
    });
  }
  opened = connect();

  async function call(method: ApiMethod, params: unknown): Promise<ApiResult<unknown>> {
    const ws = socket ?? (await opened);
    // Closed between the await and now: its pending calls were already failed.
    if (ws.readyState !== WebSocket.OPEN) return { ok: false, error: LOST };
    const id = nextId++;
    return new Promise((resolve) => {
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  }

  const bridge = bridgeFromCall(call, (l) => {
    listeners.add(l);
    return () => listeners.delete(l);
  });

  return {
    kind: 'web',
    api: apiFromBridge(bridge),
    onConnection(l) {
      connectionListeners.add(l);
      if (socket) l('open');
      return () => connectionListeners.delete(l);
    },
    stageDrop: (drop: DropBundle, onProgress) => uploadDrop(drop, onProgress),
    fileUrl: webUiFileUrl,
    pictureUrl: (id) => `${webUiFileUrl(id, 0)}?inline=1`,
    notify(title, body, onClick) {
      // The sound always (the window may be focused on another conversation); the system notification only in the background.
      chime();
      if (typeof Notification === 'undefined' || Notification.permission !== 'granted' || document.hasFocus()) return;
      const n = new Notification(title, { body });
      n.onclick = () => {
        window.focus();
        onClick?.();
      };
    },
    setBadge(count) {
      document.title = count > 0 ? `(${count}) Pigeon` : 'Pigeon';
    },
    notificationPermission: () => (typeof Notification === 'undefined' ? 'denied' : Notification.permission),
    async requestNotifications() {
      if (typeof Notification !== 'undefined') await Notification.requestPermission();
    },
  };
}
