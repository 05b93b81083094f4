// Bundles the compiled CLI (dist/cli/main.js and everything it imports) into
// one ES module, dist/cli/bundle/pigeon.mjs, which bin/pigeon.js runs when it
// is up to date. Why: a `pigeon peer` start spent about a third of its CPU
// resolving, reading and compiling some 200 separate modules, and a crowd of
// peers started at once (an office switching on) shares the same few cores.
// Native addons stay outside the bundle (they are loaded from node_modules).
// The bundle sits two folders below dist/ like every compiled CLI file, so the
// paths these files compute from import.meta.url (the web UI's files in
// dist/renderer) are the same from the bundle.
import { build } from 'esbuild';
import { createRequire } from 'node:module';

// node:http and node:https through require(), not an ES import: Node builds an
// ES module's view of a built-in by reading every export, and node:http's
// lazy getters (its WebSocket and fetch classes) then load undici, ~15 ms of
// CPU on every start of every peer (a --cpu-prof of `pigeon peer`), for
// nothing the peer uses. Only the properties that are plain values are
// exported by name; the bundle fails to build if code imports another one.
const VIA_REQUIRE = /^(node:)?https?$/;
const builtinsViaRequire = {
  name: 'builtins-via-require',
  setup(b) {
    // Only ES imports: the require() calls (this module's own, and those of CommonJS dependencies) stay Node's.
    b.onResolve({ filter: VIA_REQUIRE }, (args) => (args.kind === 'import-statement' ? { path: args.path.replace(/^(node:)?/, 'node:'), namespace: 'builtin-via-require' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'builtin-via-require' }, (args) => {
      const mod = createRequire(import.meta.url)(args.path);
      const names = Object.keys(mod).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && 'value' in Object.getOwnPropertyDescriptor(mod, k));
      const lines = [`const m = require(${JSON.stringify(args.path)});`, 'export default m;', ...names.map((n) => `export const ${n} = m.${n};`)];
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  // The oldest Node in package.json's engines.
  target: 'node20',
  // Native addons, and the optional peer of ws (absent on purpose).
  external: ['better-sqlite3', 'bufferutil', 'utf-8-validate'],
  // CommonJS dependencies call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as pigeonCreateRequire } from 'node:module'; const require = pigeonCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  plugins: [builtinsViaRequire],
};

// The data-link worker thread (core/transfer/data-link-worker.ts) is started
// from `new URL('./data-link-worker.js', import.meta.url)`: inside the bundle
// that is this folder, so it is bundled next to pigeon.mjs.
await build({ ...common, entryPoints: ['dist/core/transfer/data-link-worker.js'], outfile: 'dist/cli/bundle/data-link-worker.js' });
// The sender's file-read worker (core/transfer/send-read-worker.ts), the same way.
await build({ ...common, entryPoints: ['dist/core/transfer/send-read-worker.js'], outfile: 'dist/cli/bundle/send-read-worker.js' });

await build({ ...common, entryPoints: ['dist/cli/main.js'], outfile: 'dist/cli/bundle/pigeon.mjs' });
