/**
 * LocalSend between two Pigeons over real UDP, HTTPS and HTTP on loopback
 * (127.0.0.91 Alice, .92 Bob, each announcing to the other by unicast:
 * multicast does not flow on lo). Pigeon against itself both ways here;
 * against the protocol document's examples in localsend-doc.test.ts, and
 * against an independent implementation (npm localsend) in
 * tests/netns/localsend-independent.test.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPeer, silentLogger, systemClock, systemRandom, type Peer, type PeerOptions } from '../../core/index.js';
import type { PeerEvent, PeerInfo, TransferInfo } from '../../shared/api/control-api.js';
import { freeUdpPort } from '../support/cli-peer.js';
import { until } from '../support/ipmsg-client.js';

const ALICE = '127.0.0.91';
const BOB = '127.0.0.92';

interface Side {
  peer: Peer;
  home: string;
  downloads: string;
  events: PeerEvent[];
}

const sides: Side[] = [];

async function start(name: string, address: string, other: string, port: number, extra: Partial<PeerOptions> = {}, reuse?: string): Promise<Side> {
  const home = reuse ?? mkdtempSync(join(tmpdir(), `pigeon-ls-${name}-`));
  const downloads = join(home, 'dl');
  const peer = createPeer(
    { clock: systemClock, random: systemRandom, logger: silentLogger },
    { home, name, port: 0, discoveryPort: await freeUdpPort(), broadcast: [], mdns: false, downloads, localsend: true, localsendAcceptPigeons: true, localsendBind: address, localsendPort: port, localsendAddresses: [other], ...extra },
  );
  const events: PeerEvent[] = [];
  peer.on((e) => events.push(e));
  await peer.start();
  const side = { peer, home, downloads, events };
  sides.push(side);
  return side;
}

async function pair(extraA: Partial<PeerOptions> = {}, extraB: Partial<PeerOptions> = {}): Promise<{ a: Side; b: Side; bobAtAlice: PeerInfo; aliceAtBob: PeerInfo; port: number }> {
  const port = await freeUdpPort();
  const a = await start('Alice', ALICE, BOB, port, extraA);
  const b = await start('Bob', BOB, ALICE, port, extraB);
  const bobAtAlice = await until(() => a.peer.peers().find((p) => p.protocol === 'localsend' && p.name === 'Bob' && p.online), 'Bob listed at Alice');
  const aliceAtBob = await until(() => b.peer.peers().find((p) => p.protocol === 'localsend' && p.name === 'Alice' && p.online), 'Alice listed at Bob');
  return { a, b, bobAtAlice, aliceAtBob, port };
}

function offeredTo(s: Side): Promise<TransferInfo> {
  return until(() => s.peer.transfers().find((t) => t.direction === 'in' && t.state === 'offered'), 'an offer');
}

function tree(root: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of readdirSync(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) Object.assign(out, tree(root, r));
    else out[r] = createHash('sha256').update(readFileSync(join(root, r))).digest('hex');
  }
  return out;
}

afterEach(async () => {
  for (const s of sides.splice(0)) {
    await s.peer.stop();
    rmSync(s.home, { recursive: true, force: true });
  }
});

describe('LocalSend between two Pigeons', () => {
  it('finds each other both ways, one contact per fingerprint, marked LocalSend with type and fingerprint', async () => {
    const { a, b, bobAtAlice, aliceAtBob } = await pair();
    expect(bobAtAlice.group).toBe('LocalSend');
    expect(bobAtAlice.host).toBe('Pigeon, headless');
    expect(bobAtAlice.fingerprint).toMatch(/^[0-9A-F]{64}$/);
    // The fingerprint Alice lists for Bob is the SHA-256 of the certificate Bob's server presents.
    const bobCert = readFileSync(join(b.home, 'localsend-cert.pem'), 'utf8');
    const { X509Certificate } = await import('node:crypto');
    expect(bobAtAlice.fingerprint).toBe(createHash('sha256').update(new X509Certificate(bobCert).raw).digest('hex').toUpperCase());
    expect(aliceAtBob.fingerprint).not.toBe(bobAtAlice.fingerprint);
    // Heard by announcement and by register: still one contact each.
    await new Promise((r) => setTimeout(r, 500));
    expect(a.peer.peers().filter((p) => p.protocol === 'localsend')).toHaveLength(1);
    expect(b.peer.peers().filter((p) => p.protocol === 'localsend')).toHaveLength(1);
    expect(a.peer.resolve('Bob').id).toBe(bobAtAlice.id);
  });

  it('does not list another Pigeon as a LocalSend twin by default (it is a native peer already)', async () => {
    const port = await freeUdpPort();
    const a = await start('Alice', ALICE, BOB, port, { localsendAcceptPigeons: false });
    const b = await start('Bob', BOB, ALICE, port, { localsendAcceptPigeons: false });
    // Each announced to the other at start (and Bob's start answered Alice's by nothing): give them time to have done so.
    await new Promise((r) => setTimeout(r, 1000));
    expect(a.peer.peers().filter((p) => p.protocol === 'localsend')).toEqual([]);
    expect(b.peer.peers().filter((p) => p.protocol === 'localsend')).toEqual([]);
  });

  it('sends files both ways byte-exact over HTTPS: empty, unicode names, a folder', async () => {
    const { a, b } = await pair();
    const src = join(a.home, 'src');
    mkdirSync(join(src, 'Fotos 2026', 'sub'), { recursive: true });
    writeFileSync(join(src, 'empty.bin'), '');
    writeFileSync(join(src, '报告 — été.txt'), 'quarterly report\n'.repeat(5000));
    writeFileSync(join(src, 'Fotos 2026', 'a.jpg'), Buffer.alloc(300_000, 7));
    writeFileSync(join(src, 'Fotos 2026', 'sub', 'b.txt'), 'b');
    const out = await a.peer.sendFiles('Bob', [join(src, 'empty.bin'), join(src, '报告 — été.txt'), join(src, 'Fotos 2026')]);
    const offer = await offeredTo(b);
    expect(offer.fileCount).toBe(4);
    await b.peer.accept(offer.id);
    expect((await a.peer.waitTransfer(out.id, 20_000)).state).toBe('done');
    expect((await b.peer.waitTransfer(offer.id, 20_000)).state).toBe('done');
    expect(tree(b.downloads)).toEqual(tree(src));

    // And back, into a folder that already has the name: nothing is overwritten.
    const back = join(b.home, 'back');
    mkdirSync(back);
    writeFileSync(join(back, 'empty.bin'), 'not empty');
    mkdirSync(a.downloads, { recursive: true });
    writeFileSync(join(a.downloads, 'empty.bin'), 'mine');
    const out2 = await b.peer.sendFiles('Alice', [join(back, 'empty.bin')]);
    const offer2 = await offeredTo(a).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(b.peer.transfers())}`);
    });
    await a.peer.accept(offer2.id);
    expect((await b.peer.waitTransfer(out2.id, 20_000)).state).toBe('done');
    expect(readFileSync(join(a.downloads, 'empty.bin'), 'utf8')).toBe('mine');
    expect(readFileSync(join(a.downloads, 'empty (1).bin'), 'utf8')).toBe('not empty');
  });

  it('a declined offer is declined on both sides (403), and choosing no file is 204', async () => {
    const { a, b } = await pair();
    const f = join(a.home, 'x.txt');
    writeFileSync(f, 'x');
    const out = await a.peer.sendFiles('Bob', [f]);
    b.peer.decline((await offeredTo(b)).id);
    expect((await a.peer.waitTransfer(out.id, 10_000)).state).toBe('declined');
    const out2 = await a.peer.sendFiles('Bob', [f]);
    const offer2 = await offeredTo(b);
    await b.peer.accept(offer2.id, []);
    expect((await a.peer.waitTransfer(out2.id, 10_000)).state).toBe('done');
    expect(existsSync(join(b.downloads, 'x.txt'))).toBe(false);
  });

  it('asks for the PIN (401) and takes the files with it, over plain HTTP', async () => {
    const { a, b } = await pair({ localsendHttp: true }, { localsendHttp: true, localsendPin: '4321', acceptFrom: ['all'] });
    const f = join(a.home, 'p.txt');
    writeFileSync(f, 'pinned');
    const noPin = await a.peer.waitTransfer((await a.peer.sendFiles('Bob', [f])).id, 10_000);
    expect(noPin.state).toBe('failed');
    expect(noPin.error).toContain('PIGEON_ERR_LOCALSEND_PIN');
    const wrong = await a.peer.waitTransfer((await a.peer.sendFiles('Bob', [f], '1111')).id, 10_000);
    expect(wrong.error).toContain('PIGEON_ERR_LOCALSEND_PIN');
    const ok = await a.peer.waitTransfer((await a.peer.sendFiles('Bob', [f], '4321')).id, 10_000);
    expect(ok.state).toBe('done');
    expect(readFileSync(join(b.downloads, 'p.txt'), 'utf8')).toBe('pinned');
  });

  it('honours cancel by the receiver mid-file: the sender fails, no partial file is left', async () => {
    const { a, b } = await pair({}, { acceptFrom: ['all'] });
    const f = join(a.home, 'big.bin');
    writeFileSync(f, Buffer.alloc(64 * 1024 * 1024, 1));
    const out = await a.peer.sendFiles('Bob', [f]);
    const incoming = await until(() => b.peer.transfers().find((t) => t.direction === 'in' && t.state === 'accepted' && t.doneBytes > 0), 'bytes arriving', 20_000);
    await b.peer.cancel(incoming.id);
    const end = await a.peer.waitTransfer(out.id, 20_000);
    expect(end.state).toBe('failed');
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(b.downloads) ? readdirSync(b.downloads) : []).toEqual([]);
  });

  it('honours cancel by the sender: the receiver ends the session and removes its partial file', async () => {
    const { a, b } = await pair({}, { acceptFrom: ['all'] });
    const f = join(a.home, 'big.bin');
    writeFileSync(f, Buffer.alloc(64 * 1024 * 1024, 2));
    const out = await a.peer.sendFiles('Bob', [f]);
    const incoming = await until(() => b.peer.transfers().find((t) => t.direction === 'in' && t.state === 'accepted' && t.doneBytes > 0), 'bytes arriving', 20_000);
    await a.peer.cancel(out.id);
    const end = await b.peer.waitTransfer(incoming.id, 20_000);
    expect(['canceled', 'failed']).toContain(end.state);
    await until(() => ((existsSync(b.downloads) ? readdirSync(b.downloads) : []).length === 0 ? true : undefined), 'partial file removed');
  });

  it('a text message goes as a text file with a preview and arrives as a chat message', async () => {
    const { a, b, bobAtAlice } = await pair();
    const m = await a.peer.send('Bob', 'hello from Alice ☺');
    expect(m.warning?.code).toBe('PIGEON_ERR_UNENCRYPTED');
    await a.peer.waitDelivered(m.id, 10_000);
    const got = await until(() => b.peer.history('Alice').find((x) => x.direction === 'in'), 'the message at Bob');
    expect(got.text).toBe('hello from Alice ☺');
    expect(a.peer.history(bobAtAlice.id).find((x) => x.id === m.id)?.state).toBe('delivered');
  });

  it('a message to a device that is gone waits in the outbox and goes when the device is heard again', async () => {
    const { a, b, port } = await pair();
    const bobHome = b.home;
    await b.peer.stop();
    sides.splice(sides.indexOf(b), 1);
    const m = await a.peer.send('Bob', 'while you were away');
    // The device refuses the connection: shown offline, the message stays queued.
    await until(() => (a.peer.peers().find((p) => p.name === 'Bob')?.online === false ? true : undefined), 'Bob offline at Alice');
    expect(a.peer.history('Bob').find((x) => x.id === m.id)?.state).toBe('queued');
    const back = await start('Bob', BOB, ALICE, port, {}, bobHome);
    await a.peer.waitDelivered(m.id, 10_000);
    expect(await until(() => back.peer.history('Alice').find((x) => x.direction === 'in'), 'the message at Bob')).toMatchObject({ text: 'while you were away' });
  });
});
