import { describe, expect, it } from 'vitest';
import { RegistrationLimit } from './registration-limit.js';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('RegistrationLimit', () => {
  it('gives each address a burst of its hourly budget, then one every 3600/N seconds', () => {
    const c = clock();
    const limit = new RegistrationLimit({ perAddressPerHour: 3, perMinute: 0, now: c.now });
    expect([1, 2, 3, 4].map(() => limit.take('10.0.0.1'))).toEqual(['ok', 'ok', 'ok', 'address']);
    expect(limit.take('10.0.0.2')).toBe('ok'); // another address has its own budget
    c.advance(1199_000);
    expect(limit.take('10.0.0.1')).toBe('address');
    c.advance(2000);
    expect(limit.take('10.0.0.1')).toBe('ok');
  });

  it('bounds the whole relay, and a refusal by the relay-wide limit costs the address nothing', () => {
    const c = clock();
    const limit = new RegistrationLimit({ perAddressPerHour: 2, perMinute: 3, now: c.now });
    expect(['a', 'b', 'c', 'd'].map((a) => limit.take(a))).toEqual(['ok', 'ok', 'ok', 'relay']);
    c.advance(20_000); // one more relay-wide token
    expect(limit.take('d')).toBe('ok');
    expect(limit.take('d')).toBe('relay');
  });

  it('0 turns a limit off', () => {
    const limit = new RegistrationLimit({ perAddressPerHour: 0, perMinute: 0 });
    for (let i = 0; i < 1000; i++) expect(limit.take('10.0.0.1')).toBe('ok');
  });
});
