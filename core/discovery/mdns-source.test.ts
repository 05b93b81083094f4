/**
 * MdnsSource's repeated browse queries, on a hand-driven clock: repeats after
 * 1 s, 2 s, 4 s... are skipped while UDP broadcast reaches some peer (the
 * sink says so), and sent again when it does not (issue 12: in an office
 * switching on, every newcomer's repeats were answered by every peer).
 * A real bonjour-service responder on loopback. Answers: a query from a peer
 * UDP already hears is not answered (each answer was multicast to the whole
 * office, N² datagrams per join).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../util/components.js';
import { ManualClock } from '../util/manual-clock.js';
import type { DiscoverySink } from './discovery-source.js';
import { MdnsSource } from './mdns-source.js';

let source: MdnsSource | null = null;
let querier: MdnsSource | null = null;

afterEach(async () => {
  await source?.stop();
  await querier?.stop();
  source = null;
  querier = null;
});

function start(hears: { broadcast: boolean }): { clock: ManualClock; source: MdnsSource } {
  const clock = new ManualClock();
  const sink: DiscoverySink = { seen: () => {}, gone: () => {}, hearsBroadcast: () => hears.broadcast };
  source = new MdnsSource(
    { logger: silentLogger, clock },
    { discoveryPort: 1, self: () => ({ id: 'aaaaaaaaaaaaaaaaaaaaaaaaaa', name: 'Alice', group: '', host: 'test', port: 1, status: 'online', away: '' }), sink, interfaces: ['127.0.0.1'] },
  );
  return { clock, source };
}

describe('mDNS repeated queries', () => {
  it('are skipped while UDP broadcast reaches a peer, and resume when it does not', async () => {
    const hears = { broadcast: true };
    const { clock, source: s } = start(hears);
    await s.start();
    clock.advance(1000 + 2000 + 4000); // the repeats at 1 s, 3 s and 7 s
    expect(s.skippedRequeries).toBe(3);
    hears.broadcast = false;
    clock.advance(8000); // the repeat at 15 s goes out
    expect(s.skippedRequeries).toBe(3);
    hears.broadcast = true;
    clock.advance(16_000);
    expect(s.skippedRequeries).toBe(4);
  });
});

describe('mDNS answers', () => {
  /** Real time: waits until `cond` holds (datagrams on loopback take a moment). */
  async function until(cond: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('a query from an address UDP already hears is not answered; any other is, after the delay', async () => {
    const heard = { udp: true };
    const asked: string[] = [];
    const clock = new ManualClock();
    const sink: DiscoverySink = {
      seen: () => {},
      gone: () => {},
      hearsBroadcast: () => true,
      hearsAt: (address) => {
        asked.push(address);
        return heard.udp;
      },
    };
    source = new MdnsSource(
      { logger: silentLogger, clock },
      { discoveryPort: 1, self: () => ({ id: 'aaaaaaaaaaaaaaaaaaaaaaaaaa', name: 'Alice', group: '', host: 'test', port: 1, status: 'online', away: '' }), sink, interfaces: ['127.0.0.1'] },
    );
    await source.start();
    const qClock = new ManualClock();
    const qSink: DiscoverySink = { seen: () => {}, gone: () => {}, hearsBroadcast: () => false };
    querier = new MdnsSource(
      { logger: silentLogger, clock: qClock },
      { discoveryPort: 1, self: () => ({ id: 'bbbbbbbbbbbbbbbbbbbbbbbbbb', name: 'Bob', group: '', host: 'test', port: 2, status: 'online', away: '' }), sink: qSink, interfaces: ['127.0.0.1'] },
    );
    await querier.start(); // its browser's first query
    const s = source;
    await until(() => s.queries.heard > 0);
    expect(s.queries.answered + s.queries.skipped).toBe(0); // nothing before the delay
    clock.advance(400);
    expect(s.queries.skipped).toBe(s.queries.heard);
    expect(s.queries.answered).toBe(0);
    expect(asked.every((a) => a === '127.0.0.1')).toBe(true);
    heard.udp = false;
    const skipped = s.queries.skipped;
    const before = s.queries.heard;
    qClock.advance(1000); // the querier repeats (it hears no broadcast)
    await until(() => s.queries.heard > before);
    clock.advance(400);
    expect(s.queries.answered).toBeGreaterThanOrEqual(1);
    expect(s.queries.skipped).toBe(skipped);
    console.log(`mDNS queries heard ${s.queries.heard}: ${s.queries.skipped} skipped (UDP hears the querier), ${s.queries.answered} answered`);
  });
});

describe('mDNS announcements', () => {
  it('are not multicast while UDP broadcast reaches a peer; a peer alone on broadcast announces, and is found by a browser that asked before it existed', async () => {
    // The browser starts first: its one query finds nobody, and it repeats none (it hears broadcast).
    const found: string[] = [];
    const bClock = new ManualClock();
    querier = new MdnsSource(
      { logger: silentLogger, clock: bClock },
      {
        discoveryPort: 1,
        self: () => ({ id: 'bbbbbbbbbbbbbbbbbbbbbbbbbb', name: 'Bob', group: '', host: 'test', port: 2, status: 'online', away: '' }),
        sink: { seen: (s) => found.push(s.id), gone: () => {}, hearsBroadcast: () => true },
        interfaces: ['127.0.0.1'],
      },
    );
    await querier.start();
    await new Promise((r) => setTimeout(r, 300));
    const hears = { broadcast: true };
    const { clock, source: s } = start(hears);
    await s.start();
    clock.advance(5000); // the first announcement is due: broadcast reaches a peer, so none
    expect(s.announcements).toEqual({ sent: 0, skipped: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(found).not.toContain('aaaaaaaaaaaaaaaaaaaaaaaaaa');
    hears.broadcast = false;
    clock.advance(15_000); // the next, 15 s later: nobody hears us by broadcast, so it goes out
    expect(s.announcements).toEqual({ sent: 1, skipped: 1 });
    const end = Date.now() + 5000;
    while (!found.includes('aaaaaaaaaaaaaaaaaaaaaaaaaa') && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(found).toContain('aaaaaaaaaaaaaaaaaaaaaaaaaa');
  });
});
