/**
 * Uploads in ranged pieces to Pigeon's LocalSend receiver: POST /upload with
 * `X-Content-Range: bytes <first>-<last>/<size>`, as the npm implementation
 * `localsend` 0.1.2 sends files over 50 MiB (an extension seen in the wild,
 * not in the protocol document; core/localsend/ls-pieces.ts). A scripted
 * client over real HTTPS on loopback (127.0.0.181 Pigeon, .182 the client):
 * a file in pieces lands byte-exact with its SHA-256 checked and progress
 * counted between pieces, and only when its last byte has come; a piece past
 * the size, naming another size, overlapping, after a gap, longer or shorter
 * than its range, cut off mid-way, malformed, or a cancel between pieces each
 * fail the transfer with a stable code and leave no file, partial or whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { createPeer, silentLogger, systemClock, systemRandom, type Peer } from '../../core/index.js';
import { freeUdpPort } from '../support/cli-peer.js';
import { MAX_PIECED_FILES } from '../../core/localsend/ls-receiver.js';
import { until } from '../support/ipmsg-client.js';

const PIGEON = '127.0.0.181';
const CLIENT = '127.0.0.182';
/** The piece size of the test file: small, so the file has several pieces and a short last one. */
const PIECE = 256 * 1024;

let peer: Peer;
let home: string;
let downloads: string;
let port: number;
let serial = 0;
/** The last session prepared: a test that fails midway cancels it (afterEach), so the next test is not told 409. */
let last: Session | null = null;

const info = { alias: 'Piece Sender', fingerprint: 'piece-sender-fp', deviceType: 'desktop', version: '2.1' };
const api = (route: string, q: Record<string, string> = {}): string => `/api/localsend/v2/${route}${Object.keys(q).length ? '?' + new URLSearchParams(q).toString() : ''}`;

interface Options {
  headers?: Record<string, string | number>;
  /** Send the body without a Content-Length (chunked). */
  chunked?: boolean;
  /** Send only this many bytes of the body, then cut the connection. */
  cutAfter?: number;
}

/** One HTTPS request from the client's address; the status, or -1 when Pigeon closed the connection before answering. */
function call(method: string, path: string, body: Buffer | string = Buffer.alloc(0), o: Options = {}): Promise<{ status: number; body: string }> {
  const data = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...(o.chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': data.length }), ...o.headers };
    const req = https.request({ host: PIGEON, port, method, path, localAddress: CLIENT, rejectUnauthorized: false, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve({ status: -1, body: '' }));
    });
    req.on('error', () => resolve({ status: -1, body: '' }));
    if (o.cutAfter !== undefined) {
      req.write(data.subarray(0, o.cutAfter));
      setTimeout(() => req.destroy(), 200);
      return;
    }
    req.end(data);
  });
}

interface Session {
  sessionId: string;
  token: string;
  name: string;
}

/** A prepare-upload of one file (accepted at once: --accept-from all); a fresh name each time so no test sees another's file. */
async function prepare(size: number, sha256?: string): Promise<Session> {
  const name = `piece-${++serial}.bin`;
  const r = await call('POST', api('prepare-upload'), JSON.stringify({ info, files: { f: { id: 'f', fileName: name, size, fileType: 'application/octet-stream', ...(sha256 ? { sha256 } : {}) } } }));
  expect(r.status, r.body).toBe(200);
  const a = JSON.parse(r.body) as { sessionId: string; files: Record<string, string> };
  last = { sessionId: a.sessionId, token: a.files.f!, name };
  return last;
}

/** One piece (or, with `range` null, the whole body) of the session's file. */
function piece(s: Session, range: string | null, body: Buffer, o: Options = {}): Promise<{ status: number; body: string }> {
  return call('POST', api('upload', { sessionId: s.sessionId, fileId: 'f', token: s.token }), body, { ...o, headers: { ...(range === null ? {} : { 'X-Content-Range': range }), ...o.headers } });
}

const transferOf = (s: Session): TransferInfo | undefined => peer.transfers().find((t) => t.direction === 'in' && t.names.includes(s.name));

/** What this process has open (Linux: /proc/self/fd), to see that no partial file stays open. */
function openFiles(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(join('/proc/self/fd', fd))];
    } catch {
      return [];
    }
  });
}

/** Waits for the session's transfer to end; it must have failed with `code`, leaving nothing of the file. */
async function failedWith(s: Session, code: string): Promise<void> {
  const t = await until(() => {
    const x = transferOf(s);
    return x && x.state !== 'accepted' && x.state !== 'offered' ? x : undefined;
  }, `${s.name} ended`);
  expect(t.state, t.error ?? undefined).toBe('failed');
  expect(t.error).toContain(code);
  await until(() => (readdirSync(downloads).some((n) => n.startsWith(s.name)) ? undefined : true), `nothing of ${s.name} left`);
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'pigeon-ls-pieces-'));
  downloads = join(home, 'dl');
  port = await freeUdpPort();
  peer = createPeer(
    { clock: systemClock, random: systemRandom, logger: silentLogger },
    { home, name: 'Pigeon Pieces', port: 0, discoveryPort: await freeUdpPort(), broadcast: [], mdns: false, downloads, acceptFrom: ['all'], localsend: true, localsendBind: PIGEON, localsendPort: port, localsendAddresses: [] },
  );
  await peer.start();
});

afterEach(async () => {
  if (last) await call('POST', api('cancel', { sessionId: last.sessionId }));
  last = null;
});

afterAll(async () => {
  await peer.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('LocalSend uploads in ranged pieces (X-Content-Range)', () => {
  it('lands a file sent in ordered pieces byte-exact, SHA-256 checked, counting progress, and only after its last byte', async () => {
    const data = randomBytes(4 * PIECE + 12345);
    const s = await prepare(data.length, createHash('sha256').update(data).digest('hex'));
    for (let first = 0; first < data.length; first += PIECE) {
      const last = Math.min(first + PIECE, data.length) - 1;
      const r = await piece(s, `bytes ${first}-${last}/${data.length}`, data.subarray(first, last + 1));
      expect(r.status, `piece ${first}-${last}`).toBe(200);
      if (last + 1 < data.length) {
        // Between pieces: counted, still a partial file, nothing under the final name.
        const t = transferOf(s)!;
        expect(t.state).toBe('accepted');
        expect(t.doneBytes).toBe(last + 1);
        expect(existsSync(join(downloads, s.name))).toBe(false);
        // The piece's last bytes may still be on their way to the disk (the partial file is opened asynchronously).
        await until(() => (existsSync(join(downloads, s.name + '.pigeon-part')) ? true : undefined), 'the partial file');
      }
    }
    expect(readFileSync(join(downloads, s.name)).equals(data)).toBe(true);
    expect(existsSync(join(downloads, s.name + '.pigeon-part'))).toBe(false);
    expect(transferOf(s)).toMatchObject({ state: 'done', doneBytes: data.length });
    // One piece holding the whole file, and a whole-file POST, are taken too.
    const one = randomBytes(1000);
    const s1 = await prepare(one.length);
    expect((await piece(s1, `bytes 0-999/1000`, one)).status).toBe(200);
    expect(readFileSync(join(downloads, s1.name)).equals(one)).toBe(true);
    const s2 = await prepare(one.length);
    expect((await piece(s2, null, one)).status).toBe(200);
    expect(readFileSync(join(downloads, s2.name)).equals(one)).toBe(true);
  });

  it('refuses a piece past the size, naming another size, or malformed (before reading it)', async () => {
    const ten = Buffer.from('0123456789');
    let s = await prepare(10);
    expect([400, -1]).toContain((await piece(s, 'bytes 5-10/10', ten.subarray(5))).status);
    await failedWith(s, 'PIGEON_ERR_PROTOCOL');
    s = await prepare(10);
    expect([400, -1]).toContain((await piece(s, 'bytes 0-19/20', Buffer.alloc(20))).status);
    await failedWith(s, 'PIGEON_ERR_SIZE_MISMATCH');
    for (const bad of ['bytes 0-4', 'bytes 4-0/10', 'bytes=0-4/10', 'bytes 0-4/10, bytes 5-9/10', 'bytes -1-4/10', 'bytes 0-99999999999999999/10']) {
      s = await prepare(10);
      expect([400, -1], bad).toContain((await piece(s, bad, ten.subarray(0, 5))).status);
      await failedWith(s, 'PIGEON_ERR_PROTOCOL');
    }
  });

  it('refuses an overlapping piece, a gap then the last piece, a repeat, and a whole POST after pieces, keeping nothing', async () => {
    const ten = Buffer.from('0123456789');
    // Overlap: 0-4 then 3-9.
    let s = await prepare(10);
    expect((await piece(s, 'bytes 0-4/10', ten.subarray(0, 5))).status).toBe(200);
    expect([400, -1]).toContain((await piece(s, 'bytes 3-9/10', ten.subarray(3))).status);
    await failedWith(s, 'PIGEON_ERR_PROTOCOL');
    // A gap, then the piece that would finish the file.
    s = await prepare(10);
    expect((await piece(s, 'bytes 0-3/10', ten.subarray(0, 4))).status).toBe(200);
    expect([400, -1]).toContain((await piece(s, 'bytes 6-9/10', ten.subarray(6))).status);
    await failedWith(s, 'PIGEON_ERR_PROTOCOL');
    // Starting anywhere but byte 0.
    s = await prepare(10);
    expect([400, -1]).toContain((await piece(s, 'bytes 5-9/10', ten.subarray(5))).status);
    await failedWith(s, 'PIGEON_ERR_PROTOCOL');
    // The same piece twice.
    s = await prepare(10);
    expect((await piece(s, 'bytes 0-4/10', ten.subarray(0, 5))).status).toBe(200);
    expect([400, -1]).toContain((await piece(s, 'bytes 0-4/10', ten.subarray(0, 5))).status);
    await failedWith(s, 'PIGEON_ERR_PROTOCOL');
    // A whole-file POST after a piece.
    s = await prepare(10);
    expect((await piece(s, 'bytes 0-4/10', ten.subarray(0, 5))).status).toBe(200);
    expect([400, -1]).toContain((await piece(s, null, ten)).status);
    await failedWith(s, 'PIGEON_ERR_PROTOCOL');
  });

  it('refuses a piece longer or shorter than its range, declared or not, writing nothing past it', async () => {
    const ten = Buffer.from('0123456789');
    // Declared longer than the range: refused before the body is read.
    let s = await prepare(10);
    expect([400, -1]).toContain((await piece(s, 'bytes 0-4/10', ten)).status);
    await failedWith(s, 'PIGEON_ERR_SIZE_MISMATCH');
    expect(transferOf(s)!.error).toMatch(/declared 10 bytes, not its 5/);
    // Chunked (no declared length), carrying the whole file under a range of 5 bytes: nothing past the range is written.
    s = await prepare(10);
    expect([400, -1]).toContain((await piece(s, 'bytes 0-4/10', ten, { chunked: true })).status);
    await failedWith(s, 'PIGEON_ERR_SIZE_MISMATCH');
    // Chunked and short: 3 bytes under a range of 5.
    s = await prepare(10);
    expect([400, -1]).toContain((await piece(s, 'bytes 0-4/10', ten.subarray(0, 3), { chunked: true })).status);
    await failedWith(s, 'PIGEON_ERR_SIZE_MISMATCH');
  });

  it(`holds at most ${MAX_PIECED_FILES} files between pieces at once (409 for another's first piece), then takes it when one lands`, async () => {
    const n = MAX_PIECED_FILES + 1;
    const files = Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, { id: `m${i}`, fileName: `many-${i}.bin`, size: 10, fileType: 'application/octet-stream' }]));
    const r = await call('POST', api('prepare-upload'), JSON.stringify({ info, files }));
    expect(r.status, r.body).toBe(200);
    const a = JSON.parse(r.body) as { sessionId: string; files: Record<string, string> };
    last = { sessionId: a.sessionId, token: '', name: 'many-0.bin' };
    const up = (i: number, range: string, body: string): Promise<{ status: number }> =>
      call('POST', api('upload', { sessionId: a.sessionId, fileId: `m${i}`, token: a.files[`m${i}`]! }), body, { headers: { 'X-Content-Range': range } });
    for (let i = 0; i < MAX_PIECED_FILES; i++) expect((await up(i, 'bytes 0-4/10', '01234')).status, `file ${i}`).toBe(200);
    // One file too many: refused as busy, the transfer goes on.
    expect([409, -1]).toContain((await up(MAX_PIECED_FILES, 'bytes 0-4/10', '01234')).status);
    const t = peer.transfers().find((x) => x.names.includes('many-0.bin'))!;
    expect(t.state).toBe('accepted');
    // One lands: a slot is free.
    expect((await up(0, 'bytes 5-9/10', '56789')).status).toBe(200);
    expect((await up(MAX_PIECED_FILES, 'bytes 0-4/10', '01234')).status).toBe(200);
    for (let i = 1; i <= MAX_PIECED_FILES; i++) expect((await up(i, 'bytes 5-9/10', '56789')).status, `file ${i}`).toBe(200);
    for (let i = 0; i < n; i++) expect(readFileSync(join(downloads, `many-${i}.bin`), 'utf8')).toBe('0123456789');
    expect(peer.transfers().find((x) => x.id === t.id)!.state).toBe('done');
  });

  it('a piece cut off mid-way, or a cancel between pieces, leaves no file, partial or whole', async () => {
    const data = randomBytes(3 * PIECE);
    let s = await prepare(data.length);
    expect((await piece(s, `bytes 0-${PIECE - 1}/${data.length}`, data.subarray(0, PIECE))).status).toBe(200);
    // The second piece: half of it, then the connection is cut.
    expect((await piece(s, `bytes ${PIECE}-${2 * PIECE - 1}/${data.length}`, data.subarray(PIECE, 2 * PIECE), { cutAfter: PIECE / 2 })).status).toBe(-1);
    await failedWith(s, 'PIGEON_ERR_TRANSFER_FAILED');
    // The sender cancels between two pieces.
    s = await prepare(data.length);
    expect((await piece(s, `bytes 0-${PIECE - 1}/${data.length}`, data.subarray(0, PIECE))).status).toBe(200);
    await until(() => (existsSync(join(downloads, s.name + '.pigeon-part')) ? true : undefined), 'the partial file');
    expect((await call('POST', api('cancel', { sessionId: s.sessionId }))).status).toBe(200);
    const t = await until(() => (transferOf(s)?.state === 'canceled' ? transferOf(s) : undefined), 'canceled');
    expect(t.state).toBe('canceled');
    await until(() => (readdirSync(downloads).some((n) => n.startsWith(s.name)) ? undefined : true), 'no partial file');
    // Nor a descriptor still open on it (the sink kept open between pieces is closed).
    await until(() => (openFiles().some((f) => f.includes(s.name)) ? undefined : true), 'the partial file closed');
    // The session is over: a further piece is refused, and the receiver takes the next sender.
    expect([403, -1]).toContain((await piece(s, `bytes ${PIECE}-${2 * PIECE - 1}/${data.length}`, data.subarray(PIECE, 2 * PIECE))).status);
    expect(existsSync(join(downloads, s.name))).toBe(false);
    const next = await prepare(3);
    expect((await piece(next, 'bytes 0-2/3', Buffer.from('abc'))).status).toBe(200);
    expect(readFileSync(join(downloads, next.name), 'utf8')).toBe('abc');
  });
});
