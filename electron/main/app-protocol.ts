/**
 * The renderer is loaded from app://pigeon/, a custom protocol serving the
 * Vite build (dist/renderer), never from file:// (which would give the page
 * the whole file system as its origin). Every answer carries the strict CSP.
 * `/pictures/<transfer id>` shows a picture of a conversation (desktop-pictures.ts).
 */
import { net, protocol } from 'electron';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RENDERER_CONTENT_TYPES } from '../../shared/util/renderer-content-types.js';

export const APP_SCHEME = 'app';
export const APP_ORIGIN = `${APP_SCHEME}://pigeon`;
export const APP_URL = `${APP_ORIGIN}/index.html`;

const TYPES = RENDERER_CONTENT_TYPES;

/** No remote code, no inline script or style, no connections at all: the page talks to main through the preload only. */
export const RENDERER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Must run before app is ready: app:// behaves like a normal secure origin. */
export function registerAppScheme(): void {
  // standard + secure: a normal https-like origin (module scripts, storage); no bypass of CSP.
  protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true } }]);
}

/** A transfer id in a picture's address (what the engine makes: 32 hex digits). */
const PICTURE_PATH = /^\/pictures\/([0-9a-f]{32})$/;

/** Serves files of `rendererDir`, and pictures through `picture`; anything outside, or missing, is a 404. */
export function serveRenderer(rendererDir: string, picture?: (transfer: string) => Promise<{ path: string; type: string } | null>): void {
  const root = resolve(rendererDir);
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    const pic = url.host === 'pigeon' ? PICTURE_PATH.exec(url.pathname) : null;
    if (pic) {
      const found = await picture?.(pic[1]!);
      const res = found ? await net.fetch(pathToFileURL(found.path).toString()).catch(() => null) : null;
      if (!found || !res || !res.ok) return new Response('not found', { status: 404 });
      return new Response(res.body, { status: 200, headers: { 'Content-Type': found.type, 'Content-Security-Policy': RENDERER_CSP, 'X-Content-Type-Options': 'nosniff' } });
    }
    const file = resolve(join(root, normalize(decodeURIComponent(url.pathname))));
    if (url.host !== 'pigeon' || (file !== root && !file.startsWith(root + sep))) return new Response('not found', { status: 404 });
    const res = await net.fetch(pathToFileURL(file).toString()).catch(() => null);
    if (!res || !res.ok) return new Response('not found', { status: 404 });
    const headers = new Headers(res.headers);
    headers.set('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    headers.set('Content-Security-Policy', RENDERER_CSP);
    headers.set('X-Content-Type-Options', 'nosniff');
    return new Response(res.body, { status: 200, headers });
  });
}
