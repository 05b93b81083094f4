/**
 * MdnsSource's repeated browse queries, on a hand-driven clock: repeats after
 * 1 s, 2 s, 4 s... are skipped while UDP broadcast reaches some peer (the
 * sink says so), and sent again when it does not (issue 12: in an office
 * switching on, every newcomer's repeats were answered by every peer).
 * A real bonjour-service responder on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../util/components.js';
import { ManualClock } from '../util/manual-clock.js';
import type { DiscoverySink } from './discovery-source.js';
import { MdnsSource } from './mdns-source.js';

let source: MdnsSource | null = null;

afterEach(async () => {
  await source?.stop();
  source = null;
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
