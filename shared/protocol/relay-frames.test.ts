/**
 * Unit and fuzz tests of the relay message schemas: every message type in
 * both directions parses, and anything else (random text, random JSON,
 * known types with random fields, valid messages with one field replaced) is
 * either a valid message or PigeonError(PROTOCOL), never another exception.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectValidOrProtocolError } from '../../tests/support/expect-error.js';
import { parseRelayClientFrame, parseRelayServerFrame, RelayClientFrame, RelayServerFrame, SealedContent } from './relay-frames.js';

/** One valid message of each type (real keys and signatures, made with the engine's code). */
const CLIENT: Record<string, unknown> = {"auth": {"type": "auth", "v": 1, "id": "zqryanpvfe3bhfoz4yq4lw7ct4", "spki": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8DCN6w689abXmduHbPOSilw8V1rB47lAu7LHWs5asGz/5IlpHpdOGQg3cM7tD7Moo72OZuIg41oqq2/Wlvgmmw==", "sig": "CXSmWlK+u0XipicOaxMDg/0N/c794QQcncuBG1uoJyzeNW3j5LmWd8bh0bJSp68H+vsV3SFhJBx8FqlyHnoVeg==", "token": "sales-2026", "profile": {"name": "Alice", "group": "Sales", "host": "alice-laptop", "status": "online", "away": ""}, "enc": {"key": "tnfQ3L8CZZB91EQfuridpnDxmZ3Ml/3LA9MAmHdrRSc=", "sig": "w3Ro2vmaPSYd98bjFYdNCK6SCJLnB/SHsdcnwOsAIerL0kVYpZYywNO3W1GEx5Jqj+GwdacEVXoZjp8e9NUbtA=="}}, "put": {"type": "put", "id": "5f0c2a9e4b7d4e21a3c88d0f6e1b2c3d", "to": "f73wd6oghcwe6a7mebww75utmu", "body": {"eph": "xQ/oCjSbu27BAPLLdH0Zr3M+BwkfcVMhG8J7BKJ7V3Y=", "nonce": "Q8CR3YoYKB7QEtq2", "ct": "BS0+90gX9bp3AOEr6RDPqH5GOCzcofxh8itWB1h9PI+qIlwU5GrkU4wSFRpTbywwqm/ncQCp0AFFmG8YL9HUjhVGwW1Kn+7Wxc4pEfbAwhYBlcqgpoCZQ1jnxoBm0ucMhfA=", "sig": "bY+4mMQufJEPczmAgcx2QH+PNZ9TM5KLf9gpB+KXsDjo28S8NKY/KTW1tHChW4ixDH3UE4gIei8jfIOvpeHB9A=="}}, "ack": {"type": "ack", "seq": 42}, "sync": {"type": "sync", "after": 0, "limit": 100}, "pipe-open": {"type": "pipe-open", "to": "f73wd6oghcwe6a7mebww75utmu", "ref": "p1"}, "ping": {"type": "ping", "n": 1}, "profile": {"type": "profile", "profile": {"name": "Alice", "group": "Sales", "host": "alice-laptop", "status": "online", "away": ""}}};
const SERVER: Record<string, unknown> = {"challenge": {"type": "challenge", "v": 1, "nonce": "4yZ2drUTTzpKahgvjzN/oK96BvzKFoLpF2Son/04G5c="}, "welcome": {"type": "welcome", "id": "zqryanpvfe3bhfoz4yq4lw7ct4", "epoch": "9c41d0b27a3e5f68", "last": 41}, "directory": {"type": "directory", "peers": [{"id": "f73wd6oghcwe6a7mebww75utmu", "name": "Bob", "group": "Sales", "host": "bob-pc", "status": "away", "away": "at lunch", "online": false, "spki": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQwtTtd6pK1YbO4zUQ1/uvM5W1RMTsIwAg7IzHYENhmw/H16b4lCHvz/xCnIk+c9x378AaF/FjCGicP3SoMTKTg==", "enc": {"key": "Bx80t0P0PB1C6NbBjsfGdaVMyiiDAaD3/PO/fdrSfWI=", "sig": "2eK/RZjR26cY/l1rNE/rDLtgSp9poj1uw5hOWjBd5QmMqyI8vEzauG1bHv+qnmLjYJb/OGd3mQuNg2HEbTZdwQ=="}, "lastSeen": 1764003500000}], "done": true}, "presence": {"type": "presence", "peer": {"id": "f73wd6oghcwe6a7mebww75utmu", "name": "Bob", "group": "Sales", "host": "bob-pc", "status": "away", "away": "at lunch", "online": false, "spki": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQwtTtd6pK1YbO4zUQ1/uvM5W1RMTsIwAg7IzHYENhmw/H16b4lCHvz/xCnIk+c9x378AaF/FjCGicP3SoMTKTg==", "enc": {"key": "Bx80t0P0PB1C6NbBjsfGdaVMyiiDAaD3/PO/fdrSfWI=", "sig": "2eK/RZjR26cY/l1rNE/rDLtgSp9poj1uw5hOWjBd5QmMqyI8vEzauG1bHv+qnmLjYJb/OGd3mQuNg2HEbTZdwQ=="}, "lastSeen": 1764003500000}}, "put-ack": {"type": "put-ack", "id": "5f0c2a9e4b7d4e21a3c88d0f6e1b2c3d", "seq": 42}, "deliver": {"type": "deliver", "seq": 42, "id": "5f0c2a9e4b7d4e21a3c88d0f6e1b2c3d", "from": "zqryanpvfe3bhfoz4yq4lw7ct4", "ts": 1764003600250, "body": {"eph": "xQ/oCjSbu27BAPLLdH0Zr3M+BwkfcVMhG8J7BKJ7V3Y=", "nonce": "Q8CR3YoYKB7QEtq2", "ct": "BS0+90gX9bp3AOEr6RDPqH5GOCzcofxh8itWB1h9PI+qIlwU5GrkU4wSFRpTbywwqm/ncQCp0AFFmG8YL9HUjhVGwW1Kn+7Wxc4pEfbAwhYBlcqgpoCZQ1jnxoBm0ucMhfA=", "sig": "bY+4mMQufJEPczmAgcx2QH+PNZ9TM5KLf9gpB+KXsDjo28S8NKY/KTW1tHChW4ixDH3UE4gIei8jfIOvpeHB9A=="}}, "synced": {"type": "synced", "last": 42, "complete": true}, "pipe": {"type": "pipe", "key": "abababababababababababababababababababababababababababababababab", "peer": "f73wd6oghcwe6a7mebww75utmu", "role": "server"}, "error": {"type": "error", "code": "PIGEON_ERR_RELAY_AUTH", "message": "no"}, "pong": {"type": "pong", "n": 1}};

/** Groups (§12.7). */
const GID = '3f2a9c01d4e5b6a7980c1d2e3f4a5b6c';
const [ALICE, BOB] = ['zqryanpvfe3bhfoz4yq4lw7ct4', 'f73wd6oghcwe6a7mebww75utmu'];
/** A create signed by a real device key (made with tests/support/relay-device.ts signedGroupChange). */
const CREATE = {"gid": "3f2a9c01d4e5b6a7980c1d2e3f4a5b6c", "rev": 1, "prev": "0000000000000000000000000000000000000000000000000000000000000000", "by": "x25lfklzqf756nl4xcas3cwiia", "ts": 1764003600000, "op": "create", "name": "Sales", "members": ["x25lfklzqf756nl4xcas3cwiia", "dmpmwzlnyosb3oh3jydaxaelvy"], "sig": "Kgdn9lfYpoSDHLBucngRIf3PwFaoIdUVrt/VAbpJqBi4TTqPqRxRAQ2mOG/9Xt5YnBE1ogeUXUaXQxJnn22YQw=="};
const GROUP_BODY = { kid: "1c2d3e4f5a6b7c8d", nonce: "lu9L1jOJw5/sFDX2", ct: "1A+bY6/sx2w2bXzFXevmd0gJDvvZQPO1jm9FDF9K2Y7NkBEB4Hp6Y40FYuSVy33YNGlepmuWaOR+uWhZYUNkMb4Vt0Lz", sig: "N7OFXGGyjFd4EVfExYL3bLs4erytmlTnLnU9xdDvEPT1XOT/9VTB4m1fkuQl8ehFciiRTd9/Dch26+TnPC4ihw==" };
Object.assign(CLIENT, {
  'group-change': { type: 'group-change', ref: 'g1', change: CREATE },
  'group-chain': { type: 'group-chain', ref: 'g2', gid: GID, after: 0 },
  'group-put': { type: 'group-put', gid: GID, id: '9a1b2c3d4e5f60718293a4b5c6d7e8f9', body: GROUP_BODY },
  'group-sync': { type: 'group-sync', gid: GID, after: 16, limit: 200 },
});
Object.assign(SERVER, {
  group: { type: 'group', ref: 'g1', group: { gid: GID, name: 'Sales', owner: ALICE, members: [{ id: ALICE, joined: 0 }, { id: BOB, joined: 3 }], last: 17, rev: 2 } },
  'group-changes': { type: 'group-changes', ref: 'g2', gid: GID, changes: [CREATE], complete: true, rev: 1 },
  'group-left': { type: 'group-left', gid: GID, by: ALICE },
  'group-put-ack': { type: 'group-put-ack', gid: GID, id: '9a1b2c3d4e5f60718293a4b5c6d7e8f9', seq: 17 },
  'group-deliver': { type: 'group-deliver', gid: GID, seq: 17, id: '9a1b2c3d4e5f60718293a4b5c6d7e8f9', from: ALICE, ts: 1764003600250, body: GROUP_BODY, page: true },
  'group-synced': { type: 'group-synced', gid: GID, last: 17, complete: true },
});

/** The versioned directory (§12.2.1). */
const BOB_PEER = (SERVER.presence as { peer: Record<string, unknown> }).peer;
Object.assign(CLIENT, {
  'dir-sync': { type: 'dir-sync', ref: 'd1', after: 5120 },
  'dir-page': { type: 'dir-page', ref: 'd2', after: '' },
  'dir-watch': { type: 'dir-watch', ids: [BOB, ALICE] },
});
Object.assign(SERVER, {
  'dir-state': { type: 'dir-state', version: 5188, boot: '6f1c2a9be04d7731', state: 'delta' },
  'dir-changes': { type: 'dir-changes', ref: 'd1', from: 5120, to: 5188, changes: [{ ...BOB_PEER, v: 5131 }, { id: ALICE, v: 5160, gone: true }], more: false },
  'dir-peers': { type: 'dir-peers', ref: 'd2', version: 5188, peers: [{ ...BOB_PEER, v: 5131 }], next: BOB },
  'dir-push': { type: 'dir-push', changes: [{ ...BOB_PEER, v: 5189 }] },
  'dir-presence': { type: 'dir-presence', changes: [{ id: BOB, name: 'Bob', group: 'Sales', host: 'bob-pc', status: 'online', away: '', online: true, lastSeen: 1764003600000, v: 5190 }, { id: ALICE, v: 5191, gone: true }] },
});

const sides = [
  { name: 'client → relay', parse: parseRelayClientFrame, schema: RelayClientFrame, valid: CLIENT },
  { name: 'relay → client', parse: parseRelayServerFrame, schema: RelayServerFrame, valid: SERVER },
] as const;

for (const side of sides) {
  describe(`relay messages, ${side.name}`, () => {
    const check = (text: string): void => expectValidOrProtocolError(() => side.parse(text), (f) => side.schema.safeParse(f).success);

    it('has a valid example of every type, and each parses unchanged', () => {
      const types = side.schema.options.map((o) => o.shape.type.value);
      expect(Object.keys(side.valid).sort()).toEqual([...types].sort());
      for (const frame of Object.values(side.valid)) expect(side.parse(JSON.stringify(frame))).toEqual(frame);
    });

    it('arbitrary text', () => {
      fc.assert(fc.property(fc.string({ maxLength: 300 }), check), { numRuns: 500 });
    });

    it('arbitrary JSON', () => {
      fc.assert(fc.property(fc.json({ maxDepth: 5 }), check), { numRuns: 500 });
    });

    it('known types with arbitrary fields', () => {
      const arb = fc
        .tuple(fc.constantFrom(...Object.keys(side.valid)), fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 })))
        .map(([type, rest]) => JSON.stringify({ ...rest, type }));
      fc.assert(fc.property(arb, check), { numRuns: 500 });
    });

    it('valid messages with one field replaced by an arbitrary value', () => {
      const arb = fc
        .constantFrom(...Object.values(side.valid) as Array<Record<string, unknown>>)
        .chain((frame) => fc.tuple(fc.constant(frame), fc.constantFrom(...Object.keys(frame)), fc.jsonValue({ maxDepth: 2 })));
      fc.assert(fc.property(arb, ([frame, key, value]) => check(JSON.stringify({ ...frame, [key]: value }))), { numRuns: 1000 });
    });
  });
}

describe('sealed content', () => {
  it('refuses what is not a message or a receipt', () => {
    expect(SealedContent.safeParse({ kind: 'msg', seq: 1, ts: 0, text: 'hi' }).success).toBe(true);
    expect(SealedContent.safeParse({ kind: 'delivered', ids: [] }).success).toBe(false);
    expect(SealedContent.safeParse({ kind: 'exec', cmd: 'rm -rf /' }).success).toBe(false);
    const key = { kind: 'group-key', gid: GID, kid: '1c2d3e4f5a6b7c8d', key: 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=', rev: 1, head: 'ab'.repeat(32) };
    expect(SealedContent.safeParse(key).success).toBe(true);
    expect(SealedContent.safeParse({ ...key, key: 'short' }).success).toBe(false);
    // A sender key always names the chain revision it was made for.
    expect(SealedContent.safeParse({ ...key, rev: undefined, head: undefined }).success).toBe(false);
  });
});
