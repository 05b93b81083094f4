// `npm start`: builds everything, rebuilds better-sqlite3 for Electron's
// Node (its ABI differs from the system Node's), runs the app, and on exit
// rebuilds better-sqlite3 for the system Node again so `npm test` and the
// CLI keep working. The packaged app (npm run dist) gets its own rebuilt copy.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: 'inherit', shell: process.platform === 'win32', ...opts }).status ?? 1;
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

let electron;
try {
  electron = require('electron'); // the path of the Electron binary
} catch {
  console.error('Electron is not installed (its download failed during npm install). Install it with: npm install electron');
  process.exit(1);
}
if (run('npm', ['run', 'build']) !== 0) process.exit(1);
if (run(process.execPath, ['build/build-electron.mjs']) !== 0) process.exit(1);
if (run(npx, ['electron-builder', 'install-app-deps']) !== 0) process.exit(1);
const code = run(electron, ['.', ...process.argv.slice(2)]);
run('npm', ['rebuild', 'better-sqlite3']);
process.exit(code);
