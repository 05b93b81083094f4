/**
 * The wire format of pipes across relay instances (pipe-wire.ts): data and
 * control messages decode as sent; a control message of another version, a
 * malformed one, or an unknown first byte is refused with its code.
 */
import { describe, expect, it } from 'vitest';
import { BusRefusalCodes } from './bus-messages.js';
import { CONTROL, controlBytes, DATA, dataBytes, decodeOwnerMessage, decodeSideMessage, PIPE_OVERFLOW, type SideMessage } from './pipe-wire.js';

const A = 'a'.repeat(26);
const B = 'b'.repeat(26);
const INST = '0123456789abcdef';
const SIDE = 'fedcba9876543210';
const control = (v: unknown): Uint8Array => Buffer.concat([Buffer.of(CONTROL), Buffer.from(JSON.stringify(v))]);

function refusedCode(m: SideMessage): string {
  if (m.t !== 'refused') throw new Error(`accepted: ${JSON.stringify(m)}`);
  return m.refusal.code;
}

describe('pipe wire format', () => {
  it('carries data as one byte 0 and the bytes, untouched', () => {
    const payload = Buffer.from([1, 0, 255, 7]);
    const b = dataBytes(payload);
    expect([...b]).toEqual([DATA, 1, 0, 255, 7]);
    const m = decodeSideMessage(b);
    expect(m.t === 'data' && Buffer.from(m.bytes).equals(payload)).toBe(true);
    const empty = decodeSideMessage(Buffer.of(DATA));
    expect(empty.t === 'data' && empty.bytes.length).toBe(0);
  });

  it('carries every control message as byte 1 and versioned JSON', () => {
    const sent = [
      { t: 'wait' },
      { t: 'go', inst: INST, side: SIDE, opener: A, target: B },
      { t: 'pair', side: SIDE, opener: A, target: B },
      { t: 'refused', reason: 'pipe key expired' },
      { t: 'credit', n: 262144 },
      { t: 'end', code: 1000, reason: 'the other side closed' },
      { t: 'end', code: 1006, reason: '' },
    ] as const;
    for (const c of sent) {
      const b = controlBytes(c);
      expect(b[0]).toBe(CONTROL);
      expect(Buffer.from(b.subarray(1)).toString()).toBe(JSON.stringify({ v: 1, ...c }));
      expect(decodeSideMessage(b)).toEqual({ t: 'control', c: { v: 1, ...c } });
    }
  });

  it('refuses another version, a malformed control message and an unknown first byte', () => {
    expect(refusedCode(decodeSideMessage(control({ v: 2, t: 'credit', n: 10 })))).toBe(BusRefusalCodes.VERSION);
    expect(refusedCode(decodeSideMessage(control({ t: 'credit', n: 10 })))).toBe(BusRefusalCodes.VERSION);
    for (const bad of [{ v: 1, t: 'credit', n: 0 }, { v: 1, t: 'credit', n: -5 }, { v: 1, t: 'credit', n: PIPE_OVERFLOW + 1 }, { v: 1, t: 'credit', n: 1.5 }, { v: 1, t: 'end', code: 999, reason: '' }, { v: 1, t: 'end', code: 1000, reason: 'x'.repeat(124) }, { v: 1, t: 'go', inst: INST, side: SIDE, opener: A }, { v: 1, t: 'hurry' }]) {
      expect(refusedCode(decodeSideMessage(control(bad)))).toBe(BusRefusalCodes.MESSAGE);
    }
    expect(refusedCode(decodeSideMessage(Buffer.of(CONTROL, 0x7b)))).toBe(BusRefusalCodes.MESSAGE);
    expect(refusedCode(decodeSideMessage(Buffer.of(2, 1, 2, 3)))).toBe(BusRefusalCodes.MESSAGE);
    expect(refusedCode(decodeSideMessage(new Uint8Array(0)))).toBe(BusRefusalCodes.MESSAGE);
  });

  it('decodes the owner subject: join and leave, and refuses the rest', () => {
    const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
    expect(decodeOwnerMessage(enc({ v: 1, t: 'join', inst: INST, side: SIDE }))).toEqual({ ok: true, msg: { v: 1, t: 'join', inst: INST, side: SIDE } });
    expect(decodeOwnerMessage(enc({ v: 1, t: 'leave', side: SIDE }))).toEqual({ ok: true, msg: { v: 1, t: 'leave', side: SIDE } });
    expect(decodeOwnerMessage(enc({ v: 2, t: 'join', inst: INST, side: SIDE }))).toMatchObject({ ok: false, refusal: { code: BusRefusalCodes.VERSION, instance: INST } });
    expect(decodeOwnerMessage(enc({ v: 1, t: 'join', inst: INST }))).toMatchObject({ ok: false, refusal: { code: BusRefusalCodes.MESSAGE } });
    expect(decodeOwnerMessage(enc({ v: 1, t: 'leave', side: 'SIDE' }))).toMatchObject({ ok: false, refusal: { code: BusRefusalCodes.MESSAGE } });
  });
});
