/**
 * The schemas of what relay instances say to each other (bus-messages.ts):
 * every message an instance sends decodes on another unchanged; a message
 * of another version, or malformed, is refused with its code and never
 * handed on; and the refusals are counted and logged without flooding.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod/v3';
import type { RelayLogger } from '../log.js';
import { BroadcastMessage, BUS_VERSION, BusRefusalCodes, decodeBusJson, DevMessage, DevReply, encodeBusJson, LIST_CHUNK, PresenceMessage, type Decoded } from './bus-messages.js';
import { BusRefusals, REFUSAL_LOG_MS } from './bus-refusals.js';
import type { BusFrame } from './bus.js';

const A = 'a'.repeat(26);
const INST = '0123456789abcdef';
const bytes = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const presenceFrame: BusFrame = { type: 'presence', peer: { id: A, online: true, spki: 'AAAA', enc: { key: 'k'.repeat(44), sig: 's'.repeat(88) }, lastSeen: 1, name: 'Ann', group: '', host: '', status: 'online', away: '' } };
/** The deliver example of spec §12.4. */
const deliverFrame: BusFrame = {
  type: 'deliver',
  seq: 42,
  id: '5f0c2a9e4b7d4e21a3c88d0f6e1b2c3d',
  from: 'zqryanpvfe3bhfoz4yq4lw7ct4',
  ts: 1764003600250,
  body: {
    eph: 'xQ/oCjSbu27BAPLLdH0Zr3M+BwkfcVMhG8J7BKJ7V3Y=',
    nonce: 'Q8CR3YoYKB7QEtq2',
    ct: 'BS0+90gX9bp3AOEr6RDPqH5GOCzcofxh8itWB1h9PI+qIlwU5GrkU4wSFRpTbywwqm/ncQCp0AFFmG8YL9HUjhVGwW1Kn+7Wxc4pEfbAwhYBlcqgpoCZQ1jnxoBm0ucMhfA=',
    sig: 'bY+4mMQufJEPczmAgcx2QH+PNZ9TM5KLf9gpB+KXsDjo28S8NKY/KTW1tHChW4ixDH3UE4gIei8jfIOvpeHB9A==',
  },
};

function refusal<T>(d: Decoded<T>): { code: string; reason: string } {
  if (d.ok) throw new Error(`accepted: ${JSON.stringify(d.msg)}`);
  return d.refusal;
}

describe('bus messages', () => {
  it('decode as they were sent, with the version first', () => {
    const sent: [z.ZodTypeAny, object][] = [
      [DevMessage, { t: 'frame', frame: presenceFrame }],
      [DevMessage, { t: 'frame', frame: deliverFrame }],
      [DevMessage, { t: 'kick', inst: INST, conn: '7' }],
      [DevReply, { t: 'taken' }],
      [PresenceMessage, { t: 'hello', inst: INST }],
      [PresenceMessage, { t: 'on', inst: INST, id: A, conn: '1' }],
      [PresenceMessage, { t: 'off', inst: INST, id: A, conn: '1' }],
      [PresenceMessage, { t: 'list', inst: INST, devs: [[A, '1']] }],
      [PresenceMessage, { t: 'list', inst: INST, devs: [] }],
      [PresenceMessage, { t: 'bye', inst: INST }],
      [BroadcastMessage, { inst: INST, frame: presenceFrame }],
      [BroadcastMessage, { inst: INST, frame: presenceFrame, except: A }],
    ];
    for (const [schema, m] of sent) {
      const b = encodeBusJson(m as never);
      expect(Buffer.from(b).toString().startsWith(`{"v":${BUS_VERSION},`)).toBe(true);
      expect(decodeBusJson(schema, b)).toEqual({ ok: true, msg: { v: BUS_VERSION, ...m } });
    }
  });

  it('ignore members they do not know (a later release may add optional ones without a new version)', () => {
    expect(decodeBusJson(PresenceMessage, bytes({ v: 1, t: 'hello', inst: INST, zone: 'b' }))).toEqual({ ok: true, msg: { v: 1, t: 'hello', inst: INST } });
  });

  it('are refused with PIGEON_ERR_RELAY_BUS_VERSION when of another version, newer, older or none, naming the sender', () => {
    for (const v of [2, 0, '1', null]) {
      const r = refusal(decodeBusJson(PresenceMessage, bytes({ v, t: 'hello', inst: INST })));
      expect(r).toMatchObject({ code: BusRefusalCodes.VERSION, instance: INST });
      expect(r.reason).toContain(`this instance speaks version ${BUS_VERSION}`);
    }
    expect(refusal(decodeBusJson(PresenceMessage, bytes({ t: 'hello', inst: INST })))).toMatchObject({ code: BusRefusalCodes.VERSION, reason: expect.stringContaining('before versioned bus messages') });
    // The version is checked before the shape: a newer message need not look like ours.
    expect(refusal(decodeBusJson(DevMessage, bytes({ v: 2, kind: 'frame', payload: [] }))).code).toBe(BusRefusalCodes.VERSION);
    // The reply of an instance from before versioned messages.
    expect(refusal(decodeBusJson(DevReply, Buffer.from('1'))).code).toBe(BusRefusalCodes.MESSAGE);
  });

  it('are refused with PIGEON_ERR_RELAY_BUS_MESSAGE when malformed, saying where', () => {
    const cases: [Parameters<typeof decodeBusJson>[0], Uint8Array, string][] = [
      [PresenceMessage, Buffer.from('{"v":1,'), 'not JSON'],
      [PresenceMessage, Buffer.from([0xff, 0xfe]), 'not JSON'],
      [PresenceMessage, bytes([1, 'hello']), 'not a JSON object'],
      [PresenceMessage, bytes({ v: 1, t: 'wave', inst: INST }), 't'],
      [PresenceMessage, bytes({ v: 1, t: 'on', inst: INST, id: 'Not-A-Device', conn: '1' }), 'id'],
      [PresenceMessage, bytes({ v: 1, t: 'on', inst: 'x', id: A, conn: '1' }), 'inst'],
      [PresenceMessage, bytes({ v: 1, t: 'off', inst: INST, id: A }), 'conn'],
      [PresenceMessage, bytes({ v: 1, t: 'list', inst: INST, devs: Array.from({ length: LIST_CHUNK + 1 }, () => [A, '1']) }), 'devs'],
      [DevMessage, bytes({ v: 1, t: 'frame', frame: { type: 'challenge', nonce: 'n' } }), 'frame'],
      [DevMessage, bytes({ v: 1, t: 'frame', frame: { ...deliverFrame, seq: -1 } }), 'frame.seq'],
      [DevMessage, bytes({ v: 1, t: 'kick', inst: INST, conn: '' }), 'conn'],
      [BroadcastMessage, bytes({ v: 1, inst: INST, frame: presenceFrame, except: 42 }), 'except'],
      [BroadcastMessage, bytes({ v: 1, inst: INST }), 'frame'],
    ];
    for (const [schema, b, where] of cases) {
      const r = refusal(decodeBusJson(schema, b));
      expect(r.code).toBe(BusRefusalCodes.MESSAGE);
      expect(r.reason.startsWith(where)).toBe(true);
    }
  });
});

describe('BusRefusals', () => {
  it('counts every refusal, logs one error line per code per REFUSAL_LOG_MS, and says how many the next line stands for', () => {
    const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const logger: RelayLogger = { log: (level, msg, fields) => lines.push({ level, msg, ...(fields ? { fields } : {}) }) };
    let now = 1_000_000;
    const r = new BusRefusals(logger, () => now);
    const version = { code: BusRefusalCodes.VERSION, reason: 'version 2; this instance speaks version 1', instance: INST };
    for (let i = 0; i < 5; i++) r.refuse('presence', version);
    r.refuse('bcast', { code: BusRefusalCodes.MESSAGE, reason: 'frame: Required' });
    expect(r.count).toBe(6);
    expect(lines).toEqual([
      { level: 'error', msg: 'relay bus message refused', fields: { code: 'PIGEON_ERR_RELAY_BUS_VERSION', subject: 'presence', reason: version.reason, instance: INST } },
      { level: 'error', msg: 'relay bus message refused', fields: { code: 'PIGEON_ERR_RELAY_BUS_MESSAGE', subject: 'bcast', reason: 'frame: Required' } },
    ]);
    now += REFUSAL_LOG_MS;
    r.refuse('dev', version);
    expect(lines.at(-1)?.fields).toMatchObject({ code: 'PIGEON_ERR_RELAY_BUS_VERSION', subject: 'dev', alsoRefusedSinceLastLine: 4 });
    expect(r.count).toBe(7);
  });
});
