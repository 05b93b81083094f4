/**
 * `npm run bench:discovery`: what checking a signed discovery datagram costs
 * a receiver (docs/protocol/pigeon-v1.md §4.6 quotes the figures): the
 * packet guard on a packet of a known device (decode, replay check, ECDSA
 * P-256 verify), of a device never seen (plus parsing its key and deriving
 * its id), the copy dropped as a duplicate before verifying, and a datagram
 * refused by the rate limit. Also the cost of signing one packet.
 * Prints one line per figure and writes bench-results/discovery.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PacketGuard } from '../../core/discovery/packet-guard.js';
import { ROOT } from '../support/cli-peer.js';
import { newDevice, signed } from '../support/discovery-forge.js';

/** Packets per measurement: enough for a stable mean on a noisy machine. */
const N = 5000;

function perOp(label: string, n: number, run: () => void): number {
  const t0 = process.hrtime.bigint();
  run();
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  console.log(`${label}: ${us.toFixed(1)} µs per datagram (${Math.round(1e6 / us)}/s on one core)`);
  return Math.round(us * 10) / 10;
}

const self = newDevice();
const bob = newDevice();
const strangers = Array.from({ length: N }, () => newDevice());
let clock = Date.now();
const now = (): number => clock;

const known = Array.from({ length: N }, (_, i) => signed(bob, { ts: 1 + i }));
const fresh = strangers.map((d) => signed(d, { ts: 1 }));

const sign = perOp('sign one packet', N, () => {
  for (let i = 0; i < N; i++) signed(bob, { ts: i });
});
// Every datagram from another address, and time moving on, so the rate limits stay out of the way.
let g = new PacketGuard({ now }, self.id);
const verifyKnown = perOp('check a packet of a known device', N, () => {
  for (let i = 0; i < N; i++) {
    clock += 1000;
    g.check(known[i]!, `10.0.${i >> 8}.${i & 255}`);
  }
});
g = new PacketGuard({ now }, self.id);
const verifyNew = perOp('check a packet of a device never seen', N, () => {
  for (let i = 0; i < N; i++) {
    clock += 1000;
    g.check(fresh[i]!, `10.1.${i >> 8}.${i & 255}`);
  }
});
const duplicate = perOp('drop the second copy (same ts, not verified)', N, () => {
  for (let i = 0; i < N; i++) g.check(fresh[i]!, `10.2.${i >> 8}.${i & 255}`);
});
g = new PacketGuard({ now }, self.id);
const rated = perOp('refuse a datagram over the rate of its address', N, () => {
  for (let i = 0; i < N; i++) g.check(known[i]!, '10.9.9.9');
});

const out = join(ROOT, 'bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'discovery.json'), JSON.stringify({ signUs: sign, verifyKnownUs: verifyKnown, verifyNewUs: verifyNew, duplicateUs: duplicate, rateLimitedUs: rated }, null, 2));
