/**
 * The renderer is loaded from app://pigeon/, a custom protocol serving the
 * Vite build (dist/renderer), never from file:// (which would give the page
 * the whole file system as its origin). Every answer carries the strict CSP.
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

/** Serves files of `rendererDir`; anything outside it, or missing, is a 404. */
export function serveRenderer(rendererDir: string): void {
  const root = resolve(rendererDir);
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
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
