/**
 * Content types of the files the renderer build (Vite) emits, for the two
 * places that serve it: the web UI of `pigeon peer --ui` and the desktop
 * app's app:// protocol. Module scripts must be served as JavaScript.
 */
export const RENDERER_CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};
