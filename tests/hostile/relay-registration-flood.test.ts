/**
 * Hostile: a registration flood against a real `pigeon relay` process
 * (issue 13: "one client registered 300 device keys in 10 s, and every new
 * peer then listed 304 colleagues"). New device ids are rate-limited per
 * address and over the relay, so a flood reaches few directories; devices
 * already registered reconnect whatever the limit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { Client, clients, makeDevice, type Device } from '../support/relay-ws-client.js';
import { startRelayProcess, stopRelayProcesses } from './hostile-relay.js';

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await stopRelayProcesses();
});

/** Registers `d` from `localAddress` and leaves; resolves with the error code if refused. */
async function register(url: string, d: Device, localAddress: string): Promise<string | null> {
  const c = new Client(url, undefined, { localAddress });
  // Each attempt ends closed, so the next batch does not meet this one's sockets in the address's unauthenticated budget.
  try {
    await c.auth(d, { name: 'Flood' });
    c.ws.close();
    return null;
  } catch (err) {
    return (err as { frame?: { code: string } }).frame?.code ?? 'cut';
  } finally {
    await c.closed;
  }
}

describe('hostile: registration flood', () => {
  it('one address registering 300 device keys gets its hourly share; many addresses together get the relay-wide share', async () => {
    const r = await startRelayProcess(); // defaults: 20 new devices per address per hour, 60 per minute over the relay
    const flooder = '127.0.0.95';
    const t0 = Date.now();
    const one: Array<string | null> = [];
    for (let i = 0; i < 300; i += 20) one.push(...(await Promise.all(Array.from({ length: 20 }, () => register(r.url, makeDevice(), flooder)))));
    const oneSeconds = ((Date.now() - t0) / 1000).toFixed(1);
    // The same keys again from the flooder: registered ones reconnect, whatever the limit.
    const kept = makeDevice();
    const keptFirst = await register(r.url, kept, '127.0.0.96');
    // 100 addresses, 3 keys each.
    const many: Array<string | null> = [];
    for (let a = 0; a < 100; a += 10) {
      const batch = Array.from({ length: 10 }, (_, k) => Array.from({ length: 3 }, () => register(r.url, makeDevice(), `127.0.3.${a + k + 1}`))).flat();
      many.push(...(await Promise.all(batch)));
    }
    const again = await register(r.url, kept, '127.0.0.96');
    // What a peer lists: the directory a registered device gets when it connects.
    const lister = new Client(r.url, undefined, { localAddress: '127.0.0.96' });
    await lister.auth(kept, { name: 'Kept' });
    const listed = (await lister.directory()).length;
    // A genuine newcomer during the flood is refused for now, and tries again after its back-off.
    const newcomer = await register(r.url, makeDevice(), '127.0.0.97');
    const count = (xs: Array<string | null>): Record<string, number> => xs.reduce<Record<string, number>>((m, x) => ((m[x ?? 'registered'] = (m[x ?? 'registered'] ?? 0) + 1), m), {});
    console.log(
      `registration flood: ${flooder} tried 300 new device keys in ${oneSeconds} s: ${JSON.stringify(count(one))}; ` +
        `100 other addresses tried 3 each: ${JSON.stringify(count(many))}; a registered device reconnecting: ${again ?? 'welcome'}; ` +
        `a peer lists ${listed} colleagues (was 304); a genuine newcomer meanwhile: ${newcomer ?? 'welcome'}`,
    );
    expect(count(one)).toEqual({ registered: 20, [ErrorCodes.RELAY_LIMIT]: 280 });
    expect(keptFirst).toBeNull();
    expect(again).toBeNull();
    // The relay-wide bucket (60 a minute, a burst of 60) had 21 taken already; a few more trickle in at 1/s.
    const manyRegistered = count(many).registered ?? 0;
    expect(manyRegistered).toBeGreaterThanOrEqual(39);
    expect(manyRegistered).toBeLessThanOrEqual(39 + Math.ceil((Date.now() - t0) / 1000) + 1);
    expect(listed).toBe(20 + manyRegistered);
    expect(r.logs().some((l) => l.msg === 'registration refused' && l.limit === 'address')).toBe(true);
    expect(r.logs().some((l) => l.msg === 'registration refused' && l.limit === 'relay')).toBe(true);
  });
});
