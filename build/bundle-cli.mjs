// Bundles the compiled CLI (dist/cli/main.js and everything it imports) into
// one CommonJS file, dist/cli/bundle/pigeon.cjs, which bin/pigeon.js runs when
// it is up to date. Why one file: a `pigeon peer` start spent about a third
// of its CPU resolving, reading and compiling some 200 separate modules, and
// a crowd of peers started at once (an office switching on) shares the same
// few cores. Why CommonJS (docs/decisions.md, "Start-up, stop 22"): Node
// builds an ES module's view of each built-in it imports by reading every
// export, lazy getters included, which loaded undici, WebCrypto and the fs
// streams at every start; a CommonJS bundle reads a built-in's export only
// where the code uses it. Native addons stay outside the bundle (loaded from
// node_modules). The bundle sits two folders below dist/ like every compiled
// CLI file, so the paths computed from import.meta.url (the web UI's files in
// dist/renderer, the data-link worker) are the same from the bundle.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Loaded on first use too, though every `pigeon peer` loads them as it starts:
 * the other commands (send-file, send, transfers: a request over the control
 * socket) never use them, and loading them took ~30 ms of CPU and ~17 ms of
 * the ~0.18 s a `pigeon send-file` ran before it could ask the peer anything
 * (docs/benchmarks.md, "stop 26"). A peer reads them through the stand-in,
 * a property read per use, on paths that then do a handshake, a signature or
 * a datagram's worth of work.
 */
const CLIENT_LAZY_MODULES = ['crypto', 'tls', 'dgram', 'fs/promises'];
/**
 * Loaded on first use, not when the bundle loads (build/lazy-require.cjs):
 * what only a relay, the web UI, LocalSend, file transfers or `pigeon chat`
 * need. ws is left out of the bundle for that (it loads node:http at once).
 */
const LAZY_MODULES = ['http', 'https', 'zlib', 'worker_threads', 'child_process', 'readline', 'readline/promises', 'ws', ...CLIENT_LAZY_MODULES];

/** The stand-ins for LAZY_MODULES, and import.meta.url for the two places that use it. */
const cjsBanner = [`var PIGEON_LAZY = ${JSON.stringify(LAZY_MODULES)};`, readFileSync(new URL('./lazy-require.cjs', import.meta.url), 'utf8'), 'var pigeonImportMetaUrl = require("node:url").pathToFileURL(__filename).href;'].join('\n');

/**
 * Writes every character above 0x7F as a \u escape (esbuild already does in
 * strings; this catches comments and regular expressions). Why: one such
 * character makes V8 hold and scan the whole 1.7 MB source as UTF-16, and
 * Node decode it through the slow UTF-8 path, at every start (~13 ms of a
 * profiled start came from 53 characters in comments).
 */
function asciiOnly(file) {
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

const common = {
  bundle: true,
  platform: 'node',
  // The oldest Node in package.json's engines.
  target: 'node20',
  logLevel: 'warning',
};

// The data-link worker thread (core/transfer/data-link-worker.ts) is started
// from `new URL('./data-link-worker.js', import.meta.url)`: inside the bundle
// that is this folder, so it is bundled next to pigeon.cjs (as an ES module:
// this folder's .js files are ES modules by package.json's "type"). The
// sender's file-read worker (core/transfer/send-read-worker.ts) the same way.
const workerBundle = {
  ...common,
  format: 'esm',
  external: ['better-sqlite3', 'bufferutil', 'utf-8-validate', 'xxhash-addon'],
  // CommonJS dependencies call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as pigeonCreateRequire } from 'node:module'; const require = pigeonCreateRequire(import.meta.url);" },
};
for (const worker of ['data-link-worker', 'send-read-worker']) {
  await build({ ...workerBundle, entryPoints: [`dist/core/transfer/${worker}.js`], outfile: `dist/cli/bundle/${worker}.js` });
}

const cli = 'dist/cli/bundle/pigeon.cjs';
await build({
  ...common,
  format: 'cjs',
  // Native addons, the optional peer of ws (absent on purpose), and ws (lazy, above).
  external: ['better-sqlite3', 'bufferutil', 'utf-8-validate', 'ws', 'xxhash-addon'],
  define: { 'import.meta.url': 'pigeonImportMetaUrl' },
  banner: { js: cjsBanner },
  entryPoints: ['dist/cli/main.js'],
  outfile: cli,
});
asciiOnly(cli);

// V8's code cache of the bundle (bin/pigeon.js uses it): emptied, then filled
// by one run of the command as it will be run, so the first `pigeon peer`
// after a build is already a cached one. A run by another Node adds its own
// entries at its exit. Without it `pigeon` compiles as before, so a failure
// here is a warning, not a failed build.
rmSync('dist/cli/bundle/compile-cache', { recursive: true, force: true });
try {
  execFileSync(process.execPath, ['bin/pigeon.js', '--version'], { stdio: 'ignore' });
} catch (err) {
  console.warn(`bundle-cli: the code cache was not filled (${err.message}); pigeon starts without it until its first run fills it`);
}
