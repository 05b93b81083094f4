/**
 * The dial state machine (redial.ts), one test per transition of its table,
 * with a hand-driven clock and a fake dial whose outcome each test decides.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/manual-clock.js';
import { silentLogger } from '../util/components.js';
import { REDIAL_DELAYS_MS } from './backoff.js';
import { NO_WORK_RECHECK_MS, Redialer, SIGHTING_REDIAL_MS, STABLE_SESSION_MS, type DialOutcome } from './redial.js';

const BOB = 'b'.repeat(32);

interface Attempt {
  endpoint: string | null;
  signal: AbortSignal;
  settle: (o: DialOutcome) => Promise<void>;
}

function setup() {
  const clock = new ManualClock();
  const attempts: Attempt[] = [];
  const world = { work: true, endpoint: '10.0.0.2:2426' as string | null };
  const redial = new Redialer({
    clock,
    logger: silentLogger,
    wantsSession: () => world.work,
    endpoint: () => world.endpoint,
    dial: (_peer, signal) =>
      new Promise<DialOutcome>((resolve) => {
        attempts.push({
          endpoint: world.endpoint,
          signal,
          settle: async (o) => {
            resolve(o);
            // Let the outcome's .then run.
            await new Promise<void>((r) => setImmediate(r));
          },
        });
      }),
  });
  const last = (): Attempt => attempts[attempts.length - 1]!;
  return { clock, attempts, world, redial, last };
}

describe('Redialer transitions', () => {
  it('idle --want--> dialing --opened--> connected', async () => {
    const { redial, attempts, last } = setup();
    expect(redial.phase(BOB)).toBe('idle');
    redial.want(BOB);
    expect(redial.phase(BOB)).toBe('dialing');
    redial.want(BOB); // a second want during a dial starts nothing
    expect(attempts).toHaveLength(1);
    await last().settle('opened');
    expect(redial.phase(BOB)).toBe('connected');
    expect(redial.failures(BOB)).toBe(0);
  });

  it('dialing --failed--> backoff, and the back-off timer really dials again (the issue 12 bug), with growing delays', async () => {
    const { redial, attempts, clock, last } = setup();
    redial.want(BOB);
    for (let i = 1; i <= 4; i++) {
      await last().settle('failed');
      expect(redial.phase(BOB)).toBe('backoff');
      expect(redial.failures(BOB)).toBe(i);
      const delay = REDIAL_DELAYS_MS[i]!;
      clock.advance(delay - 1);
      expect(attempts).toHaveLength(i);
      clock.advance(1);
      expect(attempts).toHaveLength(i + 1);
      expect(redial.phase(BOB)).toBe('dialing');
    }
  });

  it('backoff --timer, no work--> idle', async () => {
    const { redial, clock, world, attempts, last } = setup();
    redial.want(BOB);
    await last().settle('failed');
    world.work = false;
    clock.advance(REDIAL_DELAYS_MS[1]);
    expect(redial.phase(BOB)).toBe('idle');
    expect(attempts).toHaveLength(1);
    expect(clock.pending).toBe(0);
    expect(redial.size).toBe(0); // nothing kept for a peer with nothing to do
  });

  it('dialing --no route--> idle; the next sighting dials at once', async () => {
    const { redial, world, attempts, last } = setup();
    world.endpoint = null;
    redial.want(BOB);
    await last().settle('no-route');
    expect(redial.phase(BOB)).toBe('idle');
    world.endpoint = '10.0.0.2:2426';
    redial.sighted(BOB);
    expect(attempts).toHaveLength(2);
    expect(redial.phase(BOB)).toBe('dialing');
  });

  it('idle --sighting with work--> dialing; without work it stays idle', () => {
    const { redial, world, attempts } = setup();
    world.work = false;
    redial.sighted(BOB);
    expect(redial.phase(BOB)).toBe('idle');
    expect(attempts).toHaveLength(0);
    world.work = true;
    redial.want(BOB); // work queued says so (ensure), which forgets the "no work" answer
    expect(redial.phase(BOB)).toBe('dialing');
    expect(attempts).toHaveLength(1);
  });

  it('idle, no work: sightings at the same endpoint ask the store once per NO_WORK_RECHECK_MS; a new endpoint or want() asks at once', () => {
    const { world, clock } = setup();
    let asked = 0;
    const wants = (): boolean => {
      asked++;
      return world.work;
    };
    const r = new Redialer({ clock, logger: silentLogger, wantsSession: wants, endpoint: () => world.endpoint, dial: () => new Promise<DialOutcome>(() => {}) });
    world.work = false;
    // An alive every 4 s for a minute: two store reads, not fifteen.
    for (let t = 0; t < 60_000; t += 4000) {
      r.sighted(BOB);
      clock.advance(4000);
    }
    expect(asked).toBe(2);
    // Seen somewhere else: asked at once.
    world.endpoint = '10.0.0.9:2426';
    r.sighted(BOB);
    expect(asked).toBe(3);
    // Work arrived without a want (a path that forgot to call ensure): found within NO_WORK_RECHECK_MS.
    world.work = true;
    r.sighted(BOB);
    expect(r.phase(BOB)).toBe('idle');
    clock.advance(NO_WORK_RECHECK_MS);
    r.sighted(BOB);
    expect(r.phase(BOB)).toBe('dialing');
  });

  it('backoff --sighting at the same address--> dials only once SIGHTING_REDIAL_MS passed since the last attempt (no dial storm)', async () => {
    const { redial, clock, attempts, last } = setup();
    redial.want(BOB);
    for (let i = 1; i < 4; i++) {
      await last().settle('failed');
      clock.advance(REDIAL_DELAYS_MS[i]!);
    }
    await last().settle('failed'); // failures = 4: the timer waits 5 s
    expect(redial.failures(BOB)).toBe(4);
    const before = attempts.length;
    for (let i = 0; i < 10; i++) redial.sighted(BOB); // a burst of refreshes
    clock.advance(SIGHTING_REDIAL_MS - 1);
    redial.sighted(BOB);
    expect(attempts).toHaveLength(before);
    clock.advance(1);
    redial.sighted(BOB);
    expect(attempts).toHaveLength(before + 1);
    expect(redial.phase(BOB)).toBe('dialing');
    expect(redial.failures(BOB)).toBe(4); // kept: same endpoint
    console.log(`11 sightings within ${SIGHTING_REDIAL_MS} ms of a failed attempt started 0 dials; one after it started 1`);
  });

  it('backoff --sighting at a new address or port--> failures reset, dials at once', async () => {
    const { redial, world, attempts, last } = setup();
    redial.want(BOB);
    await last().settle('failed');
    await Promise.resolve();
    world.endpoint = '10.0.0.2:40001'; // restarted on another port
    redial.sighted(BOB);
    expect(redial.failures(BOB)).toBe(0);
    expect(attempts).toHaveLength(2);
    expect(last().endpoint).toBe('10.0.0.2:40001');
    await last().settle('failed');
    world.endpoint = '10.0.0.9:40001'; // DHCP gave it another address
    redial.sighted(BOB);
    expect(attempts).toHaveLength(3);
    expect(last().endpoint).toBe('10.0.0.9:40001');
  });

  it('dialing --sighting at a new endpoint--> aborts the hanging attempt and dials the new one; the old outcome is ignored', async () => {
    const { redial, world, attempts } = setup();
    redial.want(BOB);
    const first = attempts[0]!;
    redial.sighted(BOB); // same endpoint: nothing
    expect(attempts).toHaveLength(1);
    world.endpoint = '10.0.0.2:40001';
    redial.sighted(BOB);
    expect(first.signal.aborted).toBe(true);
    expect(attempts).toHaveLength(2);
    await first.settle('failed');
    expect(redial.phase(BOB)).toBe('dialing');
    expect(redial.failures(BOB)).toBe(0);
    await attempts[1]!.settle('opened');
    expect(redial.phase(BOB)).toBe('connected');
  });

  it('idle/backoff --opened (the peer dialed us)--> connected, timer cleared', async () => {
    const { redial, clock, attempts, last } = setup();
    redial.want(BOB);
    await last().settle('failed');
    expect(clock.pending).toBe(1);
    redial.opened(BOB);
    expect(redial.phase(BOB)).toBe('connected');
    expect(clock.pending).toBe(0);
    clock.advance(60_000);
    expect(attempts).toHaveLength(1);
    const other = 'c'.repeat(32);
    redial.opened(other);
    expect(redial.phase(other)).toBe('connected');
  });

  it('connected --closed, work, stable session--> dials at once; --closed, short session--> backoff; --closed, no work--> idle', async () => {
    const { redial, clock, world, attempts, last } = setup();
    redial.want(BOB);
    await last().settle('opened');
    clock.advance(STABLE_SESSION_MS);
    redial.closed(BOB);
    expect(redial.phase(BOB)).toBe('dialing');
    expect(attempts).toHaveLength(2);
    await last().settle('opened');
    clock.advance(100); // drops right after opening
    redial.closed(BOB);
    expect(redial.phase(BOB)).toBe('backoff');
    expect(redial.failures(BOB)).toBe(1);
    clock.advance(REDIAL_DELAYS_MS[1]);
    expect(attempts).toHaveLength(3);
    await last().settle('opened');
    world.work = false;
    clock.advance(STABLE_SESSION_MS);
    redial.closed(BOB);
    expect(redial.phase(BOB)).toBe('idle');
    expect(attempts).toHaveLength(3);
    expect(redial.size).toBe(0);
  });

  it('any --refuse--> refused: nothing dials until trusted, then it dials', async () => {
    const { redial, clock, attempts, last } = setup();
    redial.want(BOB);
    await last().settle('refused');
    expect(redial.phase(BOB)).toBe('refused');
    redial.want(BOB);
    redial.sighted(BOB);
    clock.advance(120_000);
    expect(attempts).toHaveLength(1);
    redial.trusted(BOB);
    expect(redial.phase(BOB)).toBe('dialing');
    expect(attempts).toHaveLength(2);
    // refuse() from the session manager while backing off clears the timer.
    await last().settle('failed');
    redial.refuse(BOB);
    expect(clock.pending).toBe(0);
  });

  it('stop() clears every timer and aborts attempts', async () => {
    const { redial, clock, attempts, last } = setup();
    redial.want(BOB);
    await last().settle('failed');
    redial.want('c'.repeat(32));
    redial.stop();
    expect(clock.pending).toBe(0);
    expect(attempts[1]!.signal.aborted).toBe(true);
    redial.want(BOB);
    expect(attempts).toHaveLength(2);
  });

  it('restart within the liveness window: old port refuses, the announcement at the new port is dialed at once', async () => {
    const { redial, clock, world, attempts, last } = setup();
    redial.want(BOB);
    await last().settle('opened');
    clock.advance(60_000);
    redial.closed(BOB); // Bob killed: the session closes, Bob is still listed online
    let t = 0;
    // The old port refuses for a while; back-off keeps trying (it never stops, unlike issue 12).
    for (let i = 0; i < 3; i++) {
      await last().settle('failed');
      const d = REDIAL_DELAYS_MS[i + 1]!;
      clock.advance(d);
      t += d;
    }
    expect(attempts.length).toBe(5);
    await last().settle('failed');
    const restartedAt = clock.now();
    world.endpoint = '10.0.0.2:40001';
    redial.sighted(BOB);
    expect(last().endpoint).toBe('10.0.0.2:40001');
    await last().settle('opened');
    expect(redial.phase(BOB)).toBe('connected');
    console.log(`restart in the liveness window: ${attempts.length} attempts, dialed the new port ${clock.now() - restartedAt} ms after its sighting (${t} ms of back-off before)`);
  });
});
