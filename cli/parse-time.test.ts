/**
 * Unit tests of parseTime (`pigeon send --at TIME`): relative delays, clock
 * times today or tomorrow (also across a daylight-saving change), ISO 8601
 * date-times with and without an offset, and rejection of everything else.
 * Expectations are built with local-time Date constructors, so the tests hold
 * in any time zone the machine is set to.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseTime } from './parse-time.js';

/** Local time. Month is 1-based here. */
function local(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): Date {
  return new Date(y, mo - 1, d, h, mi, s, ms);
}

const NOW = local(2026, 11, 24, 12, 0, 0, 500);

describe('relative delays', () => {
  it('adds seconds, minutes, hours and days to now', () => {
    expect(parseTime('+90s', NOW)).toBe(NOW.getTime() + 90_000);
    expect(parseTime('+10m', NOW)).toBe(NOW.getTime() + 600_000);
    expect(parseTime('+2h', NOW)).toBe(NOW.getTime() + 7_200_000);
    expect(parseTime('+1d', NOW)).toBe(NOW.getTime() + 86_400_000);
  });

  it('accepts fractions and zero', () => {
    expect(parseTime('+1.5h', NOW)).toBe(NOW.getTime() + 5_400_000);
    expect(parseTime('+0.5s', NOW)).toBe(NOW.getTime() + 500);
    expect(parseTime('+0m', NOW)).toBe(NOW.getTime());
  });

  it('ignores surrounding whitespace', () => {
    expect(parseTime('  +10m \n', NOW)).toBe(NOW.getTime() + 600_000);
  });

  it('uses the current time when no reference is given', () => {
    const before = Date.now();
    const at = parseTime('+1m');
    expect(at).toBeGreaterThanOrEqual(before + 60_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 60_000);
  });

  it('rejects malformed delays', () => {
    for (const bad of ['+10', '10m', '+m', '+10 m', '+10M', '+10w', '-10m', '+1.m', '+.5m', '++1m', '+1e3s']) {
      expect(() => parseTime(bad, NOW), bad).toThrow(/invalid time/);
    }
  });
});

describe('clock times', () => {
  it('means today when the time is still ahead', () => {
    expect(parseTime('17:30', NOW)).toBe(local(2026, 11, 24, 17, 30).getTime());
    expect(parseTime('12:00:01', NOW)).toBe(local(2026, 11, 24, 12, 0, 1).getTime());
    expect(parseTime('23:59:59', NOW)).toBe(local(2026, 11, 24, 23, 59, 59).getTime());
  });

  it('means tomorrow when the time has passed, or is now to the second', () => {
    expect(parseTime('9:15', NOW)).toBe(local(2026, 11, 25, 9, 15).getTime());
    expect(parseTime('00:00', NOW)).toBe(local(2026, 11, 25, 0, 0).getTime());
    // 12:00:00.000 lies before NOW (12:00:00.500): tomorrow.
    expect(parseTime('12:00', NOW)).toBe(local(2026, 11, 25, 12, 0).getTime());
    const exact = local(2026, 11, 24, 12, 0, 0, 0);
    expect(parseTime('12:00', exact)).toBe(local(2026, 11, 25, 12, 0).getTime());
  });

  it('rolls over the end of a month and of a year', () => {
    expect(parseTime('08:00', local(2026, 1, 31, 9, 0))).toBe(local(2026, 2, 1, 8, 0).getTime());
    expect(parseTime('08:00', local(2026, 12, 31, 23, 0))).toBe(local(2027, 1, 1, 8, 0).getTime());
  });

  it('rejects hours, minutes or seconds out of range and malformed clock times', () => {
    for (const bad of ['24:00', '25:30', '12:60', '12:00:60', '7:5', '123:00', '12:', ':30', '12:30:5', '12.30', '12h30']) {
      expect(() => parseTime(bad, NOW), bad).toThrow(/invalid time/);
    }
  });
});

describe('clock times across a daylight-saving change', () => {
  const savedTz = process.env.TZ;
  afterEach(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  it('"tomorrow" keeps the wall-clock time when the night is an hour short', () => {
    // Europe/Berlin switches to summer time on 2026-03-29 at 02:00 (UTC+1 → UTC+2).
    process.env.TZ = 'Europe/Berlin';
    const now = new Date('2026-03-28T21:00:00Z'); // 22:00 local, winter time
    expect(parseTime('21:30', now)).toBe(Date.parse('2026-03-29T19:30:00Z')); // 21:30 local, summer time
    expect(parseTime('23:00', now)).toBe(Date.parse('2026-03-28T22:00:00Z')); // still today
  });
});

describe('ISO 8601 date-times', () => {
  it('takes an explicit UTC or numeric offset as given', () => {
    expect(parseTime('2026-11-24T17:30Z', NOW)).toBe(Date.UTC(2026, 10, 24, 17, 30));
    expect(parseTime('2026-11-24 17:30:00Z', NOW)).toBe(Date.UTC(2026, 10, 24, 17, 30));
    expect(parseTime('2026-11-24T17:30:00.250Z', NOW)).toBe(Date.UTC(2026, 10, 24, 17, 30, 0, 250));
    expect(parseTime('2026-11-24T17:30+01:00', NOW)).toBe(Date.UTC(2026, 10, 24, 16, 30));
    expect(parseTime('2026-11-24T17:30-0530', NOW)).toBe(Date.UTC(2026, 10, 24, 23, 0));
  });

  it('reads a date-time without offset as local time', () => {
    expect(parseTime('2026-11-24T17:30', NOW)).toBe(local(2026, 11, 24, 17, 30).getTime());
    expect(parseTime('2026-11-24 17:30:15', NOW)).toBe(local(2026, 11, 24, 17, 30, 15).getTime());
  });

  it('accepts a date alone (JavaScript reads a bare date as UTC midnight)', () => {
    expect(parseTime('2026-11-25', NOW)).toBe(Date.UTC(2026, 10, 25));
  });

  it('does not depend on the reference time', () => {
    expect(parseTime('2026-11-24T17:30Z', new Date(0))).toBe(parseTime('2026-11-24T17:30Z', NOW));
  });

  it('rejects impossible or malformed dates', () => {
    for (const bad of [
      '2026-13-01',
      '2026-11-24T25:00',
      '2026-11-24T17:60',
      '2026-11-24T17',
      '2026-11-24T17:30:00ZZ',
      '2026/11/24 17:30',
      '24.11.2026',
      '26-11-24',
      '2026-11-24T17:30 UTC',
      'tomorrow',
      'now',
      '',
      '   ',
    ]) {
      expect(() => parseTime(bad, NOW), JSON.stringify(bad)).toThrow(/invalid time/);
    }
  });

  it('quotes the input and the accepted forms in the error', () => {
    expect(() => parseTime('soon', NOW)).toThrow(/"soon".*ISO.*17:30.*\+10m/);
  });
});

describe('dates that do not exist', () => {
  it('are refused instead of rolled over into the next month', () => {
    for (const bad of ['2026-02-30T10:00', '2026-04-31T09:00', '2026-02-29', '2026-11-24T24:00']) {
      expect(() => parseTime(bad, NOW), bad).toThrow(/invalid time/);
    }
    expect(new Date(parseTime('2028-02-29T10:00Z', NOW)).toISOString()).toBe('2028-02-29T10:00:00.000Z');
  });
});
