/**
 * The LocalSend receiver's timers with a hand-driven clock, on a real store
 * and transfer service: an offer nobody answers is declined (403) after
 * DECISION_MS, an accepted session nobody uploads to ends after
 * SESSION_IDLE_MS and frees the receiver for the next sender, and a PIN is
 * asked for (401) and counted (429).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../store/store.js';
import { TransferService } from '../transfer/transfer-service.js';
import { silentLogger, systemRandom } from '../util/components.js';
import { ManualClock } from '../util/manual-clock.js';
import { contactFrom, type LocalSendContact } from './ls-contacts.js';
import { DECISION_MS, LocalSendReceiver, PIN_FREE_TRIES, PIN_LOCK_MS, SESSION_IDLE_MS } from './ls-receiver.js';
import type { Caller } from './ls-server.js';

const caller: Caller = { address: '192.0.2.50', certFingerprint: null };
const info = { alias: 'Phone', fingerprint: 'phone-fp', deviceType: 'mobile' };
const body = (files: Record<string, unknown> = { a: { id: 'a', fileName: 'a.txt', size: 1 } }): string => JSON.stringify({ info, files });

describe('LocalSend receiver timers (hand-driven clock)', () => {
  let dir: string;
  let store: Store;
  let clock: ManualClock;
  let service: TransferService;
  let receiver: LocalSendReceiver;
  let auto = false;

  const make = (pin: string | null): LocalSendReceiver =>
    new LocalSendReceiver({
      service,
      clock,
      random: systemRandom,
      logger: silentLogger,
      downloads: join(dir, 'dl'),
      pin,
      contact: (i, c): LocalSendContact => contactFrom(i, c.address),
      autoAccepts: () => auto,
      confirm: () => {},
      text: () => {},
    });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pigeon-ls-recv-'));
    clock = new ManualClock();
    store = new Store(join(dir, 'db'), clock);
    service = new TransferService(
      { store, clock, random: systemRandom, logger: silentLogger },
      { downloads: join(dir, 'dl'), acceptFrom: [], session: () => undefined, ensureSession: () => {}, dialData: () => Promise.reject(new Error('no')), peerName: () => 'Phone', isOnline: () => false },
      () => {},
    );
    auto = false;
    receiver = make(null);
  });

  afterEach(() => {
    receiver.stop();
    service.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('declines an offer nobody answers after DECISION_MS (403), and takes the next sender', async () => {
    const answer = receiver.prepareUpload(body(), new URLSearchParams(), caller, new AbortController().signal);
    await Promise.resolve();
    const t = service.list()[0]!;
    expect(t.state).toBe('offered');
    // Busy meanwhile.
    expect((await receiver.prepareUpload(body(), new URLSearchParams(), caller, new AbortController().signal)).status).toBe(409);
    clock.advance(DECISION_MS - 1);
    expect(service.list()[0]!.state).toBe('offered');
    clock.advance(1);
    expect((await answer).status).toBe(403);
    expect(service.find(t.id).state).toBe('declined');
    auto = true;
    expect((await receiver.prepareUpload(body(), new URLSearchParams(), caller, new AbortController().signal)).status).toBe(200);
  });

  it('ends an accepted session that gets no upload after SESSION_IDLE_MS', async () => {
    auto = true;
    const first = await receiver.prepareUpload(body(), new URLSearchParams(), caller, new AbortController().signal);
    expect(first.status).toBe(200);
    const t = service.list()[0]!;
    clock.advance(SESSION_IDLE_MS - 1);
    expect((await receiver.prepareUpload(body(), new URLSearchParams(), caller, new AbortController().signal)).status).toBe(409);
    clock.advance(1);
    expect(service.find(t.id)).toMatchObject({ state: 'failed' });
    expect(service.find(t.id).error).toMatch(/sent nothing/);
    expect((await receiver.prepareUpload(body(), new URLSearchParams(), caller, new AbortController().signal)).status).toBe(200);
  });

  it('withdraws the offer when the sender hangs up before the decision', async () => {
    const hangup = new AbortController();
    const answer = receiver.prepareUpload(body(), new URLSearchParams(), caller, hangup.signal);
    await Promise.resolve();
    hangup.abort();
    expect((await answer).status).toBe(403);
    expect(service.list()[0]!.state).toBe('canceled');
  });

  it('asks for the PIN (401), locks an address out after wrong ones (429, even for the right PIN), then takes the right one', async () => {
    receiver = make('123456');
    auto = true;
    const q = (pin?: string): URLSearchParams => new URLSearchParams(pin === undefined ? {} : { pin });
    const ask = async (pin?: string, from = caller): Promise<number> => (await receiver.prepareUpload(body(), q(pin), from, new AbortController().signal)).status;
    expect(await ask()).toBe(401);
    for (let i = 0; i < PIN_FREE_TRIES; i++) expect(await ask('000000')).toBe(401);
    expect(await ask('000000')).toBe(429);
    expect(await ask('123456')).toBe(429);
    // Another address is not locked out by this one.
    expect(await ask('000000', { address: '192.0.2.51', certFingerprint: null })).toBe(401);
    clock.advance(PIN_LOCK_MS);
    // One more try a minute: a wrong one locks again.
    expect(await ask('000001')).toBe(401);
    expect(await ask('123456')).toBe(429);
    clock.advance(PIN_LOCK_MS);
    expect(await ask('123456')).toBe(200);
  });
});
