/**
 * Test support for the hostile relay tests: a real `pigeon relay` process on
 * 127.0.0.1 in a fresh data folder, its JSON log lines, and clients that can
 * come from any loopback address (127.0.0.0/8 is all local on Linux), so
 * "one address" and "another address" are real source addresses to the relay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayProcess } from '../support/relay-process.js';
import { Client, type Device } from '../support/relay-ws-client.js';

export interface HostileRelay {
  proc: RelayProcess;
  port: number;
  url: string;
  dataDir: string;
  /** The relay's log records so far (parsed stderr lines). */
  logs(): Array<Record<string, unknown>>;
  /** A control connection from `localAddress`, authenticated as `d`. */
  connect(d: Device, localAddress?: string, name?: string): Promise<Client>;
}

const running: RelayProcess[] = [];
const dirs: string[] = [];

/** Starts `pigeon relay` with `args` (besides --data, --port 0, --host 127.0.0.1); dataDir may be given. */
export async function startRelayProcess(args: string[] = [], dataDir?: string): Promise<HostileRelay> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'pigeon-hostile-relay-'));
  if (!dataDir) dirs.push(dir);
  const proc = new RelayProcess(['--data', dir, '--port', '0', '--host', '127.0.0.1', ...args]);
  running.push(proc);
  const { port } = await proc.listening;
  const url = `wss://127.0.0.1:${port}/pigeon/1`;
  return {
    proc,
    port,
    url,
    dataDir: dir,
    logs: () =>
      proc.stderr.flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    async connect(d, localAddress, name = 'Dev') {
      const c = new Client(url, undefined, localAddress ? { localAddress } : {});
      await c.auth(d, { name });
      await c.directory();
      return c;
    },
  };
}

/** Stops every relay started here and removes the folders it made. */
export async function stopRelayProcesses(): Promise<void> {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Resolves when `check` is true, polling; rejects after `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
