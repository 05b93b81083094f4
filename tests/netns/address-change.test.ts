/**
 * Redial after a colleague's address changes (DHCP), on a LAN of network
 * namespaces (issue 12, item 2). Bob keeps running while his address is
 * swapped under him; Alice's session to the old address goes silent. Her
 * first sighting of Bob at the new address probes the old session, closes it
 * when nothing answers, and dials the new address: the message waiting for
 * Bob is delivered within 5 s of that sighting.
 *
 * Needs root and iproute2; skipped with a warning otherwise.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { createLan, ip, netnsUnavailable, type Lan } from '../support/netns.js';

const skipReason = await netnsUnavailable();
if (skipReason) console.warn(`tests/netns/address-change.test.ts skipped: ${skipReason}`);

/** The invariant, counted from the first sighting at the new address. */
const DELIVERY_MS = 5000;

let lan: Lan | null = null;
const running: PeerProcess[] = [];
const homes: string[] = [];

beforeAll(async () => {
  if (!skipReason) lan = await createLan(['a', 'b']);
}, 60_000);

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

afterAll(async () => {
  await lan?.destroy();
});

describe.skipIf(skipReason !== null)('address change', () => {
  it('a colleague whose address changes while running gets the waiting message within 5 s of being seen there', async () => {
    const [ha, hb] = [tempHome('netns-a'), tempHome('netns-b')];
    homes.push(ha, hb);
    const a = lan!.host('a');
    const b = lan!.host('b');
    const args = ['--no-mdns', '--log-level', 'info'];
    const alice = new PeerProcess({ home: ha, name: 'Alice', args, prefix: a.prefix });
    const bob = new PeerProcess({ home: hb, name: 'Bob', args, prefix: b.prefix });
    running.push(alice, bob);
    await Promise.all([alice.sees('Bob', 30_000), bob.sees('Alice', 30_000)]);

    const send = async (text: string): Promise<MessageInfo> => {
      const r = await pigeon(['send', '--home', ha, 'Bob', text, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as MessageInfo;
    };
    const first = await send('before the move');
    await alice.waitFor((e) => e.type === 'message-state' && e.message.id === first.id && e.message.state === 'delivered', 10_000);

    // DHCP hands Bob another address in the same subnet; Bob keeps running.
    const moved = b.address.replace(/\.(\d+)$/, (_, n: string) => `.${Number(n) + 100}`);
    const mark = alice.events.length;
    const changedAt = Date.now();
    for (const args of [
      ['-n', b.ns, 'addr', 'flush', 'dev', 'eth0'],
      ['-n', b.ns, 'addr', 'add', `${moved}/24`, 'brd', '+', 'dev', 'eth0'],
    ]) {
      const r = await ip(args);
      expect(r.code, r.stderr).toBe(0);
    }
    const m = await send('after the move');
    const seen = await alice.waitFor((e) => (e.type === 'peer-updated' || e.type === 'peer-online') && e.peer.name === 'Bob' && e.peer.addresses[0] === moved, 20_000, mark);
    const seenAt = Date.now();
    await alice.waitFor((e: PeerEvent) => e.type === 'message-state' && e.message.id === m.id && e.message.state === 'delivered', 30_000, mark);
    const deliveredAt = Date.now();
    const probe = alice.stderr.find((l) => l.includes('session silent after probe')) ?? '(no probe line)';
    console.log(
      `address change ${b.address} -> ${moved}: Alice saw Bob there ${seenAt - changedAt} ms after the change; ` +
        `delivered ${deliveredAt - seenAt} ms after that sighting (${deliveredAt - changedAt} ms after the change); ${probe.slice(25, 140)}`,
    );
    expect(seen).toBeTruthy();
    expect(deliveredAt - seenAt).toBeLessThan(DELIVERY_MS);
    const got = JSON.parse((await pigeon(['history', '--home', hb, 'Alice', '--json'])).stdout) as MessageInfo[];
    expect(got.map((x) => x.text)).toEqual(['before the move', 'after the move']);
  }, 90_000);
});
