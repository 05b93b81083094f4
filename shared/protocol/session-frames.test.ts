/**
 * Unit tests of parseSessionFrame: every frame type of the session protocol
 * is accepted in its valid form and each schema violation is rejected with
 * PigeonError(PROTOCOL). Property-based fuzzing (arbitrary bytes, arbitrary
 * JSON, frames with arbitrary field values) checks that nothing but a valid
 * frame or a PigeonError ever comes out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_IDS_PER_FRAME, MAX_TEXT_CHARS } from './constants.js';
import { parseSessionFrame, SessionFrame } from './session-frames.js';
import { expectProtocolError, expectValidOrProtocolError } from '../../tests/support/expect-error.js';

const utf8 = new TextEncoder();
const DEVICE = 'abcdefghijklmnopqrstuvwxyz';
const MID = '0123456789abcdef0123456789abcdef';
const MID2 = 'ffffffffffffffffffffffffffffffff';

function payload(value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value));
}

function parse(value: unknown): SessionFrame {
  return parseSessionFrame(payload(value));
}


const VALID: Record<SessionFrame['type'], SessionFrame> = {
  hello: { type: 'hello', v: 1, id: DEVICE, name: 'Ada', group: '', host: 'ada-pc', port: 2426, status: 'away', away: 'lunch' },
  msg: { type: 'msg', id: MID, seq: 1, ts: 1_700_000_000_000, text: 'hi 🐦' },
  ack: { type: 'ack', ids: [MID, MID2] },
  read: { type: 'read', ids: [MID] },
  'read-ack': { type: 'read-ack', ids: [MID2] },
  status: { type: 'status', status: 'busy', away: '' },
  ping: { type: 'ping', n: 0 },
  pong: { type: 'pong', n: 41 },
  bye: { type: 'bye', reason: 'shutting down' },
  offer: { type: 'offer', transfer: MID, part: 0, parts: 1, entries: [{ path: 'Photos', kind: 'dir', size: 0, mtime: 1 }, { path: 'Photos/a.jpg', kind: 'file', size: 10, mtime: 2 }] },
  'offer-ack': { type: 'offer-ack', transfer: MID },
  accept: { type: 'accept', transfer: MID, files: [1] },
  decline: { type: 'decline', transfer: MID },
  cancel: { type: 'cancel', transfer: MID, reason: 'changed my mind' },
  done: { type: 'done', transfer: MID },
  'transfer-ack': { type: 'transfer-ack', transfer: MID, state: 'done' },
  'group-have': { type: 'group-have', groups: [{ gid: MID, rev: 3, have: [{ author: DEVICE, aseq: 12 }] }] },
  'group-log': { type: 'group-log', gid: MID, changes: [], entries: [{ id: MID2, author: DEVICE, aseq: 1, lc: 7, rev: 1, ts: 1, text: 'hi', sig: 'A'.repeat(86) + '==' }], more: false },
};

describe('valid frames', () => {
  for (const [type, frame] of Object.entries(VALID)) {
    it(`accepts ${type}`, () => {
      expect(parse(frame)).toEqual(frame);
    });
  }

  it('accepts the boundary values', () => {
    expect(parse({ ...VALID.msg, text: '' })).toEqual({ ...VALID.msg, text: '' });
    expect(parse({ ...VALID.msg, ts: 0 })).toMatchObject({ ts: 0 });
    expect(parse({ ...VALID.msg, text: 'x'.repeat(MAX_TEXT_CHARS) })).toMatchObject({ type: 'msg' });
    expect(parse({ ...VALID.msg, seq: Number.MAX_SAFE_INTEGER })).toMatchObject({ seq: Number.MAX_SAFE_INTEGER });
    expect(parse({ type: 'ack', ids: Array.from({ length: MAX_IDS_PER_FRAME }, () => MID) })).toMatchObject({ type: 'ack' });
    expect(parse({ type: 'bye', reason: 'r'.repeat(200) })).toMatchObject({ type: 'bye' });
    expect(parse({ type: 'bye', reason: '' })).toEqual({ type: 'bye', reason: '' });
    for (const status of ['online', 'away', 'busy']) expect(parse({ type: 'status', status, away: '' })).toMatchObject({ status });
  });

  it('drops unknown extra fields instead of passing them on', () => {
    expect(parse({ ...VALID.ping, extra: { deep: true } })).toEqual(VALID.ping);
  });

  it('accepts insignificant whitespace around the JSON', () => {
    expect(parseSessionFrame(utf8.encode(`  \n${JSON.stringify(VALID.pong)}\t `))).toEqual(VALID.pong);
  });
});

describe('invalid frames', () => {
  it('rejects bytes that are not UTF-8 JSON', () => {
    expectProtocolError(() => parseSessionFrame(new Uint8Array(0)), /undecodable/);
    expectProtocolError(() => parseSessionFrame(utf8.encode('{"type":"ping"')), /undecodable/);
    expectProtocolError(() => parseSessionFrame(Uint8Array.of(0x7b, 0xff, 0x7d)), /undecodable/);
  });

  it('rejects JSON that is not an object', () => {
    for (const v of [null, 1, 'ping', [], [VALID.ping], true]) expectProtocolError(() => parse(v), /invalid frame/);
  });

  it('rejects a missing or unknown type', () => {
    expectProtocolError(() => parse({ n: 1 }), /invalid frame/);
    for (const type of ['PING', 'file', '', 1, null]) expectProtocolError(() => parse({ ...VALID.ping, type }), /invalid frame/);
  });

  it('accepts an accept without a file list (all files)', () => {
    expect(parse({ type: 'accept', transfer: MID })).toEqual({ type: 'accept', transfer: MID });
  });

  it('rejects every valid frame with a required field removed', () => {
    for (const frame of Object.values(VALID)) {
      // Optional members: the data-connection purpose of a hello, the file list of an accept.
      const optional = new Set(['purpose', frame.type === 'accept' ? 'files' : '']);
      for (const key of Object.keys(frame).filter((k) => k !== 'type' && !optional.has(k))) {
        const broken: Record<string, unknown> = { ...frame };
        delete broken[key];
        expectProtocolError(() => parse(broken), /invalid frame/);
      }
    }
  });

  it('rejects bad hello frames', () => {
    const bad: Array<Record<string, unknown>> = [
      { v: 2 },
      { v: '1' },
      { id: DEVICE.toUpperCase() },
      { id: DEVICE.slice(1) },
      { id: '0'.repeat(26) },
      { name: 'n'.repeat(65) },
      { group: 'g'.repeat(65) },
      { host: 'h'.repeat(65) },
      { away: 'a'.repeat(201) },
      { port: 0 },
      { port: 65536 },
      { port: 1.5 },
      { status: 'offline' },
    ];
    for (const change of bad) expectProtocolError(() => parse({ ...VALID.hello, ...change }), /invalid frame/);
  });

  it('rejects bad msg frames', () => {
    const bad: Array<Record<string, unknown>> = [
      { id: MID.toUpperCase() },
      { id: MID.slice(1) },
      { id: MID + '0' },
      { id: 'g'.repeat(32) },
      { seq: 0 },
      { seq: -1 },
      { seq: 1.5 },
      { seq: '1' },
      { ts: -1 },
      { ts: 1.25 },
      { text: 'x'.repeat(MAX_TEXT_CHARS + 1) },
      { text: null },
      { text: 42 },
    ];
    for (const change of bad) expectProtocolError(() => parse({ ...VALID.msg, ...change }), /invalid frame/);
  });

  it('names the offending field in the message', () => {
    expectProtocolError(() => parse({ ...VALID.msg, seq: 0 }), /seq/);
  });

  it('rejects id lists that are empty, too long, not lists, or hold a bad id', () => {
    for (const type of ['ack', 'read', 'read-ack']) {
      expectProtocolError(() => parse({ type, ids: [] }), /invalid frame/);
      expectProtocolError(() => parse({ type, ids: Array.from({ length: MAX_IDS_PER_FRAME + 1 }, () => MID) }), /invalid frame/);
      expectProtocolError(() => parse({ type, ids: MID }), /invalid frame/);
      expectProtocolError(() => parse({ type, ids: [MID, 'nope'] }), /invalid frame/);
      expectProtocolError(() => parse({ type, ids: [MID, 7] }), /invalid frame/);
    }
  });

  it('rejects bad status, ping, pong and bye frames', () => {
    expectProtocolError(() => parse({ type: 'status', status: 'invisible', away: '' }), /invalid frame/);
    expectProtocolError(() => parse({ type: 'status', status: 'away', away: 'a'.repeat(201) }), /invalid frame/);
    for (const type of ['ping', 'pong']) {
      for (const n of [-1, 0.5, '1', null]) expectProtocolError(() => parse({ type, n }), /invalid frame/);
    }
    expectProtocolError(() => parse({ type: 'bye', reason: 'r'.repeat(201) }), /invalid frame/);
    expectProtocolError(() => parse({ type: 'bye', reason: 3 }), /invalid frame/);
  });
});

describe('fuzz: only a valid frame or PigeonError(PROTOCOL)', () => {
  function check(bytes: Uint8Array): void {
    expectValidOrProtocolError(() => parseSessionFrame(bytes), (r: SessionFrame) => SessionFrame.safeParse(r).success);
  }

  it('arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 500 }), check), { numRuns: 1000 });
  });

  it('arbitrary JSON text', () => {
    fc.assert(fc.property(fc.json({ maxDepth: 5 }), (json) => check(utf8.encode(json))), { numRuns: 1000 });
  });

  it('arbitrary JSON objects carrying a known type', () => {
    const arb = fc
      .tuple(fc.constantFrom(...Object.keys(VALID)), fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 })))
      .map(([type, rest]) => ({ ...rest, type }));
    fc.assert(fc.property(arb, (obj) => check(payload(obj))), { numRuns: 1000 });
  });

  it('valid frames with one field replaced by an arbitrary value', () => {
    const arb = fc
      .constantFrom(...Object.values(VALID))
      .chain((frame) => fc.tuple(fc.constant(frame), fc.constantFrom(...Object.keys(frame)), fc.jsonValue({ maxDepth: 2 })));
    fc.assert(
      fc.property(arb, ([frame, key, value]) => check(payload({ ...frame, [key]: value }))),
      { numRuns: 1000 },
    );
  });

  it('valid frames with one byte flipped', () => {
    const frames = Object.values(VALID).map(payload);
    fc.assert(
      fc.property(fc.nat(frames.length - 1), fc.nat(), fc.integer({ min: 1, max: 255 }), (which, at, xor) => {
        const bytes = frames[which]!.slice();
        const i = at % bytes.length;
        bytes[i] = bytes[i]! ^ xor;
        check(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('hostile shapes: prototype keys and deep nesting', () => {
    check(utf8.encode('{"type":"ping","n":1,"__proto__":{"type":"bye"}}'));
    check(utf8.encode('{"__proto__":{"type":"ping","n":1}}'));
    check(utf8.encode('{"type":"msg","id":"' + MID + '","seq":1,"ts":1,"text":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}'));
    check(utf8.encode('['.repeat(200_000) + ']'.repeat(200_000)));
    // Only own properties count: a frame whose type sits on a prototype is not a frame.
    expectProtocolError(() => parseSessionFrame(utf8.encode('{"__proto__":{"type":"ping","n":1}}')));
  });
});
