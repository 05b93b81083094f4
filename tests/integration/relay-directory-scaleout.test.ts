/**
 * The versioned directory across a scale-out relay (three real `pigeon
 * relay` processes on one PostgreSQL schema and one NATS prefix): one
 * version story for all instances, and the gap case. When an instance is
 * killed with -9, each surviving instance makes its devices offline as a
 * directory change of its own and pushes it to its own clients only, so a
 * client sees versions with a hole (the other instance's change): its relay
 * client (core/relay-client) notices the gap and asks for the changes after
 * the version it holds, and ends up current. Skipped, with the reason
 * printed, when PostgreSQL or NATS does not answer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity } from '../../core/identity/identity.js';
import { loadOrCreateEncKey } from '../../core/relay-client/enc-key.js';
import { RelayClient } from '../../core/relay-client/relay-client.js';
import { systemClock } from '../../core/util/components.js';
import { PRESENCE_TTL_MS } from '../../relay/bus/nats-bus.js';
import { loadOrCreateSelfSigned } from '../../relay/server/tls-cert.js';
import { RELAY_PATH, type RemotePeer } from '../../shared/protocol/relay-frames.js';
import { RelayProcess } from '../support/relay-process.js';
import { Client, clients, makeDevice, directoryHooks } from '../support/relay-ws-client.js';
import { dropSchema, freshPrefix, freshSchema, NATS_URL, PG_URL, scaleOutUnavailable } from '../support/scaleout-services.js';

const unavailable = await scaleOutUnavailable();
if (unavailable) console.warn(`directory scale-out tests skipped: ${unavailable}`);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const f of cleanups.splice(0).reverse()) await f();
});

const until = async (cond: () => boolean, what: string, ms: number): Promise<void> => {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > end) throw new Error(`not in time: ${what}`);
};

describe.skipIf(unavailable !== null)('versioned directory, scale-out', () => {
  it(
    'a client that misses another instance\'s change sees the gap, asks for the delta, and is current',
    async () => {
      const work = mkdtempSync(join(tmpdir(), 'pigeon-dir-scaleout-'));
      const schema = freshSchema();
      const prefix = freshPrefix();
      cleanups.push(() => rmSync(work, { recursive: true, force: true }));
      cleanups.push(() => dropSchema(schema));
      await loadOrCreateSelfSigned(join(work, 'cert'));
      const start = (n: number): RelayProcess => {
        const p = new RelayProcess([
          ...['--port', '0', '--host', '127.0.0.1', '--data', join(work, `instance-${n}`)],
          ...['--store', PG_URL, '--store-schema', schema, '--bus', NATS_URL, '--bus-prefix', prefix],
          ...['--cert', join(work, 'cert', 'relay-cert.pem'), '--key', join(work, 'cert', 'relay-key.pem')],
        ]);
        cleanups.push(() => p.kill9());
        return p;
      };
      const [p1, p2, p3] = [start(1), start(2), start(3)];
      const [, r2, r3] = await Promise.all([p1.listening, p2.listening, p3.listening]);

      // Dave on instance 3; Carol's relay client on instance 2.
      const dave = makeDevice();
      const d = new Client(`wss://127.0.0.1:${r3.port}${RELAY_PATH}`);
      await d.auth(dave, { name: 'Dave' });
      const home = mkdtempSync(join(tmpdir(), 'pigeon-dir-carol-'));
      cleanups.push(() => rmSync(home, { recursive: true, force: true }));
      const identity = await loadOrCreateIdentity(home);
      const logs: string[] = [];
      const view = new Map<string, RemotePeer>();
      const carol = new RelayClient(
        { identity, enc: loadOrCreateEncKey(home, identity), clock: systemClock, logger: { log: (_l, msg) => logs.push(msg) } },
        { url: `wss://127.0.0.1:${r2.port}`, fingerprint: r2.fingerprint },
        directoryHooks('Carol', {
          onPeers: (peers) => peers.forEach((p) => view.set(p.id, p)),
}),
      );
      carol.start();
      cleanups.push(() => carol.stop());
      await until(() => view.get(dave.id)?.online === true, 'Carol sees Dave online', 20_000);
      // One version story: a change on instance 3 reached Carol on instance 2 with its version, no gap.
      expect(carol.directory.hasGap).toBe(false);
      const before = carol.directory.version;

      // Instance 3 dies: instances 1 and 2 each make Dave offline as a change; only instance 2's is pushed to Carol.
      await p3.kill9();
      await until(() => view.get(dave.id)?.online === false, 'Dave offline for Carol', PRESENCE_TTL_MS + 20_000);
      // Instance 1 makes its own change when its sweep notices, which may come after instance 2's: wait for both.
      const lostLine = 'devices of a lost relay instance are offline';
      await until(() => [p1, p2].every((p) => p.stderr.some((l) => l.includes(lostLine))), 'both survivors made Dave offline', PRESENCE_TTL_MS + 20_000);
      // Another change on instance 2 (Erin connects): Carol now holds versions with instance 1's missing below.
      // Instance 1's change is written just after its log line, so should Erin's change still come before
      // it, one more device connects on instance 2 every 2 s until the hole shows.
      const missed = (): boolean => logs.includes('relay directory: a change was missed; asking for it');
      for (let n = 0; !missed() && n < 10; n++) {
        const next = new Client(`wss://127.0.0.1:${r2.port}${RELAY_PATH}`);
        await next.auth(makeDevice(), { name: `Erin ${n + 1}` });
        await until(missed, 'the gap noticed and asked for', 2_000).catch(() => {});
      }
      await until(missed, 'the gap noticed and asked for', 5_000);
      await until(() => !carol.directory.hasGap, 'the gap filled by the delta', 20_000);
      expect(carol.directory.version).toBeGreaterThan(before + 2);
      expect(view.get(dave.id)?.online).toBe(false);
      expect(logs).not.toContain('relay directory: paging again');
    },
    PRESENCE_TTL_MS + 90_000,
  );
});
