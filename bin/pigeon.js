#!/usr/bin/env node
// Entry point of the `pigeon` command: runs the compiled CLI (npm ci builds it),
// or the relay server for `pigeon relay` (it imports nothing of the peer).
// Exits explicitly so that no leftover handle keeps a finished command alive;
// the relay's main resolves only once it has shut down.
if (process.argv[2] === 'relay') {
  const { main } = await import('../dist/relay/main.js');
  process.exit(await main(process.argv));
} else {
  const { main } = await import('../dist/cli/main.js');
  process.exit(await main(process.argv));
}
