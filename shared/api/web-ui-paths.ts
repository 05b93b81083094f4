/**
 * The two paths of a headless peer's web UI (`pigeon peer --ui`) besides
 * its static files: the WebSocket bridge to the engine, and streamed uploads
 * of dropped files (?batch=<hex>&path=<relative path>). The server and the
 * renderer's browser transport both use them. Received files are downloaded
 * from /files/<transfer id>/<entry index> (never by path).
 */
export const WEB_UI_BRIDGE_PATH = '/bridge';
export const WEB_UI_UPLOAD_PATH = '/upload';
export const WEB_UI_FILES_PATH = '/files';

/** The download link of one received file (web UI). */
export function webUiFileUrl(transfer: string, index: number): string {
  return `${WEB_UI_FILES_PATH}/${transfer}/${index}`;
}
