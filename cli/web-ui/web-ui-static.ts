/**
 * Serves the built renderer (dist/renderer, made by `vite build`) with a
 * strict Content-Security-Policy: scripts and styles from this origin only,
 * the WebSocket back to this origin, no frames, no plugins.
 */
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RENDERER_CONTENT_TYPES } from '../../shared/util/renderer-content-types.js';

/** dist/cli/web-ui/ -> dist/renderer/ (the Vite output folder). */
export const RENDERER_DIR = resolve(fileURLToPath(new URL('../../renderer/', import.meta.url)));

function csp(port: number): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function securityHeaders(res: ServerResponse, port: number): void {
  res.setHeader('Content-Security-Policy', csp(port));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cache-Control', 'no-store');
}

/** Answers a GET for a file of the renderer; unknown paths get index.html (one-page app). */
export async function serveStatic(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
  } catch {
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Bad address.\n');
    return;
  }
  if (!existsSync(join(RENDERER_DIR, 'index.html'))) {
    res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('The Pigeon web UI is not built. Run `npm run build` in the Pigeon folder, then reload.\n');
    return;
  }
  let file = resolve(RENDERER_DIR, '.' + normalize(pathname));
  if (file !== RENDERER_DIR && !file.startsWith(RENDERER_DIR + sep)) file = join(RENDERER_DIR, 'index.html');
  const st = await stat(file).catch(() => null);
  if (!st || !st.isFile()) file = join(RENDERER_DIR, 'index.html');
  res.writeHead(200, { 'Content-Type': RENDERER_CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' });
  createReadStream(file).pipe(res);
}
