// `npm run test:desktop`: the Playwright Electron test needs better-sqlite3
// built for Electron's Node. This rebuilds it for Electron, runs that one
// test file, and rebuilds it for the system Node again (whatever happened),
// so the rest of the suite keeps working.
import { spawnSync } from 'node:child_process';

const run = (cmd, args, env = {}) => spawnSync(cmd, args, { stdio: 'inherit', shell: process.platform === 'win32', env: { ...process.env, ...env } }).status ?? 1;
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

if (run('npm', ['run', 'build']) !== 0) process.exit(1);
let code = run(npx, ['electron-builder', 'install-app-deps']);
if (code === 0) code = run(npx, ['vitest', 'run', 'tests/e2e/desktop-app.test.ts'], { PIGEON_DESKTOP_TEST: '1' });
run('npm', ['rebuild', 'better-sqlite3']);
process.exit(code);
