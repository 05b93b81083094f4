/**
 * Pigeon's LocalSend side against the protocol document's examples, sent
 * byte for byte by a scripted client over real UDP and HTTPS on loopback
 * (127.0.0.93 Pigeon, .94 the client): register, info, the announcement
 * answered by POST /register, prepare-upload and upload with the document's
 * own file ids, and hostile input (bad JSON, huge bodies, wrong tokens,
 * bytes beyond the declared size, a wrong SHA-256), after which the server
 * still answers. These examples cover what the independent implementation of
 * tests/netns/localsend-independent.test.ts cannot do (HTTPS to a receiver,
 * documented single-POST uploads of any size).
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPeer, silentLogger, systemClock, systemRandom, type Peer } from '../../core/index.js';
import * as doc from '../../core/localsend/fixtures/doc-examples.js';
import { freeUdpPort } from '../support/cli-peer.js';
import { until } from '../support/ipmsg-client.js';

const PIGEON = '127.0.0.93';
const CLIENT = '127.0.0.94';

let peer: Peer;
let home: string;
let downloads: string;
let port: number;

interface Reply {
  status: number;
  body: string;
}

/** One HTTPS request from the client's address to Pigeon's LocalSend server (its self-signed certificate accepted, as LocalSend apps do). */
function call(method: string, path: string, body?: Buffer | string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const req = https.request({ host: PIGEON, port, method, path, localAddress: CLIENT, rejectUnauthorized: false, agent: false, headers: data ? { 'content-length': data.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const api = (route: string, q: Record<string, string> = {}): string => `/api/localsend/v2/${route}${Object.keys(q).length ? '?' + new URLSearchParams(q).toString() : ''}`;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'pigeon-ls-doc-'));
  downloads = join(home, 'dl');
  port = await freeUdpPort();
  peer = createPeer(
    { clock: systemClock, random: systemRandom, logger: silentLogger },
    { home, name: 'Pigeon Doc', port: 0, discoveryPort: await freeUdpPort(), broadcast: [], mdns: false, downloads, acceptFrom: ['all'], localsend: true, localsendBind: PIGEON, localsendPort: port, localsendAddresses: [] },
  );
  await peer.start();
});

afterAll(async () => {
  await peer.stop();
  rmSync(home, { recursive: true, force: true });
});

describe("Pigeon's LocalSend server and the document's examples", () => {
  it('answers /info and /register as §6.1 and §3.2 show, and lists the registered device as a LocalSend contact', async () => {
    const info = await call('GET', api('info'));
    expect(info.status).toBe(200);
    expect(JSON.parse(info.body)).toMatchObject({ alias: 'Pigeon Doc', version: '2.1', deviceModel: 'Pigeon', deviceType: 'headless', download: false });
    expect(JSON.parse(info.body).fingerprint).toMatch(/^[0-9A-F]{64}$/);
    const reg = await call('POST', api('register'), doc.json5(doc.registerRequest));
    expect(reg.status).toBe(200);
    expect(Object.keys(JSON.parse(reg.body)).sort()).toEqual(['alias', 'deviceModel', 'deviceType', 'download', 'fingerprint', 'version']);
    const banana = await until(() => peer.peers().find((p) => p.name === 'Secret Banana'), 'Secret Banana listed');
    expect(banana).toMatchObject({ protocol: 'localsend', group: 'LocalSend', host: 'Windows, desktop', fingerprint: 'random string', online: true, addresses: [CLIENT] });
    // Registering again, and announcing by multicast answer: the same contact.
    expect((await call('POST', api('register'), doc.json5(doc.registerRequest))).status).toBe(200);
    expect(peer.peers().filter((p) => p.name === 'Secret Banana')).toHaveLength(1);
  });

  it("answers the document's announcement with POST /register to the announcing device", async () => {
    const got = new Promise<{ url: string; body: string }>((resolve) => {
      const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          res.end(doc.json5(doc.registerResponse));
          server.close();
          resolve({ url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
        });
      });
      server.listen(port, CLIENT);
    });
    // The document's announcement, with the port this test serves on and plain HTTP (the fake device has no certificate).
    const announcement = JSON.parse(doc.json5(doc.announcement)) as Record<string, unknown>;
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, CLIENT, r));
    udp.send(JSON.stringify({ ...announcement, port, protocol: 'http', fingerprint: 'orange-fp' }), port, PIGEON);
    const { url, body } = await got;
    udp.close();
    expect(url).toBe('/api/localsend/v2/register');
    expect(JSON.parse(body)).toMatchObject({ alias: 'Pigeon Doc', port, protocol: 'https', version: '2.1' });
    await until(() => peer.peers().find((p) => p.name === 'Nice Orange' && p.host === 'Samsung, mobile'), 'Nice Orange listed');
  });

  it("takes the document's prepare-upload, then the two uploads with its file ids, byte-exact", async () => {
    const bytes = { 'some file id': Buffer.alloc(324242, 0x42), 'another file id': Buffer.alloc(1234, 0x43) };
    const prep = await call('POST', api('prepare-upload'), doc.json5(doc.prepareUpload));
    expect(prep.status).toBe(200);
    const answer = JSON.parse(prep.body) as { sessionId: string; files: Record<string, string> };
    expect(Object.keys(answer.files).sort()).toEqual(['another file id', 'some file id']);
    // One session at a time: a second sender meanwhile is told 409.
    expect((await call('POST', api('prepare-upload'), doc.json5(doc.prepareUpload))).status).toBe(409);
    // Wrong token, missing parameters.
    expect((await call('POST', api('upload', { sessionId: answer.sessionId, fileId: 'some file id', token: 'nope' }), 'x')).status).toBe(403);
    expect((await call('POST', api('upload', { sessionId: answer.sessionId }), 'x')).status).toBe(400);
    for (const [id, data] of Object.entries(bytes)) {
      const r = await call('POST', api('upload', { sessionId: answer.sessionId, fileId: id, token: answer.files[id]! }), data);
      expect(r.status, id).toBe(200);
    }
    expect(readFileSync(join(downloads, 'my image.png')).equals(bytes['some file id'])).toBe(true);
    expect(readFileSync(join(downloads, 'another image.jpg')).equals(bytes['another file id'])).toBe(true);
    const t = peer.transfers().find((x) => x.direction === 'in' && x.names.includes('my image.png'))!;
    expect(t.state).toBe('done');
  });

  it('refuses bytes beyond the declared size and a wrong SHA-256, keeping nothing', async () => {
    const info = JSON.parse(doc.json5(doc.announcement)) as Record<string, unknown>;
    const sha = createHash('sha256').update('something else').digest('hex');
    const files = { a: { id: 'a', fileName: 'long.bin', size: 10, fileType: 'application/octet-stream' } };
    let prep = await call('POST', api('prepare-upload'), JSON.stringify({ info, files }));
    let answer = JSON.parse(prep.body) as { sessionId: string; files: Record<string, string> };
    expect((await call('POST', api('upload', { sessionId: answer.sessionId, fileId: 'a', token: answer.files.a! }), Buffer.alloc(11))).status).toBe(400);
    prep = await call('POST', api('prepare-upload'), JSON.stringify({ info, files: { b: { id: 'b', fileName: 'hashed.txt', size: 5, fileType: 'application/octet-stream', sha256: sha } } }));
    answer = JSON.parse(prep.body) as { sessionId: string; files: Record<string, string> };
    expect((await call('POST', api('upload', { sessionId: answer.sessionId, fileId: 'b', token: answer.files.b! }), 'hello')).status).toBe(400);
    expect(existsSync(join(downloads, 'long.bin')) || existsSync(join(downloads, 'hashed.txt'))).toBe(false);
    expect(readdirSync(downloads).filter((n) => n.endsWith('.pigeon-part'))).toEqual([]);
    const failed = peer.transfers().filter((x) => x.state === 'failed' && (x.names.includes('long.bin') || x.names.includes('hashed.txt')));
    expect(failed).toHaveLength(2);
    expect(failed.map((f) => f.error).join(' ')).toMatch(/SHA-256 mismatch.*\(PIGEON_ERR_TRANSFER_INTEGRITY\)/);
  });

  it('starts every upload from byte 0 (no resume): bytes already in the partial file at the landing path are discarded, not continued', async () => {
    const info = JSON.parse(doc.json5(doc.announcement)) as Record<string, unknown>;
    const prep = await call('POST', api('prepare-upload'), JSON.stringify({ info, files: { s: { id: 's', fileName: 'stale.txt', size: 5, fileType: 'text/plain' } } }));
    const answer = JSON.parse(prep.body) as { sessionId: string; files: Record<string, string> };
    // Three bytes of the 5-byte file at its landing path, written after the plan: the ledger's part-file sink would resume from them.
    mkdirSync(downloads, { recursive: true });
    writeFileSync(join(downloads, 'stale.txt.pigeon-part'), 'zzz');
    expect((await call('POST', api('upload', { sessionId: answer.sessionId, fileId: 's', token: answer.files.s! }), 'hello')).status).toBe(200);
    expect(readFileSync(join(downloads, 'stale.txt'), 'utf8')).toBe('hello');
    expect(existsSync(join(downloads, 'stale.txt.pigeon-part'))).toBe(false);
    expect(peer.transfers().find((x) => x.names.includes('stale.txt'))?.state).toBe('done');
  });

  it('refuses a body whose declared length is not the offered size before reading it (400), failing the transfer with the stable size code', async () => {
    const info = JSON.parse(doc.json5(doc.announcement)) as Record<string, unknown>;
    const prep = await call('POST', api('prepare-upload'), JSON.stringify({ info, files: { w: { id: 'w', fileName: 'short.bin', size: 8, fileType: 'application/octet-stream' } } }));
    const answer = JSON.parse(prep.body) as { sessionId: string; files: Record<string, string> };
    expect((await call('POST', api('upload', { sessionId: answer.sessionId, fileId: 'w', token: answer.files.w! }), 'four')).status).toBe(400);
    expect(existsSync(join(downloads, 'short.bin')) || existsSync(join(downloads, 'short.bin.pigeon-part'))).toBe(false);
    const t = peer.transfers().find((x) => x.names.includes('short.bin'))!;
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/announced 4 bytes, not the 8.*PIGEON_ERR_SIZE_MISMATCH/);
  });

  it('never crashes on hostile input: bad JSON, unsafe names, a huge body, unknown routes', async () => {
    expect((await call('POST', api('prepare-upload'), '{"info": ')).status).toBe(400);
    expect((await call('POST', api('register'), 'not json')).status).toBe(400);
    expect((await call('POST', api('nothing'))).status).toBe(404);
    expect((await call('GET', api('prepare-upload'))).status).toBe(405);
    // A body over the limit: the connection is cut, nothing is read into memory past it.
    const huge = await call('POST', api('prepare-upload'), Buffer.alloc(9 * 1024 * 1024, 0x20)).catch((err: Error) => ({ status: -1, body: err.message }));
    expect([-1, 413]).toContain(huge.status);
    // A name climbing out of the download folder is refused; the rest is taken.
    const info = JSON.parse(doc.json5(doc.announcement)) as Record<string, unknown>;
    const files = { x: { id: 'x', fileName: '../../evil.txt', size: 1 }, y: { id: 'y', fileName: 'ok/fine.txt', size: 1 } };
    const prep = await call('POST', api('prepare-upload'), JSON.stringify({ info, files }));
    const answer = JSON.parse(prep.body) as { sessionId: string; files: Record<string, string> };
    expect(Object.keys(answer.files)).toEqual(['y']);
    expect((await call('POST', api('upload', { sessionId: answer.sessionId, fileId: 'y', token: answer.files.y! }), 'f')).status).toBe(200);
    expect(readFileSync(join(downloads, 'ok', 'fine.txt'), 'utf8')).toBe('f');
    expect(existsSync(join(home, 'evil.txt'))).toBe(false);
    // Two files of one offer with the same name: both kept, neither overwritten, never one partial file for both.
    const dup = { d1: { id: 'd1', fileName: 'dup.txt', size: 3 }, d2: { id: 'd2', fileName: 'dup.txt', size: 3 } };
    const p2 = JSON.parse((await call('POST', api('prepare-upload'), JSON.stringify({ info, files: dup }))).body) as { sessionId: string; files: Record<string, string> };
    const both = await Promise.all(['d1', 'd2'].map((id) => call('POST', api('upload', { sessionId: p2.sessionId, fileId: id, token: p2.files[id]! }), id === 'd1' ? 'one' : 'two')));
    const codes = both.map((r) => r.status).sort();
    expect([['200', '200'].join(), ['200', '409'].join()]).toContain(codes.map(String).join());
    if (codes[1] === 409) {
      const again = await call('POST', api('upload', { sessionId: p2.sessionId, fileId: both[0]!.status === 409 ? 'd1' : 'd2', token: p2.files[both[0]!.status === 409 ? 'd1' : 'd2']! }), both[0]!.status === 409 ? 'one' : 'two');
      expect(again.status).toBe(200);
    }
    expect([readFileSync(join(downloads, 'dup.txt'), 'utf8'), readFileSync(join(downloads, 'dup (1).txt'), 'utf8')].sort()).toEqual(['one', 'two']);
    // A register flood of made-up devices from one address: a few are listed, the rest refused, the server answers on.
    const before = peer.peers().filter((p) => p.protocol === 'localsend').length;
    const reg = JSON.parse(doc.json5(doc.registerRequest)) as Record<string, unknown>;
    for (let i = 0; i < 60; i++) await call('POST', api('register'), JSON.stringify({ ...reg, alias: `Fake ${i}`, fingerprint: `fake-${i}` }));
    const added = peer.peers().filter((p) => p.protocol === 'localsend').length - before;
    expect(added).toBeGreaterThan(0);
    expect(added).toBeLessThanOrEqual(20);
    // A datagram of junk, then the server still answers.
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, CLIENT, r));
    await new Promise<void>((r) => udp.send(Buffer.from('{"alias": 1, '), port, PIGEON, () => r()));
    udp.close();
    expect((await call('GET', api('info'))).status).toBe(200);
  });
});
