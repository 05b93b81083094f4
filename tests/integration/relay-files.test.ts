/**
 * Files left on the relay for a colleague who is offline everywhere (§12.9):
 * real peer processes and a real relay process on loopback (the peers use
 * different discovery ports, so only the relay joins them), plus an
 * in-process relay for expiry and for refused blob requests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PeerEvent, TransferInfo } from '../../shared/api/control-api.js';
import { BLOB_PATH, BlobError } from '../../shared/protocol/blob-http.js';
import { createRelay, type Relay } from '../../relay/server/relay-server.js';
import type { BlobClient } from '../../core/relay-client/blob-client.js';
import { pigeon, removeHome, tempHome, type PeerProcess } from '../support/cli-peer.js';
import { blobClientOf, registerForBlobs, remoteOnline, RelayPeers } from '../support/relay-peer-setup.js';
import type { RelayListening } from '../support/relay-process.js';
import { clients, makeDevice, type Device } from '../support/relay-ws-client.js';

let work: string;
let net: RelayPeers;

beforeEach(() => {
  work = tempHome('relay-files');
  net = new RelayPeers(work);
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await net.stop();
  removeHome(work);
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Every file under a folder, recursively; one the relay deletes while this looks is not counted. */
function filesUnder(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    out = st.isDirectory() ? [...out, ...filesUnder(p)] : [...out, p];
  }
  return out;
}

/** Bob registered at the relay, then gone: Alice sees him offline but known to the relay. */
async function bobAway(relay: RelayListening): Promise<PeerProcess> {
  const alice = await net.peer('Alice', relay);
  const bob = await net.peer('Bob', relay);
  await alice.waitFor(remoteOnline('Bob'));
  await bob.stop();
  await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Bob');
  return alice;
}

async function until(check: () => boolean, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('files left on the relay', () => {
  it('leaves a folder for an offline colleague, encrypted; survives kill -9 of the relay; arrives intact on accept; the blobs are then deleted', async () => {
    const relayProc = net.relay();
    const relay = await relayProc.listening;
    const alice = await bobAway(relay);

    const marker = `PIGEON-PLAINTEXT-${randomBytes(6).toString('hex')}`;
    const folder = join(work, 'Quarterly');
    mkdirSync(join(folder, 'notes', 'empty'), { recursive: true });
    const files: Record<string, Buffer> = {
      'Quarterly/readme.txt': Buffer.from(`${marker} the figures are in big.bin\n`.repeat(50)),
      'Quarterly/notes/minutes.txt': Buffer.from(`${marker} minutes 你好\n`),
      'Quarterly/notes/blank.txt': Buffer.alloc(0),
      // Multi-megabyte, not a whole number of chunks, with the marker inside too.
      'Quarterly/big.bin': Buffer.concat([randomBytes(3 * 1024 * 1024), Buffer.from(marker), randomBytes(2 * 1024 * 1024 + 4321)]),
    };
    for (const [rel, data] of Object.entries(files)) writeFileSync(join(work, rel), data);

    const r = await pigeon(['send-file', '--home', join(work, 'Alice'), 'Bob', folder, '--wait', '--json', '--timeout', '60']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TransferInfo);
    const relayed = lines.at(-1)!;
    expect(relayed).toMatchObject({ state: 'relayed', direction: 'out', fileCount: 4 });
    // Progress while uploading.
    expect(lines.some((t) => t.state === 'queued' && t.doneBytes > 0 && t.doneBytes < t.totalBytes)).toBe(true);

    const blobDir = join(work, 'relay', 'blobs');
    expect(filesUnder(blobDir).filter((f) => f.endsWith('.blob'))).toHaveLength(4);
    const noPlaintext = (): void => {
      for (const f of filesUnder(join(work, 'relay'))) expect(readFileSync(f).includes(marker), f).toBe(false);
    };
    noPlaintext();

    // Acknowledged means durable: a kill -9 now loses nothing.
    await relayProc.kill9();
    const again = net.relay([], relay.port);
    await again.listening;

    const bob = await net.peer('Bob', relay, ['--downloads', join(work, 'inbox')]);
    const offered = (await bob.waitFor((e) => e.type === 'transfer' && e.transfer.direction === 'in' && e.transfer.state === 'offered', 30000)) as Extract<PeerEvent, { type: 'transfer' }>;
    expect(offered.transfer).toMatchObject({ id: relayed.id, fileCount: 4, totalBytes: relayed.totalBytes });
    const acc = await pigeon(['accept', '--home', join(work, 'Bob'), relayed.id.slice(0, 8)]);
    expect(acc.code, acc.stderr).toBe(0);
    await bob.waitFor((e) => e.type === 'transfer' && e.transfer.id === relayed.id && e.transfer.state === 'done', 60000);
    for (const [rel, data] of Object.entries(files)) expect(sha(readFileSync(join(work, 'inbox', rel))), rel).toBe(sha(data));
    expect(statSync(join(work, 'inbox', 'Quarterly', 'notes', 'empty')).isDirectory()).toBe(true);
    expect(filesUnder(join(work, 'inbox')).some((f) => f.endsWith('.pigeon-part'))).toBe(false);

    // Alice hears it through her mailbox; the blobs are gone from the relay.
    await alice.waitFor((e) => e.type === 'transfer' && e.transfer.id === relayed.id && e.transfer.state === 'done', 30000);
    await until(() => filesUnder(blobDir).length === 0);
    noPlaintext();
  }, 180_000);

  it('refuses files beyond the recipient\'s quota up front, with a clear error; the offer waits for the colleague', async () => {
    const relay = await net.relay(['--file-quota', '1M']).listening;
    await bobAway(relay);
    const file = join(work, 'video.bin');
    writeFileSync(file, randomBytes(3 * 1024 * 1024));
    const r = await pigeon(['send-file', '--home', join(work, 'Alice'), 'Bob', file, '--wait', '--timeout', '60']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/file space on the relay is full/);
    const list = JSON.parse((await pigeon(['transfers', '--home', join(work, 'Alice'), '--json'])).stdout) as TransferInfo[];
    expect(list[0]).toMatchObject({ state: 'queued' });
    expect(filesUnder(join(work, 'relay', 'blobs'))).toHaveLength(0);
  }, 60_000);
});

describe('answers to files left on the relay', () => {
  it('a decline reaches the sender and deletes the blobs; a sender\'s cancel withdraws the offer', async () => {
    const relay = await net.relay().listening;
    const alice = await bobAway(relay);
    const blobDir = join(work, 'relay', 'blobs');
    const leave = async (name: string): Promise<TransferInfo> => {
      writeFileSync(join(work, name), randomBytes(200_000));
      const r = await pigeon(['send-file', '--home', join(work, 'Alice'), 'Bob', join(work, name), '--wait', '--json', '--timeout', '60']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as TransferInfo;
    };
    const declined = await leave('a.bin');
    const withdrawn = await leave('b.bin');
    expect(filesUnder(blobDir)).toHaveLength(2);
    const listing = await pigeon(['transfers', '--home', join(work, 'Alice')]);
    expect(listing.stdout).toMatch(new RegExp(`transfer ${declined.id.slice(0, 8)} to Bob: a\\.bin.*: stored on the relay`));
    // Withdrawn while Bob is away: the blob goes at once, the offer is canceled when he connects.
    expect((await pigeon(['cancel', '--home', join(work, 'Alice'), withdrawn.id.slice(0, 8)])).code).toBe(0);
    await until(() => filesUnder(blobDir).length === 1);

    const bob = await net.peer('Bob', relay);
    await bob.waitFor((e) => e.type === 'transfer' && e.transfer.id === declined.id && e.transfer.state === 'offered', 30000);
    await bob.waitFor((e) => e.type === 'transfer' && e.transfer.id === withdrawn.id && e.transfer.state === 'canceled', 30000);
    expect((await pigeon(['decline', '--home', join(work, 'Bob'), declined.id.slice(0, 8)])).code).toBe(0);
    await alice.waitFor((e) => e.type === 'transfer' && e.transfer.id === declined.id && e.transfer.state === 'declined', 30000);
    await until(() => filesUnder(blobDir).length === 0);
  }, 120_000);
});

describe('choosing files left on the relay', () => {
  it('accepting some files fetches only those; every blob of the transfer is deleted after', async () => {
    const relay = await net.relay().listening;
    const alice = await bobAway(relay);
    const folder = join(work, 'Pick');
    mkdirSync(folder);
    const wanted = randomBytes(300_000);
    writeFileSync(join(folder, 'a-wanted.bin'), wanted);
    writeFileSync(join(folder, 'b-unwanted.bin'), randomBytes(300_000));
    const r = await pigeon(['send-file', '--home', join(work, 'Alice'), 'Bob', folder, '--wait', '--json', '--timeout', '60']);
    expect(r.code, r.stderr).toBe(0);
    const left = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as TransferInfo;

    const bob = await net.peer('Bob', relay, ['--downloads', join(work, 'inbox')]);
    await bob.waitFor((e) => e.type === 'transfer' && e.transfer.id === left.id && e.transfer.state === 'offered', 30000);
    // Entries: 0 Pick, 1 Pick/a-wanted.bin, 2 Pick/b-unwanted.bin
    expect((await pigeon(['accept', '--home', join(work, 'Bob'), left.id.slice(0, 8), '--files', '1'])).code).toBe(0);
    await bob.waitFor((e) => e.type === 'transfer' && e.transfer.id === left.id && e.transfer.state === 'done', 30000);
    expect(sha(readFileSync(join(work, 'inbox', 'Pick', 'a-wanted.bin')))).toBe(sha(wanted));
    expect(readdirSync(join(work, 'inbox', 'Pick'))).toEqual(['a-wanted.bin']);
    await alice.waitFor((e) => e.type === 'transfer' && e.transfer.id === left.id && e.transfer.state === 'done', 30000);
    await until(() => filesUnder(join(work, 'relay', 'blobs')).length === 0);
  }, 90_000);
});

describe('expired files', () => {
  it('a file that expired on the relay fails on accept with a clear reason, and the sender hears it', async () => {
    const inproc = createRelay({ port: 0, host: '127.0.0.1', dataDir: join(work, 'relay'), logger: { log() {} }, timing: { expiryEveryMs: 100, fileTtlMs: 1500 } });
    net.add(inproc);
    await inproc.start();
    const relay: RelayListening = { port: inproc.port, url: inproc.url, fingerprint: inproc.fingerprint };
    const alice = await bobAway(relay);
    writeFileSync(join(work, 'old.bin'), randomBytes(100_000));
    const r = await pigeon(['send-file', '--home', join(work, 'Alice'), 'Bob', join(work, 'old.bin'), '--wait', '--json', '--timeout', '60']);
    expect(r.code, r.stderr).toBe(0);
    const left = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as TransferInfo;
    await until(() => filesUnder(join(work, 'relay', 'blobs')).length === 0, 10000);

    const bob = await net.peer('Bob', relay, ['--accept-from', 'Alice']);
    const failed = await bob.waitFor((e) => e.type === 'transfer' && e.transfer.id === left.id && e.transfer.state === 'failed', 30000);
    expect((failed as Extract<PeerEvent, { type: 'transfer' }>).transfer.error).toMatch(/no longer on the relay/);
    const told = await alice.waitFor((e) => e.type === 'transfer' && e.transfer.id === left.id && e.transfer.state === 'canceled', 30000);
    expect((told as Extract<PeerEvent, { type: 'transfer' }>).transfer.error).toMatch(/canceled by Bob: .*no longer on the relay/);
  }, 90_000);
});

describe('the relay\'s blob requests', () => {
  let relay: Relay;
  const logs: Array<Record<string, unknown>> = [];

  async function start(opts: { fileTtlMs?: number; fileQuota?: number } = {}): Promise<void> {
    relay = createRelay({
      port: 0,
      host: '127.0.0.1',
      dataDir: join(work, 'relay'),
      logger: { log: (level, msg, fields) => logs.push({ level, msg, ...fields }) },
      ...(opts.fileQuota ? { fileQuota: opts.fileQuota } : {}),
      timing: { expiryEveryMs: 100, ...(opts.fileTtlMs ? { fileTtlMs: opts.fileTtlMs } : {}) },
    });
    net.add(relay);
    await relay.start();
  }

  const register = (d: Device): Promise<BlobClient> => registerForBlobs(relay, d);

  function raw(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: relay.port, method, path, headers, rejectUnauthorized: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('deletes files older than the TTL', async () => {
    await start({ fileTtlMs: 500 });
    const [a, b] = [makeDevice(), makeDevice()];
    const alice = await register(a);
    await register(b);
    const blob = randomBytes(16).toString('hex');
    const { Readable } = await import('node:stream');
    const answer = await alice.upload(b.id, blob, 1000, 0, Readable.from([randomBytes(1000)]));
    expect(answer).toMatchObject({ complete: true, size: 1000, received: 1000 });
    expect(await alice.status(b.id, blob)).toMatchObject({ complete: true });
    await until(() => filesUnder(join(work, 'relay', 'blobs')).length === 0, 5000);
    expect(await alice.status(b.id, blob)).toBeNull();
    expect(logs.some((l) => l.msg === 'expired files')).toBe(true);
  });

  it('refuses unsigned, forged, malformed and unauthorised requests, and says why in the log', async () => {
    await start();
    const [a, b, c] = [makeDevice(), makeDevice(), makeDevice()];
    const alice = await register(a);
    const bob = await register(b);
    const mallory = await register(c);
    const blob = randomBytes(16).toString('hex');
    const { Readable } = await import('node:stream');
    await alice.upload(b.id, blob, 10, 0, Readable.from([Buffer.from('0123456789')]));

    const path = `${BLOB_PATH}/${b.id}/${blob}`;
    const unsigned = await raw('GET', path);
    expect(unsigned.status).toBe(401);
    expect(BlobError.parse(JSON.parse(unsigned.body))).toMatchObject({ code: 'PIGEON_ERR_RELAY_AUTH' });
    const forged = await raw('GET', path, { 'pigeon-device': b.id, 'pigeon-time': String(Date.now()), 'pigeon-signature': randomBytes(64).toString('base64') });
    expect(forged.status).toBe(401);
    expect(JSON.parse(forged.body).message).toMatch(/signature/);
    const stale = await raw('GET', path, { 'pigeon-device': b.id, 'pigeon-time': '1', 'pigeon-signature': randomBytes(64).toString('base64') });
    expect(stale.status).toBe(401);
    expect((await raw('GET', `${BLOB_PATH}/../../etc/passwd`)).status).toBe(404);
    expect((await raw('GET', `${BLOB_PATH}/${b.id}/not-hex`)).status).toBe(404);

    // Someone else's blob: not even its existence is shown.
    await expect(mallory.download(blob, 0)).rejects.toMatchObject({ code: 'PIGEON_ERR_TRANSFER_NOT_FOUND' });
    expect(await mallory.status(b.id, blob)).toBeNull();
    // The sender may not download what it left; the recipient may.
    const res = await bob.download(blob, 3);
    let got = '';
    for await (const d of res) got += (d as Buffer).toString();
    expect(got).toBe('3456789');
    // A size that lies about its body is refused before anything is stored.
    await expect(alice.upload(b.id, randomBytes(16).toString('hex'), 10, 5, Readable.from([Buffer.from('01234')]))).rejects.toMatchObject({ code: 'PIGEON_ERR_BAD_REQUEST' });
    expect(logs.filter((l) => l.msg === 'blob request refused').length).toBeGreaterThanOrEqual(6);
    expect(await bob.remove(b.id, blob)).toBe(true);
    expect(await bob.remove(b.id, blob)).toBe(false);

    // A relay whose certificate is not the pinned one gets no request at all.
    const before = logs.length;
    const pinnedWrong = blobClientOf(relay, a, 'ab'.repeat(32));
    await expect(pinnedWrong.status(b.id, blob)).rejects.toMatchObject({ code: 'PIGEON_ERR_RELAY_FINGERPRINT' });
    pinnedWrong.close();
    expect(logs.slice(before).filter((l) => String(l.msg).startsWith('blob'))).toEqual([]);
  });
});
