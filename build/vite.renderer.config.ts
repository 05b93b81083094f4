// Vite build of the renderer (one React app for the desktop window and the
// web UI): renderer/ -> dist/renderer/. No inline scripts or styles, so the
// strict CSP of both hosts (script-src/style-src 'self') holds.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('../renderer/', import.meta.url));

export default defineConfig({
  root,
  base: './',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer/', import.meta.url)),
    emptyOutDir: true,
    // Inlined assets would be data: URLs; keep them as files (CSP img-src 'self').
    assetsInlineLimit: 0,
    // The browsers that run it: Electron's Chromium and current browsers.
    target: 'es2022',
    modulePreload: { polyfill: false },
  },
});
