/**
 * The only file that touches ipcMain. One channel per control method
 * (`pigeon:<method>`, the list derived from ControlRequests), each checked:
 * the sender must be the main frame of the app's window on app://pigeon,
 * the parameters are validated by the same zod schemas as the control
 * socket (core's dispatcher). Answers are { ok, value } | { ok: false, error }
 * because Electron forwards only the message of a thrown error.
 */
import { ipcMain, type IpcMainInvokeEvent } from 'electron';
import { handleControlRequest, type Logger, type Peer } from '../../core/index.js';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { API_METHODS, type ApiResult } from '../../shared/api/pigeon-api.js';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { DESKTOP_CHANNELS, EVENT_CHANNEL, methodChannel } from '../../shared/api/ipc-channels.js';

export interface DesktopActions {
  showInFolder(transferId: string): Promise<void>;
  openFile(transferId: string, index: number): Promise<void>;
  /** A pasted picture's bytes written to disk: its path, or '' when refused. */
  stagePasted(name: unknown, data: unknown): Promise<string>;
  notify(title: string, body: string): void;
  setBadge(count: number): void;
}

const REFUSED: ApiResult<never> = { ok: false, error: { code: ErrorCodes.BAD_REQUEST, message: 'request from an unknown page refused' } };

export function registerIpc(peer: Peer, logger: Logger, trusted: (event: IpcMainInvokeEvent) => boolean, desktop: DesktopActions): () => void {
  for (const method of API_METHODS) {
    ipcMain.handle(methodChannel(method), async (event, params: unknown): Promise<ApiResult<unknown>> => {
      if (!trusted(event)) return REFUSED;
      const answer = await handleControlRequest(peer, logger, { id: 0, method, params }, () => {});
      return answer.ok ? { ok: true, value: answer.value } : { ok: false, error: answer.error };
    });
  }
  ipcMain.handle(DESKTOP_CHANNELS.showInFolder, async (event, id: unknown) => {
    if (!trusted(event) || typeof id !== 'string') return;
    await desktop.showInFolder(id);
  });
  ipcMain.handle(DESKTOP_CHANNELS.openFile, async (event, id: unknown, index: unknown) => {
    if (!trusted(event) || typeof id !== 'string' || typeof index !== 'number' || !Number.isInteger(index) || index < 0) return;
    await desktop.openFile(id, index);
  });
  ipcMain.handle(DESKTOP_CHANNELS.stagePasted, async (event, name: unknown, data: unknown) => (trusted(event) ? desktop.stagePasted(name, data) : ''));
  ipcMain.handle(DESKTOP_CHANNELS.notify, (event, title: unknown, body: unknown) => {
    if (!trusted(event) || typeof title !== 'string' || typeof body !== 'string') return;
    desktop.notify(title.slice(0, 200), body.slice(0, 500));
  });
  ipcMain.handle(DESKTOP_CHANNELS.setBadge, (event, count: unknown) => {
    if (!trusted(event) || typeof count !== 'number' || !Number.isInteger(count) || count < 0) return;
    desktop.setBadge(count);
  });
  return () => {
    for (const method of API_METHODS) ipcMain.removeHandler(methodChannel(method));
    for (const channel of Object.values(DESKTOP_CHANNELS)) ipcMain.removeHandler(channel);
  };
}

/** Forwards engine events to the window (the preload hands them to the page's listeners). */
export function forwardEvents(peer: Peer, send: (channel: string, event: PeerEvent) => void): () => void {
  return peer.on((event) => send(EVENT_CHANNEL, event));
}
