/**
 * Hostile: a stranger with a valid device key of its own opens a real TLS
 * session to a peer and sends part 0 of 400 two-part file offers, never the
 * second part (issue "2/6 trust", 4: this used to keep ~400 MB for good).
 * The peer must hold at most its per-peer budget of half-received offers,
 * log why it dropped the rest, and forget the held ones after the expiry
 * (shortened to a few seconds through PIGEON_OFFER_ASSEMBLY_MS).
 */
import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { encodeJsonFrame } from '../../shared/protocol/frame-codec.js';
import { loadOrCreateIdentity } from '../../core/identity/identity.js';
import { tlsOptions } from '../../core/session/handshake.js';
import { ASSEMBLY_EXPIRY_ENV } from '../../core/transfer/offer-assembly.js';
import { freeUdpPort, PeerProcess, removeHome, tempHome } from '../support/cli-peer.js';
import { rssMb } from '../bench/proc-stats.js';

/** Offers sent, as in the finding. */
const OFFERS = 400;
/** Entries per part (the most a frame may carry) and the length of their paths: ~340 KB of JSON per frame. */
const ENTRIES = 2000;
const PATH_CHARS = 120;
/** The expiry the peer runs with: short, so the test sees it. */
const EXPIRY_MS = 3000;
/** The per-peer budget of half-received offers (DEFAULT_MAX_OFFERS_PER_PEER in offer-assembly.ts). */
const MAX_OFFERS = 4;
/**
 * Most RSS growth allowed after the flood. The finding: +400 MB for 400 held
 * offers, never given back (+184 MB with this test's frames on Node 20). With
 * the budget, on the 2-core test machine: +28 to +35 MB on Node 20, +163 MB on
 * Node 24, whose heap grows further before it collects the parsed frames it
 * dropped (132 MB of JSON went in). So RSS cannot tell the two apart on every
 * Node: what is held is checked exactly from the peer's log below (the old
 * code logs no refusal and no expiry), and this bound only catches growth of
 * the finding's order.
 */
const MAX_GROWTH_MB = 250;

const running: PeerProcess[] = [];
const homes: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});


/** The fields of the peer's "half-received file offer dropped" log lines. */
function drops(peer: PeerProcess): Array<Record<string, unknown>> {
  return peer.stderr.filter((l) => l.includes('half-received file offer dropped')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>);
}

async function until(what: string, check: () => boolean, timeoutMs: number, peer: PeerProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; stderr:\n${peer.stderr.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('hostile: incomplete offers', () => {
  it(`holds at most ${MAX_OFFERS} of ${OFFERS} part-0-of-2 offers from one session, and forgets them after the expiry`, async () => {
    const port = await freeUdpPort();
    const home = tempHome('alice');
    homes.push(home);
    const alice = new PeerProcess({
      home,
      name: 'Alice',
      prefix: ['env', `${ASSEMBLY_EXPIRY_ENV}=${EXPIRY_MS}`],
      args: ['--discovery-port', String(port), '--broadcast', '127.255.255.255', '--no-mdns', '--log-level', 'info'],
    });
    running.push(alice);
    const listening = (await alice.waitFor((e) => e.type === 'listening')) as Extract<PeerEvent, { type: 'listening' }>;
    await new Promise((r) => setTimeout(r, 1000)); // let start-up settle before the first measure
    const before = rssMb(alice.pid);

    const attackerHome = tempHome('mallory');
    homes.push(attackerHome);
    const id = await loadOrCreateIdentity(attackerHome);
    const socket = tls.connect({ ...tlsOptions(id), host: '127.0.0.1', port: listening.self.port, checkServerIdentity: () => undefined });
    socket.on('error', () => {});
    socket.resume(); // read and discard what the peer says
    await new Promise((r) => socket.once('secureConnect', r));
    const write = async (frame: object): Promise<void> => {
      if (!socket.write(encodeJsonFrame(frame))) await new Promise((r) => socket.once('drain', r));
    };
    await write({ type: 'hello', v: 1, id: id.id, name: 'Mallory', group: '', host: 'evil', port: 1, status: 'online', away: '' });
    const entries = Array.from({ length: ENTRIES }, (_, i) => ({ path: `junk/${String(i).padStart(PATH_CHARS - 5, 'x')}`, kind: 'file', size: 1, mtime: 0 }));
    for (let i = 0; i < OFFERS; i++) await write({ type: 'offer', transfer: randomBytes(16).toString('hex'), part: 0, parts: 2, entries });
    // A message after the offers: when the peer shows it, every offer frame before it was handled.
    await write({ type: 'msg', id: randomBytes(16).toString('hex'), seq: 1, ts: Date.now(), text: 'after the flood' });
    await alice.waitFor((e) => e.type === 'message' && e.message.text === 'after the flood', 120_000);
    const afterFlood = rssMb(alice.pid);
    const refused = drops(alice).filter((d) => d.reason === 'too-many-offers');
    console.log(`incomplete offers: after the flood the peer's RSS went from ${before} MB to ${afterFlood} MB (+${afterFlood - before}); ${refused.length} refusals logged`);

    await until('the held offers to expire', () => drops(alice).some((d) => d.reason === 'expired' && d.heldOffers === 0), EXPIRY_MS + 15_000, alice);
    const expired = drops(alice).filter((d) => d.reason === 'expired');
    await new Promise((r) => setTimeout(r, 1000));
    const afterExpiry = rssMb(alice.pid);
    socket.destroy();

    console.log(
      `incomplete offers: sent ${OFFERS} part-0-of-2 offers of ${ENTRIES} entries (~${Math.round((OFFERS * ENTRIES * (PATH_CHARS + 45)) / 1e6)} MB of frames); ` +
        `peer RSS ${before} MB before, ${afterFlood} MB after the flood (+${afterFlood - before}), ${afterExpiry} MB after the ${EXPIRY_MS} ms expiry; ` +
        `refusals logged: ${refused.length} (last droppedSoFar ${String(refused.at(-1)?.droppedSoFar)}); expired: ${expired.length}, held after: ${String(expired.at(-1)?.heldOffers)}`,
    );
    expect(afterFlood - before).toBeLessThan(MAX_GROWTH_MB);
    // Every offer past the budget was refused (the log says so for the first and every 100th).
    expect(refused[0]).toMatchObject({ droppedSoFar: 1, heldOffers: MAX_OFFERS });
    expect(refused.at(-1)).toMatchObject({ droppedSoFar: 300 });
    // The held ones expired (on a slow machine the flood outlasts one expiry, and the next four are taken), and nothing is held afterwards.
    expect(expired.length).toBeGreaterThanOrEqual(MAX_OFFERS);
    expect(expired.every((d) => (d.heldOffers as number) < MAX_OFFERS)).toBe(true);
    expect(expired.at(-1)).toMatchObject({ heldOffers: 0, heldBytes: 0 });
    // The peer is still up and answering.
    expect(alice.events.some((e) => e.type === 'message' && e.message.text === 'after the flood')).toBe(true);
  }, 240_000);
});
