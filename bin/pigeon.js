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
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

/** Resolves once every byte written so far to `stream` is with the reader (or the reader is gone). */
function flushed(stream) {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableLength === 0) return resolve();
    // Writes complete in order: the callback of an empty write runs after all earlier ones.
    stream.write('', () => resolve());
  });
}

const { main } = process.argv[2] === 'relay' ? await import('../dist/relay/main.js') : await import('../dist/cli/main.js');
const code = await main(process.argv);
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
