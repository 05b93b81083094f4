/**
 * The API object the UI is given, derived from the control API so the two
 * cannot drift: one function per control method (ControlRequests) plus an
 * event subscription. Two transports implement the bridge side (the
 * Electron preload through contextBridge, the web UI's WebSocket); the
 * renderer only ever sees `PigeonApi`.
 *
 * A bridge function resolves with a result, never rejects with the engine's
 * error: Electron forwards only `error.message` of an exception across IPC,
 * so the code travels inside the value (Signal Desktop does the same).
 */
import type { ErrorInfo } from '../protocol/errors.js';
import { ControlRequests, type ControlMethod, type ControlParams, type ControlResults, type PeerEvent } from './control-api.js';

/** Methods a UI calls; `subscribe` is the transport's business (onEvent). */
export type ApiMethod = Exclude<ControlMethod, 'subscribe'>;

export const API_METHODS: readonly ApiMethod[] = (Object.keys(ControlRequests) as ControlMethod[]).filter((m): m is ApiMethod => m !== 'subscribe');

export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ErrorInfo };

export type EventListener = (event: PeerEvent) => void;

/** What a transport provides: one function per method returning a result, and events. */
export type PigeonBridge = { [M in ApiMethod]: (params: ControlParams<M>) => Promise<ApiResult<ControlResults[M]>> } & {
  /** Registers a listener for engine events; returns the function that removes it. */
  onEvent(listener: EventListener): () => void;
};

/** What the renderer uses: the same functions, rejecting with ApiError. */
export type PigeonApi = { [M in ApiMethod]: (params: ControlParams<M>) => Promise<ControlResults[M]> } & {
  onEvent(listener: EventListener): () => void;
};

/** An engine error as the UI receives it: a stable code and a message fit for people. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Wraps a bridge into the API object: results become values or ApiError rejections. */
export function apiFromBridge(bridge: PigeonBridge): PigeonApi {
  const api: Record<string, unknown> = { onEvent: (l: EventListener) => bridge.onEvent(l) };
  for (const method of API_METHODS) {
    api[method] = async (params: unknown) => {
      const result = await (bridge[method] as (p: unknown) => Promise<ApiResult<unknown>>)(params);
      if (!result.ok) throw new ApiError(result.error.code, result.error.message);
      return result.value;
    };
  }
  return api as PigeonApi;
}

/**
 * Builds a bridge from one generic call function (a transport that sends
 * { method, params } and gets a result back, like the WebSocket bridge).
 */
export function bridgeFromCall(call: (method: ApiMethod, params: unknown) => Promise<ApiResult<unknown>>, onEvent: (l: EventListener) => () => void): PigeonBridge {
  const bridge: Record<string, unknown> = { onEvent };
  for (const method of API_METHODS) bridge[method] = (params: unknown) => call(method, params);
  return bridge as PigeonBridge;
}
