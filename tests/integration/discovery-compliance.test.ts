/**
 * The compliance suite every discovery source passes (docs/architecture.md: small
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
import { contactId } from '../../core/ipmsg/contact-book.js';
import { IPMSG_TTL_MS } from '../../core/ipmsg/ipmsg-bridge.js';

const DRIVER = join(ROOT, 'dist', 'tests', 'support', 'source-driver.js');

type Line = { ready?: string; id?: string; seen?: Sighting; gone?: { id: string; source: string | null }; updated?: boolean; stopped?: boolean };

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
  kind: 'udp' | 'mdns' | 'ipmsg';
  /** Whether the source carries presence (status, away) and says goodbye. */
  carriesPresence: boolean;
  /** The ids the instances are reported under and the port a sighting carries (the session port; 2425 for IPMsg). */
  ids: { a: string; b: string };
  portOfB: number;
  /** Longest TTL of a sighting: native presence expires in EXPIRY_MS; IPMsg clients never refresh by themselves (ipmsg-bridge.ts). */
  maxTtlMs: number;
  /** An update to status away / "in a meeting" as the source reports it (IPMsg: the absence flag and the nickname suffix). */
  isAwayUpdate: (s: Sighting) => boolean;
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
    ids: { a: 'a'.repeat(26), b: 'b'.repeat(26) },
    portOfB: 4002,
    maxTtlMs: EXPIRY_MS,
    isAwayUpdate: (s) => s.status === 'away' && s.away === 'in a meeting',
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
    ids: { a: 'c'.repeat(26), b: 'd'.repeat(26) },
    portOfB: 4004,
    maxTtlMs: EXPIRY_MS,
    isAwayUpdate: () => false,
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
  {
    // The IPMsg bridge: two instances on their own loopback addresses, port 2425 each, announcing to each other by unicast.
    kind: 'ipmsg',
    carriesPresence: true,
    ids: { a: contactId('Eve', 'eve-pc'), b: contactId('Fay', 'fay-pc') },
    portOfB: 2425,
    maxTtlMs: IPMSG_TTL_MS,
    isAwayUpdate: (s) => s.status === 'away' && s.name === 'Fay[in a meeting]',
    async start() {
      const [ea, eb] = ['127.0.0.91', '127.0.0.92'];
      const a = new Driver('ipmsg', { self: presence('e'.repeat(26), 'Eve', 4005), discoveryPort: 0, bind: ea, peer: eb });
      const b = new Driver('ipmsg', { self: presence('f'.repeat(26), 'Fay', 4006), discoveryPort: 0, bind: eb, peer: ea });
      drivers.push(a, b);
      return { a, b, addressOf: { a: ea, b: eb } };
    },
    async cleanup() {},
  },
];

const netnsSkip = await netnsUnavailable();
if (netnsSkip) console.warn(`discovery compliance for mdns skipped: ${netnsSkip}`);

for (const setup of setups) {
  const skip = setup.kind === 'mdns' && netnsSkip !== null;
  describe.skipIf(skip)(`discovery source compliance: ${setup.kind}`, () => {
    it('finds the other instance, propagates updates, and reports its departure', async () => {
      const { a, b, addressOf } = await setup.start();
      const [readyA, readyB] = await Promise.all([a.waitFor((l) => l.ready !== undefined), b.waitFor((l) => l.ready !== undefined)]);
      // UDP discovery is signed: its driver makes a key, and the id derived from it is the one announced.
      const idA = setup.kind === 'udp' ? readyA.id! : setup.ids.a;
      const idB = setup.kind === 'udp' ? readyB.id! : setup.ids.b;

      const seenByA = (await a.waitFor((l) => l.seen?.id === idB)).seen!;
      const seenByB = (await b.waitFor((l) => l.seen?.id === idA)).seen!;
      expect(seenByA).toMatchObject({ id: idB, address: addressOf.b, port: setup.portOfB, group: 'QA' });
      expect(seenByB).toMatchObject({ id: idA, address: addressOf.a });
      expect(seenByA.ttlMs).toBeGreaterThan(0);
      expect(seenByA.ttlMs).toBeLessThanOrEqual(setup.maxTtlMs);
      // A source never reports its own instance.
      expect(a.lines.some((l) => l.seen?.id === idA)).toBe(false);

      if (setup.carriesPresence) {
        b.send(`update ${JSON.stringify({ status: 'away', away: 'in a meeting' })}`);
        await a.waitFor((l) => l.seen?.id === idB && setup.isAwayUpdate(l.seen));
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
