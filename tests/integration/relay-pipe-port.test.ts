/**
 * The raw pipe port when something else holds it (a real `pigeon relay`
 * process): its default (the port after --port) is a preference, so a relay
 * restarted on its port still starts, on a free pipe port, with a warning;
 * a port named with --pipe-port is a requirement, and the relay says it is
 * in use and exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayProcess } from '../support/relay-process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function listen(port: number): Promise<net.Server | null> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/** A free port P with P + 1 held by a listener of ours. */
async function portWithNextTaken(): Promise<number> {
  for (;;) {
    const probe = (await listen(0))!;
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    if (port >= 65535) continue;
    const blocker = await listen(port + 1);
    if (!blocker) continue;
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    return port;
  }
}

function relay(args: string[]): RelayProcess {
  const data = mkdtempSync(join(tmpdir(), 'pigeon-pipe-port-'));
  const p = new RelayProcess(['--data', data, '--host', '127.0.0.1', ...args]);
  cleanups.push(async () => {
    await p.stop();
    rmSync(data, { recursive: true, force: true });
  });
  return p;
}

describe('raw pipe port in use', () => {
  it('the default one taken: the relay starts on a free pipe port and says so', async () => {
    const port = await portWithNextTaken();
    const r = relay(['--port', String(port)]);
    const { port: listening, pipePort } = await r.listening;
    expect(listening).toBe(port);
    expect(pipePort).toBeGreaterThan(0);
    expect(pipePort).not.toBe(port + 1);
    expect(r.stderr.some((l) => l.includes('default pipe port in use'))).toBe(true);
  });

  it('one named with --pipe-port taken: the relay says it is in use and exits', async () => {
    const port = await portWithNextTaken();
    const r = relay(['--port', String(port), '--pipe-port', String(port + 1)]);
    await expect(r.listening).rejects.toThrow(/pipe port \d+ is in use; choose another with --pipe-port/);
    expect(await r.exited).not.toBe(0);
  });
});
