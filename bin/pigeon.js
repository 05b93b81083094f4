#!/usr/bin/env node
// Entry point of the `pigeon` command: runs the compiled CLI (npm ci builds it),
// or the relay server for `pigeon relay` (it imports nothing of the peer).
// Exits explicitly so that no leftover handle keeps a finished command alive;
// the relay's main resolves only once it has shut down.
//
// Output is complete at exit whatever reads it: writes to a pipe are
// asynchronous in Node, and process.exit() with writes pending cut
// `pigeon history --json | cat` at 64 KiB (issue 13, finding 10), so the exit
// waits until stdout and stderr have handed every byte to the reader. A reader
// that leaves early (`| head -c 1000`) is not an error of ours: EPIPE (and any
// later write to the closed stream) is dropped silently, with no stack trace,
// and the command ends with its own exit code.
import { statSync } from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

/** Resolves once every byte written so far to `stream` is with the reader (or the reader is gone). */
function flushed(stream) {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableLength === 0) return resolve();
    // Writes complete in order: the callback of an empty write runs after all earlier ones.
    stream.write('', () => resolve());
  });
}

/**
 * The CLI's main(): from the bundle (build/bundle-cli.mjs: one CommonJS file,
 * it starts in about half the CPU of ~200 separate ES modules), unless a
 * later `tsc -b` made it stale: then from the compiled modules themselves,
 * which are always current.
 *
 * The bundle is compiled with V8's code cache, kept in dist/cli/bundle/
 * compile-cache (the build fills it; Node ≥ 22.1). Why: parsing and
 * compiling the 1.5 MB bundle was the largest single part of a start after
 * Node's own bootstrap (docs/benchmarks.md, "stop 22"). Node checks each
 * entry against the source, its own version and V8's flags, and compiles as
 * usual when an entry does not match or cannot be read; the folder sits with
 * the code, so whoever can write it could change the code itself.
 */
async function cliMain() {
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
  const bundle = join(dist, 'cli', 'bundle', 'pigeon.cjs');
  const bundled = statSync(bundle, { throwIfNoEntry: false })?.mtimeMs;
  const built = ['cli', 'core', 'shared'].map((p) => statSync(join(dist, `${p}.tsbuildinfo`), { throwIfNoEntry: false })?.mtimeMs ?? 0);
  if (bundled !== undefined && built.every((t) => t <= bundled)) {
    // Absent before Node 22.1 (then the bundle is compiled as usual).
    module.enableCompileCache?.(join(dist, 'cli', 'bundle', 'compile-cache'));
    return module.createRequire(import.meta.url)(bundle).main;
  }
  return (await import('../dist/cli/main.js')).main;
}

const main = process.argv[2] === 'relay' ? (await import('../dist/relay/main.js')).main : await cliMain();
const code = await main(process.argv);
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
