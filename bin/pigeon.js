#!/usr/bin/env node
// Entry point of the `pigeon` command: runs the compiled CLI (npm ci builds it).
// Exits explicitly so that no leftover handle keeps a finished command alive.
import { main } from '../dist/cli/main.js';

process.exit(await main(process.argv));
