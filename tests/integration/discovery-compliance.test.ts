/**
 * The compliance suite every discovery source passes (ARCHITECTURE.md: small
 * implementations behind narrow interfaces, one shared suite). Each source
 * runs in its own process through tests/support/source-driver.ts: UDP presence
 * on loopback, mDNS between two network namespaces (multicast does not run on
 * lo). The contract: start() and stop() are idempotent; two instances report
 * each other with the announced identity, address and session port; stop()
 * makes the other report gone() (or, for a source that cannot say goodbye,
 * the sighting carries a TTL); update() propagates presence where the source
 * carries presence.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { EXPIRY_MS } from '../../shared/protocol/constants.js';
import type { Sighting, SelfPresence } from '../../core/discovery/discovery-source.js';
import { freeUdpPort, ROOT } from '../support/cli-peer.js';
import { createLan, netnsUnavailable, type Lan } from '../support/netns.js';

const DRIVER = join(ROOT, 'dist', 'tests', 'support', 'source-driver.js');

type Line = { ready?: string; seen?: Sighting; gone?: { id: string; source: string | null }; updated?: boolean; stopped?: boolean };

class Driver {
  readonly lines: Line[] = [];
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();

  constructor(kind: string, options: unknown, prefix: string[] = []) {
    const [cmd, ...args] = [...prefix, process.execPath, DRIVER, kind, JSON.stringify(options)];
    this.child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      this.lines.push(JSON.parse(l) as Line);
      for (const w of [...this.waiters]) w();
    });
  }

  waitFor(pred: (l: Line) => boolean, timeoutMs = 10000): Promise<Line> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.lines.find(pred);
        if (!found) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out; driver said: ${JSON.stringify(this.lines.slice(-5))}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  send(command: string): void {
    this.child.stdin!.write(command + '\n');
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

function presence(id: string, name: string, port: number): SelfPresence {
  return { id, name, group: 'QA', host: `${name.toLowerCase()}-pc`, port, status: 'online', away: '' };
}

interface Setup {
  kind: 'udp' | 'mdns';
  /** Whether the source carries presence (status, away) and says goodbye. */
  carriesPresence: boolean;
  start(): Promise<{ a: Driver; b: Driver; addressOf: { a: string; b: string } }>;
  cleanup(): Promise<void>;
}

const drivers: Driver[] = [];
let lan: Lan | null = null;

afterAll(async () => {
  for (const d of drivers) d.kill();
  await lan?.destroy();
});

const setups: Setup[] = [
  {
    kind: 'udp',
    carriesPresence: true,
    async start() {
      const discoveryPort = await freeUdpPort();
      const opts = (self: SelfPresence) => ({ self, discoveryPort, broadcast: ['127.255.255.255'] });
      const a = new Driver('udp', opts(presence('a'.repeat(26), 'Ann', 4001)));
      const b = new Driver('udp', opts(presence('b'.repeat(26), 'Ben', 4002)));
      drivers.push(a, b);
      return { a, b, addressOf: { a: '127.0.0.1', b: '127.0.0.1' } };
    },
    async cleanup() {},
  },
  {
    kind: 'mdns',
    carriesPresence: false,
    async start() {
      lan = await createLan(['a', 'b']);
      const opts = (self: SelfPresence) => ({ self, discoveryPort: 2426 });
      const a = new Driver('mdns', opts(presence('c'.repeat(26), 'Cat', 4003)), lan.host('a').prefix);
      const b = new Driver('mdns', opts(presence('d'.repeat(26), 'Dan', 4004)), lan.host('b').prefix);
      drivers.push(a, b);
      return { a, b, addressOf: { a: lan.host('a').address, b: lan.host('b').address } };
    },
    async cleanup() {
      await lan?.destroy();
      lan = null;
    },
  },
];

const netnsSkip = await netnsUnavailable();
if (netnsSkip) console.warn(`discovery compliance for mdns skipped: ${netnsSkip}`);

for (const setup of setups) {
  const skip = setup.kind === 'mdns' && netnsSkip !== null;
  describe.skipIf(skip)(`discovery source compliance: ${setup.kind}`, () => {
    it('finds the other instance, propagates updates, and reports its departure', async () => {
      const { a, b, addressOf } = await setup.start();
      await Promise.all([a.waitFor((l) => l.ready !== undefined), b.waitFor((l) => l.ready !== undefined)]);
      const idA = setup.kind === 'udp' ? 'a'.repeat(26) : 'c'.repeat(26);
      const idB = setup.kind === 'udp' ? 'b'.repeat(26) : 'd'.repeat(26);

      const seenByA = (await a.waitFor((l) => l.seen?.id === idB)).seen!;
      const seenByB = (await b.waitFor((l) => l.seen?.id === idA)).seen!;
      expect(seenByA).toMatchObject({ id: idB, address: addressOf.b, port: setup.kind === 'udp' ? 4002 : 4004, group: 'QA' });
      expect(seenByB).toMatchObject({ id: idA, address: addressOf.a });
      expect(seenByA.ttlMs).toBeGreaterThan(0);
      expect(seenByA.ttlMs).toBeLessThanOrEqual(EXPIRY_MS);
      // A source never reports its own instance.
      expect(a.lines.some((l) => l.seen?.id === idA)).toBe(false);

      if (setup.carriesPresence) {
        b.send(`update ${JSON.stringify({ status: 'away', away: 'in a meeting' })}`);
        await a.waitFor((l) => l.seen?.id === idB && l.seen.status === 'away' && l.seen.away === 'in a meeting');
      }

      b.send('stop');
      await b.waitFor((l) => l.stopped === true);
      if (setup.carriesPresence) {
        await a.waitFor((l) => l.gone?.id === idB, 5000);
      } else {
        // mDNS says goodbye with a TTL-0 record; a missed goodbye still ends with the sighting's TTL.
        await a.waitFor((l) => l.gone?.id === idB, EXPIRY_MS);
      }
      a.send('stop');
      await a.waitFor((l) => l.stopped === true);
      await setup.cleanup();
    }, 60_000);
  });
}
