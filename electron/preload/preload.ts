/**
 * The preload of the main window: contextBridge only. It exposes
 * `window.pigeon`, one function per control method (the list comes from
 * ControlRequests, so it cannot drift) plus onEvent, and `window.pigeonDesktop`
 * for dropped-file paths (webUtils.getPathForFile: the renderer never reads
 * the file), "show in folder", "open", notifications and the badge. The raw
 * ipcRenderer and the IPC event object never reach the page.
 * Bundled into one CommonJS file (sandboxed preloads cannot load modules).
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { DESKTOP_CHANNELS, EVENT_CHANNEL, methodChannel } from '../../shared/api/ipc-channels.js';
import { API_METHODS } from '../../shared/api/pigeon-api.js';

const bridge: Record<string, unknown> = {};
for (const method of API_METHODS) bridge[method] = (params: unknown) => ipcRenderer.invoke(methodChannel(method), params);
bridge.onEvent = (listener: (event: PeerEvent) => void) => {
  const relay = (_event: Electron.IpcRendererEvent, peerEvent: PeerEvent): void => listener(peerEvent);
  ipcRenderer.on(EVENT_CHANNEL, relay);
  return () => void ipcRenderer.removeListener(EVENT_CHANNEL, relay);
};

contextBridge.exposeInMainWorld('pigeon', bridge);
contextBridge.exposeInMainWorld('pigeonDesktop', {
  pathForFile: (file: File): string => webUtils.getPathForFile(file),
  showInFolder: (transferId: string): void => void ipcRenderer.invoke(DESKTOP_CHANNELS.showInFolder, transferId),
  openFile: (transferId: string, index: number): void => void ipcRenderer.invoke(DESKTOP_CHANNELS.openFile, transferId, index),
  stagePasted: (name: string, data: Uint8Array): Promise<string> => ipcRenderer.invoke(DESKTOP_CHANNELS.stagePasted, name, data) as Promise<string>,
  notify: (title: string, body: string): void => void ipcRenderer.invoke(DESKTOP_CHANNELS.notify, title, body),
  setBadge: (count: number): void => void ipcRenderer.invoke(DESKTOP_CHANNELS.setBadge, count),
});
