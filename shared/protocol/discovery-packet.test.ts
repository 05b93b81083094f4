/**
 * Unit tests of the UDP discovery datagram codec: round trips of every packet
 * type, the size bound on both sides, and rejection of wrong magic, bad JSON,
 * bad UTF-8 and every schema violation with PigeonError(PROTOCOL). A
 * property-based fuzz checks that arbitrary datagrams never escape as any
 * other kind of exception.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_AWAY_CHARS, MAX_DISCOVERY_PACKET, MAX_LABEL_CHARS } from './constants.js';
import { attachSignature, decodeDiscoveryPacket, DiscoveryPacket, encodeDiscoveryPacket, encodeUnsignedPacket, signedBytes } from './discovery-packet.js';
import { expectProtocolError, expectValidOrProtocolError } from '../../tests/support/expect-error.js';

const utf8 = new TextEncoder();
const ID = 'abcdefghijklmnopqrstuvwxyz'; // 26 chars of the base32 alphabet
/** As long as a P-256 SPKI (124 base64 characters) and a P1363 signature (88): the codec does not check them, the guard does. */
const K = 'A'.repeat(124);
const SIG = 'B'.repeat(86) + '==';

function packet(overrides: Partial<DiscoveryPacket> = {}): DiscoveryPacket {
  return { v: 1, t: 'alive', id: ID, name: 'Ada', group: 'R&D', host: 'ada-pc', port: 2426, status: 'online', away: '', k: K, ts: 1_700_000_000_000, sig: SIG, ...overrides };
}

/** A datagram with the right magic and any JSON text after it. */
function raw(json: string): Uint8Array {
  return utf8.encode('PGN1' + json);
}

/** A datagram with the right magic and `value` (any object) as JSON. */
function withBody(value: unknown): Uint8Array {
  return raw(JSON.stringify(value));
}


describe('round trips', () => {
  for (const t of ['announce', 'alive', 'reply', 'exit'] as const) {
    it(`decodes what it encodes: ${t}`, () => {
      const p = packet({ t });
      expect(decodeDiscoveryPacket(encodeDiscoveryPacket(p))).toEqual(p);
    });
  }

  it('keeps the optional unicast flag, true or false', () => {
    for (const u of [true, false]) {
      const p = packet({ t: 'announce', u });
      expect(decodeDiscoveryPacket(encodeDiscoveryPacket(p))).toEqual(p);
    }
    expect(decodeDiscoveryPacket(encodeDiscoveryPacket(packet()))).not.toHaveProperty('u');
  });

  it('keeps every presence status and labels at their maximum length', () => {
    for (const status of ['online', 'away', 'busy'] as const) {
      const p = packet({
        status,
        name: 'n'.repeat(MAX_LABEL_CHARS),
        group: 'g'.repeat(MAX_LABEL_CHARS),
        host: 'h'.repeat(MAX_LABEL_CHARS),
        away: 'a'.repeat(MAX_AWAY_CHARS),
        port: 65535,
      });
      expect(decodeDiscoveryPacket(encodeDiscoveryPacket(p))).toEqual(p);
    }
  });

  it('keeps non-ASCII labels (CJK, emoji, quotes) intact', () => {
    const p = packet({ name: '王小明', group: 'Ünïcødé "quoted" \\ back', host: 'pc-🐦', away: '午饭 🍜' });
    expect(decodeDiscoveryPacket(encodeDiscoveryPacket(p))).toEqual(p);
  });

  it('starts every datagram with the ASCII magic PGN1', () => {
    const bytes = encodeDiscoveryPacket(packet());
    expect([...bytes.subarray(0, 4)]).toEqual([0x50, 0x47, 0x4e, 0x31]);
    expect(JSON.parse(new TextDecoder().decode(bytes.subarray(4)))).toEqual(packet());
  });

  it('round-trips any schema-valid packet that fits (property)', () => {
    const label = fc.string({ maxLength: MAX_LABEL_CHARS, unit: 'grapheme-ascii' });
    const arb = fc.record(
      {
        v: fc.constant(1 as const),
        t: fc.constantFrom('announce', 'alive', 'reply', 'exit'),
        id: fc.stringMatching(/^[a-z2-7]{26}$/),
        name: label,
        group: label,
        host: label,
        port: fc.integer({ min: 1, max: 65535 }),
        status: fc.constantFrom('online', 'away', 'busy'),
        away: fc.string({ maxLength: MAX_AWAY_CHARS, unit: 'grapheme-ascii' }),
        u: fc.boolean(),
        k: fc.constant(K),
        ts: fc.nat(),
        sig: fc.constant(SIG),
      },
      { requiredKeys: ['v', 't', 'id', 'name', 'group', 'host', 'port', 'status', 'away', 'k', 'ts', 'sig'] },
    );
    fc.assert(
      fc.property(arb, (p) => {
        expect(decodeDiscoveryPacket(encodeDiscoveryPacket(p))).toEqual(p);
      }),
      { numRuns: 300 },
    );
  });

  it('ignores unknown extra fields (a newer minor revision may add some)', () => {
    const decoded = decodeDiscoveryPacket(withBody({ ...packet(), extra: 'x' }));
    expect(decoded).toEqual(packet());
  });
});

describe('signed bytes', () => {
  it('are the datagram without its final "sig" member, byte for byte', () => {
    const p = packet({ name: '王小明 "q"', u: true });
    const { sig, ...unsigned } = p;
    const signed = encodeUnsignedPacket(unsigned);
    const datagram = attachSignature(signed, sig);
    expect(datagram).toEqual(encodeDiscoveryPacket(p));
    expect(signedBytes(datagram)).toEqual(signed);
    expect(new TextDecoder().decode(datagram).endsWith(`,"sig":"${SIG}"}`)).toBe(true);
  });

  it('refuse a datagram whose "sig" is not the last member', () => {
    const { sig, ...unsigned } = packet();
    expectProtocolError(() => signedBytes(withBody({ sig, ...unsigned })), /last member/);
    expectProtocolError(() => signedBytes(withBody(unsigned)), /last member/);
  });

  it('leave room for the signature: an unsigned packet is refused when the signed one would not fit', () => {
    const { sig: _sig, ...unsigned } = packet({ away: '\u0001'.repeat(MAX_AWAY_CHARS) });
    expectProtocolError(() => encodeUnsignedPacket(unsigned), /too large/);
  });
});

describe('size bound', () => {
  it(`accepts a datagram of exactly ${MAX_DISCOVERY_PACKET} bytes and rejects one byte more`, () => {
    const json = JSON.stringify(packet());
    // Whitespace after the JSON is legal and pads the datagram to the exact size.
    const exact = raw(json + ' '.repeat(MAX_DISCOVERY_PACKET - 4 - json.length));
    expect(exact.length).toBe(MAX_DISCOVERY_PACKET);
    expect(decodeDiscoveryPacket(exact)).toEqual(packet());
    const over = raw(json + ' '.repeat(MAX_DISCOVERY_PACKET - 4 - json.length + 1));
    expectProtocolError(() => decodeDiscoveryPacket(over), /too large/);
  });

  it('rejects an oversized datagram even when its magic is wrong (size is checked first)', () => {
    expectProtocolError(() => decodeDiscoveryPacket(new Uint8Array(65507)), /too large/);
  });

  it('refuses to encode a packet over the limit', () => {
    // Control characters are escaped as \u00XX: six bytes each on the wire.
    // This packet is schema-valid (labels within MAX_*_CHARS) yet too large.
    const p = packet({ name: '\u0001'.repeat(MAX_LABEL_CHARS), group: '\u0001'.repeat(MAX_LABEL_CHARS), away: '\u0001'.repeat(MAX_AWAY_CHARS) });
    expect(DiscoveryPacket.safeParse(p).success).toBe(true);
    expectProtocolError(() => encodeDiscoveryPacket(p), /too large/);
  });
});

describe('rejections', () => {
  it('rejects a wrong magic', () => {
    const good = encodeDiscoveryPacket(packet());
    for (const magic of ['PGN2', 'pgn1', 'XGN1', 'PGNX']) {
      const bad = good.slice();
      bad.set(utf8.encode(magic), 0);
      expectProtocolError(() => decodeDiscoveryPacket(bad), /magic/);
    }
  });

  it('rejects datagrams shorter than the magic, including the empty one', () => {
    for (const s of ['', 'P', 'PG', 'PGN']) expectProtocolError(() => decodeDiscoveryPacket(utf8.encode(s)), /magic/);
  });

  it('rejects an IP Messenger datagram arriving on the port', () => {
    expectProtocolError(() => decodeDiscoveryPacket(utf8.encode('1:100:user:host:1:nick\0group\0')), /magic/);
  });

  it('rejects invalid JSON after the magic', () => {
    for (const body of ['', '{', '{"v":1,', 'null null', "{'v':1}", '{"v":1}x']) {
      expectProtocolError(() => decodeDiscoveryPacket(raw(body)), /undecodable/);
    }
  });

  it('rejects bytes that are not UTF-8', () => {
    const bytes = new Uint8Array([...utf8.encode('PGN1{"name":"'), 0xff, 0xfe, ...utf8.encode('"}')]);
    expectProtocolError(() => decodeDiscoveryPacket(bytes), /undecodable/);
  });

  it('rejects JSON that is not an object', () => {
    for (const body of ['null', '1', '"alive"', '[]', 'true']) {
      expectProtocolError(() => decodeDiscoveryPacket(raw(body)), /invalid/);
    }
  });

  it('rejects a wrong or missing protocol version', () => {
    for (const v of [0, 2, '1', 1.5, null]) {
      expectProtocolError(() => decodeDiscoveryPacket(withBody({ ...packet(), v })), /invalid/);
    }
    const { v: _v, ...noVersion } = packet();
    expectProtocolError(() => decodeDiscoveryPacket(withBody(noVersion)), /invalid/);
  });

  it('rejects an unknown packet type', () => {
    for (const t of ['hello', 'ANNOUNCE', '', 3]) {
      expectProtocolError(() => decodeDiscoveryPacket(withBody({ ...packet(), t })), /invalid/);
    }
  });

  it('rejects bad device ids', () => {
    const bad = [
      ID.slice(1), // 25 chars
      ID + 'a', // 27 chars
      ID.toUpperCase(),
      '0'.repeat(26), // 0, 1, 8, 9 are not in the base32 alphabet
      '1'.repeat(26),
      'abcdefghijklmnopqrstuvwxy8',
      'abcdefghijklmnopqrstuvwxy ',
      '',
      42,
    ];
    for (const id of bad) expectProtocolError(() => decodeDiscoveryPacket(withBody({ ...packet(), id })), /invalid/);
  });

  it('rejects labels one character too long', () => {
    const long = 'x'.repeat(MAX_LABEL_CHARS + 1);
    for (const field of ['name', 'group', 'host'] as const) {
      expectProtocolError(() => decodeDiscoveryPacket(withBody({ ...packet(), [field]: long })), /invalid/);
    }
    expectProtocolError(() => decodeDiscoveryPacket(withBody({ ...packet(), away: 'x'.repeat(MAX_AWAY_CHARS + 1) })), /invalid/);
  });

  it('rejects bad ports', () => {
    for (const port of [0, -1, 65536, 80.5, '2426', null]) {
      expectProtocolError(() => decodeDiscoveryPacket(withBody({ ...packet(), port })), /invalid/);
    }
  });

  it('rejects a key or signature that is not base64 or too long, and a negative or fractional ts', () => {
    for (const bad of [{ k: 'not base64!' }, { k: 'A'.repeat(204) }, { sig: 'x y' }, { sig: 'A'.repeat(104) }, { ts: -1 }, { ts: 1.5 }, { ts: '1' }]) {
      expectProtocolError(() => decodeDiscoveryPacket(withBody({ ...packet(), ...bad })), /invalid/);
    }
  });

  it('rejects an unknown status, a non-string away message and a non-boolean u', () => {
    expectProtocolError(() => decodeDiscoveryPacket(withBody({ ...packet(), status: 'invisible' })), /invalid/);
    expectProtocolError(() => decodeDiscoveryPacket(withBody({ ...packet(), away: 5 })), /invalid/);
    expectProtocolError(() => decodeDiscoveryPacket(withBody({ ...packet(), u: 1 })), /invalid/);
  });

  it('rejects a packet with any required field missing', () => {
    for (const key of Object.keys(packet())) {
      const body: Record<string, unknown> = { ...packet() };
      delete body[key];
      expectProtocolError(() => decodeDiscoveryPacket(withBody(body)), /invalid/);
    }
  });
});

describe('fuzz: only PigeonError or a valid packet', () => {
  /** Decodes and checks the contract: a valid packet or PigeonError(PROTOCOL), nothing else. */
  function check(bytes: Uint8Array): void {
    expectValidOrProtocolError(() => decodeDiscoveryPacket(bytes), (r: DiscoveryPacket) => DiscoveryPacket.safeParse(r).success);
  }

  it('arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1600 }), check), { numRuns: 1000 });
  });

  it('the magic followed by arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (tail) => check(new Uint8Array([...utf8.encode('PGN1'), ...tail]))),
      { numRuns: 1000 },
    );
  });

  it('the magic followed by arbitrary JSON', () => {
    fc.assert(fc.property(fc.json({ maxDepth: 4 }), (json) => check(raw(json))), { numRuns: 1000 });
  });

  it('the magic followed by packets with arbitrary values in every field', () => {
    const anything = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
    const arb = fc.record({
      v: fc.oneof(fc.constant(1), anything),
      t: fc.oneof(fc.constantFrom('announce', 'alive', 'reply', 'exit'), anything),
      id: fc.oneof(fc.constant(ID), anything),
      name: fc.oneof(fc.string({ maxLength: 70 }), anything),
      group: fc.oneof(fc.string({ maxLength: 70 }), anything),
      host: fc.oneof(fc.string({ maxLength: 70 }), anything),
      port: fc.oneof(fc.integer({ min: -10, max: 70000 }), anything),
      status: fc.oneof(fc.constantFrom('online', 'away', 'busy'), anything),
      away: fc.oneof(fc.string({ maxLength: 210 }), anything),
      u: fc.oneof(fc.boolean(), anything),
      k: fc.oneof(fc.constant(K), anything),
      ts: fc.oneof(fc.nat(), anything),
      sig: fc.oneof(fc.constant(SIG), anything),
    });
    fc.assert(fc.property(arb, (p) => check(withBody(p))), { numRuns: 1000 });
  });

  it('valid datagrams with one byte flipped or cut short', () => {
    const good = encodeDiscoveryPacket(packet({ t: 'announce', u: true }));
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(good.length), (at, xor, cutAt) => {
        const flipped = good.slice();
        flipped[at] = flipped[at]! ^ xor;
        check(flipped);
        check(good.subarray(0, cutAt));
      }),
      { numRuns: 1000 },
    );
  });

  it('deeply nested JSON does not blow the stack', () => {
    const depth = Math.floor((MAX_DISCOVERY_PACKET - 4) / 2);
    check(raw('['.repeat(depth) + ']'.repeat(depth)));
    check(raw('{"a":'.repeat(200) + '1' + '}'.repeat(200)));
  });
});
