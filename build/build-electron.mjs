// Builds the desktop app's code: electron/main with tsc (into dist/electron/main)
// and electron/preload bundled by esbuild into one CommonJS file
// (dist/electron/preload.cjs: a sandboxed preload cannot load modules).
// Electron is an optional dependency: where its binary could not be
// downloaded, npm removed it, and this step says so and does nothing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
let electronTypes = null;
try {
  electronTypes = require.resolve('electron/electron.d.ts');
} catch {
  // not installed
}
if (!electronTypes || !existsSync(electronTypes)) {
  console.log('desktop app skipped: Electron is not installed here (an optional dependency; npm drops it where its binary cannot be downloaded)');
  process.exit(0);
}

const tsc = (project) => {
  const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
tsc('electron/main/tsconfig.json');
tsc('electron/preload/tsconfig.json');
await build({
  entryPoints: ['electron/preload/preload.ts'],
  outfile: 'dist/electron/preload.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  external: ['electron'],
  target: 'es2022',
  logLevel: 'warning',
});
