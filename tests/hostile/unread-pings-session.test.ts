/**
 * Hostile (issue 13, finding 4): a LAN host with a valid key of its own opens
 * a real TLS session to a running `pigeon peer`, floods pings and never reads
 * the pongs. Before the session budget this grew the peer from 82 MB to over
 * 1 GB in 20 s, and kept it. Now the session is closed once OUTPUT_BUDGET_BYTES
 * (or OUTPUT_BUDGET_FRAMES) are queued for it, with a logged reason. The
 * attacker comes back ROUNDS times: what each closed session held is read
 * exactly from the log, and RSS must not add up round after round.
 */
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { SelfInfo } from '../../shared/api/control-api.js';
import { encodeJsonFrame } from '../../shared/protocol/frame-codec.js';
import { loadOrCreateIdentity } from '../../core/identity/identity.js';
import { tlsOptions } from '../../core/session/handshake.js';
import { OUTPUT_BUDGET_BYTES, OUTPUT_BUDGET_FRAMES } from '../../core/session/session.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { rssMb } from '../bench/proc-stats.js';

/** How long the attacker floods at most: the issue measured 1 GB of growth in 20 s. */
const FLOOD_MS = 20000;
/** Pings per write: ~200 KB per chunk, so the attacker's own writes are not the bottleneck. */
const PINGS_PER_CHUNK = 10000;
/** Sessions the attacker opens one after the other: a leak per session would add up (5 x the finding's 1 GB). */
const ROUNDS = 5;
/**
 * The victim runs with its V8 heap capped, as a test of what it keeps rather
 * than of when V8 chooses to collect: uncapped, the parsed pings' garbage
 * alone took RSS up +25 to +259 MB on Node 24 (two CI runs failed bounds of
 * 60 and 250 MB that way), though each closed session held under 200 KB. With
 * a 96 MB old space and 2 MB semi-spaces the garbage is collected as it is
 * made (+32 MB over 5 rounds with both cores busy), while a session that kept
 * what it could not send (the finding: 1 GB in 20 s) would either run the
 * victim out of heap, and it must still answer at the end, or grow RSS far past
 * the bound through the buffers it holds.
 */
const VICTIM_NODE_OPTIONS = '--max-old-space-size=96 --max-semi-space-size=2';
/** Most RSS growth allowed over all rounds: several times the +32 MB measured, a fifth of the finding's 1 GB. */
const MAX_GROWTH_MB = 200;

const running: PeerProcess[] = [];
const homes: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});


describe('hostile: a session that never reads', () => {
  it('is closed with a logged reason once its output budget is spent, and the peer stays small', async () => {
    const port = await freeUdpPort();
    const home = tempHome('victim');
    const attackerHome = tempHome('mallory');
    homes.push(home, attackerHome);
    const victim = new PeerProcess({ home, name: 'Victim', args: ['--discovery-port', String(port), '--broadcast', '127.255.255.255', '--no-mdns', '--log-level', 'info'], env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${VICTIM_NODE_OPTIONS}`.trim() } });
    running.push(victim);
    await victim.ready();
    const self = JSON.parse((await pigeon(['whoami', '--home', home, '--json'])).stdout) as SelfInfo;
    await new Promise((r) => setTimeout(r, 1000)); // let start-up allocation settle
    const before = rssMb(victim.pid);

    const id = await loadOrCreateIdentity(attackerHome);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(victim.pid))), 200);
    const rounds: { closed: boolean; pings: number; ms: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) rounds.push(await floodUnread(id, self.port));
    clearInterval(sampler);
    await new Promise((r) => setTimeout(r, 3000));
    const after = rssMb(victim.pid);
    const closings = victim.stderr.filter((l) => l.includes('closing session: output budget exceeded'));
    const held = closings.map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { code: string; queuedBytes: number; queuedFrames: number });
    console.log(
      `unread pings, ${ROUNDS} sessions: ${rounds.map((r) => `${r.pings} pings in ${r.ms} ms, closed ${r.closed}`).join('; ')}; ` +
        `peer RSS before ${before} MB, peak ${peak} MB, 3 s after ${after} MB; held when closed (bytes/frames): ${held.map((h) => `${h.queuedBytes}/${h.queuedFrames}`).join(', ')}`,
    );
    expect(rounds.every((r) => r.closed)).toBe(true);
    expect(held).toHaveLength(ROUNDS);
    for (const h of held) {
      expect(h.code).toBe('PIGEON_ERR_SESSION_BUDGET');
      // Cut at the first write past a budget: at most one pong frame (well under 1 KB) beyond it.
      expect(h.queuedBytes).toBeLessThan(OUTPUT_BUDGET_BYTES + 1024);
      expect(h.queuedFrames).toBeLessThanOrEqual(OUTPUT_BUDGET_FRAMES + 1);
    }
    expect(peak - before).toBeLessThan(MAX_GROWTH_MB);
    expect(after - before).toBeLessThan(MAX_GROWTH_MB);
    // The peer still answers its owner.
    expect((await pigeon(['whoami', '--home', home])).code).toBe(0);
  }, 150_000);
});

/** One attacker session: hello, then pings as fast as it can, never reading; returns once the peer closes it (or FLOOD_MS). */
async function floodUnread(id: Awaited<ReturnType<typeof loadOrCreateIdentity>>, port: number): Promise<{ closed: boolean; pings: number; ms: number }> {
  const hello = { type: 'hello', v: 1, id: id.id, name: 'Mallory', group: '', host: 'evil', port: 1, status: 'online', away: '' };
  const socket = tls.connect({ ...tlsOptions(id), host: '127.0.0.1', port, checkServerIdentity: () => undefined });
  socket.on('error', () => {});
  await new Promise((r) => socket.once('secureConnect', r));
  socket.write(encodeJsonFrame(hello));
  socket.pause(); // never read what the peer answers
  let closed = false;
  const closedAt = new Promise<number>((resolve) => socket.once('close', () => ((closed = true), resolve(Date.now()))));
  const t0 = Date.now();
  let n = 0;
  while (!closed && Date.now() - t0 < FLOOD_MS) {
    const chunk = Buffer.concat(Array.from({ length: PINGS_PER_CHUNK }, () => encodeJsonFrame({ type: 'ping', n: n++ })));
    if (!socket.write(chunk)) await Promise.race([new Promise((r) => socket.once('drain', r)), closedAt, new Promise((r) => setTimeout(r, 500))]);
  }
  const endedAt = closed ? await closedAt : Date.now();
  socket.destroy();
  return { closed, pings: n, ms: endedAt - t0 };
}
